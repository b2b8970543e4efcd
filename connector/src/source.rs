//! The four operations (spec, check, discover, read): requests go through a [`Transport`],
//! what a read produces goes to an [`Output`]. A read picks its streams here; how each
//! stream's searches are planned is [`crate::read::planning`], how its pages are read
//! [`crate::read::pages`].

use crate::api::base::{self, SINGLE_TABLE_STREAM, stream_name};
use crate::api::client::FeishuClient;
use crate::config::{Config, MAX_PAGE_SIZE, Values};
use crate::error::ConnectorError;
use crate::host::{LogLevel, Output, Transport};
use crate::read::attachments::{self, AttachmentField, AttachmentStream, attachment_fields};
use crate::read::catalog::{self, StreamDef, SyncMode};
use crate::read::deletes::DELETED_AT;
use crate::read::records::{RecordsPage, TableRef};
use crate::read::schema_drift;
use crate::read::stream_read::{Selected, StreamStart, ToRead, read_streams};
use crate::spec::{catalog_entry, specification};
use crate::state::incremental::{self, SavedState};
use crate::values::plain::Shape;
use crate::values::schema::{records_schema, unknown_field};
use serde_json::json;
use std::collections::HashMap;

/// The connection specification as JSON text.
pub fn spec() -> String {
    specification().to_string()
}

/// Validates the config, fetches a token and reads one record of each offered table (the
/// configured one, or every table of the Base), and logs what a full read would cost in
/// requests, from each table's record count.
pub fn check<H: Transport>(host: H, config: &str) -> Result<(), ConnectorError> {
    let mut client = FeishuClient::new(host, Config::parse(config)?);
    let app_token = base::app_token(&mut client)?;
    let streams = offered_streams(&mut client, &app_token)?;
    let mut totals = Vec::new();
    for stream in &streams {
        let response =
            client.search_records(&stream.table, &stream.table.search_body(), 1, None)?;
        totals.push(RecordsPage::parse(&response.body)?.total.unwrap_or(0));
    }
    let estimate = ReadEstimate::new(client.config(), &totals);
    let message = estimate.describe(client.config(), client.requests_sent());
    client.transport().log(LogLevel::Info, &message);
    let plan = estimate.quota_plan(client.config());
    client.transport().log(LogLevel::Info, &plan);
    if client.config().attachment_files {
        let plan = attachments_plan(&mut client, &app_token, &streams, &totals)?;
        client.transport().log(LogLevel::Info, &plan);
    }
    Ok(())
}

/// What attachments as files cost: the scan of each table with attachment fields (a search
/// per 500 records, each run its table changed) and one call per new file, within Feishu's
/// downloads a day and a second.
fn attachments_plan<H: Transport>(
    client: &mut FeishuClient<H>,
    app_token: &str,
    streams: &[StreamDef],
    totals: &[u64],
) -> Result<String, ConnectorError> {
    let (mut tables, mut scan) = (0, 0);
    for (stream, total) in streams.iter().zip(totals) {
        let fields = base::fields(client, app_token, &stream.table.table_id)?;
        if !attachment_fields(&fields).is_empty() {
            tables += 1;
            scan += total
                .div_ceil(u64::from(attachments::SCAN_PAGE_SIZE))
                .max(1);
        }
    }
    let max = client.config().max_downloads;
    Ok(format!(
        "attachments as files: {tables} tables have attachment fields; a run scans each whose \
         table changed ({scan} searches for all) and spends one call per file not downloaded \
         before, at most 5 a second (a first read of N files takes N/5 s or more); Feishu allows \
         an app 10,000 downloads a day, and `max_downloads` stops a run after {max}"
    ))
}

/// The calls a month Feishu's free plan gives a whole tenant (all its apps together).
pub const FREE_PLAN_CALLS: u64 = 10_000;

/// The requests a full read would send, from each table's record count.
struct ReadEstimate {
    tables: usize,
    records: u64,
    requests: u64,
    /// What `detect_deletes` adds to an incremental read: one id page per 500 records.
    sweep: u64,
}

