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
}
