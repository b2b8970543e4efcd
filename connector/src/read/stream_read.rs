//! Reading streams: each with its status bracket, its state (checked to be this table's,
//! saved as it goes and at its end), a skip when its table is unchanged, and the sweep for
//! deleted records at its end; several streams read at once, taking turns page by page, each
//! with its next page in flight, so one instance spends one token, one tables list and one
//! budget on a whole run.
//!
//! Flow: [`read_streams`] opens up to the host's [`Output::streams_at_once`] streams
//! ([`open_stream`]: STARTED, the state, the plan), steps each in turn ([`OpenStream::step`]:
//! one page, `pages`), and ends each ([`OpenStream::finish`]: sweep, state, COMPLETE) or fails
//! it (its emitted pages' state kept, the failure the stream's alone).

use crate::api::base;
use crate::api::client::FeishuClient;
use crate::config::Values;
use crate::error::{Category, ConnectorError};
use crate::host::{LogLevel, Output, StreamStatus, Transport};
use crate::read::attachments::{AttachmentRun, AttachmentStream, Downloads};
use crate::read::catalog::{StreamDef, SyncMode};
use crate::read::deletes::DeleteCheck;
use crate::read::pages::{Lanes, StreamRead};
use crate::read::planning::search_plan;
use crate::read::revision::unchanged_and_recent;
use crate::read::schema_drift::{self, KnownField};
use crate::state::incremental::{CursorTracker, SavedState, StateIdentity};
use crate::values::plain::PlainRecords;
use crate::values::schema::unknown_field;

/// Where a stream's read starts from.
pub struct StreamStart {
    /// The stream's saved state (empty for a full refresh).
    pub saved: SavedState,
    /// When the sync started (ms since the epoch).
    pub started_ms: i64,
    /// The fields the configured catalog's schema knows by id, when it marks them.
    pub catalog_fields: Option<Vec<KnownField>>,
}

/// A stream to read: its definition, how, and from where.
pub struct Selected {
    pub stream: StreamDef,
    pub mode: SyncMode,
    pub start: StreamStart,
}

/// A stream a read covers: a table's records, or its attachments as files.
pub enum ToRead {
    Records(Selected),
    Attachments(AttachmentStream),
}

/// A stream in progress.
enum Open {
    Records(OpenStream),
    Attachments(AttachmentRun),
}

impl Open {
    /// Starts `stream`; None when it has nothing to read.
    fn start<H: Transport, O: Output>(
        client: &mut FeishuClient<H>,
        out: &mut O,
        stream: ToRead,
    ) -> Result<Option<Self>, (String, ConnectorError)> {
        match stream {
            ToRead::Records(s) => {
                let name = s.stream.name.clone();
                let opened = open_stream(client, out, &s.stream, s.mode, s.start);
                opened.map(|o| o.map(Open::Records)).map_err(|e| (name, e))
            }
            ToRead::Attachments(stream) => {
                let name = stream.def.name.clone();
                let opened = AttachmentRun::open(client, out, stream);
                opened
                    .map(|o| o.map(Open::Attachments))
                    .map_err(|e| (name, e))
            }
        }
    }

    fn name(&self) -> &str {
        match self {
            Open::Records(stream) => &stream.read.stream.name,
            Open::Attachments(run) => run.name(),
        }
    }

    /// One turn: a page of records, or a page or a file of attachments; false once done.
    fn step<H: Transport, O: Output>(
        &mut self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        downloads: &mut Downloads,
        others: bool,
    ) -> Result<bool, ConnectorError> {
        match self {
            Open::Records(stream) => stream.step(client, out),
            Open::Attachments(run) => run.step(client, out, downloads, others),
        }
    }

    fn finish<H: Transport, O: Output>(
        &mut self,
        client: &mut FeishuClient<H>,
        out: &mut O,
    ) -> Result<(), ConnectorError> {
        match self {
            Open::Records(stream) => stream.finish(client, out),
            Open::Attachments(run) => run.finish(out),
        }
    }

    fn failed<O: Output>(&mut self, out: &mut O, error: ConnectorError) -> ConnectorError {
        match self {
            Open::Records(stream) => stream.failed(out, error),
            Open::Attachments(run) => run.failed(out, error),
        }
    }

