/*!
Contacts and companies: created by hand, imported from CSV, or created by
sync from the people mail and meetings are with (by the privacy policy's
auto-creation rules), and read as the contact list and profiles.

Every change that gives or takes addresses also keeps the activity index
in step, in the same transaction (`activity.rs`). Contacts are external:
an address of the tenant (directory user or verified domain) is refused,
which is also why mail among colleagues never reaches a timeline.
*/

use super::activity::{link_contacts, link_contacts_now, lock_linking, note_for_settling};
use super::{
    Conn, Db, Owned, Pool, begin_write, ensure_owned, from_json_rows, json_rows, now, push_list, rows_per_statement,
};
use crate::error::{ContactField, Result, StoreError};
use crate::query_text::like_escape;
use crate::types::{
    CompanyId, CompanyRow, ContactId, ContactListQuery, ContactRow, ContactSort, ContactSource, ImportFailure,
    ImportFailureReason, ImportOutcome, ImportReport, NewContact, WorkspaceId,
};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use tac_core::contact_csv::{ContactLine, LineError};
use tac_core::contacts::{
    AutoCreateCandidate, CompanySeed, company_domain, company_name_from_domain, is_free_mail_domain,
};
use tac_core::internal::Internal;
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
    let name = tac_core::contacts::validate_name(&new.name).map_err(|e| refused(ContactField::Name, e))?;
    if new.emails.is_empty() {
        return Err(refused(ContactField::Emails, "a contact needs at least one email address"));
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
        let name = tac_core::contacts::validate_name(name).map_err(|e| refused(ContactField::Name, e))?;
        if name.is_empty() {
            return Err(refused(ContactField::Name, "a contact's name cannot be empty"));
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
        return Err(refused(
            ContactField::Emails,
            "this is the contact's only address: delete the contact instead, or add another address first",
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
            return Err(refused(
                ContactField::Emails,
                format!(
                    "the line's addresses belong to two contacts ({first} and {second}); merge them first or split the line"
                ),
            ));
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

// ---- helpers ---------------------------------------------------------------

/// A contact change refused for `field`.
fn refused(field: ContactField, message: impl ToString) -> StoreError {
    StoreError::ContactRefused { field, message: message.to_string() }
}

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
        return Err(refused(
            ContactField::Company,
            format!(
                "a company name has at most {} characters and no control characters",
                tac_core::contacts::MAX_NAME_LEN
            ),
        ));
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
