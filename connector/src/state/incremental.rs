//! Incremental sync on `last_modified_time`: saved states (and the table each belongs to), the
//! server-side filter on a ModifiedTime field, and the cursor a read may save: the newest
//! time emitted, the ids emitted at exactly that time, and, for a read stopped part way, the
//! page it had reached.

use crate::error::ConnectorError;
use crate::read::records::TableRef;
use crate::read::scan::{each_member, value_span};
use crate::state::record_ids::{NameSet, RecordIds};
use crate::values::fields::FieldInfo;
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
/// State member holding when (ms since the epoch) the stream was last read for real, not
/// skipped as unchanged.
pub const READ_AT: &str = "read_at";

/// State member naming the table the state belongs to ([`StateIdentity`]).
pub const BELONGS_TO: &str = "table";
/// State member holding the ids of the records emitted with exactly the cursor's time.
pub const CURSOR_IDS: &str = "cursor_ids";
/// State member holding where a read stopped part way stood ([`ResumePoint`]).
pub const RESUME: &str = "resume";
/// State member of an attachments stream: the attachments (record, field and file token) whose
/// records were emitted, their files stored ([`NameSet`]).
pub const ATTACHMENTS_DONE: &str = "attachments_done";
/// Records emitted with exactly the cursor's time are remembered by id up to this many; past
/// it they are emitted again by the next read (a tie that large is rare).
pub const MAX_CURSOR_IDS: usize = 10_000;

/// What a stream's saved state holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SavedState {
    /// The cursor (ms since the epoch): records modified before it were read.
    pub cursor: Option<i64>,
    /// The ids of the records the stream had at the last read (deletes detection).
    pub record_ids: Option<RecordIds>,
    /// The table's revision at the last complete read.
    pub revision: Option<i64>,
    /// The table the state was written for; None in states of earlier versions.
    pub identity: Option<StateIdentity>,
    /// The records emitted with exactly the cursor's time.
    pub cursor_ids: Option<RecordIds>,
    /// Where a read that stopped part way stood.
    pub resume: Option<ResumePoint>,
    /// When the stream was last read for real (ms since the epoch).
    pub read_at: Option<i64>,
    /// The attachments an attachments stream has done (record, field and file token).
    pub attachments_done: Option<NameSet>,
}

/// The table a state belongs to: the Base (by a hash of its app token, which the state must
/// not show), the table and the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateIdentity {
    pub base: String,
    pub table_id: String,
    pub view_id: Option<String>,
}

impl StateIdentity {
    pub fn of(table: &TableRef) -> Self {
        Self {
            base: base_hash(&table.app_token),
            table_id: table.table_id.clone(),
            view_id: table.view_id.clone(),
        }
    }

    pub fn to_state(&self) -> Value {
        json!({"base": self.base, "table_id": self.table_id, "view_id": self.view_id})
    }

    fn from_state(state: &Value) -> Result<Self, String> {
        let text = |key: &str| state.get(key).and_then(Value::as_str).map(str::to_string);
        let view_id = match state.get("view_id") {
            None | Some(Value::Null) => None,
            Some(_) => Some(text("view_id").ok_or("`view_id` must be a string or null")?),
        };
        Ok(Self {
            base: text("base").ok_or("`base` must be a string")?,
            table_id: text("table_id").ok_or("`table_id` must be a string")?,
            view_id,
        })
    }

    /// How a state of `self` differs from one of `now`, in words; None when they agree.
    pub fn difference(&self, now: &Self) -> Option<String> {
        let view = |v: &Option<String>| {
            v.as_deref()
                .map_or("no view".into(), |v| format!("view {v}"))
        };
        if self.base != now.base {
            Some("another Base".into())
        } else if self.table_id != now.table_id {
            Some(format!(
                "table {} (this stream reads {})",
                self.table_id, now.table_id
            ))
        } else if self.view_id != now.view_id {
            Some(format!(
                "{} (this stream reads {})",
                view(&self.view_id),
                view(&now.view_id)
            ))
        } else {
            None
        }
    }
}

/// A stable, non-reversible name of a Base's app token.
fn base_hash(app_token: &str) -> String {
    format!(
        "{:016x}",
        crate::state::record_ids::hash64(app_token.as_bytes())
    )
}

