/*!
Contacts, companies and matching (DESIGN §5).

Matching is set-based SQL over the normalised addresses already stored on
participants and attendees: an email or meeting is on a contact's timeline
when one of the contact's addresses is among its people. The `activity`
table is the index of that relation, and it is kept in step from both
sides, always inside the writing transaction:
- a contact created, or given an address, links its whole history at once
  ([`link_contacts`]), dated by when each thing happened;
- a page of synced mail or meetings links its new and changed items to the
  contacts that exist ([`link_emails`], [`link_meetings`]).

On PostgreSQL two transactions at once could each miss the other's rows (a
page storing an email from someone while that someone becomes a contact).
An advisory linking lock per workspace closes that: pages hold it shared,
contact changes outside sync take it exclusively up front, and contacts a
page auto-creates are linked again after it commits, under the exclusive
lock ([`settle_links`]).

Contacts are external: an address of the tenant (directory user or verified
domain) is refused, which is also why mail among colleagues never reaches a
timeline.
*/

use super::{
    BACKEND, Conn, Db, Owned, Pool, begin_write, ensure_owned, from_json_rows, json_rows, now, push_list,
    rows_per_statement,
};
use crate::error::{Result, StoreError};
use crate::query_text::like_escape;
use crate::types::{
    Backend, CompanyId, CompanyRow, ContactId, ContactListQuery, ContactRow, ContactSort, ContactSource, ImportFailure,
    ImportFailureReason, ImportOutcome, ImportReport, NewContact, WorkspaceId,
};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use tac_core::contact_csv::{ContactLine, LineError};
use tac_core::contacts::{
    AutoCreateCandidate, CompanySeed, company_domain, company_name_from_domain, is_free_mail_domain,
};
use tac_core::internal::Internal;
use tac_core::timeline::ActivityKind;
use tac_core::{DirectoryUser, NormalizedAddress, TenantDomain};
use tac_store_macros::operation;

/// The tenant's people and domains, from the stored directory.
pub(crate) async fn load_internal(conn: &mut Conn, ws: WorkspaceId) -> Result<Internal> {
    type UserRow = (String, String, Option<String>, sqlx::types::Json<Vec<String>>);
    let users: Vec<UserRow> = sqlx::query_as(
        "select id, user_principal_name, mail, proxy_addresses from directory_user where workspace_id = $1",
    )
    .bind(ws.0)
    .fetch_all(&mut *conn)
    .await?;
    let users: Vec<DirectoryUser> = users
        .into_iter()
        .map(|(id, upn, mail, proxies)| DirectoryUser {
            id,
            display_name: String::new(),
            user_principal_name: upn,
            mail,
            proxy_addresses: proxies.0,
            account_enabled: true,
        })
        .collect();
    let domains: Vec<(String,)> = sqlx::query_as("select name from tenant_domain where workspace_id = $1")
        .bind(ws.0)
        .fetch_all(&mut *conn)
        .await?;
    let domains: Vec<TenantDomain> =
        domains.into_iter().map(|(name,)| TenantDomain { name, is_default: false, is_initial: false }).collect();
    Ok(Internal::new(&users, &domains))
}

/// Creates a contact and links its whole history. Refuses addresses of
/// the tenant ([`StoreError::InternalAddress`]) and addresses another
/// contact has ([`StoreError::AddressInUse`]).
#[operation]
pub(crate) async fn create_contact(pool: &Pool, ws: WorkspaceId, new: &NewContact) -> Result<ContactId> {
    let name = tac_core::contacts::validate_name(&new.name).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
    if new.emails.is_empty() {
        return Err(StoreError::InvalidInput("a contact needs at least one email address".into()));
    }
    let mut tx = begin_write(pool).await?;
    lock_linking(&mut tx, ws).await?;
    let internal = load_internal(&mut tx, ws).await?;
    for a in &new.emails {
        if internal.is_internal(a.as_str()) {
            return Err(StoreError::InternalAddress(a.as_str().to_owned()));
        }
        if let Some(owner) = address_owner(&mut tx, ws, a.as_str()).await? {
            return Err(StoreError::AddressInUse { address: a.as_str().to_owned(), contact_id: owner.0 });
        }
    }
    let company = resolve_company(&mut tx, ws, new.company.as_deref(), &new.emails).await?;
    let name = if name.is_empty() { tac_core::contacts::guess_name("", &new.emails[0]) } else { name };
    let id = insert_contact(&mut tx, ws, &name, company, new.source).await?;
    for a in &new.emails {
        insert_address(&mut tx, ws, id, a.as_str()).await?;
    }
    link_contacts(&mut tx, ws, &[id.0]).await?;
    tx.commit().await?;
    Ok(id)
}

