-- What each stored email and meeting still holds (issue: contacts, matching,
-- privacy and the timeline). PostgreSQL twin: ../postgres/0007_content_level.sql.
--
-- Content is minimised to the workspace's visibility level before it is
-- stored, and stripped when the level is lowered. After the level is
-- raised again, a row keeps its stripped content until the next sync reads
-- it again; content_level lets reads show those fields as hidden (null)
-- rather than as empty text until then.
alter table email add column content_level text not null default 'full'
    check (content_level in ('metadata', 'subject', 'full'));
alter table meeting add column content_level text not null default 'full'
    check (content_level in ('metadata', 'subject', 'full'));
