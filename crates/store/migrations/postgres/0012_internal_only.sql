-- Internal-only mail and meetings; see the SQLite twin
-- ../sqlite/0012_internal_only.sql. Keep both in step.
alter table email add column internal_only boolean not null default false;
alter table meeting add column internal_only boolean not null default false;
alter table privacy_policy add column keep_internal boolean not null default false;

create table internal_rule (
    workspace_id bigint primary key references workspace (id) on delete cascade,
    directory_digest text not null,
    applied_at timestamptz not null
);
