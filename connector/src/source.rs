//! The four operations (spec, check, discover, read): requests go through a [`Transport`],
//! what a read produces goes to an [`Output`].

use crate::base::{self, SINGLE_TABLE_STREAM, stream_name};
use crate::catalog::{self, StreamDef, SyncMode};
use crate::client::FeishuClient;
use crate::config::Config;
use crate::error::{Category, ConnectorError};
use crate::host::{HttpResponse, LogLevel, Output, StreamStatus, Transport};
use crate::incremental::{self, CursorTracker};
use crate::paginator::PageCursor;
use crate::ranges::{self, CreatedRange};
use crate::records::{RecordsPage, TableRef};
use crate::schema::records_schema;
use crate::spec::{catalog_entry, specification};
use serde_json::json;

/// The connection specification as JSON text.
pub fn spec() -> String {
    specification().to_string()
}

/// Validates the config, fetches a token and reads one record of the configured table, or
/// lists the Base's tables when no table is configured.
pub fn check<H: Transport>(host: H, config: &str) -> Result<(), ConnectorError> {
    let mut client = FeishuClient::new(host, Config::parse(config)?);
    let app_token = base::app_token(&mut client)?;
    match offered_single_table(client.config(), &app_token) {
        Some(stream) => {
            let response =
                client.search_records(&stream.table, &stream.table.search_body(), 1, None)?;
            RecordsPage::parse(&response.body).map(|_| ())
        }
        None => base::tables(&mut client, &app_token).map(|_| ()),
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
        let schema = records_schema(&fields, |f| {
            unknown.push(format!("{:?} (type {})", f.field_name, f.type_code))
        });
        if !unknown.is_empty() {
            let message = format!(
                "stream `{}`: fields of unknown type get a permissive schema: {}",
                stream.name,
                unknown.join(", ")
            );
            client.transport().log(LogLevel::Warn, &message);
        }
        entries.push(catalog_entry(&stream.name, schema));
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
    let saved = state
        .map(incremental::parse_state)
        .transpose()?
        .unwrap_or_default();
    if requested.as_ref().is_some_and(Vec::is_empty) {
        return Ok(());
    }
    client.authenticate()?;
    let app_token = base::app_token(&mut client)?;
    let offered = offered_streams(&mut client, &app_token)?;
    let selected: Vec<(String, SyncMode)> = requested.unwrap_or_else(|| {
        offered
            .iter()
            .map(|s| (s.name.clone(), SyncMode::FullRefresh))
            .collect()
    });
    warn_of_stale_state(out, &saved, &offered);
    let started_ms = client.transport().epoch_ms();
    for (name, mode) in selected {
        let outcome = catalog::match_stream(&name, &offered).and_then(|stream| {
            let since = match mode {
                SyncMode::Incremental => saved.get(&stream.name).copied().flatten(),
                SyncMode::FullRefresh => None,
            };
            let tracker = CursorTracker::new(since, started_ms);
            read_stream(&mut client, out, &stream, mode, tracker)
        });
        match outcome {
            Ok(()) => {}
            // Output gone or credentials rejected: no other stream can do better.
            Err(error) if matches!(error.category, Category::OutputClosed | Category::Auth) => {
                return Err(error);
            }
            Err(error) => out.fail_stream(&name, &error),
        }
    }
    Ok(())
}

/// Logs a WARN for each saved state of a stream the source no longer offers (its table was
/// deleted, say): such state is ignored, as Airbyte's sources do.
fn warn_of_stale_state<O: Output>(
    out: &mut O,
    saved: &std::collections::HashMap<String, Option<i64>>,
    offered: &[StreamDef],
) {
    let mut stale: Vec<&String> = saved
        .keys()
        .filter(|name| catalog::find_stream(name, offered).is_none())
        .collect();
    stale.sort();
    for name in stale {
        let message = format!(
            "the state names stream `{name}`, which this source no longer offers; its state is ignored"
        );
        out.log(LogLevel::Warn, &message);
    }
}

/// One search of a stream: its body, the range of creation time whose records it keeps (a
/// big table split into ranges has several searches, read at once), and its first page when
/// planning already fetched it.
struct Lane {
    body: String,
    range: Option<CreatedRange>,
    first: Option<HttpResponse>,
}

/// How a stream's records are asked for and handled.
struct SearchPlan {
    lanes: Vec<Lane>,
    /// Each record's cursor is read: to skip records older than the saved cursor and to save
    /// the newest (incremental reads only; a full refresh passes records on untouched).
    track_cursor: bool,
    /// Pages come sorted by the cursor, so the cursor may be saved after every page.
    sorted: bool,
}

/// The search body for a stream, narrowed and sorted by a ModifiedTime field when the read is
/// incremental and the table has one.
fn search_plan<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    mode: SyncMode,
    since: Option<i64>,
) -> Result<SearchPlan, ConnectorError> {
    let plain = |track_cursor| SearchPlan::whole(stream, track_cursor);
    if mode == SyncMode::FullRefresh {
        return full_refresh_plan(client, out, stream);
    }
    let client_side = |out: &mut O, why: &str| {
        let message = format!(
            "stream `{}`: {why}, so every record is read and filtered here, and the cursor is \
             saved when the stream completes",
            stream.name
        );
        out.log(LogLevel::Info, &message);
        Ok(plain(true))
    };
    if stream.table.view_id.is_some() {
        // Feishu drops the view when a filter or sort is sent: a view is read as it is.
        return client_side(out, "it reads a view, which Feishu cannot narrow by time");
    }
    let fields = base::fields(client, &stream.table.app_token, &stream.table.table_id)?;
    let modified = fields
        .iter()
        .find(|f| f.type_code == incremental::MODIFIED_TIME_TYPE);
    match modified {
        Some(field) if incremental::tracks_only_some_fields(field) => client_side(
            out,
            &format!(
                "its \"Modified time\" field {:?} follows only some fields",
                field.field_name
            ),
        ),
        Some(field) => Ok(SearchPlan {
            lanes: vec![Lane {
                body: match since {
                    Some(cursor) => incremental::filtered_search_body(&field.field_name, cursor),
                    None => incremental::sorted_search_body(&field.field_name),
                },
                range: None,
                first: None,
            }],
            track_cursor: true,
            sorted: true,
        }),
        None => {
            let message = format!(
                "stream `{}`: the table has no \"Modified time\" field, so every record is read and \
                 filtered here; add one to the table to narrow incremental reads on the server",
                stream.name
            );
            out.log(LogLevel::Warn, &message);
            Ok(plain(true))
        }
    }
}

