//! Reading one stream page by page: its status bracket, each lane's pages fetched with the next
//! one in flight, records filtered by cursor and range and emitted as Feishu sent them, and
//! the cursor saved when pages come sorted by it.

use crate::base;
use crate::catalog::{StreamDef, SyncMode};
use crate::client::FeishuClient;
use crate::config::Values;
use crate::deletes::DeleteCheck;
use crate::error::{Category, ConnectorError};
use crate::host::{LogLevel, Output, StreamStatus, Transport};
use crate::incremental::{
    self, BELONGS_TO, CursorTracker, READ_AT, RECORD_IDS, ResumePoint, SavedState, StateIdentity,
    TABLE_REVISION,
};
use crate::paginator::PageCursor;
use crate::plain::PlainRecords;
use crate::planning::{Lane, SearchPlan, search_plan};
use crate::record_ids::hash64;
use crate::records::{RecordsPage, record_id};
use crate::schema::unknown_field;
use crate::schema_drift::{self, KnownField};

/// Reads one stream with its status bracket: STARTED, then COMPLETE (or an error, which the
/// caller reports as the stream's failure). An incremental read resumes from `saved`, and
/// with `detect_deletes` ends with a sweep for deleted records ([`DeleteCheck`]).
pub fn read_stream<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    mode: SyncMode,
    start: StreamStart,
) -> Result<(), ConnectorError> {
    let name = stream.name.as_str();
    out.stream_status(name, StreamStatus::Started);
    let StreamStart {
        saved,
        started_ms,
        catalog_fields,
    } = start;
    let incremental = mode == SyncMode::Incremental;
    let saved = if incremental {
        state_of_this_table(out, stream, saved)
    } else {
        saved
    };
    let mut tracker =
        CursorTracker::new(saved.cursor, started_ms).delivered_at_cursor(saved.cursor_ids.clone());
    if incremental {
        tracker.carry(BELONGS_TO, StateIdentity::of(&stream.table).to_state());
    }
    if incremental && saved.revision.is_some() && saved.revision == stream.revision {
        let recheck_ms = client
            .config()
            .revision_recheck_hours
            .saturating_mul(3_600_000);
        let read_ms_ago = saved.read_at.map(|at| started_ms.saturating_sub(at));
        match read_ms_ago {
            Some(ago) if i64::try_from(recheck_ms).is_ok_and(|max| ago < max) => {
                return skip_unchanged(out, stream, saved, tracker);
            }
            _ => {
                let message = format!(
                    "stream `{}`: the table's revision is unchanged, but it was not read for \
                     real in the last {} hours (`revision_recheck_hours`): reading it, as \
                     Feishu does not document that every edit changes the revision",
                    stream.name,
                    client.config().revision_recheck_hours
                );
                out.log(LogLevel::Info, &message);
            }
        }
    }
    if let Some(known) = catalog_fields {
        warn_of_schema_changes(client, out, stream, &known);
    }
    let deletes = (incremental && client.config().detect_deletes).then(|| {
        if let Some(ids) = &saved.record_ids {
            tracker.carry(RECORD_IDS, ids.to_state());
        }
        DeleteCheck::new(saved.record_ids)
    });
    let read = ReadFrom {
        mode,
        resume: saved.resume,
        deletes,
    };
    let outcome =
        read_records(client, out, stream, read, &mut tracker).and_then(|(count, settled)| {
            tracker.completed();
            // Only a complete read may vouch for the revision it started from.
            if let (true, true, Some(revision)) = (incremental, settled, stream.revision) {
                tracker.carry(TABLE_REVISION, revision.into());
                tracker.carry(READ_AT, started_ms.into());
            }
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

/// The saved state when it belongs to the stream's table. A state written for another table,
/// Base or view is ignored with a WARN (the stream is read from the start); a state of an
/// earlier version, which does not say, is used but its revision is not trusted to skip
/// the read.
fn state_of_this_table<O: Output>(
    out: &mut O,
    stream: &StreamDef,
    saved: SavedState,
) -> SavedState {
    let now = StateIdentity::of(&stream.table);
    match saved.identity.as_ref().map(|then| then.difference(&now)) {
        Some(None) => saved,
        Some(Some(other)) => {
            let message = format!(
                "stream `{}`: the state given was saved for {other}, so it is ignored and the \
                 stream is read from the start",
                stream.name
            );
            out.log(LogLevel::Warn, &message);
            SavedState::default()
        }
        None => SavedState {
            revision: None,
            ..saved
        },
    }
}

/// How a stream is read: its mode, the page a stopped read reached, and the delete check.
struct ReadFrom {
    mode: SyncMode,
    resume: Option<ResumePoint>,
    deletes: Option<DeleteCheck>,
}

/// Emits the stream's records page by page (plain when asked) and, with a delete check, the
/// records deleted since the last read; returns how many records were emitted, and whether
/// the read settled everything (no deleted id left unconfirmed). A failed read still saves
/// the state of the pages it emitted in full, when they came sorted.
fn read_records<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    from: ReadFrom,
    tracker: &mut CursorTracker,
) -> Result<(u64, bool), ConnectorError> {
    let name = stream.name.as_str();
    let ReadFrom {
        mode,
        resume,
        deletes,
    } = from;
    let mut plain = plain_records(client, out, stream)?;
    let plan = search_plan(client, out, stream, mode, tracker.since, resume)?;
    let mut read = StreamRead {
        stream,
        plan,
        tracker,
        plain: plain.as_mut(),
        deletes,
    };
    let count = read_pages(client, out, &mut read).inspect_err(|_| {
        // Pages emitted since the last checkpoint are complete: keep them.
        if read.plan.sorted && read.tracker.unsaved() {
            let _ = out.emit_state(name, &read.tracker.state());
        }
    })?;
    let mut settled = true;
    if let Some(check) = read.deletes.take() {
        let swept = check.finish(client, out, name, &stream.table, read.plain.as_deref_mut())?;
        read.tracker.carry(RECORD_IDS, swept.current.to_state());
        settled = swept.unanswered == 0;
    }
    for (field, count) in plain.iter().flat_map(PlainRecords::misfits) {
        let message = format!(
            "stream `{name}`: {count} values of field {field:?} did not fit its type and were \
             made null"
        );
        out.log(LogLevel::Warn, &message);
    }
    if let Some(errors) = plain.as_ref().and_then(PlainRecords::error_values) {
        let message =
            format!("stream `{name}`: formula or lookup error values were made null ({errors})");
        out.log(LogLevel::Warn, &message);
    }
    Ok((count, settled))
}

/// Where a stream's read starts from.
pub struct StreamStart {
    /// The stream's saved state (empty for a full refresh).
    pub saved: SavedState,
    /// When the sync started (ms since the epoch).
    pub started_ms: i64,
    /// The fields the configured catalog's schema knows by id, when it marks them.
    pub catalog_fields: Option<Vec<KnownField>>,
}

/// Warns once when the table's fields differ from the catalog's (renamed, added, removed,
/// retyped). The read goes on either way; a fields list that cannot be read skips the check.
fn warn_of_schema_changes<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    known: &[KnownField],
) {
    let table = &stream.table;
    let Ok(now) = base::fields(client, &table.app_token, &table.table_id) else {
        return;
    };
    let changes = schema_drift::changes(known, &now);
    if !changes.is_empty() {
        out.log(
            LogLevel::Warn,
            &schema_drift::warning(&stream.name, &changes),
        );
    }
}

/// An incremental stream whose table has not changed since the state's read (same
/// revision): its state again, and nothing read.
fn skip_unchanged<O: Output>(
    out: &mut O,
    stream: &StreamDef,
    saved: SavedState,
    mut tracker: CursorTracker,
) -> Result<(), ConnectorError> {
    let name = stream.name.as_str();
    if let Some(ids) = &saved.record_ids {
        tracker.carry(RECORD_IDS, ids.to_state());
    }
    if let Some(revision) = saved.revision {
        tracker.carry(TABLE_REVISION, revision.into());
    }
    if let Some(read_at) = saved.read_at {
        tracker.carry(READ_AT, read_at.into());
    }
    out.emit_state(name, &tracker.state())
        .map_err(|e| e.context(format!("reading stream `{name}`")))?;
    let message = format!(
        "stream `{name}`: the table is unchanged since the last read (revision {}); nothing to read",
        saved.revision.unwrap_or_default()
    );
    out.log(LogLevel::Info, &message);
    out.stream_status(name, StreamStatus::Complete);
    Ok(())
}

/// One stream being read: its searches, its cursor, how its values are rendered, and the
/// ids it emitted when deletes are checked.
struct StreamRead<'a> {
    stream: &'a StreamDef,
    plan: SearchPlan,
    tracker: &'a mut CursorTracker,
    plain: Option<&'a mut PlainRecords>,
    deletes: Option<DeleteCheck>,
}

