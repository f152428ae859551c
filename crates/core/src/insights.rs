/*!
The rules behind a contact's summary: whether a reply is owed, and how
strong the relationship is. They are plain formulas over counts and times,
computed by the store's queries and shown on the contact page and in the
JSON API, so they are written down here and tested against values worked
out by hand.

# Follow-up

Of the contact's newest inbound email (they wrote to us) and newest outbound
email (we wrote to them), the later one decides: outbound means we are
awaiting their reply, inbound means they are awaiting ours, since that time.
Nothing is owed when there is no email either way, when the newest is more
than [`FOLLOW_UP_HORIZON_DAYS`] days old (the conversation has gone quiet),
or when it is dated in the future (a clock error, not a conversation). When
both are at the same instant, outbound wins: the later action is ours.
`days` is the whole days elapsed, rounded down.

# Relationship strength

Activity in the last year is counted in four buckets by age in days:
`[0, 30)`, `[30, 90)`, `[90, 180)`, `[180, 365)`. Each bucket has a weight
(recent counts more), and each item a weight by kind (a meeting says more
than an email, and their writing to us says more than our writing to them):

```text
raw      = Σ_b  W[b] × (1.0 × outbound_b + 1.5 × inbound_b + 3.0 × meetings_b)
W        = [1.0, 0.5, 0.25, 0.1]
strength = round(100 × (1 − e^(−raw / 20)))        0 ..= 100
```

The exponential saturates: each further item adds less, and no amount of
activity exceeds 100. A raw score of 20 gives 63; 20 × ln 2 ≈ 13.9 gives 50.

Worked example: in the last 30 days 2 outbound, 2 inbound and 1 meeting;
30–90 days ago 4 outbound; 180–365 days ago 10 inbound.

```text
raw = 1.0 × (2 + 3 + 3) + 0.5 × 4 + 0.1 × 15 = 8 + 2 + 1.5 = 11.5
strength = round(100 × (1 − e^(−0.575))) = round(43.73) = 44
```

```
use tac_core::insights::{ActivityCounts, relationship_strength};

let c = ActivityCounts {
    emails_outbound: [2, 4, 0, 0],
    emails_inbound: [2, 0, 0, 10],
    meetings: [1, 0, 0, 0],
};
assert_eq!(relationship_strength(&c), 44);
```
*/

use crate::records::Direction;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Emails older than this many days owe nobody a reply any more.
pub const FOLLOW_UP_HORIZON_DAYS: i64 = 30;

/// Who owes the next email, as of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FollowUp {
    /// We wrote last, at `since`, `days` whole days ago.
    AwaitingTheirReply { since: DateTime<Utc>, days: i64 },
    /// They wrote last, at `since`, `days` whole days ago.
    AwaitingOurReply { since: DateTime<Utc>, days: i64 },
    /// Nothing is owed.
    None,
}

