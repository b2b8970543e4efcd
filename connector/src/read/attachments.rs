//! Attachments as files (config `attachments: files`): for each table with attachment fields an
//! attachments stream, one record per file of each record (`record_id`, field, `file_token`,
//! name, size, type, `sha256`, `path`). Reading it pages through the table asking only for its
//! attachment fields and downloads each file once, a chunk at a time from the answer's body to
//! the host's file ([`Output::open_file`]), which keeps it only when it holds every byte.
//!
//! Flow: [`AttachmentRun::open`] (STARTED, the state's files, or a skip when the table is
//! unchanged) → [`AttachmentRun::step`], taking turns with the run's record streams: the next
//! page of the scan, or one attachment of it (skipped when done, else downloaded, then its
//! record) → [`AttachmentRun::finish`]: the state (the attachments done, saved before each page
//! too) and COMPLETE. A download cut
//! short is dropped by the host and tried again; a file that still fails, or the run's
//! `max_downloads`, ends the stream with the error naming the record and the file, the state
//! keeping every file done so that the next run goes on.

use crate::api::client::FeishuClient;
use crate::api::url::HttpUrl;
use crate::error::{Category, ConnectorError};
use crate::host::{
    BodyChunks, HttpResponse, LogLevel, Output, StoredFile, StreamStatus, Transport,
    encode_component,
};
use crate::read::catalog::{StreamDef, SyncMode};
use crate::read::records::RecordsPage;
use crate::read::revision::unchanged_and_recent;
use crate::state::incremental::{SavedState, StateIdentity, attachments_state};
use crate::state::record_ids::NameSet;
use crate::values::fields::FieldInfo;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Type code of an attachment field.
pub const ATTACHMENT_TYPE: i64 = 17;
/// What an attachments stream's name adds to its table stream's name.
pub const SUFFIX: &str = "_attachments";
/// Records a page of the attachments scan asks for (Feishu's most).
pub const SCAN_PAGE_SIZE: u32 = 500;
/// Feishu allows 5 downloads a second: one starts at most this often.
const DOWNLOAD_SPACING_MS: u64 = 205;
/// Tries of one file whose body was cut short (or came short) before the stream fails.
const DOWNLOAD_TRIES: u32 = 3;
/// Redirects followed for one download (each to a host the runner must grant).
const MAX_REDIRECTS: u32 = 3;

/// An attachment field of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentField {
    pub id: String,
    pub name: String,
}

/// A table's attachment fields.
pub fn attachment_fields(fields: &[FieldInfo]) -> Vec<AttachmentField> {
    fields
        .iter()
        .filter(|f| f.type_code == ATTACHMENT_TYPE)
        .map(|f| AttachmentField {
            id: f.field_id.clone().unwrap_or_else(|| f.field_name.clone()),
            name: f.field_name.clone(),
        })
        .collect()
}

/// The attachments stream of the table stream `table_stream`.
pub fn stream_name(table_stream: &str) -> String {
    format!("{table_stream}{SUFFIX}")
}

/// The table stream an attachments stream's name stands for (by name, or by table id after
/// a rename), when the source offers it.
pub fn table_stream(name: &str, offered: &[StreamDef]) -> Option<StreamDef> {
    let table_stream = name.strip_suffix(SUFFIX)?;
    crate::read::catalog::find_stream(table_stream, offered)
}

/// The schema of an attachments stream's records.
pub fn schema() -> Value {
    let text = json!({"type": "string"});
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": true,
        "properties": {
            "table_id": text, "record_id": text, "field_id": text, "field_name": text,
            "file_token": text, "name": text,
            "size": {"type": "integer", "description": "Bytes of the file as downloaded."},
            "mime_type": {"type": ["string", "null"]},
            "sha256": {"type": "string", "description": "SHA-256 of the file, lower-case hex."},
            "path": {"type": "string", "description": "Where the file is, relative to the host's files directory."},
            "downloaded_at": {"type": "integer", "description": "When the file was downloaded (ms since the epoch)."},
            "file_reference": {"type": ["object", "null"]}
        }
    })
}

