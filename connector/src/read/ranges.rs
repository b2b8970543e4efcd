//! One big table read as several ranges of creation time at once (full refresh only).
//!
//! Feishu filters a CreatedTime field to the day only (an `ExactDate` is cut to 00:00 in the
//! Base's time zone, which we do not know), so each range asks the server for a superset, its
//! bounds widened by [`MARGIN_MS`], and keeps exactly the records whose `created_time` falls in
//! its own half-open range `[start, end)`. The ranges cover all time (the first has no start,
//! the last no end), so every record belongs to exactly one of them: no duplicates at the
//! edges, no gaps, and a record created during the read lands in the last range like in a
//! sequential read.

use crate::state::incremental::record_time;

/// Feishu's type code of a CreatedTime field.
pub const CREATED_TIME_TYPE: i64 = 1001;
/// The record-level key holding when a record was created (with `automatic_fields`).
pub const CREATED_TIME_KEY: &str = "created_time";

/// How far each range's server-side filter reaches beyond its bounds: two days cover the
/// day granularity and any time zone.
pub const MARGIN_MS: i64 = 2 * DAY_MS;
const DAY_MS: i64 = 86_400_000;
/// Narrowest range worth its own lane: the margins make neighbours fetch some records twice,
/// at most about a fifth more when ranges are this wide.
pub const MIN_RANGE_MS: i64 = 16 * DAY_MS;
/// Fewest pages a range should hold to be worth a lane of its own.
pub const MIN_RANGE_PAGES: u64 = 2;

/// Fewest records a table needs before it is worth planning ranges for.
pub fn min_split_records(page_size: u32) -> u64 {
    2 * MIN_RANGE_PAGES * u64::from(page_size.max(1))
}

/// Records created in `[start, end)`; `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl CreatedRange {
    /// Whether a record (its JSON text) belongs here. A record without `created_time` belongs
    /// to the first range only.
    pub fn holds(&self, record: &[u8]) -> bool {
        match record_time(record, CREATED_TIME_KEY) {
            Some(t) => self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e),
            None => self.start.is_none(),
        }
    }

    /// The search body: this range widened by [`MARGIN_MS`], on the CreatedTime field `field`.
    pub fn search_body(&self, field: &str) -> String {
        let date = |ms: i64| serde_json::json!(["ExactDate", ms.to_string()]);
        let mut conditions = Vec::new();
        if let Some(start) = self.start {
            conditions.push(
                serde_json::json!({"field_name": field, "operator": "isGreater",
                                               "value": date(start.saturating_sub(MARGIN_MS))}),
            );
        }
        if let Some(end) = self.end {
            conditions.push(
                serde_json::json!({"field_name": field, "operator": "isLess",
                                               "value": date(end.saturating_add(MARGIN_MS))}),
            );
        }
        serde_json::json!({
            "filter": {"conjunction": "and", "conditions": conditions},
            "automatic_fields": true,
        })
        .to_string()
    }
}

/// The body of a one-record search for the oldest (`desc` false) or newest record.
pub fn probe_body(field: &str, desc: bool) -> String {
    serde_json::json!({"sort": [{"field_name": field, "desc": desc}], "automatic_fields": true})
        .to_string()
}

/// Splits a table whose records were created from `first_ms` to `last_ms`, `total` of them,
/// into at most `lanes` ranges; empty when one sequential read is as good (few pages, or all
/// created within a short time).
pub fn plan(
    first_ms: i64,
    last_ms: i64,
    total: u64,
    page_size: u32,
    lanes: u32,
) -> Vec<CreatedRange> {
    let span = last_ms.saturating_sub(first_ms);
    let by_span = span / MIN_RANGE_MS;
    let by_pages = total / (u64::from(page_size.max(1)) * MIN_RANGE_PAGES);
    let count = i64::from(lanes).min(by_span).min(by_pages as i64);
    if count < 2 {
        return Vec::new();
    }
    let width = span / count;
    (0..count)
        .map(|i| CreatedRange {
            start: (i > 0).then(|| first_ms + i * width),
            end: (i < count - 1).then(|| first_ms + (i + 1) * width),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = DAY_MS;

    #[test]
    fn ranges_cover_all_time_without_overlap() {
        let ranges = plan(0, 100 * DAY, 100_000, 500, 4);
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[0].start, None);
        assert_eq!(ranges[3].end, None);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for t in [-5 * DAY, 0, 25 * DAY - 1, 25 * DAY, 99 * DAY, 400 * DAY] {
            let record = format!(r#"{{"record_id":"r","created_time":{t}}}"#);
            let holders = ranges.iter().filter(|r| r.holds(record.as_bytes())).count();
            assert_eq!(holders, 1, "created at {t}");
        }
        let no_time = br#"{"record_id":"r"}"#;
        assert!(ranges[0].holds(no_time) && !ranges[1].holds(no_time));
    }

    #[test]
    fn small_or_young_tables_are_not_split() {
        assert!(plan(0, 100 * DAY, 1500, 500, 4).is_empty(), "3 pages");
        assert!(plan(0, 20 * DAY, 100_000, 500, 4).is_empty(), "20 days");
        assert_eq!(plan(0, 40 * DAY, 100_000, 500, 4).len(), 2);
        assert!(
            plan(0, 100 * DAY, 100_000, 500, 1).is_empty(),
            "one lane asked"
        );
    }

    #[test]
    fn the_server_filter_reaches_past_the_bounds() {
        let range = CreatedRange {
            start: Some(10 * DAY),
            end: Some(20 * DAY),
        };
        let body: serde_json::Value = serde_json::from_str(&range.search_body("创建时间")).unwrap();
        let conditions = body["filter"]["conditions"].as_array().unwrap();
        assert_eq!(conditions[0]["operator"], "isGreater");
        assert_eq!(conditions[0]["value"][1], (8 * DAY).to_string());
        assert_eq!(conditions[1]["operator"], "isLess");
        assert_eq!(conditions[1]["value"][1], (22 * DAY).to_string());
        assert_eq!(body["automatic_fields"], true);
    }
}
