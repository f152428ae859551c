/*!
What a contact's profile shows above the timeline: the summary (last and
next interaction, counts, strength, follow-up, team members) and activity
per month, both counted off the `activity_timeline` index.
*/

use super::{BACKEND, Conn, Owned, count, ensure_owned, from_json_rows, json_rows};
use crate::error::{Result, StoreError};
use crate::types::{Backend, ContactId, ContactSummary, MonthlyActivity, TeamMember, WorkspaceId};
use chrono::{DateTime, Duration, Utc};
use tac_core::insights::{ActivityCounts, follow_up, relationship_strength};
use tac_store_macros::operation;

/// A contact's emails and meetings per calendar month (UTC) with
/// activity in `[from, to)`, oldest first; months without any are left
/// out. Counts every item, private ones included (they are counted, not
/// shown).
///
/// The database counts them off the `activity_timeline` index. The month
/// key is text on both backends: SQLite stores times as RFC 3339 text in
/// UTC, so its first seven characters are the month; PostgreSQL formats
/// the `timestamptz` in UTC.
#[operation]
pub(crate) async fn monthly_activity(
    conn: &mut Conn,
    ws: WorkspaceId,
    contact: ContactId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MonthlyActivity>> {
    let month = match BACKEND {
        Backend::Sqlite => "substr(occurred_at, 1, 7)",
        Backend::Postgres => "to_char(occurred_at at time zone 'UTC', 'YYYY-MM')",
    };
    let sql = format!(
        "select {month} as month,
                sum(case when kind = 'email' then 1 else 0 end),
                sum(case when kind = 'meeting' then 1 else 0 end)
         from activity
         where workspace_id = $1 and contact_id = $2 and occurred_at >= $3 and occurred_at < $4
         group by {month}
         order by month"
    );
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ws.0)
        .bind(contact.0)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        // No activity, or no such contact here: only the second is an error.
        ensure_owned(conn, ws, Owned::Contact, contact.0).await?;
    }
    rows.into_iter()
        .map(|(month, emails, meetings)| {
            let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
                .map_err(|e| StoreError::corrupt("activity.occurred_at", format!("{month}: {e}")))?;
            Ok(MonthlyActivity { month: first, emails: count(emails), meetings: count(meetings) })
        })
        .collect()
}

/// How far back the top team members look.
const TEAM_WINDOW_DAYS: i64 = 90;

/// The summary above a contact's timeline, from the activity index, in
/// one statement (a round trip each was most of its cost): whether the
/// contact is the workspace's, four probes of the index, the past year's
/// counts and the top team members.
#[operation]
pub(crate) async fn contact_summary(
    conn: &mut Conn,
    ws: WorkspaceId,
    contact: ContactId,
    now: DateTime<Utc>,
) -> Result<ContactSummary> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(summary_sql);
    type SummaryRow = (
        i64,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        String,
        String,
    );
    let ends = tac_core::insights::AGE_BUCKET_ENDS;
    let (found, last_interaction_at, last_inbound, last_outbound, next_meeting_at, counts, members): SummaryRow =
        sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str()))
            .bind(ws.0)
            .bind(contact.0)
            .bind(now)
            .bind(false)
            .bind(now - Duration::days(ends[0]))
            .bind(now - Duration::days(ends[1]))
            .bind(now - Duration::days(ends[2]))
            .bind(now - Duration::days(ends[3]))
            .bind(now - Duration::days(TEAM_WINDOW_DAYS))
            .fetch_one(&mut *conn)
            .await?;
    if found == 0 {
        return Err(StoreError::NotFound("contact"));
    }

    let mut activity = ActivityCounts::default();
    let (mut emails_30, mut emails_90, mut meetings_30, mut meetings_90) = (0u64, 0u64, 0u64, 0u64);
    type CountRow = (String, Option<String>, i64, i64, i64, i64);
    for (kind, direction, n30, n90, n180, n365) in from_json_rows::<CountRow>("activity", &counts)? {
        // Counts younger than 30, 90, 180 and 365 days, to buckets.
        let cumulative = [n30, n90, n180, n365].map(count);
        let buckets = [
            cumulative[0],
            cumulative[1] - cumulative[0],
            cumulative[2] - cumulative[1],
            cumulative[3] - cumulative[2],
        ]
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let target = match (kind.as_str(), direction.as_deref()) {
            ("meeting", _) => {
                meetings_30 += cumulative[0];
                meetings_90 += cumulative[1];
                &mut activity.meetings
            }
            (_, Some("inbound")) => {
                emails_30 += cumulative[0];
                emails_90 += cumulative[1];
                &mut activity.emails_inbound
            }
            _ => {
                emails_30 += cumulative[0];
                emails_90 += cumulative[1];
                &mut activity.emails_outbound
            }
        };
        for (t, n) in target.iter_mut().zip(buckets) {
            *t = t.saturating_add(n);
        }
    }
    let mut members: Vec<(String, String, i64)> = from_json_rows("mailbox", &members)?;
    members.sort_unstable_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));

    Ok(ContactSummary {
        last_interaction_at,
        next_meeting_at,
        emails_last_30_days: emails_30,
        emails_last_90_days: emails_90,
        meetings_last_30_days: meetings_30,
        meetings_last_90_days: meetings_90,
        top_team_members: members
            .into_iter()
            .map(|(address, name, n)| TeamMember { name, address, interactions: count(n) })
            .collect(),
        follow_up: follow_up(last_inbound, last_outbound, now),
        relationship_strength: relationship_strength(&activity),
    })
}