/// The catalog entry of an attachments stream: keyed by record, field and file; incremental
/// by download time (a file is downloaded once).
pub fn catalog_entry(name: &str) -> Value {
    json!({
        "name": name,
        "json_schema": schema(),
        "supported_sync_modes": ["full_refresh", "incremental"],
        "source_defined_cursor": true,
        "default_cursor_field": ["downloaded_at"],
        "source_defined_primary_key": [["record_id"], ["field_id"], ["file_token"]],
        "is_resumable": false,
        "is_file_based": true
    })
}

/// An attachments stream to read.
pub struct AttachmentStream {
    /// Its name, its table, and the table's revision in the tables list.
    pub def: StreamDef,
    pub fields: Vec<AttachmentField>,
    pub mode: SyncMode,
    pub saved: SavedState,
    /// The configured catalog asks for Airbyte's file transfer (`include_files`).
    pub file_reference: bool,
}

/// The run's downloads: how many were started, and when the last one was.
#[derive(Debug, Default)]
pub struct Downloads {
    pub started: u32,
    last_start_ms: Option<u64>,
}

impl Downloads {
    /// When Feishu's 5 downloads a second let the next one start (monotonic ms).
    fn next_start_ms(&self) -> u64 {
        self.last_start_ms
            .map_or(0, |last| last + DOWNLOAD_SPACING_MS)
    }

    /// Whether a download may start at `now_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_start_ms()
    }

    /// Waits until a download may start, and counts it as started now.
    fn start<T: Transport>(&mut self, transport: &mut T) {
        let (now, due) = (transport.now_ms(), self.next_start_ms());
        if now < due {
            transport.sleep(Duration::from_millis(due - now));
        }
        self.last_start_ms = Some(transport.now_ms());
        self.started += 1;
    }
}

/// One attachment of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attachment {
    record_id: String,
    field: AttachmentField,
    file_token: String,
    name: String,
    size: Option<u64>,
    mime_type: Option<String>,
    /// The `extra` query value (already encoded) a table with advanced permissions needs.
    extra: Option<String>,
}

impl Attachment {
    /// What the state remembers of it once its record was emitted: record, field and file.
    fn key(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}",
            self.record_id, self.field.id, self.file_token
        )
    }

    /// How messages name it.
    fn shown(&self) -> String {
        format!(
            "file {} ({:?}) of record {}, field {:?}",
            self.file_token, self.name, self.record_id, self.field.name
        )
    }
}

/// A file downloaded in this run (a file token may stand in several records).
#[derive(Debug, Clone)]
struct Downloaded {
    stored: StoredFile,
    path: String,
    at_ms: i64,
}

/// An attachments stream being read a step at a time (a page of the scan, or one file), so
/// that it takes turns with the record streams of the run instead of holding them up.
pub struct AttachmentRun {
    stream: AttachmentStream,
    /// The attachments (record, field and file) whose records earlier runs (incremental) and
    /// this one emitted.
    done: NameSet,
    /// Files downloaded in this run, by file token.
    run: HashMap<String, Downloaded>,
    identity: StateIdentity,
    started_ms: i64,
    /// The scan: where it stands, and what it saw.
    scan: Scan,
    /// Requests this stream sent.
    requests: u64,
}

/// Where the scan of a table's attachments stands.
#[derive(Default)]
struct Scan {
    /// Attachments of the pages read, not handled yet.
    queue: VecDeque<Attachment>,
    /// The next page's token (None: the first page, or no more when `ended`).
    page_token: Option<String>,
    ended: bool,
    tokens_seen: NameSet,
    records_seen: NameSet,
    /// What Feishu's first page counted.
    total: Option<u64>,
}

