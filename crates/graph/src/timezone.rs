//! Converting Graph's `dateTimeTimeZone` values to UTC instants.
//!
//! TAC asks for UTC (`Prefer: outlook.timezone="UTC"`), but Windows zone
//! names still appear in `originalStartTimeZone` and in data that ignored the
//! preference, so both Windows and IANA names are understood.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Windows zone names and their IANA equivalents (CLDR's "001" territory).
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("Coordinated Universal Time", "UTC"),
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time", "America/New_York"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Buenos_Aires"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("GMT Standard Time", "Europe/London"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Nepal Standard Time", "Asia/Katmandu"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
];

/// Resolves a Windows or IANA zone name.
pub fn zone(name: &str) -> Option<Tz> {
    let n = name.trim();
    if let Some((_, iana)) = WINDOWS_ZONES.iter().find(|(w, _)| w.eq_ignore_ascii_case(n)) {
        return iana.parse().ok();
    }
    n.parse().ok()
}

/// Why a `dateTimeTimeZone` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("unreadable dateTime {0:?}")]
    DateTime(String),
    #[error("unknown time zone {0:?}")]
    Zone(String),
}

/// The UTC instant of a Graph `dateTime` in `time_zone`. A local time that
/// daylight saving skips is moved an hour later; an ambiguous one takes the
/// earlier instant.
pub fn to_utc(date_time: &str, time_zone: &str) -> Result<DateTime<Utc>, TimeError> {
    let local = NaiveDateTime::parse_from_str(date_time.trim(), "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(date_time.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| TimeError::DateTime(date_time.to_string()))?;
    let tz = zone(time_zone).ok_or_else(|| TimeError::Zone(time_zone.to_string()))?;
    Ok(match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        chrono::LocalResult::None => match tz.from_local_datetime(&(local + chrono::Duration::hours(1))) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            chrono::LocalResult::None => return Err(TimeError::DateTime(date_time.to_string())),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn windows_and_iana_names_convert_with_daylight_saving() {
        let summer = to_utc("2017-04-21T10:00:00.0000000", "Pacific Standard Time").unwrap();
        assert_eq!(summer.to_rfc3339(), "2017-04-21T17:00:00+00:00");
        let winter = to_utc("2017-01-21T10:00:00.0000000", "America/Los_Angeles").unwrap();
        assert_eq!(winter.to_rfc3339(), "2017-01-21T18:00:00+00:00");
        assert_eq!(
            to_utc("2024-03-31T02:30:00", "W. Europe Standard Time").unwrap().to_rfc3339(),
            "2024-03-31T01:30:00+00:00"
        );
        assert!(matches!(to_utc("2017-01-21T10:00:00", "Mars Standard Time"), Err(TimeError::Zone(_))));
        assert!(matches!(to_utc("yesterday", "UTC"), Err(TimeError::DateTime(_))));
    }

    proptest! {
        #[test]
        fn any_input_gives_an_answer_or_an_error(d in ".{0,40}", z in ".{0,40}") {
            let _ = to_utc(&d, &z);
        }
    }
}
