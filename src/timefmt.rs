//! Human-readable timestamps for chinwag: the one place that knows how a
//! time is written in logs and on screen (`1 Jun 2022 16:01:20`) and which
//! spellings users may type back (`01 Jun 2022 16:01:20`,
//! `01/06/2022 16:01:20`). Everything is in the server's local time zone.
//! Parsing is hand-written rather than delegated to chrono's `strptime` so
//! that exactly these shapes are accepted and nothing looser.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

/// English three-letter month names, January first.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Formats `t` as `D MMM YYYY HH:MM:SS` (day without leading zero,
/// English month abbreviation, 24-hour clock), e.g. `1 Jun 2022 16:01:20`.
pub fn format(t: &DateTime<Local>) -> String {
    t.format("%-d %b %Y %H:%M:%S").to_string()
}

/// Parses a local time written as `1 Jun 2022 16:01:20`,
/// `01 Jun 2022 16:01:20` or `01/06/2022 16:01:20` (dd/mm/yyyy).
///
/// Surrounding whitespace is ignored and month names are
/// case-insensitive. Returns `None` for any other shape, for impossible
/// dates, and for local times skipped by a DST change; an ambiguous local
/// time (DST fall-back) resolves to the earlier instant.
pub fn parse(s: &str) -> Option<DateTime<Local>> {
    let naive = parse_naive(s)?;
    Local.from_local_datetime(&naive).earliest()
}

/// Parses the accepted shapes into a zone-less date and time.
fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    let mut parts = s.split_whitespace();
    let first = parts.next()?;
    let date = if first.contains('/') {
        parse_slashed(first)?
    } else {
        let day = number(first, 1, 2)?;
        let month = month_number(parts.next()?)?;
        let year = number(parts.next()?, 4, 4)?;
        NaiveDate::from_ymd_opt(year as i32, month, day)?
    };
    let time = parse_hms(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some(date.and_time(time))
}

/// Parses `dd/mm/yyyy` (day and month may also be a single digit).
fn parse_slashed(s: &str) -> Option<NaiveDate> {
    let mut fields = s.split('/');
    let day = number(fields.next()?, 1, 2)?;
    let month = number(fields.next()?, 1, 2)?;
    let year = number(fields.next()?, 4, 4)?;
    if fields.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// Parses `HH:MM:SS`, each field exactly two digits.
fn parse_hms(s: &str) -> Option<NaiveTime> {
    let mut fields = s.split(':');
    let h = number(fields.next()?, 2, 2)?;
    let m = number(fields.next()?, 2, 2)?;
    let sec = number(fields.next()?, 2, 2)?;
    if fields.next().is_some() {
        return None;
    }
    NaiveTime::from_hms_opt(h, m, sec)
}

/// Parses an all-ASCII-digit field of `min..=max` characters.
fn number(s: &str, min: usize, max: usize) -> Option<u32> {
    let ok = (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// Maps `jun`/`Jun`/`JUN` to 6.
fn month_number(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Local> {
        Local
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .earliest()
            .unwrap()
    }

    #[test]
    fn formats_without_leading_zero() {
        assert_eq!(format(&local(2022, 6, 1, 16, 1, 20)), "1 Jun 2022 16:01:20");
        assert_eq!(
            format(&local(2021, 12, 31, 0, 0, 5)),
            "31 Dec 2021 00:00:05"
        );
    }

    #[test]
    fn parses_all_accepted_shapes() {
        let want = local(2022, 6, 1, 16, 1, 20);
        for s in [
            "1 Jun 2022 16:01:20",
            "01 Jun 2022 16:01:20",
            "01/06/2022 16:01:20",
            "  1 jun 2022 16:01:20\n",
            "1 JUN 2022 16:01:20",
        ] {
            assert_eq!(parse(s), Some(want), "{s:?}");
        }
    }

    #[test]
    fn slashes_are_day_first() {
        let t = parse("02/01/2023 09:08:07").unwrap();
        assert_eq!((t.day(), t.month(), t.year()), (2, 1, 2023));
        assert_eq!((t.hour(), t.minute(), t.second()), (9, 8, 7));
    }

    #[test]
    fn round_trips_every_month() {
        for m in 1..=12 {
            let t = local(2020, m, 9, 23, 59, 59);
            assert_eq!(parse(&format(&t)), Some(t));
        }
    }

    #[test]
    fn rejects_other_shapes() {
        for s in [
            "",
            "1 Jun 2022",
            "1 June 2022 16:01:20",
            "32 Jun 2022 16:01:20",
            "31/02/2022 16:01:20",
            "1 Jun 22 16:01:20",
            "1 Jun 2022 16:1:20",
            "1 Jun 2022 24:00:00",
            "1 Jun 2022 16:01:20 extra",
            "1/6/2022/1 16:01:20",
            "2022-06-01 16:01:20",
            "+1 Jun 2022 16:01:20",
            "1 Jun 2022 16:01:20:00",
        ] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }
}