impl AttachmentRun {
    /// Starts an attachments stream: STARTED and the files its state says are done. None when
    /// there is nothing to read (an incremental stream whose table is unchanged since a
    /// complete scan: its state again, and COMPLETE).
    pub fn open<H: Transport, O: Output>(
        client: &mut FeishuClient<H>,
        out: &mut O,
        stream: AttachmentStream,
    ) -> Result<Option<Self>, ConnectorError> {
        let name = stream.def.name.clone();
        out.stream_status(&name, StreamStatus::Started);
        let started_ms = client.transport().epoch_ms();
        let identity = StateIdentity::of(&stream.def.table);
        let incremental = stream.mode == SyncMode::Incremental;
        let same_table = stream
            .saved
            .identity
            .as_ref()
            .is_none_or(|saved| saved.difference(&identity).is_none());
        if incremental && !same_table {
            let message = format!(
                "stream `{name}`: the state was written for another table; downloading every \
                 file again"
            );
            out.log(LogLevel::Warn, &message);
        }
        let done = match stream.saved.attachments_done.clone() {
            Some(done) if incremental && same_table => done,
            _ => NameSet::default(),
        };
        // Only a state that names this table may vouch for its revision.
        let named = stream.saved.identity.is_some() && same_table;
        let unchanged = incremental
            && named
            && unchanged_and_recent(client, out, &stream.def, &stream.saved, started_ms);
        let vouched = stream.saved.revision.zip(stream.saved.read_at);
        let run = Self {
            stream,
            done,
            run: HashMap::new(),
            identity,
            started_ms,
            scan: Scan::default(),
            requests: 0,
        };
        if !unchanged {
            return Ok(Some(run));
        }
        // Nothing changed in the table since a complete scan: its state again, no request.
        out.stream_requests(&name, 0);
        run.save(out, vouched)?;
        out.stream_status(&name, StreamStatus::Complete);
        Ok(None)
    }

    pub fn name(&self) -> &str {
        &self.stream.def.name
    }

    /// One step: the next attachment of the pages read, or the next page; false once every
    /// attachment is handled. With `others` (other streams take turns), a download that
    /// Feishu's 5 a second does not allow yet waits for a later turn instead of sleeping.
    pub fn step<H: Transport, O: Output>(
        &mut self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        downloads: &mut Downloads,
        others: bool,
    ) -> Result<bool, ConnectorError> {
        let before = client.requests_sent();
        let stepped = self.next(client, out, downloads, others);
        self.requests += client.requests_sent() - before;
        stepped
    }

    fn next<H: Transport, O: Output>(
        &mut self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        downloads: &mut Downloads,
        others: bool,
    ) -> Result<bool, ConnectorError> {
        if let Some(attachment) = self.scan.queue.front() {
            let downloads_it = !self.run.contains_key(&attachment.file_token)
                && !self.done.contains(&attachment.key());
            if downloads_it && others && !downloads.due(client.transport().now_ms()) {
                return Ok(true);
            }
            if let Some(attachment) = self.scan.queue.pop_front() {
                self.attachment(client, out, downloads, attachment)?;
            }
            return Ok(true);
        }
        if self.scan.ended {
            return Ok(false);
        }
        // Every file of the pages read is done: the state says so before the next page.
        self.save(out, None)?;
        self.page(client)?;
        Ok(true)
    }

    /// Reads the scan's next page into the queue.
    fn page<H: Transport>(&mut self, client: &mut FeishuClient<H>) -> Result<(), ConnectorError> {
        let body = self.search_body();
        let scan = &mut self.scan;
        let response = client.search_records(
            &self.stream.def.table,
            &body,
            SCAN_PAGE_SIZE,
            scan.page_token.as_deref(),
        )?;
        let page = RecordsPage::parse(&response.body)?;
        scan.total = scan.total.or(page.total);
        for id in &page.ids {
            scan.records_seen.insert(&String::from_utf8_lossy(id));
        }
        scan.queue
            .extend(attachments_of(&page.items, &self.stream.fields)?);
        match page.page_token.filter(|_| page.has_more) {
            // A page token seen before would read the same pages again, for ever.
            Some(token) if scan.tokens_seen.insert(&token) => scan.page_token = Some(token),
            Some(token) => {
                return Err(ConnectorError::bad_response(format!(
                    "Feishu answered page token {token:?} a second time while listing the \
                     attachments of table {}",
                    self.stream.def.table.table_id
                )));
            }
            None if page.has_more => {
                return Err(ConnectorError::bad_response(
                    "Feishu said more records follow (`has_more`) but gave no page token",
                ));
            }
            None => scan.ended = true,
        }
        Ok(())
    }

    /// Ends the stream once every attachment is handled: the scan saw every record Feishu
    /// counted, the state (with the table's revision: the scan was complete), COMPLETE.
    pub fn finish<O: Output>(&mut self, out: &mut O) -> Result<(), ConnectorError> {
        let name = self.stream.def.name.clone();
        out.stream_requests(&name, self.requests);
        self.all_seen()?;
        let scanned = self.stream.def.revision.map(|r| (r, self.started_ms));
        self.save(out, scanned)?;
        out.stream_status(&name, StreamStatus::Complete);
        Ok(())
    }

