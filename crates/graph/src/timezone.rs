//! Converting Graph's `dateTimeTimeZone` values to UTC instants.
//!
//! TAC asks for UTC (`Prefer: outlook.timezone="UTC"`), but Windows zone
//! names still appear in `originalStartTimeZone` and in data that ignored the
//! preference, so both Windows and IANA names are understood. A zone that
//! still cannot be resolved never costs a meeting: [`to_utc_or_as_utc`]
//! reads its time as UTC and says so.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Names Graph may write that are neither in CLDR's Windows table nor IANA names.
const EXTRA_NAMES: &[(&str, &str)] = &[("Coordinated Universal Time", "UTC"), ("tzone://Microsoft/Utc", "UTC")];

/// Resolves a Windows or IANA zone name. Windows names go through CLDR's
/// complete `windowsZones` table (its world-wide "001" mapping, from the
/// `localzone` crate), so every zone Windows and Outlook know resolves.
pub fn zone(name: &str) -> Option<Tz> {
    let n = name.trim();
    if let Some(iana) = localzone::win_zone_to_iana(n, Some("001")) {
        return iana.parse().ok();
    }
    if let Some((_, iana)) = EXTRA_NAMES.iter().find(|(w, _)| w.eq_ignore_ascii_case(n)) {
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

/// [`to_utc`], except that a zone that cannot be resolved is read as UTC:
/// the time comes back with a note saying so, rather than the item being
/// lost. An unreadable `dateTime` is still an error.
pub fn to_utc_or_as_utc(date_time: &str, time_zone: &str) -> Result<(DateTime<Utc>, Option<String>), TimeError> {
    match to_utc(date_time, time_zone) {
        Ok(t) => Ok((t, None)),
        Err(TimeError::Zone(z)) => {
            let t = to_utc(date_time, "UTC")?;
            Ok((t, Some(format!("unknown time zone {z:?}: its times were read as UTC"))))
        }
        Err(e) => Err(e),
    }
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

    /// Every Windows zone of CLDR's `windowsZones.xml` (a copy of the 2018
    /// release in `testdata/`; the table TAC uses is newer and has all 139
    /// of today's names) resolves, to the zone CLDR names for the world ("001").
    #[test]
    fn every_windows_zone_in_cldr_resolves_to_its_iana_zone() {
        use chrono::Offset;
        let xml = include_str!("../testdata/cldr-windowsZones.xml");
        let mut checked = 0;
        for line in xml.lines().filter(|l| l.contains("<mapZone") && l.contains("territory=\"001\"")) {
            let attr = |name: &str| {
                let start = line.find(&format!("{name}=\"")).map(|i| i + name.len() + 2)?;
                line[start..].split('"').next()
            };
            let (Some(windows), Some(iana)) = (attr("other"), attr("type")) else { panic!("unreadable: {line}") };
            let got = zone(windows).unwrap_or_else(|| panic!("{windows} does not resolve"));
            let want: Tz = iana.parse().unwrap_or_else(|_| panic!("chrono-tz lacks {iana}"));
            // Compare by offset over a year rather than by name: a CLDR name
            // may be a link to the zone chrono-tz files it under, and CLDR
            // has since moved some names to zones that agreed in 2018 (the
            // copy's year) but not today, as Mexico's did.
            for month in 1..=12 {
                let at = chrono::NaiveDate::from_ymd_opt(2018, month, 15).unwrap().and_hms_opt(12, 0, 0).unwrap();
                assert_eq!(
                    got.offset_from_utc_datetime(&at).fix(),
                    want.offset_from_utc_datetime(&at).fix(),
                    "{windows}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 130, "the copy lists {checked} Windows zones");
    }

    #[test]
    fn an_unknown_zone_is_read_as_utc_with_a_note() {
        let (t, note) = to_utc_or_as_utc("2024-05-01T09:00:00.0000000", "Mars Standard Time").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T09:00:00+00:00");
        assert!(note.is_some_and(|n| n.contains("Mars Standard Time") && n.contains("UTC")));
        let (t, note) = to_utc_or_as_utc("2024-05-01T09:00:00", "Sri Lanka Standard Time").unwrap();
        assert_eq!((t.to_rfc3339().as_str(), note), ("2024-05-01T03:30:00+00:00", None));
        assert!(to_utc_or_as_utc("soon", "UTC").is_err());
    }

    proptest! {
        #[test]
        fn any_input_gives_an_answer_or_an_error(d in ".{0,40}", z in ".{0,40}") {
            let _ = to_utc(&d, &z);
        }
    }
}
