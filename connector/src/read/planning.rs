//! How a stream's records are asked for: one search, or several (a big table split into
//! ranges of creation time, read at once), narrowed and sorted by a Modified time field for an
//! incremental read when the table has one.

use crate::api::base;
use crate::api::client::FeishuClient;
use crate::error::{Category, ConnectorError};
use crate::host::{HttpResponse, LogLevel, Output, Transport};
use crate::read::catalog::{StreamDef, SyncMode};
use crate::read::ranges::{self, CreatedRange};
use crate::read::records::{RecordsPage, TableRef};
use crate::state::incremental::{self, ResumePoint};

/// One search of a stream: its body, the range of creation time whose records it keeps (a
/// big table split into ranges has several searches, read at once), and its first page when
/// planning already fetched it.
pub struct Lane {
    pub body: String,
    pub range: Option<CreatedRange>,
    pub first: Option<HttpResponse>,
    /// For a search sorted by modification time, what it is sorted and filtered by.
    pub sorted: Option<SortedSearch>,
}

/// A search sorted by a ModifiedTime field: the field, the day its filter starts from (None:
/// no filter), and the page of a stopped read to go on after, asked for (and checked) first.
pub struct SortedSearch {
    pub field: String,
    pub from: Option<i64>,
    pub resume: Option<ResumePoint>,
}

impl SortedSearch {
    /// The search of records modified since `cursor` (every record without one), from its
    /// first page.
    pub fn restart(&mut self, cursor: Option<i64>) -> String {
        self.from = cursor.map(incremental::filter_from);
        self.resume = None;
        incremental::modified_search_body(&self.field, self.from)
    }
}

/// How a stream's records are asked for and handled.
pub struct SearchPlan {
    pub lanes: Vec<Lane>,
    /// Each record's cursor is read: to skip records older than the saved cursor and to save
    /// the newest (incremental reads only; a full refresh passes records on untouched).
    pub track_cursor: bool,
    /// Pages come sorted by the cursor, so the cursor may be saved after every page.
    pub sorted: bool,
}

/// The search body for a stream, narrowed and sorted by a ModifiedTime field when the read is
/// incremental and the table has one.
pub fn search_plan<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    mode: SyncMode,
    since: Option<i64>,
    resume: Option<ResumePoint>,
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
        Some(field) => {
            let mut sorted = SortedSearch {
                field: field.field_name.clone(),
                from: None,
                resume: None,
            };
            let page_size = client.config().page_size;
            let body = match resume.filter(|point| point.page_size <= page_size) {
                Some(point) => {
                    sorted.from = point.from;
                    sorted.resume = Some(point);
                    incremental::modified_search_body(&sorted.field, sorted.from)
                }
                None => sorted.restart(since),
            };
            Ok(SearchPlan {
                lanes: vec![Lane {
                    body,
                    range: None,
                    first: None,
                    sorted: Some(sorted),
                }],
                track_cursor: true,
                sorted: true,
            })
        }
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
                sorted: None,
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
                sorted: None,
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