impl ReadEstimate {
    fn new(config: &Config, totals: &[u64]) -> Self {
        let pages = |total: u64, size: u32| total.div_ceil(u64::from(size)).max(1);
        let per_table: u64 = totals
            .iter()
            .map(|&total| pages(total, config.page_size) + 1)
            .sum();
        Self {
            tables: totals.len(),
            records: totals.iter().sum(),
            // A token and the tables list, then each table's fields list and pages.
            requests: 2 + per_table,
            sweep: totals.iter().map(|&t| pages(t, MAX_PAGE_SIZE)).sum(),
        }
    }

    fn describe(&self, config: &Config, spent: u64) -> String {
        let mut message = format!(
            "a full read of {} tables ({} records at page_size {}) would send about {} \
             requests (this check sent {spent})",
            self.tables, self.records, config.page_size, self.requests
        );
        if config.detect_deletes {
            message.push_str(&format!(
                "; detect_deletes adds about {} to each incremental read",
                self.sweep
            ));
        }
        if let Some(max) = config.max_api_calls.filter(|&max| max < self.requests) {
            message.push_str(&format!(
                "; more than max_api_calls ({max}): a full read would stop at the budget and \
                 go on from its state in the next runs"
            ));
        }
        message
    }

    /// What reads cost in calls Feishu counts against the monthly quota (token requests are
    /// not counted): a full read, an unchanged incremental read, one that re-checks every
    /// table (with and without the sweep for deletes), and what a schedule costs a month (30
    /// days): the config's `sync_every`, else hourly and daily.
    fn quota_plan(&self, config: &Config) -> String {
        let full = self.requests.saturating_sub(1);
        // The tables list, 100 tables a page: all an unchanged read asks.
        let unchanged = (self.tables as u64).div_ceil(100).max(1);
        // Every table read for real: its fields list and one page (and the sweep).
        let recheck = unchanged + 2 * self.tables as u64;
        let sweep = if config.detect_deletes { self.sweep } else { 0 };
        let hours = config.revision_recheck_hours;
        let month = |every_minutes: u64| {
            let cost = MonthlyCost::of(every_minutes, hours);
            cost.rechecks * (recheck + sweep) + (cost.runs - cost.rechecks) * unchanged
        };
        let share = |calls: u64| match calls * 100 / FREE_PLAN_CALLS {
            0 => "under 1%".to_string(),
            percent => format!("{percent}%"),
        };
        let schedules: Vec<(String, u64)> = match config.sync_every_minutes {
            Some(minutes) => vec![(format!("every {} (`sync_every`)", span(minutes)), minutes)],
            None => vec![("every hour".into(), 60), ("every day".into(), 1440)],
        };
        let schedules: Vec<String> = schedules
            .into_iter()
            .map(|(name, minutes)| {
                let calls = month(minutes);
                format!("{name} about {calls} a month ({})", share(calls))
            })
            .collect();
        format!(
            "quota (calls Feishu counts; token requests are free): a full read about {full}; an \
             incremental read when nothing changed {unchanged} (the tables list), {recheck} when \
             it re-checks every table (every {hours} hours, `revision_recheck_hours`), {} with \
             the sweep for deleted records ({}); incremental reads {} of the free plan's \
             {FREE_PLAN_CALLS} a month for all the tenant's apps; changed records add their \
             pages",
            recheck + self.sweep,
            if config.detect_deletes {
                "`detect_deletes` is on"
            } else {
                "`detect_deletes`, off"
            },
            schedules.join(", "),
        )
    }
}

/// How many runs a month (30 days) a schedule makes, and how many of them re-check every table
/// (all of them when runs are at least `recheck_hours` apart or `recheck_hours` is 0).
struct MonthlyCost {
    runs: u64,
    rechecks: u64,
}

impl MonthlyCost {
    const MONTH_MINUTES: u64 = 30 * 24 * 60;

    fn of(every_minutes: u64, recheck_hours: u64) -> Self {
        let runs = (Self::MONTH_MINUTES / every_minutes.max(1)).max(1);
        let recheck_minutes = recheck_hours.saturating_mul(60);
        let rechecks = if recheck_minutes == 0 || every_minutes >= recheck_minutes {
            runs
        } else {
            (Self::MONTH_MINUTES / recheck_minutes).clamp(1, runs)
        };
        Self { runs, rechecks }
    }
}

