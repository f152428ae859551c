//! The contact profile's activity chart: emails and meetings per month over
//! the last twelve months, drawn as server-rendered SVG (no script, no
//! inline style: the bars take their colours from `app.css` classes).
//!
//! The counts come from `Store::monthly_activity`; this module only lays
//! out the bars. The SVG has a `<title>` and a `<desc>` summing it up, each
//! bar a `<title>` with its month and counts, and the page also offers the
//! same numbers as a table, so the chart is not the only way to read them.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use tac_store::MonthlyActivity;

/// How many months the chart covers, the current one included.
pub(crate) const MONTHS: u32 = 12;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 200;
const LEFT: u32 = 36;
const TOP: u32 = 12;
const BOTTOM: u32 = 170;
const SLOT: u32 = (WIDTH - LEFT) / MONTHS;
const BAR: u32 = 22;

pub(crate) struct ActivityChart {
    pub width: u32,
    pub height: u32,
    pub left: u32,
    pub top: u32,
    pub bottom: u32,
    pub right: u32,
    /// The largest monthly count (the axis' top label); 0 when nothing happened.
    pub max: u64,
    /// Say what the chart shows, for its `<desc>`.
    pub description: String,
    pub months: Vec<MonthBar>,
    pub total_emails: u64,
    pub total_meetings: u64,
}

pub(crate) struct MonthBar {
    /// `March 2026`.
    pub label: String,
    /// `March 2026: 3 emails, 1 meeting`, the bar's tooltip.
    pub title: String,
    /// `Mar`, or `Jan 26` where a year begins (and for the first month).
    pub short_label: String,
    pub emails: u64,
    pub meetings: u64,
    pub label_x: u32,
    pub email_x: u32,
    pub email_y: u32,
    pub email_height: u32,
    pub meeting_x: u32,
    pub meeting_y: u32,
    pub meeting_height: u32,
}

/// The first day of `now`'s month, `back` months earlier.
pub(crate) fn month_start(now: DateTime<Utc>, back: u32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or(NaiveDate::MIN);
    first.checked_sub_months(Months::new(back)).unwrap_or(NaiveDate::MIN)
}

/// The window the chart asks the store for: from the first day of the
/// month eleven months ago to the start of next month.
pub(crate) fn window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = month_start(now, MONTHS - 1);
    let to = month_start(now, 0).checked_add_months(Months::new(1)).unwrap_or(NaiveDate::MAX);
    let at = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now);
    (at(from), at(to))
}

impl ActivityChart {
    pub fn new(counts: &[MonthlyActivity], now: DateTime<Utc>) -> Self {
        let slots: Vec<NaiveDate> = (0..MONTHS).rev().map(|back| month_start(now, back)).collect();
        let count_of =
            |month: NaiveDate| counts.iter().find(|c| c.month == month).map_or((0, 0), |c| (c.emails, c.meetings));
        let max = slots.iter().map(|m| count_of(*m)).map(|(e, m)| e.max(m)).max().unwrap_or(0);
        let plot = u64::from(BOTTOM - TOP);
        let height_of = |n: u64| -> u32 {
            if max == 0 {
                return 0;
            }
            // At least one pixel for any activity, so a 1 next to a 300 shows.
            let h = (n * plot).div_ceil(max);
            u32::try_from(h).unwrap_or(BOTTOM - TOP)
        };
        let mut months = Vec::with_capacity(slots.len());
        for (i, month) in slots.iter().enumerate() {
            let (emails, meetings) = count_of(*month);
            let x = LEFT + SLOT * u32::try_from(i).unwrap_or(0);
            let (eh, mh) = (height_of(emails), height_of(meetings));
            let short_label = if i == 0 || month.month() == 1 {
                month.format("%b %y").to_string()
            } else {
                month.format("%b").to_string()
            };
            let label = month.format("%B %Y").to_string();
            months.push(MonthBar {
                title: format!("{label}: {}, {}", count(emails, "email"), count(meetings, "meeting")),
                label,
                short_label,
                emails,
                meetings,
                label_x: x + SLOT / 2,
                email_x: x + (SLOT - 2 * BAR) / 2,
                email_y: BOTTOM - eh,
                email_height: eh,
                meeting_x: x + (SLOT - 2 * BAR) / 2 + BAR,
                meeting_y: BOTTOM - mh,
                meeting_height: mh,
            });
        }
        let total_emails = months.iter().map(|m| m.emails).sum();
        let total_meetings = months.iter().map(|m| m.meetings).sum();
        let (first, last) =
            (slots.first().copied().unwrap_or(NaiveDate::MIN), slots.last().copied().unwrap_or(NaiveDate::MIN));
        let busiest = months.iter().max_by_key(|m| (m.emails + m.meetings, std::cmp::Reverse(m.label_x)));
        let description = match busiest {
            Some(b) if total_emails + total_meetings > 0 => format!(
                "Emails and meetings per month from {} to {}: {} and {} in all; the busiest month was {} with {} and {}.",
                first.format("%B %Y"),
                last.format("%B %Y"),
                count(total_emails, "email"),
                count(total_meetings, "meeting"),
                b.label,
                count(b.emails, "email"),
                count(b.meetings, "meeting")
            ),
            _ => format!("No emails or meetings from {} to {}.", first.format("%B %Y"), last.format("%B %Y")),
        };
        ActivityChart {
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            top: TOP,
            bottom: BOTTOM,
            right: WIDTH,
            max,
            description,
            months,
            total_emails,
            total_meetings,
        }
    }
}

/// `1 email`, `3 emails`.
fn count(n: u64, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap()
    }

    fn month(y: i32, m: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, 1).unwrap()
    }

    #[test]
    fn the_window_is_twelve_whole_months_ending_with_this_one() {
        let (from, to) = window(now());
        assert_eq!(from.to_rfc3339(), "2025-04-01T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-04-01T00:00:00+00:00");
    }

    #[test]
    fn bars_scale_to_the_busiest_month_and_empty_months_are_zero() {
        let counts = [
            MonthlyActivity { month: month(2026, 3), emails: 10, meetings: 1 },
            MonthlyActivity { month: month(2025, 4), emails: 5, meetings: 0 },
        ];
        let chart = ActivityChart::new(&counts, now());
        assert_eq!(chart.months.len(), 12);
        assert_eq!(chart.max, 10);
        let (first, last) = (&chart.months[0], &chart.months[11]);
        assert_eq!((first.label.as_str(), first.short_label.as_str()), ("April 2025", "Apr 25"));
        assert_eq!(last.label, "March 2026");
        assert_eq!(last.title, "March 2026: 10 emails, 1 meeting");
        assert_eq!(last.email_height, BOTTOM - TOP, "the busiest bar is full height");
        assert_eq!(first.email_height, (BOTTOM - TOP).div_ceil(2));
        assert!(last.meeting_height >= 1, "a small count still shows");
        assert_eq!(chart.months[5].email_height, 0);
        assert_eq!(chart.months[9].short_label, "Jan 26");
        assert_eq!((chart.total_emails, chart.total_meetings), (15, 1));
        assert!(
            chart.description.contains("busiest month was March 2026 with 10 emails and 1 meeting"),
            "{}",
            chart.description
        );
    }

    #[test]
    fn no_activity_draws_no_bars_and_says_so() {
        let chart = ActivityChart::new(&[], now());
        assert!(chart.months.iter().all(|m| m.email_height == 0 && m.meeting_height == 0));
        assert_eq!(chart.description, "No emails or meetings from April 2025 to March 2026.");
    }
}