/// With `values: plain`, the shapes of the stream's fields (from its fields list; fields of
/// unknown type named in one WARN); None for raw values.
fn plain_records<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
) -> Result<Option<PlainRecords>, ConnectorError> {
    if client.config().values != Values::Plain {
        return Ok(None);
    }
    let table = &stream.table;
    let fields = base::fields(client, &table.app_token, &table.table_id)?;
    let mut unknown = Vec::new();
    let plain = PlainRecords::new(&fields, |f| unknown.push(unknown_field(f)));
    if !unknown.is_empty() {
        let message = format!(
            "stream `{}`: fields of unknown type pass through unchanged: {}",
            stream.name,
            unknown.join(", ")
        );
        out.log(LogLevel::Warn, &message);
    }
    Ok(Some(plain))
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
    count: LaneCount,
}

/// What a lane read against what Feishu counted: the `total` of its first page and the items
/// that came. A lane that ends short is read once more, emitting only what it had not; still
/// short, it is reported in a WARN with the numbers.
#[derive(Default)]
struct LaneCount {
    total: Option<u64>,
    received: u64,
    /// Hashes of the ids the lane emitted (sorted when it is read again).
    emitted: Vec<u64>,
    /// The lane is being read a second time.
    again: bool,
    /// The lane went on from where an earlier run stopped: its items are not all counted.
    resumed: bool,
}