/// Where a read sorted by modification time stood when it last saved its state: the search
/// (`from`, the day its filter started from, None for no filter), the page size and
/// `page_token` of the last page emitted, and that page's first and last record id and item
/// count, so the next read can ask for the same page, see that it is unchanged, and go on
/// after it. When the page differs, the read starts again from the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    pub from: Option<i64>,
    pub page_size: u32,
    pub token: Option<String>,
    pub first: String,
    pub last: String,
    pub items: usize,
}

impl ResumePoint {
    pub fn to_state(&self) -> Value {
        json!({
            "from": self.from, "page_size": self.page_size, "page_token": self.token,
            "first": self.first, "last": self.last, "items": self.items,
        })
    }

    fn from_state(state: &Value) -> Result<Self, String> {
        let text = |key: &str| state.get(key).and_then(Value::as_str).map(str::to_string);
        let number = |key: &str| state.get(key).and_then(Value::as_u64);
        let token = match state.get("page_token") {
            None | Some(Value::Null) => None,
            Some(_) => Some(text("page_token").ok_or("`page_token` must be a string or null")?),
        };
        let from = match state.get("from") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or("`from` must be an integer or null")?),
        };
        Ok(Self {
            from,
            page_size: number("page_size")
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .ok_or("`page_size` must be a positive integer")?,
            token,
            first: text("first").ok_or("`first` must be a string")?,
            last: text("last").ok_or("`last` must be a string")?,
            items: number("items")
                .and_then(|n| usize::try_from(n).ok())
                .ok_or("`items` must be a whole number")?,
        })
    }
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
    let member = |key: &str| match stream_state.get(key) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
    };
    let drop_it = |key: &str, why: String| {
        bad(format!(
            "`{key}` {why}; drop it from the state to read anew"
        ))
    };
    let identity = member(BELONGS_TO)
        .map(|v| StateIdentity::from_state(v).map_err(|why| drop_it(BELONGS_TO, why)))
        .transpose()?;
    let cursor_ids = member(CURSOR_IDS)
        .map(|v| RecordIds::from_state(v).map_err(|why| drop_it(CURSOR_IDS, why)))
        .transpose()?;
    let resume = member(RESUME)
        .map(|v| ResumePoint::from_state(v).map_err(|why| drop_it(RESUME, why)))
        .transpose()?;
    let attachments_done = member(ATTACHMENTS_DONE)
        .map(|v| NameSet::from_state(v).map_err(|why| drop_it(ATTACHMENTS_DONE, why)))
        .transpose()?;
    Ok(SavedState {
        cursor: integer(CURSOR_FIELD, "ms since the epoch")?,
        record_ids,
        revision: integer(TABLE_REVISION, "the table's revision")?,
        identity,
        cursor_ids,
        resume,
        read_at: integer(READ_AT, "ms since the epoch")?,
        attachments_done,
    })
}

