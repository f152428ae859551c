/*!
Full-text search over email subject and body text.

The user's query is plain words, never query syntax: on SQLite every word
becomes an FTS5 string (double-quoted, inner quotes doubled), so `NEAR(`,
`*`, `OR` or a stray quote are just text; on PostgreSQL the text goes through
`plainto_tsquery`, which has no operators at all. Both look for all the words.
*/

use super::{BACKEND, Pool};
use crate::error::Result;
use crate::query_text::{fts5_query, words};
use crate::types::{Backend, EmailHit, EmailId, WorkspaceId};
use chrono::{DateTime, Utc};

pub(crate) async fn search_emails(pool: &Pool, ws: WorkspaceId, query: &str, limit: u32) -> Result<Vec<EmailHit>> {
    let words = words(query);
    if words.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let (sql, text) = match BACKEND {
        Backend::Sqlite => (
            "select e.id, e.internet_message_id, e.subject, e.body_preview, e.sent_at
             from email_fts f
             join email e on e.id = f.rowid
             where email_fts match $2 and e.workspace_id = $1
             order by f.rank, e.sent_at desc
             limit $3",
            fts5_query(&words),
        ),
        Backend::Postgres => (
            "select e.id, e.internet_message_id, e.subject, e.body_preview, e.sent_at
             from email e
             where e.workspace_id = $1 and e.search_tsv @@ plainto_tsquery('simple', $2)
             order by ts_rank(e.search_tsv, plainto_tsquery('simple', $2)) desc, e.sent_at desc
             limit $3",
            words.join(" "),
        ),
    };
    let rows: Vec<(i64, String, String, String, DateTime<Utc>)> =
        sqlx::query_as(sql).bind(ws.0).bind(text).bind(i64::from(limit)).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(id, internet_message_id, subject, body_preview, sent_at)| EmailHit {
            email_id: EmailId(id),
            internet_message_id,
            subject,
            body_preview,
            sent_at,
        })
        .collect())
}