/// `minutes` as the largest whole unit: `15m`, `2h`, `1d`.
fn span(minutes: u64) -> String {
    match minutes {
        m if m % 1440 == 0 => format!("{}d", m / 1440),
        m if m % 60 == 0 => format!("{}h", m / 60),
        m => format!("{m}m"),
    }
}

/// The catalog: one stream per table (or the configured table), typed from its fields.
pub fn discover<H: Transport>(host: H, config: &str) -> Result<String, ConnectorError> {
    let mut client = FeishuClient::new(host, Config::parse(config)?);
    let app_token = base::app_token(&mut client)?;
    let mut entries = Vec::new();
    for stream in offered_streams(&mut client, &app_token)? {
        let fields = base::fields(&mut client, &app_token, &stream.table.table_id)?;
        let mut unknown = Vec::new();
        let values = client.config().values;
        let mut schema = records_schema(&fields, values, |f| unknown.push(unknown_field(f)));
        if client.config().detect_deletes {
            schema["properties"][DELETED_AT] = Shape::Time.schema();
        }
        if !unknown.is_empty() {
            let message = format!(
                "stream `{}`: fields of unknown type get a permissive schema{}: {}",
                stream.name,
                match values {
                    Values::Plain => " and pass through unchanged",
                    Values::Raw => "",
                },
                unknown.join(", ")
            );
            client.transport().log(LogLevel::Warn, &message);
        }
        entries.push(catalog_entry(&stream.name, schema));
        if client.config().attachment_files && !attachment_fields(&fields).is_empty() {
            entries.push(attachments::catalog_entry(&attachments::stream_name(
                &stream.name,
            )));
        }
    }
    Ok(json!({ "streams": entries }).to_string())
}

/// The single configured table's stream, if the config names a table.
fn offered_single_table(config: &Config, app_token: &str) -> Option<StreamDef> {
    let table_id = config.table_id.clone()?;
    Some(StreamDef {
        name: SINGLE_TABLE_STREAM.to_string(),
        table: TableRef {
            app_token: app_token.to_string(),
            table_id,
            view_id: config.view_id.clone(),
        },
        revision: None,
    })
}

/// Every stream the config offers.
fn offered_streams<H: Transport>(
    client: &mut FeishuClient<H>,
    app_token: &str,
) -> Result<Vec<StreamDef>, ConnectorError> {
    if let Some(single) = offered_single_table(client.config(), app_token) {
        return Ok(vec![single]);
    }
    let tables = base::tables(client, app_token)?;
    Ok(tables
        .iter()
        .map(|t| StreamDef {
            name: stream_name(t),
            table: TableRef {
                app_token: app_token.to_string(),
                table_id: t.table_id.clone(),
                view_id: None,
            },
            revision: t.revision,
        })
        .collect())
}

