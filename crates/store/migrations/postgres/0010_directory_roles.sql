-- Entra directory roles, and the ones that make someone a TAC admin.
-- SQLite twin: ../sqlite/0010_directory_roles.sql; keep both in step.

-- The tenant's activated directory roles as the last directory sync read
-- them (/directoryRoles). id is this tenant's object id; role_template_id
-- names the built-in role and is the same in every tenant.
create table directory_role (
    workspace_id bigint not null references workspace (id) on delete cascade,
    id text not null,
    role_template_id text not null,
    display_name text not null,
    description text not null,
    primary key (workspace_id, id)
);

-- The users who hold a role (apps that hold one are left out).
create table directory_role_member (
    workspace_id bigint not null references workspace (id) on delete cascade,
    role_id text not null,
    user_id text not null,
    primary key (workspace_id, role_id, user_id)
);
create index directory_role_member_user on directory_role_member (workspace_id, user_id);

-- The roles, by template id, whose holders are TAC admins when they sign
-- in with Microsoft. No row: no role makes anyone an admin.
create table sign_in_admin_role (
    workspace_id bigint not null references workspace (id) on delete cascade,
    role_template_id text not null,
    primary key (workspace_id, role_template_id)
);

-- Whether a portal user is an admin because of an Entra role; such an
-- admin becomes a member again when the role goes. An admin made in TAC
-- (false) is never demoted by Entra.
alter table portal_user add column admin_from_entra boolean not null default false;

-- A sign-in under way that links the Microsoft account to this portal
-- user rather than starting a session.
alter table oidc_login add column link_user_id bigint references portal_user (id) on delete cascade;
