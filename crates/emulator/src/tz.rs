//! Time-zone rules for `dateTimeTimeZone` values.
//!
//! Graph names zones the Windows way ("Pacific Standard Time") and also accepts
//! a set of IANA names. Without `Prefer: outlook.timezone` it answers in UTC.
//! The emulator converts with the real tz database (chrono-tz), so daylight
//! saving shifts appear exactly where Outlook would put them.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Windows zone names and their IANA equivalents (CLDR's "001" territory).
const WINDOWS_TO_IANA: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central Standard Time", "America/Chicago"),
    ("Eastern Standard Time", "America/New_York"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("India Standard Time", "Asia/Kolkata"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Singapore Standard Time", "Asia/Singapore"),
];

/// A zone as Graph names it, resolved to tz rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// The name to print in `timeZone`, as the caller gave it.
    pub name: &'static str,
    pub tz: Tz,
}

impl Zone {
    pub const UTC: Zone = Zone { name: "UTC", tz: Tz::UTC };

    /// Resolves a Windows name or an IANA name; `None` when unknown.
    pub fn parse(name: &str) -> Option<Zone> {
        let trimmed = name.trim();
        if let Some((win, iana)) = WINDOWS_TO_IANA.iter().find(|(w, _)| w.eq_ignore_ascii_case(trimmed)) {
            return Some(Zone { name: win, tz: iana.parse().ok()? });
        }
        let tz: Tz = trimmed.parse().ok()?;
        Some(Zone { name: tz.name(), tz })
    }

    /// `dateTime` text for an instant in this zone: seven fractional digits, no offset.
    pub fn format(&self, at: DateTime<Utc>) -> String {
        seven_digits(at.with_timezone(&self.tz).naive_local())
    }

    /// The UTC instant of a local wall-clock time in this zone. A time that
    /// falls in a spring-forward gap moves an hour later, as Outlook does.
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            chrono::LocalResult::None => self.to_utc(local + chrono::Duration::hours(1)),
        }
    }
}

/// `2017-04-21T10:00:00.0000000`: Outlook's local time with seven fractional digits.
pub fn seven_digits(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    format!("{}.{:07}", t.format("%Y-%m-%dT%H:%M:%S"), t.nanosecond() % 1_000_000_000 / 100)
}

/// Formats a UTC instant the way Graph prints `*DateTime` properties: `2024-01-31T09:30:00Z`.
pub fn utc_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses the query values Graph accepts for `startDateTime`/`endDateTime`:
/// RFC 3339 with an offset, or a local time that is then taken as UTC.
pub fn parse_query_datetime(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_names_follow_daylight_saving() {
        let pacific = Zone::parse("Pacific Standard Time").expect("known zone");
        let summer = Utc.with_ymd_and_hms(2017, 4, 21, 17, 0, 0).unwrap();
        assert_eq!(pacific.format(summer), "2017-04-21T10:00:00.0000000");
        let winter = Utc.with_ymd_and_hms(2017, 1, 21, 18, 0, 0).unwrap();
        assert_eq!(pacific.format(winter), "2017-01-21T10:00:00.0000000");
    }

    #[test]
    fn iana_names_are_accepted_and_unknown_names_are_not() {
        assert_eq!(Zone::parse("Europe/Paris").map(|z| z.name), Some("Europe/Paris"));
        assert!(Zone::parse("Mars Standard Time").is_none());
    }

    #[test]
    fn query_datetimes_without_offset_are_utc() {
        let a = parse_query_datetime("2019-04-08T09:00:00.0000000").unwrap();
        let b = parse_query_datetime("2019-04-08T11:00:00+02:00").unwrap();
        assert_eq!(a, b);
        assert!(parse_query_datetime("yesterday").is_none());
    }

    #[test]
    fn local_times_in_a_spring_gap_move_forward() {
        let berlin = Zone::parse("W. Europe Standard Time").unwrap();
        let gap = chrono::NaiveDate::from_ymd_opt(2024, 3, 31).unwrap().and_hms_opt(2, 30, 0).unwrap();
        assert_eq!(utc_stamp(berlin.to_utc(gap)), "2024-03-31T01:30:00Z");
    }
}