/// Renames a contact and/or sets its company by name (`Some(None)` clears it).
#[operation]
pub(crate) async fn update_contact(
    pool: &Pool,
    ws: WorkspaceId,
    id: ContactId,
    name: Option<&str>,
    company: Option<Option<&str>>,
) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    ensure_owned(&mut *tx, ws, Owned::Contact, id.0).await?;
    if let Some(name) = name {
        let name = tac_core::contacts::validate_name(name).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        if name.is_empty() {
            return Err(StoreError::InvalidInput("a contact's name cannot be empty".into()));
        }
        sqlx::query("update contact set name = $3, updated_at = $4 where workspace_id = $1 and id = $2")
            .bind(ws.0)
            .bind(id.0)
            .bind(name)
            .bind(now())
            .execute(&mut *tx)
            .await?;
    }
    if let Some(company) = company {
        let company_id = match company {
            Some(name) => Some(company_by_name(&mut tx, ws, name, None).await?),
            None => None,
        };
        sqlx::query("update contact set company_id = $3, updated_at = $4 where workspace_id = $1 and id = $2")
            .bind(ws.0)
            .bind(id.0)
            .bind(company_id.map(|c| c.0))
            .bind(now())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes a contact; its timeline entries go with it (the synced mail stays).
#[operation]
pub(crate) async fn delete_contact(pool: &Pool, ws: WorkspaceId, id: ContactId) -> Result<()> {
    let done = sqlx::query("delete from contact where workspace_id = $1 and id = $2")
        .bind(ws.0)
        .bind(id.0)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("contact"));
    }
    Ok(())
}

/// Gives a contact another address; everything that address was on joins
/// the timeline at once.
#[operation]
pub(crate) async fn add_contact_email(
    pool: &Pool,
    ws: WorkspaceId,
    id: ContactId,
    address: &NormalizedAddress,
) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    lock_linking(&mut tx, ws).await?;
    ensure_owned(&mut *tx, ws, Owned::Contact, id.0).await?;
    match address_owner(&mut tx, ws, address.as_str()).await? {
        Some(owner) if owner == id => return Ok(()),
        Some(owner) => {
            return Err(StoreError::AddressInUse { address: address.as_str().to_owned(), contact_id: owner.0 });
        }
        None => {}
    }
    if load_internal(&mut tx, ws).await?.is_internal(address.as_str()) {
        return Err(StoreError::InternalAddress(address.as_str().to_owned()));
    }
    insert_address(&mut tx, ws, id, address.as_str()).await?;
    link_contacts(&mut tx, ws, &[id.0]).await?;
    tx.commit().await?;
    Ok(())
}

/// Takes an address off a contact; what only that address linked leaves
/// the timeline. The last address cannot be removed (delete the contact).
#[operation]
pub(crate) async fn remove_contact_email(
    pool: &Pool,
    ws: WorkspaceId,
    id: ContactId,
    address: &NormalizedAddress,
) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    lock_linking(&mut tx, ws).await?;
    ensure_owned(&mut *tx, ws, Owned::Contact, id.0).await?;
    let (left,): (i64,) =
        sqlx::query_as("select count(*) from contact_email where workspace_id = $1 and contact_id = $2")
            .bind(ws.0)
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
    let gone = sqlx::query("delete from contact_email where workspace_id = $1 and contact_id = $2 and address = $3")
        .bind(ws.0)
        .bind(id.0)
        .bind(address.as_str())
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Err(StoreError::NotFound("contact address"));
    }
    if left <= 1 {
        return Err(StoreError::InvalidInput(
            "this is the contact's only address: delete the contact instead, or add another address first".into(),
        ));
    }
    // Relink from the remaining addresses.
    sqlx::query("delete from activity where workspace_id = $1 and contact_id = $2")
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
    link_contacts(&mut tx, ws, &[id.0]).await?;
    tx.commit().await?;
    Ok(())
}

/// One contact with its addresses and company; `NotFound` when it is not
/// the workspace's.
#[operation]
pub(crate) async fn contact(conn: &mut Conn, ws: WorkspaceId, id: ContactId) -> Result<ContactRow> {
    let mut rows = contact_rows(conn, ws, ContactFilter::Id(id), &ContactListQuery::default()).await?;
    rows.pop().ok_or(StoreError::NotFound("contact"))
}

#[operation]
pub(crate) async fn contact_by_email(
    pool: &Pool,
    ws: WorkspaceId,
    address: &NormalizedAddress,
) -> Result<Option<ContactRow>> {
    let mut conn = pool.acquire().await?;
    let Some(id) = address_owner(&mut conn, ws, address.as_str()).await? else { return Ok(None) };
    contact(&mut conn, ws, id).await.map(Some)
}