impl SearchPlan {
    /// One search of the whole table (or view).
    fn whole(stream: &StreamDef, track_cursor: bool) -> Self {
        Self {
            lanes: vec![Lane {
                body: stream.table.search_body(),
                range: None,
                first: None,
            }],
            track_cursor,
            sorted: false,
        }
    }
}

/// A full refresh: one search, or, for a big table with a CreatedTime field whose records were
/// created over weeks, `table_ranges` ranges of creation time read at once ([`ranges`]). The
/// first page of the whole table tells how big it is; a table read whole keeps that page, so
/// only big tables pay for planning (the fields list and two one-record searches).
fn full_refresh_plan<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
) -> Result<SearchPlan, ConnectorError> {
    let mut whole = SearchPlan::whole(stream, false);
    let lanes = client.config().table_ranges;
    if lanes < 2 || stream.table.view_id.is_some() {
        return Ok(whole);
    }
    let table = &stream.table;
    let page_size = client.config().page_size;
    // A failure here is met again, with its context, when the lane reads its first page.
    let Ok(first) = client.search_records(table, &whole.lanes[0].body, page_size, None) else {
        return Ok(whole);
    };
    let total = RecordsPage::parse(&first.body).ok().and_then(|p| p.total);
    let big = total.is_some_and(|t| t >= ranges::min_split_records(page_size));
    let planned = if big {
        plan_ranges(client, out, stream, lanes)?
    } else {
        None
    };
    let Some((field, planned)) = planned else {
        whole.lanes[0].first = Some(first);
        return Ok(whole);
    };
    let message = format!(
        "stream `{}`: reading {} ranges of creation time at once (field {field:?})",
        stream.name,
        planned.len(),
    );
    out.log(LogLevel::Info, &message);
    Ok(SearchPlan {
        lanes: planned
            .into_iter()
            .map(|range| Lane {
                body: range.search_body(&field),
                range: Some(range),
                first: None,
            })
            .collect(),
        track_cursor: false,
        sorted: false,
    })
}

