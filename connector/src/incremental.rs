//! Incremental sync on `last_modified_time`: saved states, the server-side filter on a
//! ModifiedTime field, and the cursor a read may save.

use crate::error::ConnectorError;
use crate::record_ids::RecordIds;
use crate::scan::{each_member, value_span};
use crate::schema::FieldInfo;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The cursor field of every stream (ms since the epoch, from `automatic_fields`).
pub const CURSOR_FIELD: &str = "last_modified_time";
/// Type code of a ModifiedTime field, the only one the records filter can narrow by.
pub const MODIFIED_TIME_TYPE: i64 = 1002;
/// The server's date filter works to the day in the Base's time zone: ask from this much
/// before the cursor and filter exactly on the client.
pub const FILTER_SLACK_MS: i64 = 2 * 86_400_000;
/// State member holding the ids of the records a stream had ([`RecordIds`]).
pub const RECORD_IDS: &str = "record_ids";
/// State member holding the table's `revision` when the stream was last read in full.
pub const TABLE_REVISION: &str = "table_revision";

/// What a stream's saved state holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SavedState {
    /// The cursor (ms since the epoch): records modified before it were read.
    pub cursor: Option<i64>,
    /// The ids of the records the stream had at the last read (deletes detection).
    pub record_ids: Option<RecordIds>,
    /// The table's revision at the last complete read.
    pub revision: Option<i64>,
}

/// Saved cursors by stream name, from a state document: an array of STREAM state messages (as
/// printed by an earlier read), a single state message, a LEGACY message (`data` maps stream
/// names to states), or a bare map of stream names to states.
pub fn parse_state(text: &str) -> Result<HashMap<String, SavedState>, ConnectorError> {
    let bad = |why: String| ConnectorError::config(format!("state {why}"));
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("is not valid JSON: {e}")))?;
    let mut states = HashMap::new();
    let messages = match value {
        Value::Array(items) => items,
        Value::Object(ref o)
            if !o.contains_key("data") && (o.contains_key("type") || o.contains_key("stream")) =>
        {
            vec![value]
        }
        Value::Object(o) => {
            let map = match o.get("data") {
                Some(Value::Object(data)) => data.clone(),
                _ => o,
            };
            for (name, stream_state) in map {
                states.insert(name.clone(), saved_state(&stream_state, &name)?);
            }
            return Ok(states);
        }
        _ => {
            return Err(bad(
                "must be a JSON array of state messages (or a single state object)".into(),
            ));
        }
    };
    for (i, message) in messages.iter().enumerate() {
        if let Some(kind) = message
            .get("type")
            .and_then(Value::as_str)
            .filter(|k| *k != "STREAM")
        {
            return Err(bad(format!(
                "entry {i} is of type {kind}; only STREAM states are supported"
            )));
        }
        let name = message
            .pointer("/stream/stream_descriptor/name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("entry {i} has no `stream.stream_descriptor.name`")))?;
        let stream_state = message
            .pointer("/stream/stream_state")
            .cloned()
            .unwrap_or(Value::Null);
        states.insert(name.to_string(), saved_state(&stream_state, name)?);
    }
    Ok(states)
}

fn saved_state(stream_state: &Value, stream: &str) -> Result<SavedState, ConnectorError> {
    let bad = |why: String| ConnectorError::config(format!("state of stream `{stream}`: {why}"));
    let integer = |key: &str, what: &str| match stream_state.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(format!("`{key}` must be an integer ({what})"))),
    };
    let record_ids = match stream_state.get(RECORD_IDS) {
        None | Some(Value::Null) => None,
        Some(ids) => Some(RecordIds::from_state(ids).map_err(|why| {
            bad(format!(
                "`{RECORD_IDS}` {why}; drop it from the state to record the ids anew"
            ))
        })?),
    };
    Ok(SavedState {
        cursor: integer(CURSOR_FIELD, "ms since the epoch")?,
        record_ids,
        revision: integer(TABLE_REVISION, "the table's revision")?,
    })
}

/// The `last_modified_time` of a record's JSON text, if it has one.
pub fn record_cursor(record: &[u8]) -> Option<i64> {
    record_time(record, CURSOR_FIELD)
}

/// The integer at top-level `key` of a record's JSON text (`created_time`,
/// `last_modified_time`), if it has one.
pub fn record_time(record: &[u8], key_name: &str) -> Option<i64> {
    let mut found = None;
    each_member(record, 0, |key, at| {
        let (start, end) = value_span(record, at)?;
        if key == key_name.as_bytes() {
            found = std::str::from_utf8(&record[start..end])
                .ok()
                .and_then(|s| s.parse::<i64>().ok());
        }
        Ok(end)
    })
    .ok()?;
    found
}

