//! Dates and times as ISO 8601 text, the form a CSV export holds (PostgreSQL's text output,
//! `DateStyle` ISO): dates `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]` with the
//! fraction's trailing zeros dropped. Years outside 0..=9999 print with as many digits as
//! they need and a leading `-` before year 0 (proleptic Gregorian calendar, astronomical
//! year numbering), so the text still names the instant; only 0..=9999 sorts as text.

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01 (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since 1970-01-01 00:00:00 (UTC) of ISO text as nrp binds dates and timestamps:
/// `YYYY-MM-DD`, optionally followed by ` ` or `T` and `HH:MM[:SS[.fff…]]`. `None` for any
/// other text, and for a month, day or time out of range.
pub fn iso_seconds(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = b.get(r)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0')))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(0..4)?, digits(5..7)? as u32, digits(8..10)? as u32);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[m as usize - 1] {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) as f64 * 86_400.0;
    if b.len() == 10 {
        return Some(secs);
    }
    if !matches!(b[10], b' ' | b'T') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (h, mi) = (digits(11..13)?, digits(14..16)?);
    let mut sec = 0.0;
    if b.len() > 16 {
        if b[16] != b':' || b.len() < 19 {
            return None;
        }
        sec = digits(17..19)? as f64;
        if b.len() > 19 {
            let frac = text.get(19..)?;
            if !frac.starts_with('.')
                || frac.len() < 2
                || !frac[1..].bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            sec += format!("0{frac}").parse::<f64>().ok()?;
        }
    }
    if h > 23 || mi > 59 || sec >= 61.0 {
        return None;
    }
    secs += (h * 3600 + mi * 60) as f64 + sec;
    Some(secs)
}

fn year(y: i64) -> String {
    if y < 0 {
        format!("-{:04}", -y)
    } else {
        format!("{y:04}")
    }
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
pub(crate) fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{}-{m:02}-{d:02}", year(y))
}

/// `HH:MM:SS[.ffffff]` of microseconds since midnight.
pub(crate) fn format_time_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut t = format!("{h:02}:{mi:02}:{s:02}");
    if frac != 0 {
        let f = format!("{frac:06}");
        t.push('.');
        t.push_str(f.trim_end_matches('0'));
    }
    t
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` of microseconds since 1970-01-01 00:00:00 (UTC).
pub(crate) fn format_timestamp_micros(us: i64) -> String {
    let day = us.div_euclid(86_400_000_000);
    let rest = us.rem_euclid(86_400_000_000);
    format!("{} {}", format_date(day), format_time_micros(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_print_as_iso_text() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_date(10_957), "2000-01-01");
        assert_eq!(format_date(11_016), "2000-02-29");
        assert_eq!(format_date(19_723), "2024-01-01");
        assert_eq!(format_timestamp_micros(0), "1970-01-01 00:00:00");
        assert_eq!(
            format_timestamp_micros(1_700_000_000_500_000),
            "2023-11-14 22:13:20.5"
        );
        assert_eq!(format_timestamp_micros(-1), "1969-12-31 23:59:59.999999");
        assert_eq!(format_time_micros(3_723_000_001), "01:02:03.000001");
    }

    #[test]
    fn iso_text_reads_as_seconds_since_the_epoch() {
        assert_eq!(iso_seconds("1970-01-01"), Some(0.0));
        assert_eq!(iso_seconds("1970-01-02 00:00:01"), Some(86_401.0));
        assert_eq!(iso_seconds("2000-03-01T12:30"), Some(951_913_800.0));
        assert_eq!(iso_seconds("1969-12-31 23:59:59.5"), Some(-0.5));
        assert_eq!(iso_seconds("2024-02-29"), Some(1_709_164_800.0));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-01-01 24:00",
            "2024-1-01",
            "x",
            "2024-01-01 10",
        ] {
            assert_eq!(iso_seconds(bad), None, "{bad}");
        }
        for days in [-800_000, -1, 0, 19_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