    /// The read ends early: the state of what was done in full is kept.
    fn keep_what_was_done<O: Output>(&mut self, out: &mut O) {
        match self {
            Open::Records(stream) => stream.read.keep_what_was_emitted(out),
            Open::Attachments(run) => run.keep_what_was_done(out),
        }
    }
}

/// Reads `streams`, up to `out.streams_at_once()` at a time taking turns (a page of records,
/// or a page or a file of attachments, a turn). A stream's failure is reported as that
/// stream's and the others go on; only a closed output or rejected credentials end the read
/// (returned). Streams that failed before they opened (named by the catalog, not offered)
/// fail as they come.
pub fn read_streams<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    streams: impl IntoIterator<Item = Result<ToRead, (String, ConnectorError)>>,
) -> Result<(), ConnectorError> {
    let at_once = out.streams_at_once().max(1) as usize;
    let mut waiting = streams.into_iter();
    let mut open: Vec<Open> = Vec::new();
    let mut downloads = Downloads::default();
    let mut turn = 0;
    loop {
        while open.len() < at_once {
            let Some(next) = waiting.next() else { break };
            let failed = match next.and_then(|s| Open::start(client, out, s)) {
                Ok(Some(stream)) => {
                    open.push(stream);
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err((name, error)) => stream_failed(out, &name, error),
            };
            failed.map_err(|error| end_all(out, &mut open, error))?;
        }
        if open.is_empty() {
            return Ok(());
        }
        let i = turn % open.len();
        // A download not yet due waits its turn only while a record stream can use the time.
        let others = open.iter().any(|o| matches!(o, Open::Records(_)));
        match open[i].step(client, out, &mut downloads, others) {
            Ok(true) => turn = i + 1,
            outcome => {
                let mut stream = open.remove(i);
                turn = i;
                let ended = outcome.and_then(|_| stream.finish(client, out));
                if let Err(error) = ended {
                    let error = stream.failed(out, error);
                    stream_failed(out, stream.name(), error)
                        .map_err(|error| end_all(out, &mut open, error))?;
                }
            }
        }
    }
}

/// The read ends on `error` with `open` streams in progress: each keeps the state of what it
/// did in full (the host marks them incomplete).
fn end_all<O: Output>(out: &mut O, open: &mut [Open], error: ConnectorError) -> ConnectorError {
    for stream in open.iter_mut() {
        stream.keep_what_was_done(out);
    }
    error
}

/// Reports a stream's failure as that stream's; a closed output or rejected credentials are
/// returned instead: no other stream can do better.
pub fn stream_failed<O: Output>(
    out: &mut O,
    stream: &str,
    error: ConnectorError,
) -> Result<(), ConnectorError> {
    match error.category {
        Category::OutputClosed | Category::Auth => Err(error),
        _ => {
            out.fail_stream(stream, &error);
            Ok(())
        }
    }
}

/// A stream being read: its pages' lanes and what is read around them.
pub struct OpenStream {
    read: StreamRead,
    lanes: Lanes,
    incremental: bool,
    started_ms: i64,
    /// Requests sent for this stream (its share of the run's, pages prefetched included).
    requests: u64,
}

/// Starts reading a stream: STARTED, its state checked to be this table's, and its searches
/// planned. None when there is nothing to read (an incremental stream whose table is
/// unchanged: its state again, and COMPLETE).
pub fn open_stream<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    mode: SyncMode,
    start: StreamStart,
) -> Result<Option<OpenStream>, ConnectorError> {
    let name = stream.name.as_str();
    out.stream_status(name, StreamStatus::Started);
    let before = client.requests_sent();
    let mut open = opened(client, out, stream, mode, start)
        .map_err(|error| error.context(format!("reading stream `{name}`")))?;
    let requests = client.requests_sent() - before;
    match open.as_mut() {
        Some(open) => open.requests = requests,
        None => out.stream_requests(name, requests),
    }
    Ok(open)
}

