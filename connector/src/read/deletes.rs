//! Deleted records (`detect_deletes`): after an incremental read, a sweep lists the ids of
//! every record the stream has now (a projection with no fields, 500 a page) and compares them
//! with the ids the state remembers plus those this read emitted. An id that vanished is
//! confirmed through `records/batch_get` (`absent_record_ids`) and emitted once as
//! `{record_id, _ab_cdc_deleted_at}`; an id that came back (a restored record) is fetched and
//! emitted again. The new set of ids goes into the state.

use crate::api::client::FeishuClient;
use crate::api::paginator::PageCursor;
use crate::config::MAX_PAGE_SIZE;
use crate::error::ConnectorError;
use crate::host::{LogLevel, Output, Transport, shown_path};
use crate::read::records::{RecordsPage, TableRef, record_id};
use crate::state::record_ids::RecordIds;
use crate::values::plain::{PlainRecords, format_utc};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The column Airbyte's dedup destinations and dlt's `hard_delete` read as "deleted at".
pub const DELETED_AT: &str = "_ab_cdc_deleted_at";
/// Most ids `records/batch_get` takes at once.
const BATCH_GET_IDS: usize = 100;

/// The ids seen during one stream's read, and those its state remembered.
#[derive(Debug, Default)]
pub struct DeleteCheck {
    previous: Option<RecordIds>,
    emitted: RecordIds,
}

/// What a sweep found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// The ids the stream has now (the state's new `record_ids`).
    pub current: RecordIds,
    pub deleted: usize,
    pub restored: usize,
    /// Ids asked about that the answer said nothing of: the table's revision must not let
    /// the next read skip asking again.
    pub unanswered: usize,
}

impl DeleteCheck {
    pub fn new(previous: Option<RecordIds>) -> Self {
        Self {
            previous,
            emitted: RecordIds::default(),
        }
    }

    /// Notes a record emitted by this read, by its `record_id` JSON string.
    pub fn saw(&mut self, id: &[u8]) {
        if let Some(id) = crate::read::records::id_text(id) {
            self.emitted.insert(&id);
        }
    }

    /// Sweeps `table`, emits the deletes and the records that came back, and returns the ids
    /// to remember.
    pub fn finish<H: Transport, O: Output>(
        self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        stream: &str,
        table: &TableRef,
        plain: Option<&mut PlainRecords>,
    ) -> Result<SweepOutcome, ConnectorError> {
        self.sweep(client, out, stream, table, plain)
            .map_err(sweep_failed)
    }

    fn sweep<H: Transport, O: Output>(
        self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        stream: &str,
        table: &TableRef,
        plain: Option<&mut PlainRecords>,
    ) -> Result<SweepOutcome, ConnectorError> {
        let mut current = list_ids(client, table)?;
        let Some(mut known) = self.previous else {
            let message = format!(
                "stream `{stream}`: remembered the ids of its {} records; deleted records are \
                 reported from the next read on",
                current.len()
            );
            out.log(LogLevel::Info, &message);
            return Ok(SweepOutcome {
                current,
                ..SweepOutcome::default()
            });
        };
        known.extend(&self.emitted);
        let vanished = known.missing_from(&current);
        let came_back = current.missing_from(&known);
        let (deleted, unanswered) = confirm_deleted(client, table, &vanished, &mut current)?;
        if unanswered > 0 {
            let message = format!(
                "stream `{stream}`: records/batch_get said nothing of {unanswered} of the ids \
                 asked about; they stay remembered and are asked about again by the next read, which the \
                 table's revision will not skip"
            );
            out.log(LogLevel::Warn, &message);
        }
        let now = format_utc(client.transport().epoch_ms());
        let tombstones: Vec<Vec<u8>> = deleted
            .iter()
            .map(|id| serde_json::json!({"record_id": id, DELETED_AT: now}).to_string())
            .map(String::into_bytes)
            .collect();
        let restored = emit_came_back(client, out, stream, table, &came_back, plain)?;
        for page in tombstones.chunks(MAX_PAGE_SIZE as usize) {
            out.emit_records(stream, page.to_vec())?;
        }
        if !deleted.is_empty() || restored > 0 {
            let message = format!(
                "stream `{stream}`: {} records deleted since the last read, {restored} came back",
                deleted.len()
            );
            out.log(LogLevel::Info, &message);
        }
        Ok(SweepOutcome {
            current,
            deleted: deleted.len(),
            restored,
            unanswered,
        })
    }
}