/// Whether a ModifiedTime field's settings say it follows only some of the table's fields.
/// The fields API documents no such setting (a ModifiedTime field's `property` holds display
/// settings such as `date_formatter`); a `property` that names fields (a key mentioning
/// `field`) is taken to mean it does, so narrowing on it could miss edits to the others.
pub fn tracks_only_some_fields(field: &FieldInfo) -> bool {
    field
        .property
        .as_ref()
        .and_then(Value::as_object)
        .is_some_and(|property| {
            property
                .iter()
                .any(|(key, value)| key.contains("field") && !value.is_null())
        })
}

/// Search body narrowing to records modified on or after the day before `cursor`, oldest
/// first, by the ModifiedTime field `field`. Never used with a view: Feishu ignores the view
/// when a filter or sort is given.
pub fn filtered_search_body(field: &str, cursor: i64) -> String {
    let from = cursor.saturating_sub(FILTER_SLACK_MS).max(0);
    let body = json!({
        "automatic_fields": true,
        "filter": {"conjunction": "and", "conditions": [
            {"field_name": field, "operator": "isGreater", "value": ["ExactDate", from.to_string()]}
        ]},
        "sort": [{"field_name": field, "desc": false}]
    });
    body.to_string()
}

/// Search body asking for every record, oldest modification first, by the ModifiedTime field
/// `field` (a first incremental read, which can then save its cursor after every page).
pub fn sorted_search_body(field: &str) -> String {
    json!({"automatic_fields": true, "sort": [{"field_name": field, "desc": false}]}).to_string()
}

/// Tracks the cursor of one stream during a read.
#[derive(Debug, Clone)]
pub struct CursorTracker {
    /// The saved cursor: records older than it are skipped.
    pub since: Option<i64>,
    /// When the sync started (ms since the epoch): the new cursor never passes it.
    started_ms: i64,
    max_seen: Option<i64>,
    /// Other members of the state, saved beside the cursor.
    carried: Map<String, Value>,
    /// Bytes of the carried members, and of records emitted since the last checkpoint.
    carried_bytes: usize,
    unsaved_bytes: usize,
}

impl CursorTracker {
    pub fn new(since: Option<i64>, started_ms: i64) -> Self {
        Self {
            since,
            started_ms,
            max_seen: None,
            carried: Map::new(),
            carried_bytes: 0,
            unsaved_bytes: 0,
        }
    }

    /// Saves `value` as state member `key` beside the cursor from now on.
    pub fn carry(&mut self, key: &str, value: Value) {
        self.carried.insert(key.to_string(), value);
        self.carried_bytes = Value::Object(self.carried.clone()).to_string().len();
    }

    /// Whether records were emitted since the last checkpoint.
    pub fn unsaved(&self) -> bool {
        self.unsaved_bytes > 0
    }

    /// Whether a checkpoint is due after a page of `bytes` of records: after every page,
    /// unless the state carries more than the records emitted since the last one (a big set
    /// of record ids), so checkpoints never outweigh the records.
    pub fn checkpoint_due(&mut self, bytes: usize) -> bool {
        self.unsaved_bytes += bytes;
        if self.unsaved_bytes >= self.carried_bytes {
            self.unsaved_bytes = 0;
            true
        } else {
            false
        }
    }

    /// Whether a record with this cursor value is to be emitted (at or after the saved
    /// cursor; records without one are kept).
    pub fn keep(&mut self, cursor: Option<i64>) -> bool {
        let Some(value) = cursor else { return true };
        if self.since.is_some_and(|since| value < since) {
            return false;
        }
        self.max_seen = Some(self.max_seen.map_or(value, |m| m.max(value)));
        true
    }

    /// The cursor to save: the largest value seen, never past the sync's start, never behind
    /// the saved one.
    pub fn cursor(&self) -> Option<i64> {
        let seen = self.max_seen.map(|m| m.min(self.started_ms));
        match (seen, self.since) {
            (Some(s), Some(old)) => Some(s.max(old)),
            (s, old) => s.or(old),
        }
    }