/// Decides [`FollowUp`] from the newest email each way (see the module docs).
pub fn follow_up(
    last_inbound: Option<DateTime<Utc>>,
    last_outbound: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> FollowUp {
    let (since, ours) = match (last_inbound, last_outbound) {
        (None, None) => return FollowUp::None,
        (Some(inbound), None) => (inbound, false),
        (None, Some(outbound)) => (outbound, true),
        (Some(inbound), Some(outbound)) if outbound >= inbound => (outbound, true),
        (Some(inbound), Some(_)) => (inbound, false),
    };
    // Cannot overflow: any two `DateTime`s are well within `TimeDelta`'s range.
    let age = now.signed_duration_since(since);
    if age < Duration::zero() || age > Duration::days(FOLLOW_UP_HORIZON_DAYS) {
        return FollowUp::None;
    }
    // Whole days, rounded down (`num_days` truncates, the same for ages ≥ 0).
    let days = age.num_days();
    if ours { FollowUp::AwaitingTheirReply { since, days } } else { FollowUp::AwaitingOurReply { since, days } }
}

/// The upper bounds (exclusive) of the age buckets, in days.
pub const AGE_BUCKET_ENDS: [i64; 4] = [30, 90, 180, 365];
/// How much an item counts by its age bucket.
pub const STRENGTH_BUCKET_WEIGHTS: [f64; 4] = [1.0, 0.5, 0.25, 0.1];
/// How much an email we sent counts.
pub const OUTBOUND_EMAIL_WEIGHT: f64 = 1.0;
/// How much an email they sent counts.
pub const INBOUND_EMAIL_WEIGHT: f64 = 1.5;
/// How much a meeting counts.
pub const MEETING_WEIGHT: f64 = 3.0;
/// The raw score at which strength reaches 1 − 1/e ≈ 63.
pub const STRENGTH_SCALE: f64 = 20.0;

/// Which bucket an item of this age (in whole days) falls in: `None` when it
/// is in the future or a year old or more.
pub fn age_bucket(age_days: i64) -> Option<usize> {
    if age_days < 0 {
        return None;
    }
    AGE_BUCKET_ENDS.iter().position(|&end| age_days < end)
}

/// A contact's activity over the last year, by age bucket (see
/// [`AGE_BUCKET_ENDS`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityCounts {
    pub emails_inbound: [u32; 4],
    pub emails_outbound: [u32; 4],
    pub meetings: [u32; 4],
}

impl ActivityCounts {
    /// Counts one email of this age; ages outside the buckets are ignored.
    pub fn add_email(&mut self, direction: Direction, age_days: i64) {
        if let Some(b) = age_bucket(age_days) {
            let counts = match direction {
                Direction::Inbound => &mut self.emails_inbound,
                Direction::Outbound => &mut self.emails_outbound,
            };
            counts[b] = counts[b].saturating_add(1);
        }
    }

    /// Counts one meeting of this age; ages outside the buckets are ignored.
    pub fn add_meeting(&mut self, age_days: i64) {
        if let Some(b) = age_bucket(age_days) {
            self.meetings[b] = self.meetings[b].saturating_add(1);
        }
    }
}

/// The weighted activity score before saturation (`raw` in the module docs).
pub fn raw_strength(c: &ActivityCounts) -> f64 {
    (0..4)
        .map(|b| {
            STRENGTH_BUCKET_WEIGHTS[b]
                * (OUTBOUND_EMAIL_WEIGHT * f64::from(c.emails_outbound[b])
                    + INBOUND_EMAIL_WEIGHT * f64::from(c.emails_inbound[b])
                    + MEETING_WEIGHT * f64::from(c.meetings[b]))
        })
        .sum()
}

