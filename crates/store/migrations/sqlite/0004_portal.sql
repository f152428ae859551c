-- The portal's local accounts, sign-in throttling and first-admin setup
-- (issue 5). PostgreSQL twin: ../postgres/0004_portal.sql; keep both in step.

-- Roles: an admin changes integration and privacy settings, a member does
-- not. Existing rows (none were written before the portal) become members.
alter table portal_user add column role text not null default 'member'
    check (role in ('admin', 'member'));
alter table portal_user add column display_name text not null default '';
-- Sign in with Microsoft identifies a person by object id + tenant id, never
-- by email (an email can be reassigned); both are null for local accounts.
alter table portal_user add column oidc_tenant_id text;
alter table portal_user add column oidc_object_id text;
alter table portal_user add column last_login_at text;
create unique index portal_user_oidc on portal_user (workspace_id, oidc_tenant_id, oidc_object_id);
create index portal_user_role on portal_user (workspace_id, role);
create index session_portal_user on session (workspace_id, portal_user_id);

-- One row per failed sign-in, counted over a recent window by email and by
-- client address. Kept in the database so limits survive restarts and hold
-- across instances; old rows are pruned.
create table login_failure (
    id integer primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    email text not null, -- trimmed and lowercased
    client_ip text not null,
    at text not null
);
create index login_failure_email on login_failure (workspace_id, email, at);
create index login_failure_ip on login_failure (workspace_id, client_ip, at);
create index login_failure_at on login_failure (at);

-- One-time links that create the first admin. id is a SHA-256 hash of the
-- token, never the token itself.
create table setup_token (
    id text primary key,
    workspace_id integer not null references workspace (id) on delete cascade,
    created_at text not null,
    expires_at text not null,
    used_at text
);