/// Reads the selected streams (every offered stream, in full, when `catalog` is absent),
/// resuming incremental streams from `state`. A stream that fails is reported to the host as
/// that stream's failure and the others are still read; only a failure that concerns every
/// stream (config, credentials, the Base, the host's output) fails the read itself.
pub fn read<H: Transport, O: Output>(
    host: H,
    out: &mut O,
    config: &str,
    catalog: Option<&str>,
    state: Option<&str>,
) -> Result<(), ConnectorError> {
    let mut client = FeishuClient::new(host, Config::parse(config)?);
    let requested = catalog.map(catalog::selected_streams).transpose()?;
    let with_files = catalog.map(catalog::streams_with_files).unwrap_or_default();
    let mut catalog_fields = catalog
        .map(schema_drift::catalog_fields)
        .unwrap_or_default();
    let mut saved = state
        .map(incremental::parse_state)
        .transpose()?
        .unwrap_or_default();
    if requested.as_ref().is_some_and(Vec::is_empty) {
        return Ok(());
    }
    client.authenticate()?;
    let app_token = base::app_token(&mut client)?;
    let mut offered = offered_streams(&mut client, &app_token)?;
    let all = requested.is_none();
    let mut selected: Vec<(String, SyncMode)> = requested.unwrap_or_else(|| {
        offered
            .iter()
            .map(|s| (s.name.clone(), SyncMode::FullRefresh))
            .collect()
    });
    if selected
        .iter()
        .any(|(_, mode)| *mode == SyncMode::Incremental)
    {
        single_table_revision(&mut client, out, &app_token, &mut offered);
    }
    let attachment_streams = match client.config().attachment_files {
        true => {
            let chosen =
                attachments_selected(&mut client, &app_token, &offered, &mut selected, all);
            let streams = chosen.into_iter().map(|(def, mode, fields)| {
                let saved = saved_for(&mut saved, &def.name, mode);
                let file_reference = with_files.contains(&def.name);
                let name = def.name.clone();
                fields
                    .map_err(|e| (name, e))
                    .map(|fields| AttachmentStream {
                        def,
                        fields,
                        mode,
                        saved,
                        file_reference,
                    })
            });
            streams.collect()
        }
        false => Vec::new(),
    };
    warn_of_stale_state(out, &saved, &offered);
    let started_ms = client.transport().epoch_ms();
    let streams = selected.into_iter().map(|(name, mode)| {
        let stream = catalog::match_stream(&name, &offered).map_err(|e| (name.clone(), e))?;
        let saved = saved_for(&mut saved, &stream.name, mode);
        let start = StreamStart {
            saved,
            started_ms,
            catalog_fields: catalog_fields.remove(&name),
        };
        Ok(ToRead::Records(Selected {
            stream,
            mode,
            start,
        }))
    });
    // Attachments streams take turns with the record streams (a file or a page a turn).
    let attachments = attachment_streams
        .into_iter()
        .map(|s| s.map(ToRead::Attachments));
    read_streams(&mut client, out, streams.chain(attachments))
}

/// The saved state a stream read in `mode` starts from (taken out of `saved`): its own when
/// incremental, none for a full refresh.
fn saved_for(saved: &mut HashMap<String, SavedState>, name: &str, mode: SyncMode) -> SavedState {
    match mode {
        SyncMode::Incremental => saved.remove(name).unwrap_or_default(),
        SyncMode::FullRefresh => SavedState::default(),
    }
}

/// An attachments stream selected: its name, table and revision, its sync mode, and its
/// attachment fields (or why it is not offered).
type AttachmentsChoice = (
    StreamDef,
    SyncMode,
    Result<Vec<AttachmentField>, ConnectorError>,
);

/// The attachments streams `selected` names (taken out of it), or, when the read covers
/// every stream (`all`), one for each table with attachment fields.
fn attachments_selected<H: Transport>(
    client: &mut FeishuClient<H>,
    app_token: &str,
    offered: &[StreamDef],
    selected: &mut Vec<(String, SyncMode)>,
    all: bool,
) -> Vec<AttachmentsChoice> {
    let mut chosen = Vec::new();
    let fields_of = |client: &mut FeishuClient<H>, table: &StreamDef| {
        base::fields(client, app_token, &table.table.table_id).map(|f| attachment_fields(&f))
    };
    let named = |table: &StreamDef, name: String| StreamDef {
        name,
        ..table.clone()
    };
    if all {
        for table in offered {
            let fields = fields_of(client, table);
            if fields.as_ref().is_ok_and(Vec::is_empty) {
                continue;
            }
            let def = named(table, attachments::stream_name(&table.name));
            chosen.push((def, SyncMode::FullRefresh, fields));
        }
        return chosen;
    }
    selected.retain(|(name, mode)| {
        let Some(table) = attachments::table_stream(name, offered) else {
            return true;
        };
        let fields = fields_of(client, &table).and_then(|fields| {
            if fields.is_empty() {
                return Err(ConnectorError::new(
                    crate::error::Category::NotFound,
                    format!(
                        "stream `{name}`: table {} has no attachment fields (any more); run \
                         discover again",
                        table.table.table_id
                    ),
                ));
            }
            Ok(fields)
        });
        chosen.push((named(&table, name.clone()), *mode, fields));
        false
    });
    chosen
}