/// The summary's statement. Binds: `$1` workspace, `$2` contact, `$3` now,
/// `$4` false, `$5`–`$8` the starts of the 30, 90, 180 and 365-day age
/// buckets, `$9` the start of the team window.
fn summary_sql() -> String {
    format!(
        "select
             (select count(*) from contact where workspace_id = $1 and id = $2),
             -- The last interaction, and the last each way for the follow-up.
             (select occurred_at from activity
              where workspace_id = $1 and contact_id = $2 and occurred_at <= $3
              order by occurred_at desc limit 1),
             (select occurred_at from activity
              where workspace_id = $1 and contact_id = $2 and occurred_at <= $3 and kind = 'email'
                and direction = 'inbound'
              order by occurred_at desc limit 1),
             (select occurred_at from activity
              where workspace_id = $1 and contact_id = $2 and occurred_at <= $3 and kind = 'email'
                and direction = 'outbound'
              order by occurred_at desc limit 1),
             -- The next meeting.
             (select a.occurred_at from activity a join meeting m on m.id = a.meeting_id
              where a.workspace_id = $1 and a.contact_id = $2 and a.kind = 'meeting' and a.occurred_at > $3
                and m.is_cancelled = $4
              order by a.occurred_at limit 1),
             -- The past year's counts by age bucket, summed by the database:
             -- a contact with thousands of emails a year ships four numbers
             -- per kind and direction.
             (select {counts} from (
                  select kind, direction,
                         sum(case when occurred_at > $5 then 1 else 0 end) as n30,
                         sum(case when occurred_at > $6 then 1 else 0 end) as n90,
                         sum(case when occurred_at > $7 then 1 else 0 end) as n180,
                         count(*) as n365
                  from activity
                  where workspace_id = $1 and contact_id = $2 and occurred_at > $8 and occurred_at <= $3
                  group by kind, direction
              ) year),
             -- Who on the team holds the most of this contact's last 90 days:
             -- who deals with them now (and a quarter's copies, not a year's,
             -- to join).
             (select {members} from (
                  select mb.address, coalesce(du.display_name, mb.address) as name, held.n from (
                      select mailbox_id, count(*) as n from (
                          select ec.mailbox_id from activity a join email_copy ec on ec.email_id = a.email_id
                          where a.workspace_id = $1 and a.contact_id = $2 and a.occurred_at >= $9
                            and a.occurred_at <= $3 and a.kind = 'email' and ec.removed_at is null
                          union all
                          select mc.mailbox_id from activity a join meeting_copy mc on mc.meeting_id = a.meeting_id
                          where a.workspace_id = $1 and a.contact_id = $2 and a.occurred_at >= $9
                            and a.occurred_at <= $3 and a.kind = 'meeting' and mc.removed_at is null
                      ) copies
                      group by mailbox_id
                  ) held
                  join mailbox mb on mb.id = held.mailbox_id
                  left join directory_user du on du.workspace_id = mb.workspace_id and du.id = mb.user_id
                  order by held.n desc, mb.address
                  limit 3
              ) top)",
        counts = json_rows("year.kind, year.direction, year.n30, year.n90, year.n180, year.n365"),
        members = json_rows("top.address, top.name, top.n"),
    )
}