    /// The stream stopped on `error`: the files done are kept in the state; returns the error.
    pub fn failed<O: Output>(&mut self, out: &mut O, error: ConnectorError) -> ConnectorError {
        out.stream_requests(&self.stream.def.name, self.requests);
        self.keep_what_was_done(out);
        error
    }

    /// Saves the files done so far (the read ends early).
    pub fn keep_what_was_done<O: Output>(&self, out: &mut O) {
        let _ = self.save(out, None);
    }

    /// Whether the scan saw as many records as Feishu counted (its first page's `total`):
    /// fewer means pages left some out, and files of those records could be missed.
    fn all_seen(&self) -> Result<(), ConnectorError> {
        let seen = self.scan.records_seen.len();
        match self.scan.total {
            Some(total) if (seen as u64) < total => Err(ConnectorError::new(
                Category::Transient,
                format!(
                    "the scan of table {} for attachments saw {seen} of the {total} records \
                     Feishu counted (pages left some out); the files done are kept, run again \
                     to look at the rest",
                    self.stream.def.table.table_id
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The search body: only the attachment fields, no automatic fields.
    fn search_body(&self) -> String {
        let names: Vec<&str> = self.stream.fields.iter().map(|f| f.name.as_str()).collect();
        json!({"field_names": names, "automatic_fields": false}).to_string()
    }

    /// One attachment: skipped when its file was done by an earlier run, else downloaded
    /// (once a run) and its record emitted (once a run).
    fn attachment<H: Transport, O: Output>(
        &mut self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        downloads: &mut Downloads,
        attachment: Attachment,
    ) -> Result<(), ConnectorError> {
        let key = attachment.key();
        if self.done.contains(&key) {
            return Ok(());
        }
        if !self.run.contains_key(&attachment.file_token) {
            let downloaded = self
                .fetch(client, out, downloads, &attachment)
                .map_err(|e| e.context(attachment.shown()))?;
            self.run.insert(attachment.file_token.clone(), downloaded);
        }
        self.done.insert(&key);
        let downloaded = &self.run[&attachment.file_token];
        let record = self.record(&attachment, downloaded);
        out.emit_records(&self.stream.def.name, vec![record])
    }

    /// The record of `attachment`, stored as `downloaded`.
    fn record(&self, attachment: &Attachment, downloaded: &Downloaded) -> Vec<u8> {
        let mut record = json!({
            "table_id": self.stream.def.table.table_id,
            "record_id": attachment.record_id,
            "field_id": attachment.field.id,
            "field_name": attachment.field.name,
            "file_token": attachment.file_token,
            "name": attachment.name,
            "size": downloaded.stored.size,
            "mime_type": attachment.mime_type,
            "sha256": downloaded.stored.sha256,
            "path": downloaded.path,
            "downloaded_at": downloaded.at_ms,
        });
        if self.stream.file_reference {
            record["file_reference"] = json!({
                "staging_file_url": downloaded.stored.location,
                "source_file_relative_path": downloaded.path,
                "file_size_bytes": downloaded.stored.size,
            });
        }
        record.to_string().into_bytes()
    }

    /// Downloads `attachment` into the host's file at its path; a body cut short is asked
    /// again from the byte it stopped at (`Range`), or whole when the server ignores that.
    fn fetch<H: Transport, O: Output>(
        &self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        downloads: &mut Downloads,
        attachment: &Attachment,
    ) -> Result<Downloaded, ConnectorError> {
        let path = file_path(&self.stream.def.name, attachment);
        let mut file = FileOnHost {
            stream: &self.stream.def.name,
            path: &path,
            open: None,
        };
        let outcome = self.tries(client, out, downloads, attachment, &mut file);
        file.drop_open(out);
        let stored = outcome?;
        let at_ms = client.transport().epoch_ms();
        Ok(Downloaded {
            stored,
            path,
            at_ms,
        })
    }

    fn tries<H: Transport, O: Output>(
        &self,
        client: &mut FeishuClient<H>,
        out: &mut O,
        downloads: &mut Downloads,
        attachment: &Attachment,
        file: &mut FileOnHost<'_>,
    ) -> Result<StoredFile, ConnectorError> {
        let mut last = String::new();
        for attempt in 1..=DOWNLOAD_TRIES {
            let max = client.config().max_downloads;
            if downloads.started >= max {
                return Err(ConnectorError::config(format!(
                    "config field `max_downloads` allows {max} downloads a run and all were \
                     started, so this one was not; the state keeps the files done: run again \
                     (or raise `max_downloads`) to go on"
                )));
            }
            downloads.start(client.transport());
            match download(client, out, attachment, file)? {
                Ok(stored) => return Ok(stored),
                Err(why) => {
                    let next = match file.open.as_ref() {
                        Some(open) => format!("asking for the rest from byte {}", open.written),
                        None => "nothing was kept".into(),
                    };
                    out.log(
                        LogLevel::Warn,
                        &format!(
                            "{}: download {attempt} of {DOWNLOAD_TRIES} failed ({why}); {next}",
                            attachment.shown()
                        ),
                    );
                    last = why;
                    client
                        .transport()
                        .sleep(Duration::from_millis(500 * u64::from(attempt)));
                }
            }
        }
        Err(ConnectorError::new(
            Category::Transient,
            format!("its download failed {DOWNLOAD_TRIES} times, the last: {last}"),
        ))
    }

    /// Saves the files done (incremental streams only), and the table's revision and time of
    /// a complete scan (`scanned`).
    fn save<O: Output>(
        &self,
        out: &mut O,
        scanned: Option<(i64, i64)>,
    ) -> Result<(), ConnectorError> {
        if self.stream.mode != SyncMode::Incremental {
            return Ok(());
        }
        let state = attachments_state(&self.identity, &self.done, scanned);
        out.emit_state(&self.stream.def.name, &state)
    }
}

/// The host's file a download writes: where, and the open one with the bytes it holds.
struct FileOnHost<'a> {
    stream: &'a str,
    path: &'a str,
    open: Option<OpenFile>,
}

impl FileOnHost<'_> {
    /// Drops the file being written, if one is, and what it holds.
    fn drop_open<O: Output>(&mut self, out: &mut O) {
        if let Some(open) = self.open.take() {
            out.abort_file(open.handle);
        }
    }
}

/// A file open on the host.
struct OpenFile {
    handle: u32,
    written: u64,
    /// The bytes the whole file has, as the first answer said.
    size: u64,
}

/// One try at a file, from where `file` stands: Ok(Err(why)) when the body came cut (what
/// arrived stays in the open file, to be continued) or short (the host kept nothing), worth
/// another try; Err when the request failed for good.
fn download<H: Transport, O: Output>(
    client: &mut FeishuClient<H>,
    out: &mut O,
    attachment: &Attachment,
    file: &mut FileOnHost<'_>,
) -> Result<Result<StoredFile, String>, ConnectorError> {
    let from = file.open.as_ref().map(|f| f.written).filter(|&n| n > 0);
    let (head, mut body) = open_download(client, attachment, from)?;
    let resumed = from.filter(|&n| head.status == 206 && content_range_start(&head) == Some(n));
    if resumed.is_none() {
        // A first answer, or a server that sent the whole file again: start the file anew.
        file.drop_open(out);
        if head.status == 206 {
            // Part of the file, but not from the byte asked: nothing to build on.
            return Ok(Err(format!(
                "the answer held the file from byte {:?}, not from byte {}",
                content_range_start(&head),
                from.unwrap_or(0)
            )));
        }
        let size = head
            .header("content-length")
            .and_then(|n| n.trim().parse::<u64>().ok())
            .or(attachment.size)
            .unwrap_or(0);
        let handle = out.open_file(file.stream, file.path).map_err(|why| {
            ConnectorError::config(format!(
                "the host refused to take file {:?}: {why}",
                file.path
            ))
        })?;
        file.open = Some(OpenFile {
            handle,
            written: 0,
            size,
        });
    }
    let Some(open) = file.open.as_mut() else {
        return Err(ConnectorError::internal("no file is open"));
    };
    loop {
        match body.next_chunk() {
            Ok(Some(chunk)) => {
                out.write_file(open.handle, &chunk).map_err(|why| {
                    ConnectorError::internal(format!(
                        "the host could not write file {:?}: {why}",
                        file.path
                    ))
                })?;
                open.written += chunk.len() as u64;
            }
            Ok(None) => break,
            Err(cut) => return Ok(Err(format!("cut after {} bytes: {cut:?}", open.written))),
        }
    }
    let (handle, size) = (open.handle, open.size);
    file.open = None;
    Ok(out.finish_file(handle, size))
}

/// GET the file from `lark_host` (with the `extra` its cell carried), from byte `from` when
/// given, following redirects through the sandbox (the tenant token only to `lark_host`).
fn open_download<H: Transport>(
    client: &mut FeishuClient<H>,
    attachment: &Attachment,
    from: Option<u64>,
) -> Result<(HttpResponse, Box<dyn BodyChunks>), ConnectorError> {
    let lark_host = client.config().lark_host.clone();
    let mut url = format!(
        "{lark_host}/open-apis/drive/v1/medias/{}/download",
        encode_component(&attachment.file_token)
    );
    if let Some(extra) = &attachment.extra {
        url.push_str("?extra=");
        url.push_str(extra);
    }
    let what = "GET /open-apis/drive/v1/medias/<file_token>/download";
    let (mut head, mut body) = client.open_get(what, &url, true, from)?;
    let mut hops = 0;
    while (300..400).contains(&head.status) {
        let location = head.header("location").unwrap_or_default().to_string();
        let target = HttpUrl::parse(&location).ok_or_else(|| {
            ConnectorError::bad_response(format!(
                "the download answered HTTP {} with no usable location ({location:?})",
                head.status
            ))
        })?;
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(ConnectorError::bad_response(format!(
                "the download was redirected more than {MAX_REDIRECTS} times"
            )));
        }
        let origin = target.origin();
        let own = origin == lark_host;
        (head, body) = client
            .open_get(what, &location, own, from)
            .map_err(|e| redirected(e, &origin))?;
    }
    Ok((head, body))
}

/// Where a 206 answer's `Content-Range: bytes N-M/T` starts.
fn content_range_start(head: &HttpResponse) -> Option<u64> {
    let range = head
        .header("content-range")?
        .trim()
        .strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

/// A redirect's failure, naming the host it led to.
fn redirected(error: ConnectorError, origin: &str) -> ConnectorError {
    ConnectorError::new(
        error.category,
        format!(
            "Feishu redirected the download to {origin}, which failed: {}. Files are \
             downloaded only from hosts the runner grants; grant {origin} to follow such \
             redirects",
            error.message
        ),
    )
}

/// Where a file goes, relative to the host's files directory: the stream, the file token and
/// the file's name, each made safe (no separators, no control characters, no `.`/`..`).
fn file_path(stream: &str, attachment: &Attachment) -> String {
    format!(
        "{}/{}/{}",
        safe_segment(stream, "stream"),
        safe_segment(&attachment.file_token, "file"),
        safe_segment(&attachment.name, "file")
    )
}

/// `name` as one path segment: separators, colons and control characters as `_`, at most
/// 200 bytes (cut on a character boundary), never empty, `.` or `..`.
fn safe_segment(name: &str, fallback: &str) -> String {
    let mut safe = String::new();
    for c in name.chars() {
        let c = if c.is_control() || matches!(c, '/' | '\\' | ':') {
            '_'
        } else {
            c
        };
        if safe.len() + c.len_utf8() > 200 {
            break;
        }
        safe.push(c);
    }
    let safe = safe.trim().to_string();
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        fallback.to_string()
    } else {
        safe
    }
}

#[derive(Deserialize)]
struct Item {
    record_id: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
struct Cell {
    file_token: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "type")]
    mime_type: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    tmp_url: Option<String>,
}

/// The attachments of a page's items, in order. An item or a cell that does not read as a
/// record with attachments is a bad answer (never a silent gap).
fn attachments_of(
    items: &[&[u8]],
    fields: &[AttachmentField],
) -> Result<Vec<Attachment>, ConnectorError> {
    let mut all = Vec::new();
    for raw in items {
        let item: Item = serde_json::from_slice(raw).map_err(|e| {
            ConnectorError::bad_response(format!("a record of the attachments scan: {e}"))
        })?;
        for field in fields {
            let Some(cell) = item.fields.get(&field.name) else {
                continue;
            };
            let cells: Vec<Cell> = serde_json::from_value(cell.clone()).map_err(|e| {
                ConnectorError::bad_response(format!(
                    "record {}, field {:?}: not a list of attachments: {e}",
                    item.record_id, field.name
                ))
            })?;
            for cell in cells {
                let file_token = cell.file_token.filter(|t| !t.is_empty()).ok_or_else(|| {
                    ConnectorError::bad_response(format!(
                        "record {}, field {:?}: an attachment without a file_token",
                        item.record_id, field.name
                    ))
                })?;
                let extra = [&cell.url, &cell.tmp_url]
                    .into_iter()
                    .flatten()
                    .find_map(|url| query_value(url, "extra"));
                all.push(Attachment {
                    record_id: item.record_id.clone(),
                    field: field.clone(),
                    name: cell.name.unwrap_or_else(|| file_token.clone()),
                    file_token,
                    size: cell.size,
                    mime_type: cell.mime_type,
                    extra,
                });
            }
        }
    }
    Ok(all)
}

/// The raw (still encoded) value of `key` in `url`'s query.
fn query_value(url: &str, key: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::token::TOKEN_PATH;
    use crate::config::Config;
    use crate::fake::{FakeHost, FakeOutput, json, token_ok};
    use crate::read::records::TableRef;
    use crate::state::incremental::StateIdentity;

    /// Reads an attachments stream of table tbl1 whose searches Feishu answers with `page`.
    fn scan(page: &'static str) -> Result<(), ConnectorError> {
        scan_with(page, SavedState::default()).0
    }

    /// [`scan`] from `saved` (revision 3 in the tables list); also the searches it sent.
    fn scan_with(page: &'static str, saved: SavedState) -> (Result<(), ConnectorError>, usize) {
        let config = Config::parse(
            r#"{"app_id":"cli_1","app_secret":"s3cret","app_token":"app1","table_id":"tbl1","lark_host":"http://127.0.0.1:9","attachments":"files"}"#,
        )
        .unwrap();
        let host = FakeHost::new(move |req| {
            if req.url.ends_with(TOKEN_PATH) {
                token_ok("t-1")
            } else {
                json(200, page)
            }
        });
        let mut client = FeishuClient::new(host, config);
        let table = TableRef {
            app_token: "app1".into(),
            table_id: "tbl1".into(),
            view_id: None,
        };
        let stream = AttachmentStream {
            def: StreamDef {
                name: "records_attachments".into(),
                table,
                revision: Some(3),
            },
            fields: vec![field()],
            mode: SyncMode::Incremental,
            saved,
            file_reference: false,
        };
        let mut out = FakeOutput::default();
        let result = read_whole(&mut client, &mut out, stream);
        let searches = client.transport().requests.iter();
        let searches = searches
            .filter(|r| r.url.contains("/records/search"))
            .count();
        (result, searches)
    }

    /// Drives an attachments stream to its end, as the read loop does.
    fn read_whole(
        client: &mut FeishuClient<FakeHost>,
        out: &mut FakeOutput,
        stream: AttachmentStream,
    ) -> Result<(), ConnectorError> {
        let mut downloads = Downloads::default();
        let Some(mut run) = AttachmentRun::open(client, out, stream)? else {
            return Ok(());
        };
        loop {
            match run.step(client, out, &mut downloads, false) {
                Ok(true) => {}
                Ok(false) => return run.finish(out),
                Err(error) => return Err(run.failed(out, error)),
            }
        }
    }

    #[test]
    fn a_scan_that_sees_fewer_records_than_feishu_counted_fails() {
        let short = r#"{"code":0,"data":{"has_more":false,"total":3,"items":[
            {"record_id":"recA","fields":{}},{"record_id":"recA","fields":{}},{"record_id":"recB","fields":{}}]}}"#;
        let error = scan(short).unwrap_err();
        assert_eq!(error.category, Category::Transient);
        assert!(
            error.message.contains("saw 2 of the 3 records"),
            "{}",
            error.message
        );
        let whole = r#"{"code":0,"data":{"has_more":false,"total":2,"items":[
            {"record_id":"recA","fields":{}},{"record_id":"recB","fields":{}}]}}"#;
        scan(whole).unwrap();
    }

    #[test]
    fn only_a_state_naming_this_table_skips_the_scan() {
        let page = r#"{"code":0,"data":{"has_more":false,"total":0,"items":[]}}"#;
        let table = TableRef {
            app_token: "app1".into(),
            table_id: "tbl1".into(),
            view_id: None,
        };
        let saved = |identity: Option<StateIdentity>| SavedState {
            revision: Some(3),
            read_at: Some(1_800_000_000_000),
            identity,
            ..SavedState::default()
        };
        let searches = |saved: SavedState| {
            let (result, requests) = scan_with(page, saved);
            result.unwrap();
            requests
        };
        assert_eq!(searches(saved(Some(StateIdentity::of(&table)))), 0);
        assert_eq!(searches(saved(None)), 1, "a state that names no table");
        let mut other = table.clone();
        other.table_id = "tbl2".into();
        assert_eq!(searches(saved(Some(StateIdentity::of(&other)))), 1);
    }

    #[test]
    fn more_pages_without_a_page_token_is_a_bad_answer() {
        let page = r#"{"code":0,"data":{"has_more":true,"items":[]}}"#;
        let error = scan(page).unwrap_err();
        assert_eq!(error.category, Category::BadResponse, "{}", error.message);
    }

    #[test]
    fn a_host_without_files_fails_the_stream_saying_so() {
        let page = r#"{"code":0,"data":{"has_more":false,"total":1,"items":[
            {"record_id":"recA","fields":{"Files":[{"file_token":"boxA","name":"a","size":1}]}}]}}"#;
        let error = scan(page).unwrap_err();
        assert_eq!(error.category, Category::Config);
        assert!(
            error.message.contains("this host takes no files"),
            "{}",
            error.message
        );
        assert!(
            error
                .message
                .starts_with("file boxA (\"a\") of record recA"),
            "{}",
            error.message
        );
    }

    fn field() -> AttachmentField {
        AttachmentField {
            id: "fld1".into(),
            name: "Files".into(),
        }
    }

    #[test]
    fn attachments_are_read_from_cells_with_their_extra() {
        let item = br#"{"record_id":"recA","fields":{"Files":[
            {"file_token":"boxA","name":"a.pdf","size":3,"type":"application/pdf",
             "url":"https://x/open-apis/drive/v1/medias/boxA/download?extra=%7B%22a%22%3A1%7D"},
            {"file_token":"boxB","tmp_url":"https://x/t?file_tokens=boxB"}],"other":1}}"#;
        let found = attachments_of(&[item.as_slice()], &[field()]).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].extra.as_deref(), Some("%7B%22a%22%3A1%7D"));
        assert_eq!(found[0].size, Some(3));
        assert_eq!(
            (found[1].name.as_str(), found[1].extra.clone()),
            ("boxB", None)
        );
        let empty = br#"{"record_id":"recB","fields":{}}"#;
        assert!(
            attachments_of(&[empty.as_slice()], &[field()])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn cells_that_are_not_attachments_are_bad_answers() {
        for bad in [
            br#"{"record_id":"recA","fields":{"Files":"text"}}"#.as_slice(),
            br#"{"record_id":"recA","fields":{"Files":[{"name":"x"}]}}"#.as_slice(),
            br#"{"fields":{}}"#.as_slice(),
        ] {
            let error = attachments_of(&[bad], &[field()]).unwrap_err();
            assert_eq!(error.category, Category::BadResponse, "{}", error.message);
        }
    }

    #[test]
    fn file_paths_stay_inside_the_files_directory() {
        let mut a = Attachment {
            record_id: "recA".into(),
            field: field(),
            file_token: "box/../A".into(),
            name: "../../etc/passwd".into(),
            size: None,
            mime_type: None,
            extra: None,
        };
        assert_eq!(
            file_path("s_tbl1_attachments", &a),
            "s_tbl1_attachments/box_.._A/.._.._etc_passwd"
        );
        a.name = "..".into();
        assert_eq!(file_path("s", &a), "s/box_.._A/file");
        a.name = "报告\n1:2.pdf".into();
        assert_eq!(file_path("s", &a), "s/box_.._A/报告_1_2.pdf");
        assert_eq!(safe_segment(&"长".repeat(100), "f").len(), 198);
    }
}
