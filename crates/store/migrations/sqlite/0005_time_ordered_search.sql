-- Full-text hits in time order (issue: contacts, matching, privacy and the
-- timeline). SQLite only: PostgreSQL's planner combines its GIN index with
-- the time index by itself, so ../postgres has no 0005.
--
-- Search lists the newest hits first. With the FTS rowid being the item's
-- id, a word in 5% of a million emails meant looking up 50,000 hits to keep
-- the newest 50. Now each item gets a search key that sorts by time: its
-- Unix second times 2^20, plus its place among the items of that second in
-- the order they were stored (which is also id order). The FTS rowid is
-- that key, so FTS5 hands out hits newest first and a page stops after 50.
-- The key follows the item's time when it changes. (In a trigger,
-- last_insert_rowid() is the key just inserted.) Contentless tables with
-- contentless_delete: the index needs no copy of the text and no old values
-- to delete a row.

drop trigger email_fts_after_insert;
drop trigger email_fts_after_delete;
drop trigger email_fts_after_update;
drop table email_fts;

create table email_search_key (
    key integer primary key,
    email_id integer not null unique
);
insert into email_search_key (key, email_id)
select unixepoch(sent_at) * 1048576 + row_number() over (partition by unixepoch(sent_at) order by id) - 1, id
from email;

create virtual table email_fts using fts5 (
    subject,
    body_text,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
insert into email_fts (rowid, subject, body_text)
select k.key, e.subject, e.body_text from email e join email_search_key k on k.email_id = e.id;

create trigger email_search_after_insert after insert on email begin
    insert into email_search_key (key, email_id)
    select coalesce(max(key) + 1, unixepoch(new.sent_at) * 1048576), new.id
    from email_search_key
    where key between unixepoch(new.sent_at) * 1048576 and unixepoch(new.sent_at) * 1048576 + 1048575;
    insert into email_fts (rowid, subject, body_text)
    values (last_insert_rowid(), new.subject, new.body_text);
end;

create trigger email_search_after_delete after delete on email begin
    delete from email_fts where rowid = (select key from email_search_key where email_id = old.id);
    delete from email_search_key where email_id = old.id;
end;

-- Only when the indexed text changed: ingest rewrites an email whose other
-- fields differ (received time, participants) without re-indexing it.
create trigger email_search_after_text_update after update of subject, body_text on email
when old.subject <> new.subject or old.body_text <> new.body_text begin
    delete from email_fts where rowid = (select key from email_search_key where email_id = new.id);
    insert into email_fts (rowid, subject, body_text)
    values ((select key from email_search_key where email_id = new.id), new.subject, new.body_text);
end;

create trigger email_search_after_time_update after update of sent_at on email
when unixepoch(old.sent_at) <> unixepoch(new.sent_at) begin
    delete from email_fts where rowid = (select key from email_search_key where email_id = new.id);
    delete from email_search_key where email_id = new.id;
    insert into email_search_key (key, email_id)
    select coalesce(max(key) + 1, unixepoch(new.sent_at) * 1048576), new.id
    from email_search_key
    where key between unixepoch(new.sent_at) * 1048576 and unixepoch(new.sent_at) * 1048576 + 1048575;
    insert into email_fts (rowid, subject, body_text)
    values (last_insert_rowid(), new.subject, new.body_text);
end;

-- Meetings, keyed by their start the same way.
drop trigger meeting_fts_after_insert;
drop trigger meeting_fts_after_delete;
drop trigger meeting_fts_after_update;
drop table meeting_fts;

create table meeting_search_key (
    key integer primary key,
    meeting_id integer not null unique
);
insert into meeting_search_key (key, meeting_id)
select unixepoch(start_at) * 1048576 + row_number() over (partition by unixepoch(start_at) order by id) - 1, id
from meeting;

create virtual table meeting_fts using fts5 (
    subject,
    location,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
insert into meeting_fts (rowid, subject, location)
select k.key, m.subject, coalesce(m.location, '') from meeting m join meeting_search_key k on k.meeting_id = m.id;

create trigger meeting_search_after_insert after insert on meeting begin
    insert into meeting_search_key (key, meeting_id)
    select coalesce(max(key) + 1, unixepoch(new.start_at) * 1048576), new.id
    from meeting_search_key
    where key between unixepoch(new.start_at) * 1048576 and unixepoch(new.start_at) * 1048576 + 1048575;
    insert into meeting_fts (rowid, subject, location)
    values (last_insert_rowid(), new.subject, coalesce(new.location, ''));
end;

create trigger meeting_search_after_delete after delete on meeting begin
    delete from meeting_fts where rowid = (select key from meeting_search_key where meeting_id = old.id);
    delete from meeting_search_key where meeting_id = old.id;
end;

create trigger meeting_search_after_text_update after update of subject, location on meeting
when old.subject <> new.subject or coalesce(old.location, '') <> coalesce(new.location, '') begin
    delete from meeting_fts where rowid = (select key from meeting_search_key where meeting_id = new.id);
    insert into meeting_fts (rowid, subject, location)
    values ((select key from meeting_search_key where meeting_id = new.id), new.subject, coalesce(new.location, ''));
end;

create trigger meeting_search_after_time_update after update of start_at on meeting
when unixepoch(old.start_at) <> unixepoch(new.start_at) begin
    delete from meeting_fts where rowid = (select key from meeting_search_key where meeting_id = new.id);
    delete from meeting_search_key where meeting_id = new.id;
    insert into meeting_search_key (key, meeting_id)
    select coalesce(max(key) + 1, unixepoch(new.start_at) * 1048576), new.id
    from meeting_search_key
    where key between unixepoch(new.start_at) * 1048576 and unixepoch(new.start_at) * 1048576 + 1048575;
    insert into meeting_fts (rowid, subject, location)
    values (last_insert_rowid(), new.subject, coalesce(new.location, ''));
end;

-- Search hits now reach emails by key, a page at a time: the covering index
-- 0003 added for looking up every hit costs each insert and serves nothing.
drop index email_search_meta;