/// A failed sweep's error, saying what failed and what to do (the sweep's requests are its
/// own: a hint about the read's `page_size` would mislead).
fn sweep_failed(mut error: ConnectorError) -> ConnectorError {
    if error.category == crate::error::Category::OutputClosed {
        return error;
    }
    if let Some(head) = error
        .message
        .strip_suffix(crate::api::classify::REJECTED_REQUEST_HINT)
    {
        error.message = format!("{head}Feishu rejected the sweep's request");
    }
    let message = format!(
        "the records were read, but the sweep for deleted records (`detect_deletes`) failed: {}. \
         The next run reads on from the last state saved and sweeps again; set \
         `detect_deletes` to false to read without the sweep",
        error.message
    );
    error.message = message;
    error
}

/// Asks `records/batch_get` about each vanished id: only an id that was asked, that the
/// sweep did not list, and that the answer names absent is deleted. An id found or forbidden
/// stays in `current`, and so does one the answer says nothing of (asked again next read);
/// ids the answer names that were not asked are ignored. Returns the deleted ids and how many
/// asked ids got no answer.
fn confirm_deleted<H: Transport>(
    client: &mut FeishuClient<H>,
    table: &TableRef,
    vanished: &[String],
    current: &mut RecordIds,
) -> Result<(Vec<String>, usize), ConnectorError> {
    let (mut deleted, mut unanswered) = (Vec::new(), 0);
    for chunk in vanished.chunks(BATCH_GET_IDS) {
        let answer = batch_get(client, table, chunk)?;
        let mut present: Vec<String> = answer
            .records
            .iter()
            .filter_map(|record| record_id(record.get().as_bytes()))
            .collect();
        present.extend(answer.forbidden_record_ids);
        for id in chunk {
            if present.contains(id) {
                current.insert(id);
            } else if answer.absent_record_ids.contains(id) && !current.contains(id) {
                deleted.push(id.clone());
            } else {
                unanswered += usize::from(!answer.absent_record_ids.contains(id));
                current.insert(id);
            }
        }
    }
    Ok((deleted, unanswered))
}

/// Fetches and emits the records whose ids came back; returns how many were emitted.
fn emit_came_back<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &str,
    table: &TableRef,
    ids: &[String],
    mut plain: Option<&mut PlainRecords>,
) -> Result<usize, ConnectorError> {
    let mut count = 0;
    for chunk in ids.chunks(BATCH_GET_IDS) {
        let answer = batch_get(client, table, chunk)?;
        // Only the records asked for: anything else in the answer is not this sweep's.
        let raw: Vec<&[u8]> = answer
            .records
            .iter()
            .map(|r| r.get().as_bytes())
            .filter(|r| record_id(r).is_some_and(|id| chunk.contains(&id)))
            .collect();
        let records = PlainRecords::hand_over(plain.as_deref_mut(), &raw).map_err(|e| {
            ConnectorError::bad_response(format!(
                "a record from records/batch_get is not a JSON object: {e}"
            ))
        })?;
        count += records.len();
        if !records.is_empty() {
            out.emit_records(stream, records)?;
        }
    }
    Ok(count)
}

/// The search body listing `table`'s ids: only its primary field asked for, so pages stay
/// small (what an empty `field_names` does is not documented, and the official SDKs leave the
/// key out rather than send one).
fn ids_search_body<H: Transport>(
    client: &mut FeishuClient<H>,
    table: &TableRef,
) -> Result<String, ConnectorError> {
    let fields = crate::api::base::fields(client, &table.app_token, &table.table_id)?;
    let primary = fields
        .iter()
        .find(|f| f.is_primary)
        .or(fields.first())
        .map(|f| f.field_name.clone());
    let mut body = serde_json::json!({"field_names": primary.into_iter().collect::<Vec<_>>()});
    if let Some(view) = &table.view_id {
        body["view_id"] = view.as_str().into();
    }
    Ok(body.to_string())
}

/// The ids of every record of `table` (or its view): a search for its primary field, 500 a
/// page.
fn list_ids<H: Transport>(
    client: &mut FeishuClient<H>,
    table: &TableRef,
) -> Result<RecordIds, ConnectorError> {
    let body = ids_search_body(client, table)?;
    let mut ids = RecordIds::default();
    let mut cursor = PageCursor::default();
    loop {
        let response = client.search_records(table, &body, MAX_PAGE_SIZE, cursor.token())?;
        let page_number = cursor.pages() + 1;
        let where_ = || {
            let path = shown_path(&table.search_path());
            format!("listing record ids (page {page_number}) from POST {path}")
        };
        let page = RecordsPage::parse(&response.body).map_err(|e| e.context(where_()))?;
        for item in &page.items {
            let id = record_id(item).ok_or_else(|| {
                ConnectorError::bad_response("a record has no `record_id`").context(where_())
            })?;
            ids.insert(&id);
        }
        let more = cursor
            .advance(page.has_more, page.page_token.as_deref(), page.items.len())
            .map_err(|e| e.context(where_()))?;
        if !more {
            return Ok(ids);
        }
    }
}

