//! Epoch milliseconds as ISO-8601 UTC text.

/// Epoch milliseconds of 0001-01-01T00:00:00.000Z and of 9999-12-31T23:59:59.999Z: the times
/// RFC 3339 can write.
pub const MIN_MS: i64 = -62_135_596_800_000;
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Whether `ms` is a time RFC 3339 can write (years 1 to 9999).
pub fn in_range(ms: i64) -> bool {
    (MIN_MS..=MAX_MS).contains(&ms)
}

/// Epoch milliseconds as an ISO-8601 UTC time (days to civil date after Howard Hinnant's
/// `civil_from_days`).
pub fn format_utc(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_utc(&mut out, ms);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 0 to 9999; others as
/// their digits). Past the one 64-bit division into days, the arithmetic is 32-bit: wasm has
/// no 64-bit multiply-high, so 64-bit divisions by constants stay divisions there.
pub(super) fn write_utc(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000) as u32;
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(year.to_string().as_bytes());
        out.extend_from_slice(&utc_text(0, month, day, ms_of_day)[4..]);
    } else {
        out.extend_from_slice(&utc_text(year as u32, month, day, ms_of_day));
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a year (0 to 9999), month, day and millisecond of the day.
fn utc_text(year: u32, month: u32, day: u32, ms_of_day: u32) -> [u8; 24] {
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, ms_of_day / 3_600_000);
    put(14, 2, ms_of_day / 60_000 % 60);
    put(17, 2, ms_of_day / 1000 % 60);
    put(20, 3, ms_of_day % 1000);
    text
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's `civil_from_days`), in 32-bit
/// arithmetic from the year 0 on (64-bit before it).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let (era, doe) = match u32::try_from(z) {
        Ok(z) => (i64::from(z / 146_097), z % 146_097),
        Err(_) => (z.div_euclid(146_097), z.rem_euclid(146_097) as u32),
    };
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = i64::from(yoe) + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_8601_utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_735_689_600_000), "2025-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_utc(4_102_444_799_000), "2099-12-31T23:59:59.000Z");
        assert_eq!(format_utc(-62_167_219_200_000), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_utc(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_utc(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
        assert_eq!(format_utc(-62_167_219_200_001), "-1-12-31T23:59:59.999Z");
    }

    #[test]
    fn each_day_follows_the_one_before() {
        let month_days = |year: i64, month: u32| match month {
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut date = civil_from_days(-800_000);
        for days in -799_999..3_000_000 {
            let (year, month, day) = date;
            let next = if day < month_days(year, month) {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
            date = civil_from_days(days);
            assert_eq!(date, next, "{days}");
        }
    }
}
