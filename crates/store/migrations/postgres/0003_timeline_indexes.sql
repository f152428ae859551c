-- Indexes shaped to the timeline's reads (issue: contacts, matching,
-- privacy and the timeline). SQLite twin: ../sqlite/0003_timeline_indexes.sql,
-- which explains each; keep both in step.

drop index activity_timeline;
create index activity_timeline on activity (workspace_id, contact_id, occurred_at)
    include (kind, direction, email_id, meeting_id);

drop index email_copy_email;
create index email_copy_email on email_copy (email_id, removed_at) include (mailbox_id);
drop index meeting_copy_meeting;
create index meeting_copy_meeting on meeting_copy (meeting_id, removed_at) include (mailbox_id);

create index email_copy_mailbox on email_copy (workspace_id, mailbox_id, removed_at) include (email_id);
create index meeting_copy_mailbox on meeting_copy (workspace_id, mailbox_id, removed_at) include (meeting_id);
