//! Calendar days as the platform counts them: China Standard Time (UTC+8, no daylight saving),
//! so a bill due "2026-12-01" is due on that day in Beijing wherever the phone is.

/// Seconds east of UTC of the platform's day.
pub const CHINA_OFFSET_SECS: i64 = 8 * 3600;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm); `None` for a month or
/// day out of range.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `YYYY-MM-DD` of a day number (the inverse of [`days_from_civil`]).
pub fn format_day(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of `YYYY-MM-DD` (also `YYYYMMDD`); `None` for anything else.
pub fn parse_day(text: &str) -> Option<i64> {
    let t = text.trim();
    let (y, m, d) = match t.split('-').collect::<Vec<_>>().as_slice() {
        [y, m, d] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => (*y, *m, *d),
        [one] if one.len() == 8 => (t.get(0..4)?, t.get(4..6)?, t.get(6..8)?),
        _ => return None,
    };
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    days_from_civil(num(y)?, num(m)?, num(d)?)
}

/// Unix seconds at 00:00 China time of a `YYYY-MM-DD` day.
pub fn china_day_start(text: &str) -> Option<i64> {
    parse_day(text).map(|d| d * 86_400 - CHINA_OFFSET_SECS)
}

/// The China-time day number of a Unix time.
pub fn china_day_of(unix: i64) -> i64 {
    unix.saturating_add(CHINA_OFFSET_SECS).div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_china_days_and_bad_dates_are_none() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2026-12-01"), parse_day("20261201"));
        assert_eq!(china_day_start("2026-12-01"), Some(1_796_054_400));
        assert_eq!(
            china_day_of(1_796_054_400),
            parse_day("2026-12-01").unwrap_or(0)
        );
        assert_eq!(
            china_day_of(1_796_054_399),
            parse_day("2026-11-30").unwrap_or(0)
        );
        for bad in [
            "",
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-1-x",
            "+2026-01-01",
            "2026-00-10",
            "12345678901",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(parse_day("2024-02-29").map(|d| d > 0), Some(true));
        for day in [-1, 0, 59, 365, 11_016, 20_423, 2_932_896] {
            assert_eq!(parse_day(&format_day(day)), Some(day), "{day}");
        }
    }
}