    /// The stream state to save.
    pub fn state(&self) -> String {
        let mut state = Map::new();
        if let Some(c) = self.cursor() {
            state.insert(CURSOR_FIELD.to_string(), json!(c));
        }
        state.extend(self.carried.clone());
        Value::Object(state).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_in_every_accepted_form() {
        let array = r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"a"},"stream_state":{"last_modified_time":5}},"sourceStats":{"recordCount":1.0}},
                        {"type":"STREAM","stream":{"stream_descriptor":{"name":"b"},"stream_state":{}}}]"#;
        let s = parse_state(array).unwrap();
        assert_eq!((s["a"].cursor, s["b"].cursor), (Some(5), None));
        let single = r#"{"type":"STREAM","stream":{"stream_descriptor":{"name":"a"},"stream_state":{"last_modified_time":7}}}"#;
        assert_eq!(parse_state(single).unwrap()["a"].cursor, Some(7));
        assert_eq!(
            parse_state(r#"{"type":"LEGACY","data":{"a":{"last_modified_time":9}}}"#).unwrap()["a"]
                .cursor,
            Some(9)
        );
        let full = r#"{"a":{"last_modified_time":11,"table_revision":4,"record_ids":{"count":1,"keys":"AQ"}}}"#;
        let a = &parse_state(full).unwrap()["a"];
        assert_eq!((a.cursor, a.revision), (Some(11), Some(4)));
        assert!(a.record_ids.as_ref().unwrap().contains("rec0"));
        assert!(parse_state("[]").unwrap().is_empty());
    }

    #[test]
    fn modified_time_fields_that_follow_some_fields_are_noticed() {
        let field = |property: serde_json::Value| FieldInfo {
            field_id: None,
            field_name: "修改时间".into(),
            type_code: MODIFIED_TIME_TYPE,
            ui_type: None,
            property: Some(property),
        };
        assert!(!tracks_only_some_fields(&field(
            json!({"date_formatter": "yyyy/MM/dd"})
        )));
        assert!(!tracks_only_some_fields(&field(json!({"field_ids": null}))));
        assert!(tracks_only_some_fields(&field(
            json!({"field_ids": ["fld1"]})
        )));
        assert!(tracks_only_some_fields(&field(
            json!({"tracked_fields": ["A"]})
        )));
    }

    #[test]
    fn bad_states_are_config_errors() {
        for (text, needle) in [
            ("42", "must be a JSON array"),
            ("{nope", "not valid JSON"),
            (r#"[{"type":"GLOBAL","global":{}}]"#, "type GLOBAL"),
            (r#"[{"type":"STREAM","stream":{}}]"#, "stream_descriptor"),
            (r#"{"a":{"last_modified_time":"x"}}"#, "must be an integer"),
            (
                r#"{"a":{"record_ids":{"keys":"@"}}}"#,
                "`record_ids` `keys` is not base64",
            ),
            (
                r#"{"a":{"table_revision":true}}"#,
                "`table_revision` must be an integer",
            ),
        ] {
            let e = parse_state(text).unwrap_err();
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }

    #[test]
    fn record_cursors_come_from_the_top_level() {
        assert_eq!(
            record_cursor(
                br#"{"fields":{"last_modified_time":1},"last_modified_time":1735689630000}"#
            ),
            Some(1735689630000)
        );
        assert_eq!(record_cursor(br#"{"record_id":"r"}"#), None);
        assert_eq!(record_cursor(b"{\"last_modified_time\":"), None);
    }

    #[test]
    fn the_cursor_keeps_boundary_ties_and_never_passes_the_start() {
        let mut t = CursorTracker::new(Some(100), 1_000);
        assert!(!t.keep(Some(99)));
        assert!(t.keep(Some(100)), "a tie with the cursor is emitted again");
        assert!(t.keep(Some(500)));
        assert!(t.keep(None));
        assert_eq!(t.cursor(), Some(500));
        assert!(t.keep(Some(5_000)), "modified during the sync");
        assert_eq!(t.cursor(), Some(1_000));
        assert_eq!(t.state(), r#"{"last_modified_time":1000}"#);
        t.carry(TABLE_REVISION, json!(3));
        assert_eq!(
            t.state(),
            r#"{"last_modified_time":1000,"table_revision":3}"#
        );
    }

    #[test]
    fn checkpoints_never_outweigh_the_records() {
        let mut t = CursorTracker::new(None, 1_000);
        assert!(t.checkpoint_due(10), "nothing carried: every page");
        t.carry(RECORD_IDS, json!("x".repeat(100)));
        assert!(!t.checkpoint_due(60));
        assert!(t.checkpoint_due(60));
        assert!(!t.checkpoint_due(1));
    }

    #[test]
    fn a_future_cursor_yields_nothing_and_is_kept() {
        let mut t = CursorTracker::new(Some(9_000), 1_000);
        assert!(!t.keep(Some(5_000)));
        assert_eq!(t.cursor(), Some(9_000));
        assert_eq!(CursorTracker::new(None, 1_000).state(), "{}");
    }

    #[test]
    fn the_filter_asks_from_two_days_before() {
        let body: Value =
            serde_json::from_str(&filtered_search_body("修改时间", 3 * 86_400_000)).unwrap();
        assert_eq!(
            body["filter"]["conditions"][0]["value"],
            json!(["ExactDate", "86400000"])
        );
        assert_eq!(
            body["sort"][0],
            json!({"field_name": "修改时间", "desc": false})
        );
        assert_eq!(body["automatic_fields"], true);
    }
}