impl LaneCount {
    /// Whether the record was emitted by the lane's first reading.
    fn emitted_before(&self, record: &[u8]) -> bool {
        self.again
            && record_id(record).is_some_and(|id| self.emitted.binary_search(&hash64(&id)).is_ok())
    }

    /// Notes a page: its `total` (on the lane's first page) and its items.
    fn page(&mut self, first: bool, total: Option<u64>, items: usize) {
        if first {
            self.total = total;
        }
        self.received += items as u64;
    }

    /// How many fewer items came than Feishu counted, if fewer did.
    fn short_by(&self) -> Option<(u64, u64)> {
        let total = self.total.filter(|_| !self.resumed)?;
        (self.received < total).then_some((self.received, total))
    }
}

impl LaneCursor {
    fn sorted_resume(&self) -> Option<&ResumePoint> {
        self.lane.sorted.as_ref()?.resume.as_ref()
    }
}

/// Pages through a stream's records, emitting each page's records (those at or after the
/// cursor, and in the lane's range of creation time) as Feishu sent them, and fetching each
/// lane's next page while the current one is handed over. Several lanes are read in turn,
/// each with its next page in flight. When pages come sorted by the cursor, the cursor is
/// saved after each page (or, when the state carries many record ids, after enough pages).
fn read_pages<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    read: &mut StreamRead<'_>,
) -> Result<u64, ConnectorError> {
    let page_size = client.config().page_size;
    let mut lanes: Vec<LaneCursor> = std::mem::take(&mut read.plan.lanes)
        .into_iter()
        .map(|lane| {
            let resume = lane.sorted.as_ref().and_then(|s| s.resume.as_ref());
            LaneCursor {
                cursor: PageCursor::resuming(resume.and_then(|p| p.token.clone())),
                page_size: resume.map_or(page_size, |p| p.page_size),
                count: LaneCount {
                    resumed: resume.is_some(),
                    ..LaneCount::default()
                },
                lane,
            }
        })
        .collect();
    if lanes.len() > 1 {
        for lane in &lanes {
            client.prefetch_records(&read.stream.table, &lane.lane.body, page_size, None);
        }
    }
    let mut count = 0u64;
    let mut turn = 0;
    let (busy_before, mut at_once) = (client.busy_answers(), lanes.len() > 1);
    while !lanes.is_empty() {
        let i = turn % lanes.len();
        let (emitted, more) = read_page(client, out, read, &mut lanes[i])?;
        count += emitted;
        if at_once && client.busy_answers() >= busy_before + 2 {
            at_once = false;
            let message = format!(
                "stream `{}`: Feishu said the table was busy (code 1254607) more than once while \
                 {} ranges were read at once; reading one range at a time from here",
                read.stream.name,
                lanes.len()
            );
            out.log(LogLevel::Warn, &message);
        }
        if more {
            // Ranges take turns while read at once; otherwise one is read to its end.
            turn = if at_once { i + 1 } else { i };
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
    read: &mut StreamRead<'_>,
    lane: &mut LaneCursor,
) -> Result<(u64, bool), ConnectorError> {
    let stream = read.stream;
    let table = &stream.table;
    let body = lane.lane.body.clone();
    let body = body.as_str();
    let asked_token = lane.cursor.token().map(str::to_string);
    let resuming = lane.sorted_resume().is_some();
    let response = loop {
        let answer = match lane.lane.first.take() {
            Some(first) => Ok(first),
            None => client.search_records(table, body, lane.page_size, lane.cursor.token()),
        };
        match answer {
            Err(e) if resuming && !ends_the_read(&e) => {
                restart_sorted(client, out, read, lane, &e.message);
                return Ok((0, true));
            }
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
    let page = RecordsPage::parse_plain(&response.body, read.plain.as_deref_mut())
        .map_err(|e| e.context(where_()));
    if let Some(point) = lane.lane.sorted.as_mut().and_then(|s| s.resume.take()) {
        return match page {
            Ok(page) if is_the_page(&page, &point) => go_on_after(client, out, read, lane, &page),
            Ok(_) => {
                restart_sorted(client, out, read, lane, "its records differ now");
                Ok((0, true))
            }
            Err(e) => {
                restart_sorted(client, out, read, lane, &e.message);
                Ok((0, true))
            }
        };
    }
    let page = page?;
    let first_page = lane.cursor.pages() == 0 && lane.count.received == 0;
    lane.count.page(first_page, page.total, page.items.len());
    let more = lane
        .cursor
        .advance(page.has_more, page.page_token.as_deref(), page.items.len());
    if let Ok(true) = more {
        client.prefetch_records(table, body, lane.page_size, lane.cursor.token());
    }
    // Where a sorted read stands after this page, should it stop here.
    let point = lane.lane.sorted.as_ref().and_then(|sorted| {
        Some(ResumePoint {
            from: sorted.from,
            page_size: lane.page_size,
            token: asked_token,
            first: record_id(page.items.first()?)?,
            last: record_id(page.items.last()?)?,
            items: page.items.len(),
        })
    });
    let page_bytes: usize = page.items.iter().map(|r| r.len()).sum();
    let range = lane.lane.range;
    let (plan, tracker, count) = (&read.plan, &mut *read.tracker, &lane.count);
    let (kept, records) = page.kept(|r| {
        range.is_none_or(|range| range.holds(r))
            && !count.emitted_before(r)
            && (!plan.track_cursor || tracker.keep(incremental::record_cursor(r), || record_id(r)))
    });
    if let Some(deletes) = read.deletes.as_mut() {
        kept.iter().for_each(|r| deletes.saw(r));
    }
    if !lane.count.again {
        let ids = kept.iter().filter_map(|r| record_id(r));
        lane.count.emitted.extend(ids.map(|id| hash64(&id)));
    }
    let emitted = records.len() as u64;
    if !records.is_empty() {
        out.emit_records(&stream.name, records)
            .map_err(|e| e.context(where_()))?;
    }
    if let Some(point) = point {
        read.tracker.reached(point);
    }
    if lane.lane.sorted.is_some() && read.tracker.checkpoint_due(page_bytes.max(1)) {
        out.emit_state(&stream.name, &read.tracker.state())?;
    }
    let more = more?;
    Ok((emitted, more || read_short_lane_again(out, stream, lane)))
}

/// At the end of a lane: when fewer records came than Feishu counted, the first time the
/// lane is read again (true: it has more); the second time a WARN gives the numbers.
fn read_short_lane_again<O: Output>(
    out: &mut O,
    stream: &StreamDef,
    lane: &mut LaneCursor,
) -> bool {
    let Some((received, total)) = lane.count.short_by() else {
        return false;
    };
    let what = match lane.lane.range {
        Some(_) => "a range of creation time",
        None => "the search",
    };
    if lane.count.again {
        let message = format!(
            "stream `{}`: {what} gave {received} records where Feishu counted {total}, read \
             twice; records may be missing (deleted during the read, or held back by Feishu)",
            stream.name
        );
        out.log(LogLevel::Warn, &message);
        return false;
    }
    let message = format!(
        "stream `{}`: {what} gave {received} records where Feishu counted {total}; reading it \
         once more (records emitted already are not emitted again)",
        stream.name
    );
    out.log(LogLevel::Info, &message);
    lane.count.emitted.sort_unstable();
    lane.count.emitted.dedup();
    lane.count.again = true;
    lane.count.total = None;
    lane.count.received = 0;
    lane.cursor = PageCursor::default();
    true
}

/// Errors that end a read however it goes on: a resumed search failing for anything else is
/// started again from the cursor instead.
fn ends_the_read(e: &ConnectorError) -> bool {
    matches!(
        e.category,
        Category::Auth
            | Category::Permission
            | Category::RateLimited(_)
            | Category::Config
            | Category::OutputClosed
    )
}

/// Whether `page` is the page a stopped read emitted last: same first and last record, same
/// count (nothing before it moved, so what follows it is what the stopped read had not read).
fn is_the_page(page: &RecordsPage<'_>, point: &ResumePoint) -> bool {
    let id = |r: Option<&&[u8]>| r.and_then(|r| record_id(r));
    page.items.len() == point.items
        && id(page.items.first()).as_deref() == Some(point.first.as_str())
        && id(page.items.last()).as_deref() == Some(point.last.as_str())
}

/// The page a stopped read emitted last came back unchanged: its records were emitted then,
/// so the read goes on after it.
fn go_on_after<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    read: &mut StreamRead<'_>,
    lane: &mut LaneCursor,
    page: &RecordsPage<'_>,
) -> Result<(u64, bool), ConnectorError> {
    if let Some(deletes) = read.deletes.as_mut() {
        page.items.iter().for_each(|r| deletes.saw(r));
    }
    let message = format!(
        "stream `{}`: going on after the page the last read stopped at",
        read.stream.name
    );
    out.log(LogLevel::Info, &message);
    let more = lane
        .cursor
        .advance(page.has_more, page.page_token.as_deref(), page.items.len())?;
    if more {
        let body = lane.lane.body.clone();
        client.prefetch_records(
            &read.stream.table,
            &body,
            lane.page_size,
            lane.cursor.token(),
        );
    }
    Ok((0, more))
}

/// The page a stopped read reached cannot be read again as it was (`why`): the search starts
/// again from the cursor, where the records emitted before it are skipped by time and id.
fn restart_sorted<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    read: &mut StreamRead<'_>,
    lane: &mut LaneCursor,
    why: &str,
) {
    let Some(sorted) = lane.lane.sorted.as_mut() else {
        return;
    };
    let message = format!(
        "stream `{}`: cannot go on after the page the last read stopped at ({why}); reading \
         again from the saved cursor, without emitting again what was emitted",
        read.stream.name
    );
    out.log(LogLevel::Info, &message);
    lane.lane.body = sorted.restart(read.tracker.since);
    lane.cursor = PageCursor::default();
    lane.count = LaneCount::default();
    lane.page_size = client.config().page_size;
}
