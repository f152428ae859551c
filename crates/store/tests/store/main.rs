//! Storage tests. Every behaviour runs on SQLite and on PostgreSQL (see
//! `common`): `scripts/test` provides the PostgreSQL.

mod common;

mod calendar;
mod connect;
mod contacts;
mod directory;
mod integration;
mod internal_only;
mod mail;
mod mailbox;
mod oidc;
mod portal;
mod search;
