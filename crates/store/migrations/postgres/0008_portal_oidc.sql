-- Sign in with Microsoft (issue 5). SQLite twin:
-- ../sqlite/0008_portal_oidc.sql; keep both in step.

-- A sign-in under way: created when the browser leaves for Microsoft,
-- deleted when it comes back (used once) or by housekeeping once expired.
-- id is a SHA-256 hash of the OAuth `state`; browser_hash is one of the
-- random value in the browser's `__Host-tac_oidc` cookie, so a callback
-- only completes in the browser that started it. nonce and code_verifier
-- are checked against the id_token and sent to the token endpoint.
create table oidc_login (
    id text primary key,
    workspace_id bigint not null references workspace (id) on delete cascade,
    browser_hash text not null,
    nonce text not null,
    code_verifier text not null,
    next_path text not null,
    created_at timestamptz not null,
    expires_at timestamptz not null
);
create index oidc_login_expires_at on oidc_login (expires_at);

-- Who may sign in with Microsoft: every member of the tenant (group_id
-- null, or no row), or only the members of one directory group (a Graph
-- object id, checked against group_member as the directory sync stored it).
create table sign_in_policy (
    workspace_id bigint primary key references workspace (id) on delete cascade,
    group_id text,
    updated_at timestamptz not null
);