/// The CreatedTime field of a big table and its ranges; None when it has no such field, when
/// its records were created within a short time, or when Feishu refuses the planning searches
/// (the table is then read page after page, with a WARN saying why).
fn plan_ranges<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    lanes: u32,
) -> Result<Option<(String, Vec<CreatedRange>)>, ConnectorError> {
    let table = &stream.table;
    let fields = base::fields(client, &table.app_token, &table.table_id)?;
    let Some(field) = fields
        .iter()
        .find(|f| f.type_code == ranges::CREATED_TIME_TYPE)
    else {
        return Ok(None);
    };
    match probe_ranges(client, table, &field.field_name, lanes) {
        Ok(planned) if planned.is_empty() => Ok(None),
        Ok(planned) => Ok(Some((field.field_name.clone(), planned))),
        Err(e)
            if matches!(
                e.category,
                Category::Auth | Category::Permission | Category::OutputClosed
            ) =>
        {
            Err(e)
        }
        Err(e) => {
            let message = format!(
                "stream `{}`: cannot plan ranges of creation time ({}); reading page after page",
                stream.name, e.message
            );
            out.log(LogLevel::Warn, &message);
            Ok(None)
        }
    }
}

/// The ranges for `table`: its oldest and newest record (two one-record searches sorted on
/// the CreatedTime field `field`, sent at once) and its record count decide them.
fn probe_ranges<H: Transport>(
    client: &mut FeishuClient<H>,
    table: &TableRef,
    field: &str,
    lanes: u32,
) -> Result<Vec<CreatedRange>, ConnectorError> {
    let (oldest, newest) = (
        ranges::probe_body(field, false),
        ranges::probe_body(field, true),
    );
    client.prefetch_records(table, &newest, 1, None);
    let first = client.search_records(table, &oldest, 1, None)?;
    let last = client.search_records(table, &newest, 1, None)?;
    let (first, last) = (
        RecordsPage::parse(&first.body)?,
        RecordsPage::parse(&last.body)?,
    );
    let created = |page: &RecordsPage| {
        page.items
            .first()
            .and_then(|r| incremental::record_time(r, ranges::CREATED_TIME_KEY))
    };
    Ok(match (created(&first), created(&last), first.total) {
        (Some(oldest), Some(newest), Some(total)) => {
            ranges::plan(oldest, newest, total, client.config().page_size, lanes)
        }
        _ => Vec::new(),
    })
}

/// Reads one stream with its status bracket: STARTED, then COMPLETE (or an error, which the
/// caller reports as the stream's failure).
fn read_stream<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    mode: SyncMode,
    mut tracker: CursorTracker,
) -> Result<(), ConnectorError> {
    let name = stream.name.as_str();
    out.stream_status(name, StreamStatus::Started);
    let outcome = search_plan(client, out, stream, mode, tracker.since)
        .and_then(|plan| read_pages(client, out, stream, plan, &mut tracker))
        .and_then(|count| {
            out.emit_state(name, &tracker.state())?;
            Ok(count)
        });
    match outcome {
        Ok(count) => {
            out.log(
                LogLevel::Info,
                &format!("stream `{name}`: read {count} records"),
            );
            if count == 0 && tracker.since.is_none() {
                out.log(LogLevel::Warn, &empty_table_warning(name));
            }
            out.stream_status(name, StreamStatus::Complete);
            Ok(())
        }
        Err(error) => Err(error.context(format!("reading stream `{name}`"))),
    }
}

/// Why a table may read empty when it is not: Feishu answers a search of a Base with advanced
/// permissions with success and no records unless the app may manage the Base.
fn empty_table_warning(stream: &str) -> String {
    format!(
        "stream `{stream}`: the table read no records. If the Base has advanced permissions on, \
         Feishu hides its records from apps without manage rights: in the Base's advanced \
         permissions, give the app (or a group holding it) \"can manage\"; otherwise the table \
         (or its view) is empty"
    )
}

/// A lane being read: its search, where its pages stand, and its page size (halved for this
/// lane alone when Feishu finds a page too large).
struct LaneCursor {
    lane: Lane,
    cursor: PageCursor,
    page_size: u32,
}