/// The configured table's revision, from the tables list (every table's is there already
/// when no table is configured). Without it the table is simply read.
fn single_table_revision<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    app_token: &str,
    offered: &mut [StreamDef],
) {
    let [single] = offered else { return };
    if single.name != SINGLE_TABLE_STREAM {
        return;
    }
    match base::tables(client, app_token) {
        Ok(tables) => {
            single.revision = tables
                .iter()
                .find(|t| t.table_id == single.table.table_id)
                .and_then(|t| t.revision);
        }
        Err(e) => out.log(
            LogLevel::Warn,
            &format!(
                "cannot read the table's revision ({}); reading it",
                e.message
            ),
        ),
    }
}

/// Logs a WARN for each saved state of a stream the source no longer offers (its table was
/// deleted, say): such state is ignored, as Airbyte's sources do.
fn warn_of_stale_state<O: Output>(
    out: &mut O,
    saved: &HashMap<String, SavedState>,
    offered: &[StreamDef],
) {
    let mut stale: Vec<&String> = saved
        .keys()
        .filter(|name| catalog::find_stream(name, offered).is_none())
        .filter(|name| attachments::table_stream(name, offered).is_none())
        .collect();
    stale.sort();
    for name in stale {
        let message = format!(
            "the state names stream `{name}`, which this source no longer offers; its state is ignored"
        );
        out.log(LogLevel::Warn, &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::token::TOKEN_PATH;
    use crate::error::Category;
    use crate::fake::{FakeHost, FakeOutput, json, token_ok};
    use crate::host::{HttpRequest, StreamStatus};

    const CONFIG: &str = r#"{"app_id":"cli_1","app_secret":"s3cret","app_token":"app1","table_id":"tbl1","lark_host":"http://127.0.0.1:9","page_size":2}"#;

    /// Serves `n` records two per page, with page tokens "p<offset>".
    fn table(
        n: usize,
    ) -> impl FnMut(&HttpRequest) -> Result<crate::host::HttpResponse, crate::host::TransportFailure>
    {
        move |req| {
            if req.url.ends_with(TOKEN_PATH) {
                return token_ok("t-1");
            }
            if req.url.contains("/fields?") {
                return json(
                    200,
                    r#"{"code":0,"data":{"has_more":false,"items":[{"field_name":"n","type":2}]}}"#,
                );
            }
            page_of(req, n, |i| {
                format!(
                    r#"{{"record_id":"rec{i}","fields":{{"n":{i}}},"last_modified_time":{}}}"#,
                    1000 + i
                )
            })
        }
    }

    /// The page of `n` records (two a page) a search `req` asks for, each written by `record`.
    fn page_of(
        req: &HttpRequest,
        n: usize,
        record: impl Fn(usize) -> String,
    ) -> Result<crate::host::HttpResponse, crate::host::TransportFailure> {
        let offset: usize = req
            .url
            .split("page_token=p")
            .nth(1)
            .map_or(0, |s| s.parse().unwrap());
        let end = (offset + 2).min(n);
        let items: Vec<String> = (offset..end).map(record).collect();
        json(
            200,
            &format!(
                r#"{{"code":0,"data":{{"has_more":{},"page_token":"p{end}","total":{n},"items":[{}]}}}}"#,
                end < n,
                items.join(",")
            ),
        )
    }

    fn emitted(out: &FakeOutput) -> Vec<String> {
        out.records.iter().flat_map(|(_, r)| r.clone()).collect()
    }

    #[test]
    fn read_emits_every_record_once_a_page_at_a_time() {
        for n in [0, 1, 2, 5] {
            let mut host = FakeHost::new(table(n));
            let mut out = FakeOutput::default();
            read(&mut host, &mut out, CONFIG, None, None).unwrap();
            let expected: Vec<String> = (0..n)
                .map(|i| {
                    format!(
                        r#"{{"record_id":"rec{i}","fields":{{"n":{i}}},"last_modified_time":{}}}"#,
                        1000 + i
                    )
                })
                .collect();
            assert_eq!(emitted(&out), expected);
            assert!(
                out.records
                    .iter()
                    .all(|(s, page)| s == "records" && page.len() <= 2)
            );
            assert_eq!(
                out.statuses,
                vec![
                    ("records".into(), StreamStatus::Started),
                    ("records".into(), StreamStatus::Complete)
                ]
            );
            assert_eq!(out.states, vec![("records".to_string(), "{}".to_string())]);
        }
    }

    #[test]
    fn a_repeating_page_token_fails_the_stream() {
        let mut host = FakeHost::new(|req: &HttpRequest| {
            if req.url.ends_with(TOKEN_PATH) {
                return token_ok("t");
            }
            json(
                200,
                r#"{"code":0,"data":{"has_more":true,"page_token":"same","items":[{"record_id":"r"}]}}"#,
            )
        });
        let mut out = FakeOutput::default();
        read(&mut host, &mut out, CONFIG, None, None).unwrap();
        let (stream, err) = &out.failures[0];
        assert_eq!(stream, "records");
        assert_eq!(err.category, Category::BadResponse);
        assert!(
            err.message.contains("repeats an earlier page_token"),
            "{}",
            err.message
        );
        assert_eq!(emitted(&out).len(), 2);
        assert_eq!(out.statuses.last().unwrap().1, StreamStatus::Incomplete);
        assert!(out.states.is_empty());
    }

    const INCREMENTAL: &str = r#"{"streams":[{"stream":{"name":"records"},"sync_mode":"incremental","destination_sync_mode":"append"}]}"#;

    fn state(cursor: i64) -> String {
        format!(
            r#"[{{"type":"STREAM","stream":{{"stream_descriptor":{{"name":"records"}},"stream_state":{{"last_modified_time":{cursor}}}}}}}]"#
        )
    }

    #[test]
    fn incremental_reads_emit_from_the_cursor_and_save_the_newest() {
        let mut host = FakeHost::new(table(6));
        let mut out = FakeOutput::default();
        read(
            &mut host,
            &mut out,
            CONFIG,
            Some(INCREMENTAL),
            Some(&state(1003)),
        )
        .unwrap();
        let ids: Vec<String> = emitted(&out)
            .iter()
            .map(|r| r[14..18].to_string())
            .collect();
        assert_eq!(
            ids,
            ["rec3", "rec4", "rec5"],
            "the record at the cursor comes again"
        );
        assert_eq!(out.states.len(), 1);
        let saved: serde_json::Value = serde_json::from_str(&out.states[0].1).unwrap();
        assert_eq!(saved["last_modified_time"], 1005);
        assert_eq!(
            saved["cursor_ids"]["count"], 1,
            "rec5, emitted at the cursor"
        );
        assert_eq!(saved["table"]["table_id"], "tbl1");
        assert_eq!(saved["table"]["view_id"], serde_json::Value::Null);
        let searches = host
            .requests
            .iter()
            .filter(|r| r.url.contains("/search"))
            .count();
        assert_eq!(searches, 3, "no ModifiedTime field: a full scan");
    }

    #[test]
    fn full_refresh_ignores_the_cursor() {
        let mut host = FakeHost::new(table(4));
        let mut out = FakeOutput::default();
        read(&mut host, &mut out, CONFIG, None, Some(&state(1003))).unwrap();
        assert_eq!(emitted(&out).len(), 4);
        assert_eq!(
            out.states[0].1, "{}",
            "records pass untouched: no cursor is read"
        );
    }

    #[test]
    fn state_for_a_stream_no_longer_offered_is_ignored_with_a_warning() {
        let stale = r#"{"orders":{"last_modified_time":1},"records":{"last_modified_time":1002}}"#;
        let mut host = FakeHost::new(table(4));
        let mut out = FakeOutput::default();
        read(&mut host, &mut out, CONFIG, Some(INCREMENTAL), Some(stale)).unwrap();
        assert_eq!(emitted(&out).len(), 2, "records keeps its cursor");
        assert!(out.failures.is_empty());
        assert!(out.logs.iter().any(|(level, m)| *level == LogLevel::Warn
            && m.contains("state names stream `orders`, which this source no longer offers")));
    }

    /// Serves two tables; the second fails every search with a permission error.
    fn two_tables_one_forbidden(
        req: &HttpRequest,
    ) -> Result<crate::host::HttpResponse, crate::host::TransportFailure> {
        if req.url.ends_with(TOKEN_PATH) {
            return token_ok("t");
        }
        if req.url.ends_with("/tables?page_size=100") || req.url.contains("/tables?") {
            return json(
                200,
                r#"{"code":0,"data":{"has_more":false,"items":[{"table_id":"tblA","name":"A"},{"table_id":"tblB","name":"B"}]}}"#,
            );
        }
        if req.url.contains("/tblB/") {
            return json(403, r#"{"code":91403,"msg":"Forbidden"}"#);
        }
        json(
            200,
            r#"{"code":0,"data":{"has_more":false,"items":[{"record_id":"r1","fields":{}}]}}"#,
        )
    }

    #[test]
    fn a_failing_stream_does_not_stop_the_others() {
        let config = CONFIG.replace(r#""table_id":"tbl1","#, "");
        let mut host = FakeHost::new(two_tables_one_forbidden);
        let mut out = FakeOutput::default();
        let catalog = r#"{"streams":[{"stream":{"name":"B_tblB"}},{"stream":{"name":"A_tblA"}},{"stream":{"name":"Gone_tblC"}}]}"#;
        read(&mut host, &mut out, &config, Some(catalog), None).unwrap();
        let failed: Vec<(&str, &Category)> = out
            .failures
            .iter()
            .map(|(s, e)| (s.as_str(), &e.category))
            .collect();
        assert_eq!(
            failed,
            vec![
                ("B_tblB", &Category::Permission),
                ("Gone_tblC", &Category::NotFound)
            ]
        );
        assert_eq!(
            out.records,
            vec![(
                "A_tblA".to_string(),
                vec![r#"{"record_id":"r1","fields":{}}"#.to_string()]
            )]
        );
        assert!(
            out.statuses
                .contains(&("A_tblA".to_string(), StreamStatus::Complete))
        );
    }

    /// A Base of tables A and B, each of `n` records two a page (ids `rec<table><i>`).
    fn two_tables(
        n: usize,
    ) -> impl FnMut(&HttpRequest) -> Result<crate::host::HttpResponse, crate::host::TransportFailure>
    {
        move |req| {
            if req.url.ends_with(TOKEN_PATH) {
                return token_ok("t-1");
            }
            if req.url.contains("/tables?") {
                return json(
                    200,
                    r#"{"code":0,"data":{"has_more":false,"items":[{"table_id":"tblA","name":"A"},{"table_id":"tblB","name":"B"}]}}"#,
                );
            }
            let table = if req.url.contains("/tblA/") { "A" } else { "B" };
            page_of(req, n, |i| {
                format!(r#"{{"record_id":"rec{table}{i}","fields":{{}}}}"#)
            })
        }
    }

    #[test]
    fn streams_read_at_once_take_turns_with_one_token_and_one_tables_list() {
        let config = CONFIG.replace(r#""table_id":"tbl1","#, "");
        let mut host = FakeHost::new(two_tables(4));
        let mut out = FakeOutput {
            at_once: 2,
            ..FakeOutput::default()
        };
        read(&mut host, &mut out, &config, None, None).unwrap();
        let pages: Vec<(&str, &str)> = out
            .records
            .iter()
            .map(|(stream, records)| (stream.as_str(), &records[0][14..20]))
            .collect();
        assert_eq!(
            pages,
            [
                ("A_tblA", "recA0\""),
                ("B_tblB", "recB0\""),
                ("A_tblA", "recA2\""),
                ("B_tblB", "recB2\""),
            ],
            "the streams take turns page by page"
        );
        let statuses: Vec<(&str, StreamStatus)> = out
            .statuses
            .iter()
            .map(|(s, status)| (s.as_str(), *status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("A_tblA", StreamStatus::Started),
                ("B_tblB", StreamStatus::Started),
                ("A_tblA", StreamStatus::Complete),
                ("B_tblB", StreamStatus::Complete),
            ]
        );
        let count = |part: &str| {
            host.requests
                .iter()
                .filter(|r| r.url.contains(part))
                .count()
        };
        assert_eq!((count(TOKEN_PATH), count("/tables?")), (1, 1));
        assert_eq!(count("/search"), 4, "two pages of each");
        let each = [("A_tblA".to_string(), 2), ("B_tblB".to_string(), 2)];
        assert_eq!(out.stream_requests, each, "each stream's two pages");
    }

    #[test]
    fn catalogs_select_known_streams_only() {
        let catalog = r#"{"streams":[{"stream":{"name":"records","json_schema":{},"supported_sync_modes":["full_refresh"]},"sync_mode":"incremental","destination_sync_mode":"append","generation_id":1,"minimum_generation_id":0,"sync_id":9}]}"#;
        let mut host = FakeHost::new(table(3));
        let mut out = FakeOutput::default();
        read(&mut host, &mut out, CONFIG, Some(catalog), Some("[]")).unwrap();
        assert_eq!(emitted(&out).len(), 3);
        assert!(
            out.logs
                .iter()
                .any(|(_, m)| m.contains("has no \"Modified time\" field"))
        );

        let mut host = FakeHost::new(table(3));

        let mut out = FakeOutput::default();
        read(
            &mut host,
            &mut out,
            CONFIG,
            Some(r#"{"streams":[{"stream":{"name":"orders"}}]}"#),
            None,
        )
        .unwrap();
        let (stream, err) = &out.failures[0];
        assert_eq!(stream, "orders");
        assert_eq!(err.category, Category::Config);
        assert!(err.message.contains("`orders`"));
        assert!(
            !host.requests.iter().any(|r| r.url.contains("/search")),
            "nothing is read for it"
        );

        let mut host = FakeHost::new(table(3));

        let mut out = FakeOutput::default();
        read(&mut host, &mut out, CONFIG, Some(r#"{"streams":[]}"#), None).unwrap();
        assert!(host.requests.is_empty() && out.statuses.is_empty());
    }

    #[test]
    fn bad_state_is_a_config_error() {
        let err = read(
            FakeHost::new(table(1)),
            &mut FakeOutput::default(),
            CONFIG,
            None,
            Some("42"),
        )
        .unwrap_err();
        assert_eq!(err.category, Category::Config);
        assert!(
            read(
                FakeHost::new(table(1)),
                &mut FakeOutput::default(),
                CONFIG,
                None,
                Some("{nope")
            )
            .is_err()
        );
    }

    #[test]
    fn check_reads_one_record_and_estimates_a_full_read() {
        let mut host = FakeHost::new(table(5));
        check(&mut host, CONFIG).unwrap();
        assert!(host.requests[1].url.contains("page_size=1"));
        let estimate = &host.logs[host.logs.len() - 2].1;
        assert_eq!(
            estimate,
            "a full read of 1 tables (5 records at page_size 2) would send about 6 requests \
             (this check sent 2)"
        );
        let budget = CONFIG.replace('}', r#","max_api_calls":4,"detect_deletes":true}"#);
        let mut host = FakeHost::new(table(5));
        check(&mut host, &budget).unwrap();
        let estimate = &host.logs[host.logs.len() - 2].1;
        assert!(
            estimate.ends_with(
                "; detect_deletes adds about 1 to each incremental read; more than \
                 max_api_calls (4): a full read would stop at the budget and go on from its \
                 state in the next runs"
            ),
            "{estimate}"
        );
        assert_eq!(
            check(FakeHost::new(table(0)), "{}").unwrap_err().category,
            Category::Config
        );
        let plan = &host.logs.last().unwrap().1;
        // 5 records at page_size 2: token, fields, 3 pages; the sweep is one page of ids.
        assert_eq!(
            plan,
            "quota (calls Feishu counts; token requests are free): a full read about 5; an \
             incremental read when nothing changed 1 (the tables list), 3 when it re-checks \
             every table (every 24 hours, `revision_recheck_hours`), 4 with the sweep for \
             deleted records (`detect_deletes` is on); incremental reads every hour about 810 a \
             month (8%), every day about 120 a month (1%) of the free plan's 10000 a month for \
             all the tenant's apps; changed records add their pages"
        );
        let quarter_hourly = budget.replace('}', r#","sync_every":"15m"}"#);
        let mut host = FakeHost::new(table(5));
        check(&mut host, &quarter_hourly).unwrap();
        // 2880 runs, 30 of them re-checks of 4 calls: 30 * 4 + 2850 * 1.
        assert!(
            host.logs.last().unwrap().1.contains(
                "incremental reads every 15m (`sync_every`) about 2970 a month (29%) of the free"
            ),
            "{}",
            host.logs.last().unwrap().1
        );
    }
}
