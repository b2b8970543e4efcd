//! What the connector needs from its runtime, as two traits: [`Transport`] (HTTP and time, used
//! by the client) and [`Output`] (what a read produces), so that the
//! Feishu logic runs natively in tests and through WIT imports in the component.

use crate::error::{Category, ConnectorError};
use std::time::Duration;

/// HTTP methods the connector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// An outgoing request. `url` is absolute; `bearer` is sent as `Authorization: Bearer ...`;
/// `range_from` asks for the body from that byte on (`Range: bytes=N-`).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub bearer: Option<String>,
    pub json_body: Option<String>,
    pub range_from: Option<u64>,
}

/// A complete response; header names are lower case.
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The body of an answer, read a chunk at a time (a download that is never held whole).
pub trait BodyChunks {
    /// The next chunk, or None at the end; a cut body is a [`TransportFailure::Network`].
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TransportFailure>;
}

/// A body read already (what a transport without streaming hands out).
pub struct WholeBody(pub Option<Vec<u8>>);

impl BodyChunks for WholeBody {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TransportFailure> {
        Ok(self.0.take().filter(|b| !b.is_empty()))
    }
}

/// A file the host stored whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub size: u64,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    /// Where the host put it (an absolute path or URL).
    pub location: String,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportFailure {
    /// The sandbox refused the destination.
    Denied,
    /// Connection refused, reset, dropped, timed out or a truncated body: worth retrying.
    Network(String),
    /// The request could not be built (bad URL and the like).
    Invalid(String),
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Progress of a stream during a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    Started,
    Complete,
    Incomplete,
}

/// The connector's way out: sends requests and tells time (the HTTP client's half).
pub trait Transport {
    /// A request under way.
    type Pending;
    /// Sends a request without waiting for the answer, so the connector can fetch the next
    /// page while it hands over the current one; `finish` collects the answer.
    fn start(&mut self, request: &HttpRequest) -> Result<Self::Pending, TransportFailure>;
    fn finish(&mut self, pending: Self::Pending) -> Result<HttpResponse, TransportFailure>;
    /// Sends a request and hands over the answer's status and headers (its `body` empty) and
    /// its body to read a chunk at a time. By default the body is read whole first.
    fn open(
        &mut self,
        request: &HttpRequest,
    ) -> Result<(HttpResponse, Box<dyn BodyChunks>), TransportFailure> {
        let mut response = self.send(request)?;
        let body = std::mem::take(&mut response.body);
        Ok((response, Box::new(WholeBody(Some(body)))))
    }
    /// Sends a request and waits for the answer.
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportFailure> {
        let pending = self.start(request)?;
        self.finish(pending)
    }
    /// Milliseconds on a monotonic clock.
    fn now_ms(&self) -> u64;
    /// Milliseconds since the Unix epoch (wall clock).
    fn epoch_ms(&self) -> i64;
    fn sleep(&mut self, duration: Duration);
    /// A random number for backoff jitter.
    fn random(&mut self) -> u64;
    fn log(&mut self, level: LogLevel, message: &str);
}

/// Where a read's results go: records, checkpoints, stream progress and failures.
pub trait Output {
    fn log(&mut self, level: LogLevel, message: &str);
    /// Hands over one page of records (JSON objects); returns once they are written.
    fn emit_records(&mut self, stream: &str, records: Vec<Vec<u8>>) -> Result<(), ConnectorError>;
    fn emit_state(&mut self, stream: &str, state: &str) -> Result<(), ConnectorError>;
    fn stream_status(&mut self, stream: &str, status: StreamStatus);
    /// Reports that `stream` stopped on `error`; the host marks it incomplete.
    fn fail_stream(&mut self, stream: &str, error: &ConnectorError);
    /// How many streams the host lets this read have in progress at once (taking turns page
    /// by page, each with a request in flight); one at a time unless the host says more.
    fn streams_at_once(&self) -> u32 {
        1
    }
    /// Reports the requests reading `stream` took, once, as it ends (for the host's summary).
    fn stream_requests(&mut self, _stream: &str, _requests: u64) {}
    /// Starts a file at `path` (relative to the host's files directory), to be written a
    /// chunk at a time; the host says why when it refuses (by default it takes no files).
    fn open_file(&mut self, _stream: &str, _path: &str) -> Result<u32, String> {
        Err("this host takes no files".into())
    }
    fn write_file(&mut self, _file: u32, _chunk: &[u8]) -> Result<(), String> {
        Err("this host takes no files".into())
    }
    /// Ends a file that should hold `size` bytes: stored whole, or removed and why.
    fn finish_file(&mut self, _file: u32, _size: u64) -> Result<StoredFile, String> {
        Err("this host takes no files".into())
    }
    /// Drops a file being written and what it holds.
    fn abort_file(&mut self, _file: u32) {}
}

/// Why a host did not take a batch of output (the WIT `output-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputRefusal {
    /// Item `index` of the batch (or the state, index 0) is not a valid JSON object.
    Invalid { index: u32, reason: String },
    /// The host takes no more output.
    Closed(String),
}