/// The state of an attachments stream: the table it belongs to, the attachments it did and,
/// after a complete scan, the table's revision then and when the scan began (`scanned`).
pub fn attachments_state(
    identity: &StateIdentity,
    done: &NameSet,
    scanned: Option<(i64, i64)>,
) -> String {
    let mut state = json!({BELONGS_TO: identity.to_state(), ATTACHMENTS_DONE: done.to_state()});
    if let Some((revision, read_at)) = scanned {
        state[TABLE_REVISION] = json!(revision);
        state[READ_AT] = json!(read_at);
    }
    state.to_string()
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

/// The time a search for records modified since `cursor` filters from: [`FILTER_SLACK_MS`]
/// before it, as the filter works to the day.
pub fn filter_from(cursor: i64) -> i64 {
    cursor.saturating_sub(FILTER_SLACK_MS).max(0)
}

/// Search body narrowing to records modified after the day before `from` (see
/// [`filter_from`]), oldest first, by the ModifiedTime field `field`; with no `from`, every
/// record, oldest first. Never used with a view: Feishu ignores the view when a filter or
/// sort is given.
pub fn modified_search_body(field: &str, from: Option<i64>) -> String {
    match from {
        Some(from) => filtered_search_body(field, from),
        None => sorted_search_body(field),
    }
}

fn filtered_search_body(field: &str, from: i64) -> String {
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
fn sorted_search_body(field: &str) -> String {
    json!({"automatic_fields": true, "sort": [{"field_name": field, "desc": false}]}).to_string()
}

/// Tracks the cursor of one stream during a read.
#[derive(Debug, Clone)]
pub struct CursorTracker {
    /// The saved cursor: records older than it are skipped.
    pub since: Option<i64>,
    /// Records emitted at exactly `since` by earlier reads: skipped unless modified again.
    since_ids: RecordIds,
    /// When the sync started (ms since the epoch): the new cursor never passes it.
    started_ms: i64,
    max_seen: Option<i64>,
    /// The ids emitted at exactly `max_seen`; None when there were too many to remember.
    at_max: Option<RecordIds>,
    /// Where a sorted read stands, saved until the read completes.
    position: Option<ResumePoint>,
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
            since_ids: RecordIds::default(),
            started_ms,
            max_seen: None,
            at_max: None,
            position: None,
            carried: Map::new(),
            carried_bytes: 0,
            unsaved_bytes: 0,
        }
    }

    /// The records emitted at exactly the saved cursor by earlier reads, to be skipped.
    pub fn delivered_at_cursor(mut self, ids: Option<RecordIds>) -> Self {
        self.since_ids = ids.unwrap_or_default();
        self
    }

    /// Notes the page a sorted read has emitted last (saved with the state until
    /// [`CursorTracker::completed`]).
    pub fn reached(&mut self, point: ResumePoint) {
        self.position = Some(point);
    }

    /// The read completed: the next one starts from the cursor, not from a page.
    pub fn completed(&mut self) {
        self.position = None;
    }

    /// Saves which table the state belongs to ([`BELONGS_TO`]).
    pub fn belongs_to(&mut self, identity: &StateIdentity) {
        self.carry(BELONGS_TO, identity.to_state());
    }

    /// Saves the record ids deletes are confirmed against ([`RECORD_IDS`]).
    pub fn remembers(&mut self, ids: &RecordIds) {
        self.carry(RECORD_IDS, ids.to_state());
    }

    /// Saves the table's revision ([`TABLE_REVISION`]) the read vouches for.
    pub fn vouches_for(&mut self, revision: i64) {
        self.carry(TABLE_REVISION, revision.into());
    }

    /// Saves when the table was last read for real ([`READ_AT`], ms since the epoch).
    pub fn read_for_real_at(&mut self, epoch_ms: i64) {
        self.carry(READ_AT, epoch_ms.into());
    }

    /// Saves `value` as state member `key` beside the cursor from now on.
    fn carry(&mut self, key: &str, value: Value) {
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

    /// Whether a record with this cursor value and id (`id` is asked only when needed) is to
    /// be emitted: at or after the saved cursor, and not one an earlier read emitted at exactly
    /// the cursor; records without a cursor are kept.
    pub fn keep(&mut self, cursor: Option<i64>, id: impl FnOnce() -> Option<String>) -> bool {
        let Some(value) = cursor else { return true };
        if self.since.is_some_and(|since| value < since) {
            return false;
        }
        let id = id();
        if self.since == Some(value) && id.as_deref().is_some_and(|i| self.since_ids.contains(i)) {
            return false;
        }
        match self.max_seen {
            Some(max) if value < max => {}
            Some(max) if value == max => self.note_at_max(id),
            _ => {
                self.max_seen = Some(value);
                self.at_max = Some(RecordIds::default());
                self.note_at_max(id);
            }
        }
        true
    }

    fn note_at_max(&mut self, id: Option<String>) {
        match (self.at_max.as_mut(), id) {
            (Some(ids), Some(id)) if ids.len() < MAX_CURSOR_IDS => ids.insert(&id),
            _ => self.at_max = None,
        }
    }

    /// The ids emitted at exactly the cursor to save, by this read and earlier ones; None
    /// when there are none or too many to remember.
    pub fn cursor_ids(&self) -> Option<RecordIds> {
        let cursor = self.cursor()?;
        let mut ids = RecordIds::default();
        if self.since == Some(cursor) {
            ids.extend(&self.since_ids);
        }
        if self.max_seen == Some(cursor) {
            ids.extend(self.at_max.as_ref()?);
        }
        (!ids.is_empty()).then_some(ids)
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
        if let Some(ids) = self.cursor_ids() {
            state.insert(CURSOR_IDS.to_string(), ids.to_state());
        }
        if let Some(point) = &self.position {
            state.insert(RESUME.to_string(), point.to_state());
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
            is_primary: false,
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
            (
                r#"{"a":{"table":{"table_id":"t"}}}"#,
                "`table` `base` must be a string; drop it",
            ),
            (
                r#"{"a":{"resume":{"page_size":0}}}"#,
                "`resume` `page_size` must be a positive integer",
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
        let id = |i: &'static str| move || Some(i.to_string());
        let mut t = CursorTracker::new(Some(100), 1_000);
        assert!(!t.keep(Some(99), id("rec1")));
        assert!(
            t.keep(Some(100), id("rec2")),
            "a tie with the cursor is emitted again"
        );
        assert!(t.keep(Some(500), id("rec3")));
        assert!(t.keep(None, id("rec4")));
        assert_eq!(t.cursor(), Some(500));
        assert_eq!(t.cursor_ids().unwrap().ids().collect::<Vec<_>>(), ["rec3"]);
        assert!(t.keep(Some(5_000), id("rec5")), "modified during the sync");
        assert_eq!(t.cursor(), Some(1_000));
        assert_eq!(t.cursor_ids(), None, "nothing was emitted at exactly 1000");
        assert_eq!(t.state(), r#"{"last_modified_time":1000}"#);
        t.carry(TABLE_REVISION, json!(3));
        assert_eq!(
            t.state(),
            r#"{"last_modified_time":1000,"table_revision":3}"#
        );
    }

    #[test]
    fn ties_emitted_at_the_cursor_are_not_emitted_again() {
        let id = |i: &'static str| move || Some(i.to_string());
        let mut first = CursorTracker::new(None, 1_000);
        assert!(first.keep(Some(100), id("rec1")));
        assert!(first.keep(Some(100), id("rec2")));
        let state = format!(r#"{{"a":{}}}"#, first.state());
        let saved = parse_state(&state).unwrap().remove("a").unwrap();
        assert_eq!(saved.cursor, Some(100));
        let mut next =
            CursorTracker::new(saved.cursor, 2_000).delivered_at_cursor(saved.cursor_ids);
        assert!(!next.keep(Some(100), id("rec1")), "delivered at the cursor");
        assert!(next.keep(Some(100), id("rec3")), "a tie not delivered yet");
        assert_eq!(
            next.cursor_ids().unwrap().ids().collect::<Vec<_>>(),
            ["rec1", "rec2", "rec3"]
        );
        assert!(next.keep(Some(150), id("rec1")), "modified again");
        assert_eq!(
            next.cursor_ids().unwrap().ids().collect::<Vec<_>>(),
            ["rec1"]
        );
    }

    #[test]
    fn a_stopped_sorted_read_saves_where_it_stood_until_it_completes() {
        let mut t = CursorTracker::new(None, 1_000);
        assert!(t.keep(Some(100), || Some("rec1".into())));
        let point = ResumePoint {
            from: Some(5),
            page_size: 100,
            token: Some("pgt".into()),
            first: "rec0".into(),
            last: "rec1".into(),
            items: 2,
        };
        t.reached(point.clone());
        let saved = parse_state(&format!(r#"{{"a":{}}}"#, t.state())).unwrap();
        assert_eq!(saved["a"].resume, Some(point));
        t.completed();
        assert!(!t.state().contains(RESUME));
    }

    #[test]
    fn a_state_names_its_table_and_tells_another_apart() {
        let table = |app: &str, table: &str, view: Option<&str>| TableRef {
            app_token: app.into(),
            table_id: table.into(),
            view_id: view.map(str::to_string),
        };
        let a = StateIdentity::of(&table("bascnSecret", "tblA", None));
        assert!(!a.to_state().to_string().contains("bascnSecret"));
        let state = format!(r#"{{"s":{{"table":{}}}}}"#, a.to_state());
        assert_eq!(parse_state(&state).unwrap()["s"].identity, Some(a.clone()));
        assert_eq!(a.difference(&a), None);
        let b = StateIdentity::of(&table("bascnSecret", "tblB", None));
        assert_eq!(
            a.difference(&b).unwrap(),
            "table tblA (this stream reads tblB)"
        );
        let view = StateIdentity::of(&table("bascnSecret", "tblA", Some("vew1")));
        assert_eq!(
            view.difference(&a).unwrap(),
            "view vew1 (this stream reads no view)"
        );
        let other = StateIdentity::of(&table("bascnOther", "tblA", None));
        assert_eq!(a.difference(&other).unwrap(), "another Base");
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
        assert!(!t.keep(Some(5_000), || None));
        assert_eq!(t.cursor(), Some(9_000));
        assert_eq!(CursorTracker::new(None, 1_000).state(), "{}");
    }

    #[test]
    fn the_filter_asks_from_two_days_before() {
        let from = Some(filter_from(3 * 86_400_000));
        let body: Value = serde_json::from_str(&modified_search_body("修改时间", from)).unwrap();
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
