-- Internal-only mail and meetings: every participant is one of the
-- tenant's people or domains. PostgreSQL twin:
-- ../postgres/0012_internal_only.sql; keep both in step.
--
-- internal_only: the item's classification against the directory of the
-- last classification (internal_rule). Rows from before this column read
-- as not internal-only until the first classification after the upgrade,
-- which every sync pass runs when the directory digest differs.
-- keep_internal: the workspace keeps subjects and bodies of internal-only
-- items (off by default: metadata only).
-- internal_rule: the digest of the directory that stored items were last
-- classified against.
alter table email add column internal_only integer not null default 0;
alter table meeting add column internal_only integer not null default 0;
alter table privacy_policy add column keep_internal integer not null default 0;

create table internal_rule (
    workspace_id integer primary key references workspace (id) on delete cascade,
    directory_digest text not null,
    applied_at text not null
);
