-- What each stored email and meeting still holds; see the SQLite twin
-- ../sqlite/0007_content_level.sql. Keep both in step.
alter table email add column content_level text not null default 'full'
    check (content_level in ('metadata', 'subject', 'full'));
alter table meeting add column content_level text not null default 'full'
    check (content_level in ('metadata', 'subject', 'full'));