/// Pages through a stream's records, emitting each page's records (those at or after the
/// cursor, and in the lane's range of creation time) as Feishu sent them, and fetching each
/// lane's next page while the current one is handed over. Several lanes are read in turn,
/// each with its next page in flight. When pages come sorted by the cursor, the cursor is
/// saved after each page.
fn read_pages<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    mut plan: SearchPlan,
    tracker: &mut CursorTracker,
) -> Result<u64, ConnectorError> {
    let page_size = client.config().page_size;
    let mut lanes: Vec<LaneCursor> = std::mem::take(&mut plan.lanes)
        .into_iter()
        .map(|lane| LaneCursor {
            lane,
            cursor: PageCursor::default(),
            page_size,
        })
        .collect();
    if lanes.len() > 1 {
        for lane in &lanes {
            client.prefetch_records(&stream.table, &lane.lane.body, page_size, None);
        }
    }
    let mut count = 0u64;
    let mut turn = 0;
    while !lanes.is_empty() {
        let i = turn % lanes.len();
        let (emitted, more) = read_page(client, out, stream, &plan, tracker, &mut lanes[i])?;
        count += emitted;
        if more {
            turn = i + 1;
        } else {
            lanes.remove(i);
            turn = i;
        }
    }
    Ok(count)
}

/// Reads and emits the next page of `lane`: (records emitted, whether the lane has more).
fn read_page<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    plan: &SearchPlan,
    tracker: &mut CursorTracker,
    lane: &mut LaneCursor,
) -> Result<(u64, bool), ConnectorError> {
    let table = &stream.table;
    let body = lane.lane.body.as_str();
    let response = loop {
        let answer = match lane.lane.first.take() {
            Some(first) => Ok(first),
            None => client.search_records(table, body, lane.page_size, lane.cursor.token()),
        };
        match answer {
            Err(e) if e.category == Category::ResponseTooLarge && lane.page_size > 1 => {
                if lane.page_size == client.config().page_size {
                    let message = format!(
                        "stream `{}`: Feishu found a page of {} records too large \
                         (code 1254030); reading smaller pages from here on",
                        stream.name, lane.page_size
                    );
                    out.log(LogLevel::Warn, &message);
                }
                lane.page_size = (lane.page_size / 2).max(1);
            }
            outcome => break outcome?,
        }
    };
    let page_number = lane.cursor.pages() + 1;
    let where_ = || {
        let path = crate::host::shown_path(&table.search_path());
        format!("records page {page_number} from POST {path}")
    };
    let page = RecordsPage::parse(&response.body).map_err(|e| e.context(where_()))?;
    let more = lane
        .cursor
        .advance(page.has_more, page.page_token.as_deref());
    if let Ok(true) = more {
        client.prefetch_records(table, body, lane.page_size, lane.cursor.token());
    }
    let range = lane.lane.range;
    let records: Vec<Vec<u8>> = page
        .items
        .iter()
        .filter(|r| range.is_none_or(|range| range.holds(r)))
        .filter(|r| !plan.track_cursor || tracker.keep(incremental::record_cursor(r)))
        .map(|r| r.to_vec())
        .collect();
    let emitted = records.len() as u64;
    if !records.is_empty() {
        out.emit_records(&stream.name, records)
            .map_err(|e| e.context(where_()))?;
        if plan.sorted {
            out.emit_state(&stream.name, &tracker.state())?;
        }
    }
    Ok((emitted, more?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;
    use crate::fake::{FakeHost, FakeOutput, json, token_ok};
    use crate::host::HttpRequest;
    use crate::token::TOKEN_PATH;

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
            let offset: usize = req
                .url
                .split("page_token=p")
                .nth(1)
                .map_or(0, |s| s.parse().unwrap());
            let end = (offset + 2).min(n);
            let items: Vec<String> = (offset..end)
                .map(|i| {
                    format!(
                        r#"{{"record_id":"rec{i}","fields":{{"n":{i}}},"last_modified_time":{}}}"#,
                        1000 + i
                    )
                })
                .collect();
            json(
                200,
                &format!(
                    r#"{{"code":0,"data":{{"has_more":{},"page_token":"p{end}","total":{n},"items":[{}]}}}}"#,
                    end < n,
                    items.join(",")
                ),
            )
        }
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
        assert_eq!(
            out.states,
            vec![(
                "records".to_string(),
                r#"{"last_modified_time":1005}"#.to_string()
            )]
        );
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
    fn check_reads_one_record() {
        let mut host = FakeHost::new(table(5));
        check(&mut host, CONFIG).unwrap();
        assert!(host.requests[1].url.contains("page_size=1"));
        assert_eq!(
            check(FakeHost::new(table(0)), "{}").unwrap_err().category,
            Category::Config
        );
    }
}
