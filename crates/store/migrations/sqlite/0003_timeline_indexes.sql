-- Indexes shaped to the timeline's reads (issue: contacts, matching,
-- privacy and the timeline). PostgreSQL twin:
-- ../postgres/0003_timeline_indexes.sql; keep both in step.

-- A contact's page and summary read only the index: time, kind, direction
-- and the item's id are all in it, so the first page of a contact with tens
-- of thousands of activities touches a few dozen entries and no table rows.
drop index activity_timeline;
create index activity_timeline on activity
    (workspace_id, contact_id, occurred_at, kind, direction, email_id, meeting_id);

-- Copies by item, covering whether each is live and whose it is: the
-- mailboxes listed on a timeline item and the summary's team members.
drop index email_copy_email;
create index email_copy_email on email_copy (email_id, removed_at, mailbox_id);
drop index meeting_copy_meeting;
create index meeting_copy_meeting on meeting_copy (meeting_id, removed_at, mailbox_id);

-- Copies by mailbox: the team-member filter reads one mailbox's live items
-- as an index range.
create index email_copy_mailbox on email_copy (workspace_id, mailbox_id, removed_at, email_id);
create index meeting_copy_mailbox on meeting_copy (workspace_id, mailbox_id, removed_at, meeting_id);

-- What a search hit needs from its email, without reading the row with its
-- body: tens of thousands of hits are checked and dated from this index.
create index email_search_meta on email (id, workspace_id, is_private, sent_at);