/// Contacts listed, searched and sorted as `query` asks.
#[operation]
pub(crate) async fn contacts(conn: &mut Conn, ws: WorkspaceId, query: &ContactListQuery) -> Result<Vec<ContactRow>> {
    contact_rows(conn, ws, ContactFilter::List, query).await
}

#[operation]
pub(crate) async fn company(conn: &mut Conn, ws: WorkspaceId, id: CompanyId) -> Result<CompanyRow> {
    let row: Option<(i64, String, Option<String>)> =
        sqlx::query_as("select id, name, domain from company where workspace_id = $1 and id = $2")
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(conn)
            .await?;
    row.map(|(id, name, domain)| CompanyRow { id: CompanyId(id), name, domain }).ok_or(StoreError::NotFound("company"))
}

#[operation]
pub(crate) async fn companies(pool: &Pool, ws: WorkspaceId) -> Result<Vec<CompanyRow>> {
    let rows: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("select id, name, domain from company where workspace_id = $1 order by lower(name), id")
            .bind(ws.0)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id, name, domain)| CompanyRow { id: CompanyId(id), name, domain }).collect())
}

/// Imports parsed CSV lines, each in its own transaction: a bad line is
/// reported and the others still import; a rerun creates nothing twice.
#[operation]
pub(crate) async fn import_contacts(
    pool: &Pool,
    ws: WorkspaceId,
    lines: &[ContactLine],
) -> Result<Vec<Result<ImportOutcome>>> {
    let internal = load_internal(&mut *pool.acquire().await?, ws).await?;
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        out.push(import_contact(pool, ws, &internal, line).await);
    }
    Ok(out)
}

/// Imports a parsed CSV file ([`tac_core::contact_csv::parse_contacts_csv`]'s
/// rows): the good lines as [`Store::import_contacts`](crate::Store::import_contacts)
/// does, and a report of what they did with every failed line, parse or
/// store, in line order.
#[operation]
pub(crate) async fn import_contacts_report(
    pool: &Pool,
    ws: WorkspaceId,
    rows: Vec<std::result::Result<ContactLine, LineError>>,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        match row {
            Ok(line) => lines.push(line),
            Err(e) => {
                report.failures.push(ImportFailure { line: e.line, reason: ImportFailureReason::Invalid(e.message) })
            }
        }
    }
    let outcomes = import_contacts(pool, ws, &lines).await?;
    for (line, outcome) in lines.iter().zip(outcomes) {
        match outcome {
            Ok(ImportOutcome::Created(_)) => report.created += 1,
            Ok(ImportOutcome::Updated(_)) => report.updated += 1,
            Ok(ImportOutcome::Unchanged(_)) => report.unchanged += 1,
            Err(e) => report.failures.push(ImportFailure { line: line.line, reason: ImportFailureReason::Refused(e) }),
        }
    }
    report.failures.sort_by_key(|f| f.line);
    Ok(report)
}