#[derive(Deserialize)]
struct BatchGetAnswer {
    data: Option<BatchGetData>,
}

#[derive(Deserialize, Default)]
struct BatchGetData {
    #[serde(default)]
    records: Vec<Box<RawValue>>,
    #[serde(default)]
    absent_record_ids: Vec<String>,
    #[serde(default)]
    forbidden_record_ids: Vec<String>,
}

fn batch_get<H: Transport>(
    client: &mut FeishuClient<H>,
    table: &TableRef,
    ids: &[String],
) -> Result<BatchGetData, ConnectorError> {
    let response = client.batch_get_records(table, ids)?;
    let answer: BatchGetAnswer = serde_json::from_slice(&response.body).map_err(|e| {
        ConnectorError::bad_response(format!("records/batch_get: malformed answer: {e}"))
    })?;
    Ok(answer.data.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::token::TOKEN_PATH;
    use crate::config::Config;
    use crate::fake::{FakeHost, FakeOutput, json, token_ok};
    use crate::host::{HttpRequest, HttpResponse};
    use serde_json::Value;

    fn table() -> TableRef {
        TableRef {
            app_token: "app1".into(),
            table_id: "tbl1".into(),
            view_id: None,
        }
    }

    /// A table holding `ids` now; batch_get finds `restorable` and `ids`, the rest is absent.
    fn host(ids: &'static [&'static str], restorable: &'static [&'static str]) -> FakeHost {
        FakeHost::new(move |req: &HttpRequest| {
            if req.url.ends_with(TOKEN_PATH) {
                return token_ok("t");
            }
            if req.url.contains("/fields") {
                return fields_page();
            }
            let body: Value = serde_json::from_str(req.json_body.as_deref().unwrap()).unwrap();
            if req.url.contains("/batch_get") {
                let asked: Vec<&str> = body["record_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let (found, absent): (Vec<&str>, Vec<&str>) = asked
                    .iter()
                    .partition(|id| ids.contains(id) || restorable.contains(id));
                let records: Vec<Value> = found
                    .iter()
                    .map(|id| serde_json::json!({"record_id": id, "fields": {}}))
                    .collect();
                let answer = serde_json::json!({"code": 0, "data": {"records": records, "absent_record_ids": absent}});
                return json(200, &answer.to_string());
            }
            assert_eq!(
                body["field_names"],
                serde_json::json!(["名称"]),
                "the primary field"
            );
            ids_page(ids)
        })
    }

    /// The table's fields list: the primary field and another.
    fn fields_page() -> Result<HttpResponse, crate::host::TransportFailure> {
        let items = serde_json::json!([
            {"field_id": "fld2", "field_name": "备注", "type": 1, "is_primary": false},
            {"field_id": "fld1", "field_name": "名称", "type": 1, "is_primary": true},
        ]);
        let answer = serde_json::json!({"code": 0, "data": {"has_more": false, "items": items}});
        json(200, &answer.to_string())
    }

    /// One search page (the last) holding records of `ids` without fields.
    fn ids_page(ids: &[&str]) -> Result<HttpResponse, crate::host::TransportFailure> {
        let items: Vec<Value> = ids
            .iter()
            .map(|id| serde_json::json!({"record_id": id, "fields": {}}))
            .collect();
        let answer = serde_json::json!({"code": 0, "data": {"has_more": false, "items": items}});
        json(200, &answer.to_string())
    }

    fn client(host: FakeHost) -> FeishuClient<FakeHost> {
        let config = r#"{"app_id":"a","app_secret":"s","app_token":"app1","table_id":"tbl1","lark_host":"http://127.0.0.1:9"}"#;
        FeishuClient::new(host, Config::parse(config).unwrap())
    }

    #[test]
    fn vanished_ids_are_confirmed_and_emitted_once() {
        let mut client = client(host(&["recA", "recC"], &[]));
        let mut out = FakeOutput::default();
        let previous: RecordIds = ["recA", "recB", "recC"].into_iter().collect();
        let mut check = DeleteCheck::new(Some(previous));
        check.saw(br#""recN""#);
        let outcome = check
            .finish(&mut client, &mut out, "s", &table(), None)
            .unwrap();
        assert_eq!(outcome.current, ["recA", "recC"].into_iter().collect());
        assert_eq!((outcome.deleted, outcome.restored), (2, 0));
        let emitted: Vec<Value> = out.records[0]
            .1
            .iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect();
        let ids: Vec<&str> = emitted
            .iter()
            .map(|r| r["record_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["recB", "recN"],
            "a record emitted and deleted in one read too"
        );
        assert!(emitted[0][DELETED_AT].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn a_record_the_sweep_missed_is_not_deleted_and_one_restored_comes_again() {
        let mut client = client(host(&["recA", "recR"], &["recB"]));
        let mut out = FakeOutput::default();
        let previous: RecordIds = ["recA", "recB"].into_iter().collect();
        let outcome = DeleteCheck::new(Some(previous))
            .finish(&mut client, &mut out, "s", &table(), None)
            .unwrap();
        assert_eq!((outcome.deleted, outcome.restored), (0, 1));
        assert!(outcome.current.contains("recB"), "batch_get still finds it");
        assert_eq!(
            out.records,
            vec![(
                "s".to_string(),
                vec![r#"{"fields":{},"record_id":"recR"}"#.to_string()]
            )],
            "as batch_get sent it"
        );
    }

    #[test]
    fn a_first_sweep_only_remembers() {
        let mut client = client(host(&["recA"], &[]));
        let mut out = FakeOutput::default();
        let outcome = DeleteCheck::new(None)
            .finish(&mut client, &mut out, "s", &table(), None)
            .unwrap();
        assert_eq!(outcome.current.len(), 1);
        assert!(out.records.is_empty());
        assert_eq!(
            client.requests_sent(),
            3,
            "a token, the fields list (a read has it already) and one page of ids"
        );
    }

    /// A table holding `ids` now, whose batch_get answers `answer` whatever it is asked.
    fn answering(ids: &'static [&'static str], answer: &'static str) -> FakeHost {
        FakeHost::new(move |req: &HttpRequest| {
            if req.url.ends_with(TOKEN_PATH) {
                return token_ok("t");
            }
            if req.url.contains("/fields") {
                return fields_page();
            }
            if req.url.contains("/batch_get") {
                return json(200, answer);
            }
            ids_page(ids)
        })
    }

    fn sweep_with(host: FakeHost, previous: &[&str]) -> (SweepOutcome, FakeOutput) {
        let mut client = client(host);
        let mut out = FakeOutput::default();
        let previous: RecordIds = previous.iter().copied().collect();
        let outcome = DeleteCheck::new(Some(previous))
            .finish(&mut client, &mut out, "s", &table(), None)
            .unwrap();
        (outcome, out)
    }

    #[test]
    fn ids_nobody_asked_about_are_never_deleted() {
        // recB vanished and is asked; the answer also names recA (listed by the sweep) and recZ.
        let host = answering(
            &["recA"],
            r#"{"code":0,"data":{"records":[],"absent_record_ids":["recA","recB","recZ"]}}"#,
        );
        let (outcome, out) = sweep_with(host, &["recA", "recB"]);
        assert_eq!(outcome.deleted, 1);
        assert_eq!(outcome.current, ["recA"].into_iter().collect());
        let emitted = &out.records[0].1;
        assert_eq!(emitted.len(), 1);
        assert!(emitted[0].contains(r#""record_id":"recB""#), "{emitted:?}");
    }

    #[test]
    fn asked_ids_the_answer_says_nothing_of_stay_remembered() {
        for answer in [
            r#"{"code":0,"data":{}}"#,
            r#"{"code":0,"data":{"records":[],"absent_record_ids":["recC"]}}"#,
            r#"{"code":0}"#,
        ] {
            let host = answering(&["recA"], answer);
            let (outcome, out) = sweep_with(host, &["recA", "recB", "recC"]);
            let deleted_c = answer.contains("recC");
            assert_eq!(outcome.deleted, usize::from(deleted_c), "{answer}");
            assert!(
                outcome.current.contains("recB"),
                "{answer}: asked again next read"
            );
            assert_eq!(outcome.current.contains("recC"), !deleted_c, "{answer}");
            assert!(
                out.logs.iter().any(|(_, m)| m.contains("said nothing of")),
                "{answer}: {:?}",
                out.logs
            );
        }
    }

    #[test]
    fn a_failed_sweep_says_so_without_page_size_hints() {
        let host = FakeHost::new(|req: &HttpRequest| {
            if req.url.ends_with(TOKEN_PATH) {
                return token_ok("t");
            }
            if req.url.contains("/fields") {
                return fields_page();
            }
            json(400, r#"{"code":1254001,"msg":"WrongRequestBody"}"#)
        });
        let mut client = client(host);
        let e = DeleteCheck::new(None)
            .finish(&mut client, &mut FakeOutput::default(), "s", &table(), None)
            .unwrap_err();
        assert!(
            e.message.contains("the sweep for deleted records"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("page_size"), "{}", e.message);
        assert!(
            e.message.contains("`detect_deletes` to false"),
            "{}",
            e.message
        );
    }
}