fn opened<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    stream: &StreamDef,
    mode: SyncMode,
    start: StreamStart,
) -> Result<Option<OpenStream>, ConnectorError> {
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
        tracker.belongs_to(&StateIdentity::of(&stream.table));
        if unchanged_and_recent(client, out, stream, &saved, started_ms) {
            skip_unchanged(out, stream, saved, tracker)?;
            return Ok(None);
        }
    }
    if let Some(known) = catalog_fields {
        warn_of_schema_changes(client, out, stream, &known);
    }
    let deletes = (incremental && client.config().detect_deletes).then(|| {
        if let Some(ids) = &saved.record_ids {
            tracker.remembers(ids);
        }
        DeleteCheck::new(saved.record_ids)
    });
    let plain = plain_records(client, out, stream)?;
    let plan = search_plan(client, out, stream, mode, tracker.since, saved.resume)?;
    let mut read = StreamRead {
        stream: stream.clone(),
        plan,
        tracker,
        plain,
        deletes,
    };
    let lanes = Lanes::start(client, &mut read);
    Ok(Some(OpenStream {
        read,
        lanes,
        incremental,
        started_ms,
        requests: 0,
    }))
}

impl OpenStream {
    /// Reads and emits the stream's next page; false once its pages have ended.
    pub fn step<H: Transport, O: Output>(
        &mut self,
        client: &mut FeishuClient<H>,
        out: &mut O,
    ) -> Result<bool, ConnectorError> {
        let before = client.requests_sent();
        let more = self.lanes.step(client, out, &mut self.read);
        self.requests += client.requests_sent() - before;
        more
    }

    /// Ends the stream once its pages have ended: the sweep for deleted records, WARNs of
    /// values made null, the final state, and COMPLETE.
    pub fn finish<H: Transport, O: Output>(
        &mut self,
        client: &mut FeishuClient<H>,
        out: &mut O,
    ) -> Result<(), ConnectorError> {
        let before = client.requests_sent();
        let read = &mut self.read;
        let name = read.stream.name.clone();
        let mut settled = true;
        if let Some(check) = read.deletes.take() {
            let table = &read.stream.table;
            let swept = check.finish(client, out, &name, table, read.plain.as_mut())?;
            read.tracker.remembers(&swept.current);
            settled = swept.unanswered == 0;
        }
        warn_of_nulls(out, &name, read.plain.as_ref());
        read.tracker.completed();
        // Only a complete read may vouch for the revision it started from.
        if let (true, true, Some(revision)) = (self.incremental, settled, read.stream.revision) {
            read.tracker.vouches_for(revision);
            read.tracker.read_for_real_at(self.started_ms);
        }
        out.emit_state(&name, &read.tracker.state())?;
        let count = self.lanes.emitted;
        let requests = self.requests + client.requests_sent() - before;
        out.log(
            LogLevel::Info,
            &format!("stream `{name}`: read {count} records with {requests} requests"),
        );
        if count == 0 && read.tracker.since.is_none() {
            out.log(LogLevel::Warn, &empty_table_warning(&name));
        }
        out.stream_requests(&name, requests);
        out.stream_status(&name, StreamStatus::Complete);
        Ok(())
    }

    /// The stream stopped on `error`: the state of the pages it emitted in full is kept;
    /// returns the error with the stream named.
    pub fn failed<O: Output>(&mut self, out: &mut O, error: ConnectorError) -> ConnectorError {
        self.read.keep_what_was_emitted(out);
        let name = &self.read.stream.name;
        out.stream_requests(name, self.requests);
        error.context(format!("reading stream `{name}`"))
    }
}

/// One WARN per field whose values did not fit its type, and one for formula error values.
fn warn_of_nulls<O: Output>(out: &mut O, name: &str, plain: Option<&PlainRecords>) {
    for (field, count) in plain.into_iter().flat_map(PlainRecords::misfits) {
        let message = format!(
            "stream `{name}`: {count} values of field {field:?} did not fit its type and were \
             made null"
        );
        out.log(LogLevel::Warn, &message);
    }
    if let Some(errors) = plain.and_then(PlainRecords::error_values) {
        let message =
            format!("stream `{name}`: formula or lookup error values were made null ({errors})");
        out.log(LogLevel::Warn, &message);
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
        tracker.remembers(ids);
    }
    if let Some(revision) = saved.revision {
        tracker.vouches_for(revision);
    }
    if let Some(read_at) = saved.read_at {
        tracker.read_for_real_at(read_at);
    }
    out.emit_state(name, &tracker.state())?;
    let message = format!(
        "stream `{name}`: the table is unchanged since the last read (revision {}); nothing to read",
        saved.revision.unwrap_or_default()
    );
    out.log(LogLevel::Info, &message);
    out.stream_status(name, StreamStatus::Complete);
    Ok(())
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