/// Imports one CSV line in its own transaction: a new contact, or the
/// existing one (found by any of the line's addresses) completed with the
/// line's other addresses, name (when it had none of its own) and company.
async fn import_contact(
    pool: &Pool,
    ws: WorkspaceId,
    internal: &Internal,
    line: &ContactLine,
) -> Result<ImportOutcome> {
    for a in &line.emails {
        if internal.is_internal(a.as_str()) {
            return Err(StoreError::InternalAddress(a.as_str().to_owned()));
        }
    }
    let mut tx = begin_write(pool).await?;
    lock_linking(&mut tx, ws).await?;
    let mut owners = Vec::new();
    for a in &line.emails {
        if let Some(owner) = address_owner(&mut tx, ws, a.as_str()).await?
            && !owners.contains(&owner)
        {
            owners.push(owner);
        }
    }
    let outcome = match owners.as_slice() {
        [] => {
            let company = resolve_company(&mut tx, ws, line.company.as_deref(), &line.emails).await?;
            let name = if line.name.is_empty() {
                tac_core::contacts::guess_name("", &line.emails[0])
            } else {
                line.name.clone()
            };
            let id = insert_contact(&mut tx, ws, &name, company, ContactSource::Import).await?;
            for a in &line.emails {
                insert_address(&mut tx, ws, id, a.as_str()).await?;
            }
            link_contacts(&mut tx, ws, &[id.0]).await?;
            ImportOutcome::Created(id)
        }
        [id] => {
            let id = *id;
            let mut changed = false;
            for a in &line.emails {
                if address_owner(&mut tx, ws, a.as_str()).await?.is_none() {
                    insert_address(&mut tx, ws, id, a.as_str()).await?;
                    changed = true;
                }
            }
            let (name, company_id): (String, Option<i64>) =
                sqlx::query_as("select name, company_id from contact where workspace_id = $1 and id = $2")
                    .bind(ws.0)
                    .bind(id.0)
                    .fetch_one(&mut *tx)
                    .await?;
            if !line.name.is_empty() && name != line.name {
                sqlx::query("update contact set name = $3, updated_at = $4 where workspace_id = $1 and id = $2")
                    .bind(ws.0)
                    .bind(id.0)
                    .bind(&line.name)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                changed = true;
            }
            if let (Some(company), None) = (line.company.as_deref(), company_id) {
                let c = company_by_name(&mut tx, ws, company, None).await?;
                sqlx::query("update contact set company_id = $3, updated_at = $4 where workspace_id = $1 and id = $2")
                    .bind(ws.0)
                    .bind(id.0)
                    .bind(c.0)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                changed = true;
            }
            if changed {
                link_contacts(&mut tx, ws, &[id.0]).await?;
                ImportOutcome::Updated(id)
            } else {
                ImportOutcome::Unchanged(id)
            }
        }
        [first, second, ..] => {
            return Err(StoreError::InvalidInput(format!(
                "the line's addresses belong to two contacts ({first} and {second}); merge them first or split the line"
            )));
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Creates the contacts that the auto-creation policy chose for a page,
/// inside the page's transaction, skipping addresses that already have a
/// contact. Returns the new contacts' ids; their history is linked.
pub(crate) async fn auto_create_contacts(
    conn: &mut Conn,
    ws: WorkspaceId,
    candidates: &[AutoCreateCandidate],
) -> Result<Vec<i64>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted: Vec<&AutoCreateCandidate> = candidates.iter().collect();
    // One order for every transaction, so two pages creating the same people
    // on PostgreSQL wait for each other instead of deadlocking.
    sorted.sort_by(|a, b| a.address.cmp(&b.address));
    sorted.dedup_by(|a, b| a.address == b.address);
    let mut known = std::collections::HashSet::new();
    for chunk in sorted.chunks(rows_per_statement(1)) {
        let mut query = QueryBuilder::<Db>::new("select address from contact_email where workspace_id = ");
        query.push_bind(ws.0).push(" and address in ");
        push_list(&mut query, chunk.iter().map(|c| c.address.as_str()));
        let rows: Vec<(String,)> = query.build_query_as().persistent(false).fetch_all(&mut *conn).await?;
        known.extend(rows.into_iter().map(|(a,)| a));
    }
    let fresh: Vec<&AutoCreateCandidate> = sorted.into_iter().filter(|c| !known.contains(c.address.as_str())).collect();
    // Companies first, in domain order, for the same reason.
    let mut seeds: Vec<&CompanySeed> = fresh.iter().filter_map(|c| c.company.as_ref()).collect();
    seeds.sort_by(|a, b| a.domain.cmp(&b.domain));
    seeds.dedup_by(|a, b| a.domain == b.domain);
    let mut companies = std::collections::HashMap::new();
    for seed in seeds {
        companies.insert(seed.domain.as_str(), company_by_domain(conn, ws, &seed.domain, &seed.name).await?);
    }
    let mut created = Vec::new();
    for c in fresh {
        let company = c.company.as_ref().and_then(|seed| companies.get(seed.domain.as_str()).copied());
        let id = insert_contact(conn, ws, &c.name, company, ContactSource::Auto).await?;
        let inserted: Option<(i64,)> = sqlx::query_as(
            "insert into contact_email (workspace_id, contact_id, address, created_at) values ($1, $2, $3, $4)
             on conflict (workspace_id, address) do nothing returning id",
        )
        .bind(ws.0)
        .bind(id.0)
        .bind(c.address.as_str())
        .bind(now())
        .fetch_optional(&mut *conn)
        .await?;
        if inserted.is_some() {
            created.push(id.0);
        } else {
            // Another transaction created this person meanwhile.
            sqlx::query("delete from contact where workspace_id = $1 and id = $2")
                .bind(ws.0)
                .bind(id.0)
                .execute(&mut *conn)
                .await?;
        }
    }
    // Inside a page, which holds the linking lock shared: the settle after
    // its commit relinks these contacts with the lock held exclusively.
    link_contacts_now(conn, ws, &created).await?;
    note_for_settling(conn, ws, &created).await?;
    Ok(created)
}

/// Links every email and meeting of these contacts' addresses. A
/// transaction that creates contacts or gives them addresses takes the
/// linking lock first ([`lock_linking`]), or, inside a page, notes the
/// contacts for [`settle_links`].
pub(crate) async fn link_contacts(conn: &mut Conn, ws: WorkspaceId, contact_ids: &[i64]) -> Result<()> {
    link_contacts_now(conn, ws, contact_ids).await
}

/// Links these emails to every contact among their participants.
pub(crate) async fn link_emails(conn: &mut Conn, ws: WorkspaceId, email_ids: &[i64]) -> Result<()> {
    by_chunks(conn, email_ids, |chunk| link_query(ws, Link::Emails, Start::Items, chunk)).await
}

/// Links these meetings to every contact among their organizer and attendees.
pub(crate) async fn link_meetings(conn: &mut Conn, ws: WorkspaceId, meeting_ids: &[i64]) -> Result<()> {
    for link in [Link::Attendees, Link::Organizers] {
        by_chunks(conn, meeting_ids, |chunk| link_query(ws, link, Start::Items, chunk)).await?;
    }
    Ok(())
}

async fn link_contacts_now(conn: &mut Conn, ws: WorkspaceId, contact_ids: &[i64]) -> Result<()> {
    for link in [Link::Emails, Link::Attendees, Link::Organizers] {
        by_chunks(conn, contact_ids, |chunk| link_query(ws, link, Start::Contacts, chunk)).await?;
    }
    Ok(())
}

/// The advisory lock key of a workspace's linking (PostgreSQL): pages hold it
/// shared for their whole transaction, [`settle_links`] exclusively.
fn linking_lock(ws: WorkspaceId) -> i64 {
    0x7AC_0000_0000 + ws.0
}

/// PostgreSQL: called first in a transaction that creates contacts or gives
/// them addresses (outside sync pages). It waits for the pages under way to
/// commit, so its linking sees their items, and pages that start meanwhile
/// wait for it, so theirs see its contacts. Taken before any row is written,
/// it never waits while holding a row a page needs.
pub(crate) async fn lock_linking(conn: &mut Conn, ws: WorkspaceId) -> Result<()> {
    if BACKEND == Backend::Postgres {
        sqlx::query("select pg_advisory_xact_lock($1)").bind(linking_lock(ws)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// PostgreSQL: called first in a page's transaction. The page holds the
/// workspace's linking lock shared until it commits, so a settle that relinks
/// new contacts waits for pages already under way and pages that start later
/// see those contacts (see [`settle_links`]). Pages never wait for each other.
pub(crate) async fn hold_linking_lock(conn: &mut Conn, ws: WorkspaceId) -> Result<()> {
    if BACKEND == Backend::Postgres {
        sqlx::query("select pg_advisory_xact_lock_shared($1)").bind(linking_lock(ws)).execute(&mut *conn).await?;
    }
    Ok(())
}

/// PostgreSQL: notes, inside the page that auto-created them, contacts for
/// [`settle_links`] to link again once the page has committed. SQLite runs one writer at a time, so a link there always sees
/// every committed row and nothing is noted.
async fn note_for_settling(conn: &mut Conn, ws: WorkspaceId, contact_ids: &[i64]) -> Result<()> {
    if BACKEND != Backend::Postgres || contact_ids.is_empty() {
        return Ok(());
    }
    for chunk in contact_ids.chunks(rows_per_statement(3)) {
        let mut query = QueryBuilder::<Db>::new("insert into link_pending (workspace_id, kind, ref_id) ");
        query.push_values(chunk, |mut row, id| {
            row.push_bind(ws.0).push_bind("contact").push_bind(*id);
        });
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// How many notes one settling transaction takes.
const SETTLE_BATCH: i64 = 2_000;

/// Links again the history of contacts that sync pages auto-created
/// (PostgreSQL; a no-op on SQLite), and deletes their notes. Returns how
/// many notes it settled.
///
/// A page storing an email from someone, and another page auto-creating
/// that someone as a contact at the same moment, each link only what they
/// see; neither sees the other's uncommitted rows, so the email would miss
/// the timeline. The creating page notes the contact; this follow-up
/// then takes the workspace's linking lock exclusively, which waits for every
/// page already under way (they hold it shared) and makes pages that start
/// later wait, so that the pages before it have committed when it links and
/// the pages after it see the contact. Sync calls this every few seconds
/// during a pass and at its end (not after every page: each settle pauses
/// the pages), so a contact auto-created mid-pass may lack a racing email
/// for those seconds, never for good; notes survive a crash.
#[operation]
pub(crate) async fn settle_links(pool: &Pool, ws: WorkspaceId) -> Result<u64> {
    if BACKEND != Backend::Postgres {
        return Ok(0);
    }
    let mut settled = 0;
    loop {
        let mut tx = begin_write(pool).await?;
        // Nothing to do, most of the time: no lock is taken then.
        let pending: Option<i64> = sqlx::query_scalar("select id from link_pending where workspace_id = $1 limit 1")
            .bind(ws.0)
            .fetch_optional(&mut *tx)
            .await?;
        if pending.is_none() {
            tx.commit().await?;
            return Ok(settled);
        }
        sqlx::query("select pg_advisory_xact_lock($1)").bind(linking_lock(ws)).execute(&mut *tx).await?;
        // Skip notes another follow-up is settling: it too waited for the
        // pages under way, which is all that is needed.
        let notes: Vec<(i64, i64)> = sqlx::query_as(
            "select id, ref_id from link_pending where workspace_id = $1 and kind = 'contact'
             order by id limit $2 for update skip locked",
        )
        .bind(ws.0)
        .bind(SETTLE_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if notes.is_empty() {
            tx.commit().await?;
            return Ok(settled);
        }
        let mut contacts: Vec<i64> = notes.iter().map(|(_, contact)| *contact).collect();
        contacts.sort_unstable();
        contacts.dedup();
        link_contacts_now(&mut tx, ws, &contacts).await?;
        let ids: Vec<i64> = notes.iter().map(|(id, _)| *id).collect();
        by_chunks(&mut tx, &ids, |chunk| {
            let mut query = QueryBuilder::<Db>::new("delete from link_pending where id in ");
            push_list(&mut query, chunk.iter().copied());
            query
        })
        .await?;
        tx.commit().await?;
        settled += notes.len() as u64;
    }
}

/// Drops the timeline entries of these emails or meetings (before they are relinked).
pub(crate) async fn unlink(conn: &mut Conn, kind: ActivityKind, ids: &[i64]) -> Result<()> {
    let sql = match kind {
        ActivityKind::Email => "delete from activity where email_id in ",
        ActivityKind::Meeting => "delete from activity where meeting_id in ",
    };
    by_chunks(conn, ids, |chunk| {
        let mut query = QueryBuilder::<Db>::new(sql);
        push_list(&mut query, chunk.iter().copied());
        query
    })
    .await
}

/// How an item reaches a contact: as an email participant, a meeting
/// attendee or a meeting organizer. Each is its own statement so that every
/// join runs on an index.
#[derive(Debug, Clone, Copy)]
enum Link {
    Emails,
    Attendees,
    Organizers,
}

/// Runs the statement `build` makes for each bind-sized chunk of `ids`.
async fn by_chunks(conn: &mut Conn, ids: &[i64], build: impl Fn(&[i64]) -> QueryBuilder<Db>) -> Result<()> {
    for chunk in ids.chunks(rows_per_statement(1)).filter(|c| !c.is_empty()) {
        build(chunk).build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which rows a linking statement starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// These contacts' addresses (a new contact's whole history).
    Contacts,
    /// These emails or meetings (a synced page).
    Items,
}

/// The insert…select that links items to contacts, for the chunk of
/// contact or item ids. An email is inbound for a contact who sent it,
/// outbound otherwise; a meeting is on the timeline of its organizer and
/// of every attendee; an internal-only item is on none.
///
/// The side the chunk names comes first, joined with `cross join`: SQLite
/// then keeps that order (PostgreSQL plans it as an inner join anyway), so
/// a page's statement reads the page's rows and looks contacts up by
/// address, instead of walking every contact of the workspace.
fn link_query(ws: WorkspaceId, link: Link, from: Start, chunk: &[i64]) -> QueryBuilder<Db> {
    // Starting from items, the item side is joined to contacts by address
    // alone (the chunk's ids are this workspace's already): naming its
    // workspace too would let SQLite read every participant of the
    // workspace by that index instead of the page's by their item ids.
    let (select, tables, filter, join) = match (link, from) {
        (Link::Emails, Start::Contacts) => (
            EMAIL_LINK,
            " from contact_email ce cross join email_participant p cross join email e",
            " and ce.contact_id in ",
            " and p.workspace_id = ce.workspace_id and p.address = ce.address and e.id = p.email_id",
        ),
        (Link::Emails, Start::Items) => (
            EMAIL_LINK,
            " from email_participant p cross join contact_email ce cross join email e",
            " and p.email_id in ",
            " and ce.address = p.address and e.id = p.email_id",
        ),
        (Link::Attendees, Start::Contacts) => (
            MEETING_LINK,
            " from contact_email ce cross join meeting_attendee a cross join meeting m",
            " and ce.contact_id in ",
            " and a.workspace_id = ce.workspace_id and a.address = ce.address and m.id = a.meeting_id",
        ),
        (Link::Attendees, Start::Items) => (
            MEETING_LINK,
            " from meeting_attendee a cross join contact_email ce cross join meeting m",
            " and a.meeting_id in ",
            " and ce.address = a.address and m.id = a.meeting_id",
        ),
        (Link::Organizers, Start::Contacts) => (
            MEETING_LINK,
            " from contact_email ce cross join meeting m",
            " and ce.contact_id in ",
            " and m.workspace_id = ce.workspace_id and m.organizer_address = ce.address",
        ),
        (Link::Organizers, Start::Items) => (
            MEETING_LINK,
            " from meeting m cross join contact_email ce",
            " and m.id in ",
            " and ce.address = m.organizer_address",
        ),
    };
    let mut query = QueryBuilder::<Db>::new(select);
    query.push(tables).push(" where ce.workspace_id = ").push_bind(ws.0).push(filter);
    push_list(&mut query, chunk.iter().copied());
    query.push(join);
    // Internal-only items are on no timeline, even of a contact whose
    // address the directory has since made internal.
    query.push(match link {
        Link::Emails => " and not e.internal_only",
        Link::Attendees | Link::Organizers => " and not m.internal_only",
    });
    if let Link::Emails = link {
        query.push(" group by ce.workspace_id, ce.contact_id, e.id, e.sent_at");
    }
    query.push(" on conflict do nothing");
    query
}

const EMAIL_LINK: &str = "insert into activity (workspace_id, contact_id, occurred_at, kind, email_id, direction)
     select ce.workspace_id, ce.contact_id, e.sent_at, 'email', e.id,
            case when max(case when p.role = 'from' then 1 else 0 end) = 1 then 'inbound' else 'outbound' end";

const MEETING_LINK: &str = "insert into activity (workspace_id, contact_id, occurred_at, kind, meeting_id)
     select ce.workspace_id, ce.contact_id, m.start_at, 'meeting', m.id";

// ---- helpers ---------------------------------------------------------------

async fn address_owner(conn: &mut Conn, ws: WorkspaceId, address: &str) -> Result<Option<ContactId>> {
    let owner: Option<i64> =
        sqlx::query_scalar("select contact_id from contact_email where workspace_id = $1 and address = $2")
            .bind(ws.0)
            .bind(address)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(owner.map(ContactId))
}

async fn insert_contact(
    conn: &mut Conn,
    ws: WorkspaceId,
    name: &str,
    company: Option<CompanyId>,
    source: ContactSource,
) -> Result<ContactId> {
    let now = now();
    let (id,): (i64,) = sqlx::query_as(
        "insert into contact (workspace_id, name, company_id, source, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $5) returning id",
    )
    .bind(ws.0)
    .bind(name)
    .bind(company.map(|c| c.0))
    .bind(source.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(ContactId(id))
}

async fn insert_address(conn: &mut Conn, ws: WorkspaceId, contact: ContactId, address: &str) -> Result<()> {
    sqlx::query("insert into contact_email (workspace_id, contact_id, address, created_at) values ($1, $2, $3, $4)")
        .bind(ws.0)
        .bind(contact.0)
        .bind(address)
        .bind(now())
        .execute(&mut *conn)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => {
                StoreError::AddressInUse { address: address.to_owned(), contact_id: contact.0 }
            }
            other => other,
        })?;
    Ok(())
}

/// The company a new contact joins: the named one (found by name, any case,
/// or created), else the one of its first work domain (found or created).
async fn resolve_company(
    conn: &mut Conn,
    ws: WorkspaceId,
    name: Option<&str>,
    emails: &[NormalizedAddress],
) -> Result<Option<CompanyId>> {
    let work_domain = emails.iter().map(|a| a.domain()).find(|d| !is_free_mail_domain(d)).map(company_domain);
    match (name.map(str::trim).filter(|n| !n.is_empty()), work_domain) {
        (Some(name), domain) => Ok(Some(company_by_name(conn, ws, name, domain.as_deref()).await?)),
        (None, Some(domain)) => {
            let name = company_name_from_domain(&domain);
            Ok(Some(company_by_domain(conn, ws, &domain, &name).await?))
        }
        (None, None) => Ok(None),
    }
}

/// Finds a company by name (case-insensitive) or creates it, with `domain`
/// when no other company holds that domain.
async fn company_by_name(conn: &mut Conn, ws: WorkspaceId, name: &str, domain: Option<&str>) -> Result<CompanyId> {
    if name.chars().count() > tac_core::contacts::MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput(format!(
            "a company name has at most {} characters and no control characters",
            tac_core::contacts::MAX_NAME_LEN
        )));
    }
    let found: Option<i64> =
        sqlx::query_scalar("select id from company where workspace_id = $1 and lower(name) = lower($2) order by id")
            .bind(ws.0)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(id) = found {
        return Ok(CompanyId(id));
    }
    if let Some(domain) = domain {
        let holder: Option<i64> = sqlx::query_scalar("select id from company where workspace_id = $1 and domain = $2")
            .bind(ws.0)
            .bind(domain)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(id) = holder {
            return Ok(CompanyId(id));
        }
    }
    let (id,): (i64,) = sqlx::query_as(
        "insert into company (workspace_id, name, domain, created_at) values ($1, $2, $3, $4) returning id",
    )
    .bind(ws.0)
    .bind(name.trim())
    .bind(domain)
    .bind(now())
    .fetch_one(&mut *conn)
    .await?;
    Ok(CompanyId(id))
}

/// Finds the company of a domain or creates it with `name`.
async fn company_by_domain(conn: &mut Conn, ws: WorkspaceId, domain: &str, name: &str) -> Result<CompanyId> {
    sqlx::query(
        "insert into company (workspace_id, name, domain, created_at) values ($1, $2, $3, $4)
         on conflict (workspace_id, domain) do nothing",
    )
    .bind(ws.0)
    .bind(name)
    .bind(domain)
    .bind(now())
    .execute(&mut *conn)
    .await?;
    let (id,): (i64,) = sqlx::query_as("select id from company where workspace_id = $1 and domain = $2")
        .bind(ws.0)
        .bind(domain)
        .fetch_one(&mut *conn)
        .await?;
    Ok(CompanyId(id))
}

enum ContactFilter {
    Id(ContactId),
    List,
}

/// A contact's addresses as they were added (the first is its primary).
fn addresses_in_order(mut rows: Vec<(i64, String)>) -> Vec<String> {
    rows.sort_unstable_by_key(|r| r.0);
    rows.into_iter().map(|(_, address)| address).collect()
}

type ContactSqlRow =
    (i64, String, Option<i64>, String, DateTime<Utc>, Option<String>, Option<String>, Option<DateTime<Utc>>, String);

async fn contact_rows(
    conn: &mut Conn,
    ws: WorkspaceId,
    filter: ContactFilter,
    list: &ContactListQuery,
) -> Result<Vec<ContactRow>> {
    let now = now();
    let mut query = QueryBuilder::<Db>::new(
        "select c.id, c.name, c.company_id, c.source, c.created_at, co.name, co.domain,
                (select max(a.occurred_at) from activity a
                 where a.workspace_id = c.workspace_id and a.contact_id = c.id and a.occurred_at <= ",
    );
    query.push_bind(now).push(format_args!(
        ") as last_at,
                (select {} from contact_email ce where ce.contact_id = c.id)
         from contact c left join company co on co.id = c.company_id
         where c.workspace_id = ",
        json_rows("ce.id, ce.address"),
    ));
    query.push_bind(ws.0);
    match filter {
        ContactFilter::Id(id) => {
            query.push(" and c.id = ").push_bind(id.0);
        }
        ContactFilter::List => {
            if let Some(company) = list.company {
                query.push(" and c.company_id = ").push_bind(company.0);
            }
            for word in list.search.as_deref().unwrap_or("").split_whitespace().take(8) {
                let pattern = format!("%{}%", like_escape(&word.to_lowercase()));
                query
                    .push(" and (lower(c.name) like ")
                    .push_bind(pattern.clone())
                    .push(
                        " escape '\\' or exists (select 1 from contact_email ce where ce.contact_id = c.id and ce.address like ",
                    )
                    .push_bind(pattern)
                    .push(" escape '\\'))");
            }
            match list.sort {
                ContactSort::Name => query.push(" order by lower(c.name), c.id"),
                ContactSort::LastInteraction => query.push(" order by last_at desc nulls last, c.id"),
            };
            query.push(" limit ").push_bind(i64::from(list.limit.min(1000)));
            query.push(" offset ").push_bind(i64::from(list.offset));
        }
    }
    let rows: Vec<ContactSqlRow> = query.build_query_as().fetch_all(conn).await?;
    rows.into_iter()
        .map(|(id, name, company_id, source, created_at, company_name, company_domain, last_at, emails)| {
            Ok(ContactRow {
                id: ContactId(id),
                name,
                emails: addresses_in_order(from_json_rows("contact_email", &emails)?),
                company: company_id.zip(company_name).map(|(cid, cname)| CompanyRow {
                    id: CompanyId(cid),
                    name: cname,
                    domain: company_domain,
                }),
                source: ContactSource::parse(&source).ok_or_else(|| StoreError::corrupt("contact.source", &source))?,
                created_at,
                last_interaction_at: last_at,
            })
        })
        .collect()
}