impl OutputRefusal {
    /// The connector's error for a refused batch, the same in every host: an item that is no
    /// JSON object is a bad answer from upstream (records are handed over as Feishu sent
    /// them); a closed output ends the read.
    pub fn into_error(self) -> ConnectorError {
        match self {
            OutputRefusal::Invalid { index, reason } => ConnectorError::bad_response(format!(
                "item {index} of the page is not valid JSON: {reason}"
            )),
            OutputRefusal::Closed(why) => ConnectorError::new(
                Category::OutputClosed,
                format!("the host stopped taking output: {why}"),
            ),
        }
    }
}

/// `path` as it may appear in messages: the Base's token (the segment after `/apps/`) and a
/// `token` query value (a wiki node's) are secrets and are replaced by placeholders.
pub fn shown_path(path: &str) -> String {
    let mut shown = match path.split_once("/apps/") {
        Some((before, after)) => {
            let rest = after.find(['/', '?']).map_or("", |i| &after[i..]);
            format!("{before}/apps/<app_token>{rest}")
        }
        None => path.to_string(),
    };
    if let Some(at) = shown
        .find("token=")
        .filter(|&i| i > 0 && matches!(&shown[i - 1..i], "?" | "&"))
    {
        let end = shown[at..].find('&').map_or(shown.len(), |i| at + i);
        shown.replace_range(at + "token=".len()..end, "<token>");
    }
    shown
}

/// Percent-encodes a path segment or query value (everything but RFC 3986 unreserved bytes).
pub fn encode_component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Lets callers keep the host after handing it to an operation (`&mut host`).
impl<T: Transport + ?Sized> Transport for &mut T {
    type Pending = T::Pending;
    fn start(&mut self, request: &HttpRequest) -> Result<Self::Pending, TransportFailure> {
        (**self).start(request)
    }
    fn finish(&mut self, pending: Self::Pending) -> Result<HttpResponse, TransportFailure> {
        (**self).finish(pending)
    }
    fn open(
        &mut self,
        request: &HttpRequest,
    ) -> Result<(HttpResponse, Box<dyn BodyChunks>), TransportFailure> {
        (**self).open(request)
    }
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
    fn epoch_ms(&self) -> i64 {
        (**self).epoch_ms()
    }
    fn sleep(&mut self, duration: Duration) {
        (**self).sleep(duration)
    }
    fn random(&mut self) -> u64 {
        (**self).random()
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        (**self).log(level, message)
    }
}

impl<O: Output + ?Sized> Output for &mut O {
    fn log(&mut self, level: LogLevel, message: &str) {
        (**self).log(level, message)
    }
    fn emit_records(&mut self, stream: &str, records: Vec<Vec<u8>>) -> Result<(), ConnectorError> {
        (**self).emit_records(stream, records)
    }
    fn emit_state(&mut self, stream: &str, state: &str) -> Result<(), ConnectorError> {
        (**self).emit_state(stream, state)
    }
    fn stream_status(&mut self, stream: &str, status: StreamStatus) {
        (**self).stream_status(stream, status)
    }
    fn fail_stream(&mut self, stream: &str, error: &ConnectorError) {
        (**self).fail_stream(stream, error)
    }
    fn streams_at_once(&self) -> u32 {
        (**self).streams_at_once()
    }
    fn stream_requests(&mut self, stream: &str, requests: u64) {
        (**self).stream_requests(stream, requests)
    }
    fn open_file(&mut self, stream: &str, path: &str) -> Result<u32, String> {
        (**self).open_file(stream, path)
    }
    fn write_file(&mut self, file: u32, chunk: &[u8]) -> Result<(), String> {
        (**self).write_file(file, chunk)
    }
    fn finish_file(&mut self, file: u32, size: u64) -> Result<StoredFile, String> {
        (**self).finish_file(file, size)
    }
    fn abort_file(&mut self, file: u32) {
        (**self).abort_file(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;

    #[test]
    fn paths_in_messages_hide_tokens() {
        assert_eq!(
            shown_path("/open-apis/bitable/v1/apps/bascnSECRET/tables/tbl1/records/search"),
            "/open-apis/bitable/v1/apps/<app_token>/tables/tbl1/records/search"
        );
        assert_eq!(
            shown_path("/open-apis/bitable/v1/apps/bascnSECRET?x=1"),
            "/open-apis/bitable/v1/apps/<app_token>?x=1"
        );
        assert_eq!(
            shown_path("/open-apis/wiki/v2/spaces/get_node?token=wikSECRET&obj_type=wiki"),
            "/open-apis/wiki/v2/spaces/get_node?token=<token>&obj_type=wiki"
        );
        assert_eq!(
            shown_path("/open-apis/auth/v3/x?page_token=abc"),
            "/open-apis/auth/v3/x?page_token=abc"
        );
    }

    #[test]
    fn encodes_reserved_and_unicode() {
        assert_eq!(encode_component("tbl_Ab-9.~"), "tbl_Ab-9.~");
        assert_eq!(encode_component("a/b?c=d&e"), "a%2Fb%3Fc%3Dd%26e");
        assert_eq!(encode_component("表"), "%E8%A1%A8");
    }

    #[test]
    fn a_refused_output_is_the_same_error_in_every_host() {
        let invalid = OutputRefusal::Invalid {
            index: 3,
            reason: "EOF".into(),
        };
        let error = invalid.into_error();
        assert_eq!(error.category, Category::BadResponse);
        assert_eq!(error.message, "item 3 of the page is not valid JSON: EOF");
        let closed = OutputRefusal::Closed("stdout closed".into()).into_error();
        assert_eq!(closed.category, Category::OutputClosed);
    }
}