/// The relationship strength, 0 to 100 (formula in the module docs).
pub fn relationship_strength(c: &ActivityCounts) -> u8 {
    let score = 100.0 * (1.0 - (-raw_strength(c) / STRENGTH_SCALE).exp());
    // `raw` is finite and non-negative, so `score` is in 0..=100; the clamp
    // only makes that visible to the cast.
    score.round().clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 30, 12, 0, 0).unwrap()
    }

    fn ago(days: i64, hours: i64) -> DateTime<Utc> {
        now() - Duration::days(days) - Duration::hours(hours)
    }

    #[test]
    fn nothing_is_owed_without_email() {
        assert_eq!(follow_up(None, None, now()), FollowUp::None);
    }

    #[test]
    fn our_email_last_awaits_their_reply() {
        let since = ago(3, 5);
        assert_eq!(follow_up(None, Some(since), now()), FollowUp::AwaitingTheirReply { since, days: 3 });
        assert_eq!(follow_up(Some(ago(10, 0)), Some(since), now()), FollowUp::AwaitingTheirReply { since, days: 3 });
    }

    #[test]
    fn their_email_last_awaits_our_reply() {
        let since = ago(0, 23);
        assert_eq!(follow_up(Some(since), None, now()), FollowUp::AwaitingOurReply { since, days: 0 });
        assert_eq!(follow_up(Some(since), Some(ago(2, 0)), now()), FollowUp::AwaitingOurReply { since, days: 0 });
    }

    #[test]
    fn same_instant_counts_as_our_reply() {
        let t = ago(1, 0);
        assert_eq!(follow_up(Some(t), Some(t), now()), FollowUp::AwaitingTheirReply { since: t, days: 1 });
    }

    #[test]
    fn days_are_whole_days_rounded_down() {
        let since = now() - Duration::days(5) + Duration::seconds(1);
        assert_eq!(follow_up(Some(since), None, now()), FollowUp::AwaitingOurReply { since, days: 4 });
        assert_eq!(follow_up(Some(now()), None, now()), FollowUp::AwaitingOurReply { since: now(), days: 0 });
    }

    #[test]
    fn conversations_quiet_past_the_horizon_owe_nothing() {
        let edge = ago(FOLLOW_UP_HORIZON_DAYS, 0);
        assert_eq!(follow_up(Some(edge), None, now()), FollowUp::AwaitingOurReply { since: edge, days: 30 });
        let past = now() - Duration::days(FOLLOW_UP_HORIZON_DAYS) - Duration::seconds(1);
        assert_eq!(follow_up(Some(past), None, now()), FollowUp::None);
        assert_eq!(follow_up(Some(ago(40, 0)), Some(ago(90, 0)), now()), FollowUp::None);
    }

    #[test]
    fn future_dated_email_owes_nothing() {
        let future = now() + Duration::minutes(5);
        assert_eq!(follow_up(Some(future), None, now()), FollowUp::None);
        assert_eq!(follow_up(Some(ago(1, 0)), Some(future), now()), FollowUp::None);
    }

    #[test]
    fn follow_up_serialises_with_a_status_tag() {
        let since = Utc.with_ymd_and_hms(2026, 6, 27, 12, 0, 0).unwrap();
        assert_eq!(
            serde_json::to_value(FollowUp::AwaitingTheirReply { since, days: 3 }).unwrap(),
            serde_json::json!({"status": "awaiting_their_reply", "since": "2026-06-27T12:00:00Z", "days": 3})
        );
        assert_eq!(
            serde_json::to_value(FollowUp::AwaitingOurReply { since, days: 0 }).unwrap()["status"],
            "awaiting_our_reply"
        );
        assert_eq!(serde_json::to_value(FollowUp::None).unwrap(), serde_json::json!({"status": "none"}));
        let back: FollowUp =
            serde_json::from_str(r#"{"status":"awaiting_our_reply","since":"2026-06-27T12:00:00Z","days":3}"#).unwrap();
        assert_eq!(back, FollowUp::AwaitingOurReply { since, days: 3 });
    }

    #[test]
    fn age_buckets_have_inclusive_starts_and_exclusive_ends() {
        let cases = [
            (-1, None),
            (0, Some(0)),
            (29, Some(0)),
            (30, Some(1)),
            (89, Some(1)),
            (90, Some(2)),
            (179, Some(2)),
            (180, Some(3)),
            (364, Some(3)),
            (365, None),
            (i64::MAX, None),
            (i64::MIN, None),
        ];
        for (age, bucket) in cases {
            assert_eq!(age_bucket(age), bucket, "{age}");
        }
    }

    #[test]
    fn no_activity_is_zero_strength() {
        assert_eq!(relationship_strength(&ActivityCounts::default()), 0);
    }

    #[test]
    fn strength_matches_hand_computed_values() {
        let one = |f: fn(&mut ActivityCounts)| {
            let mut c = ActivityCounts::default();
            f(&mut c);
            c
        };
        // raw 1.0 → 100 × (1 − e^−0.05) = 4.88 → 5
        assert_eq!(relationship_strength(&one(|c| c.emails_outbound[0] = 1)), 5);
        // raw 1.5 → 7.23 → 7
        assert_eq!(relationship_strength(&one(|c| c.emails_inbound[0] = 1)), 7);
        // raw 3.0 → 13.93 → 14
        assert_eq!(relationship_strength(&one(|c| c.meetings[0] = 1)), 14);
        // raw 0.1 → 0.4988 → 0
        assert_eq!(relationship_strength(&one(|c| c.emails_outbound[3] = 1)), 0);
        // raw 0.25 × 3 = 0.75 → 3.68 → 4
        assert_eq!(relationship_strength(&one(|c| c.meetings[2] = 1)), 4);
        // raw 20 → 100 × (1 − 1/e) = 63.21 → 63
        assert_eq!(relationship_strength(&one(|c| c.emails_outbound[0] = 20)), 63);
        // raw 0.5 × 26 = 13 → 47.80 → 48
        assert_eq!(relationship_strength(&one(|c| c.emails_outbound[1] = 26)), 48);
        // The module docs' example: raw 11.5 → 43.73 → 44
        let example =
            ActivityCounts { emails_outbound: [2, 4, 0, 0], emails_inbound: [2, 0, 0, 10], meetings: [1, 0, 0, 0] };
        assert!((raw_strength(&example) - 11.5).abs() < 1e-9);
        assert_eq!(relationship_strength(&example), 44);
    }

    #[test]
    fn strength_saturates_at_100() {
        let busy = ActivityCounts { emails_inbound: [100, 0, 0, 0], ..Default::default() };
        assert_eq!(relationship_strength(&busy), 100);
        let max =
            ActivityCounts { emails_inbound: [u32::MAX; 4], emails_outbound: [u32::MAX; 4], meetings: [u32::MAX; 4] };
        assert_eq!(relationship_strength(&max), 100);
    }

    #[test]
    fn add_counts_by_bucket_and_ignores_out_of_range_ages() {
        let mut c = ActivityCounts::default();
        c.add_email(Direction::Inbound, 0);
        c.add_email(Direction::Outbound, 45);
        c.add_email(Direction::Outbound, 400);
        c.add_meeting(200);
        c.add_meeting(-2);
        assert_eq!(
            c,
            ActivityCounts { emails_inbound: [1, 0, 0, 0], emails_outbound: [0, 1, 0, 0], meetings: [0, 0, 0, 1] }
        );
    }

    fn counts() -> impl Strategy<Value = ActivityCounts> {
        (any::<[u16; 4]>(), any::<[u16; 4]>(), any::<[u16; 4]>()).prop_map(|(i, o, m)| ActivityCounts {
            emails_inbound: i.map(u32::from),
            emails_outbound: o.map(u32::from),
            meetings: m.map(u32::from),
        })
    }

    proptest! {
        #[test]
        fn strength_is_monotonic_in_every_count(c in counts(), kind in 0usize..3, bucket in 0usize..4) {
            let mut more = c;
            let slot = match kind { 0 => &mut more.emails_inbound, 1 => &mut more.emails_outbound, _ => &mut more.meetings };
            slot[bucket] += 1;
            prop_assert!(relationship_strength(&more) >= relationship_strength(&c));
            prop_assert!(raw_strength(&more) > raw_strength(&c));
            prop_assert!(relationship_strength(&more) <= 100);
        }

        #[test]
        fn recent_activity_counts_at_least_as_much_as_older(n in 1u32..50, bucket in 1usize..4) {
            let mut recent = ActivityCounts::default();
            recent.meetings[bucket - 1] = n;
            let mut older = ActivityCounts::default();
            older.meetings[bucket] = n;
            prop_assert!(relationship_strength(&recent) >= relationship_strength(&older));
        }

        #[test]
        fn follow_up_never_panics(a in proptest::option::of(any::<i64>()), b in proptest::option::of(any::<i64>()), n in any::<i64>()) {
            let t = |s: i64| DateTime::from_timestamp(s % 100_000_000_000, 0);
            if let Some(now) = t(n) {
                let _ = follow_up(a.and_then(t), b.and_then(t), now);
            }
        }
    }
}
