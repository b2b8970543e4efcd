//! What the connector hands the host during a run, checked and turned into [`Message`]s for
//! the run's [`Sink`]: records, states with per-stream counts, stream statuses (closing any
//! left open), failures and logs; human-readable lines on stderr when asked.

use crate::ErrorKind;
use crate::progress::Progress;
#[cfg(test)]
use crate::protocol::StreamProgress;
use crate::protocol::{FailureType, Level, Status, StreamLedger, now_ms};
use crate::sink::{Message, Sink};
use crate::stats::Totals;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a batch of output was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Item `index` is not a valid JSON object; nothing was written.
    Invalid { index: usize, reason: String },
    /// stdout is closed, or a stream is already finished.
    Closed(String),
}

/// A failure as reported in a TRACE ERROR.
#[derive(Debug, Clone)]
pub struct Report {
    /// For people: what went wrong and what to do.
    pub message: String,
    /// For operators.
    pub internal: String,
    pub failure_type: FailureType,
    pub kind: ErrorKind,
}

/// The run's output: messages to the sink, human-readable logs on stderr (when `echo`).
pub struct Output {
    sink: Box<dyn Sink>,
    streams: StreamLedger,
    /// Set once stdout failed or the run's outcome is written: later writes are refused.
    closed: bool,
    /// The first failure to write stdout: the output is incomplete.
    write_error: Option<io::Error>,
    /// Streams the connector reported as failed, in order.
    failed: Vec<(String, ErrorKind)>,
    /// Also write human-readable lines on stderr.
    echo: bool,
    /// Logs less severe than this are dropped.
    min_level: Level,
    /// Live progress on a terminal.
    progress: Option<Progress>,
}

/// An `Output` shared between the store (connector calls) and the watchdog.
pub type SharedOutput = Arc<Mutex<Output>>;

/// Locks a shared output, recovering it if a thread panicked while holding it.
pub fn lock(output: &SharedOutput) -> MutexGuard<'_, Output> {
    output
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Output {
    /// Output to `sink`, passing on logs at `min_level` or more severe; `echo` also writes
    /// human-readable lines on stderr.
    pub fn new(sink: Box<dyn Sink>, min_level: Level, echo: bool) -> Self {
        Self {
            sink,
            streams: StreamLedger::default(),
            closed: false,
            write_error: None,
            failed: Vec::new(),
            echo,
            min_level,
            progress: None,
        }
    }

    /// Draws live progress on stderr, if it is a terminal.
    pub fn show_progress(&mut self) {
        self.progress = Progress::on_terminal();
    }

    /// Why the sink failed, if it did.
    pub fn write_error(&self) -> Option<&io::Error> {
        self.write_error.as_ref()
    }

    /// Why the sink failed, taken out, if it did.
    pub fn take_write_error(&mut self) -> Option<io::Error> {
        self.write_error.take()
    }

    /// Takes no more output: the run's outcome is written.
    pub fn seal(&mut self) {
        self.closed = true;
    }

    #[cfg(test)]
    pub fn progress(&self, stream: &str) -> Option<StreamProgress> {
        self.streams.get(stream).copied()
    }

    /// Hands `message` to the sink, unless the output is closed.
    fn deliver(&mut self, message: Message<'_>) -> Result<(), Refusal> {
        if let Some(e) = &self.write_error {
            return Err(Refusal::Closed(format!("stdout cannot be written: {e}")));
        }
        if self.closed {
            return Err(Refusal::Closed("the run is over".into()));
        }
        match self.sink.send(message) {
            Ok(()) => Ok(()),
            Err(e) => {
                let refusal = Refusal::Closed(format!("stdout cannot be written: {e}"));
                self.closed = true;
                self.write_error = Some(e);
                Err(refusal)
            }
        }
    }

    /// Writes one page of records; each must be a JSON object. Returns once flushed.
    pub fn records(&mut self, stream: &str, records: &[Vec<u8>]) -> Result<(), Refusal> {
        let invalid = records
            .iter()
            .enumerate()
            .find_map(|(i, r)| invalid_object(r).map(|why| (i, why)));
        if let Some((index, reason)) = invalid {
            return Err(Refusal::Invalid { index, reason });
        }
        self.ensure_started(stream)?;
        self.deliver(Message::Records {
            stream,
            records,
            emitted_at: now_ms(),
        })?;
        self.streams.count(stream, records.len() as u64);
        if let Some(bar) = &mut self.progress {
            bar.page(stream, records.len() as u64);
        }
        Ok(())
    }

    /// Writes a STATE for `stream` with the records emitted since its previous state.
    pub fn state(&mut self, stream: &str, state: &str) -> Result<(), Refusal> {
        let state: &RawValue = serde_json::from_str(state).map_err(|e| Refusal::Invalid {
            index: 0,
            reason: e.to_string(),
        })?;
        let count = self.streams.get(stream).map_or(0, |p| p.since_state);
        self.deliver(Message::State {
            stream,
            state,
            record_count: count,
        })?;
        self.streams.checkpoint(stream);
        Ok(())
    }

    /// Writes a STREAM_STATUS trace and remembers it.
    pub fn status(&mut self, stream: &str, status: Status) {
        let total = self.streams.set_status(stream, status);
        let _ = self.deliver(Message::StreamStatus { stream, status });
        if status != Status::Started {
            if let Some(bar) = &mut self.progress {
                bar.finish(stream, &format!("{status:?}").to_uppercase());
            }
            self.log_stderr(
                Level::Info,
                &format!("stream `{stream}` {status:?} after {total} records"),
            );
        }
    }

    fn ensure_started(&mut self, stream: &str) -> Result<(), Refusal> {
        if self.streams.admit(stream).map_err(Refusal::Closed)? {
            self.status(stream, Status::Started);
        }
        Ok(())
    }

    /// A stream the connector gave up on: INCOMPLETE, then a TRACE ERROR naming it.
    pub fn fail_stream(&mut self, stream: &str, report: &Report) {
        self.status(stream, Status::Incomplete);
        self.error(report, Some(stream));
        self.failed.push((stream.to_string(), report.kind));
    }

    /// The kind of the first stream failure, if a stream failed.
    pub fn first_failure(&self) -> Option<ErrorKind> {
        self.failed.first().map(|(_, kind)| *kind)
    }

    /// Marks every stream that started but did not finish as INCOMPLETE; returns their names.
    pub fn close_open_streams(&mut self) -> Vec<String> {
        let open = self.streams.open();
        for stream in &open {
            self.status(stream, Status::Incomplete);
        }
        open
    }

    /// A connector log line: a LOG message on stdout and a line on stderr.
    pub fn log(&mut self, level: Level, message: &str) {
        if severity(level) < severity(self.min_level) && level != Level::Error {
            return;
        }
        if level == Level::Debug || level == Level::Trace {
            // Detail goes to stderr only, not into the protocol stream.
            self.log_stderr(level, message);
            return;
        }
        let _ = self.deliver(Message::Log { level, message });
        self.log_stderr(level, message);
    }

    /// A host-side line on stderr only, control characters escaped.
    pub fn log_stderr(&self, level: Level, message: &str) {
        let shown = severity(level) >= severity(self.min_level) || level == Level::Error;
        if self.echo && shown {
            match &self.progress {
                Some(bar) => bar.println(&format_line(level, message)),
                None => stderr_line(level, message),
            }
        }
    }

    /// The end-of-read summary: a line per stream and a total on stderr, and the same figures
    /// as one LOG message.
    pub fn summary(&mut self, totals: &Totals, took: std::time::Duration) {
        let records = self.streams.total();
        let lines: Vec<String> = self
            .streams
            .iter()
            .map(|(name, p)| {
                let status = p.status.map_or("NOT STARTED".to_string(), |s| {
                    format!("{s:?}").to_uppercase()
                });
                let secs = p.took.map_or(0.0, |d| d.as_secs_f64());
                format!(
                    "stream `{name}`: {} records in {secs:.1} s, {status}",
                    p.total
                )
            })
            .collect();
        let total = format!(
            "read {records} records of {} streams in {:.1} s: {} requests, {} answers retried \
             (429 or 5xx), {} requests held by the rate limiter ({:.1} s), {} token requests",
            self.streams.len(),
            took.as_secs_f64(),
            totals.requests,
            totals.retried_answers,
            totals.waits,
            totals.waited.as_secs_f64(),
            totals.token_requests
        );
        for line in &lines {
            self.log_stderr(Level::Info, &format!("summary: {line}"));
        }
        self.log_stderr(Level::Info, &format!("summary: {total}"));
        if severity(Level::Info) >= severity(self.min_level) {
            let message = format!("summary: {total}; {}", lines.join("; "));
            let _ = self.deliver(Message::Log {
                level: Level::Info,
                message: &message,
            });
        }
    }

    /// A TRACE ERROR (and the same on stderr).
    pub fn error(&mut self, report: &Report, stream: Option<&str>) {
        self.log_stderr(Level::Error, &report.message);
        let _ = self.deliver(Message::Error {
            message: &report.message,
            internal_message: &report.internal,
            failure_type: report.failure_type,
            kind: report.kind,
            stream,
        });
    }

    pub fn connection_status(&mut self, succeeded: bool, message: Option<&str>) {
        let _ = self.deliver(Message::ConnectionStatus { succeeded, message });
    }

    pub fn spec(&mut self, spec: &RawValue) {
        let _ = self.deliver(Message::Spec(spec));
    }

    pub fn catalog(&mut self, catalog: &RawValue) {
        let _ = self.deliver(Message::Catalog(catalog));
    }

    /// Flushes the sink; a failure is kept in [`Output::write_error`].
    pub fn flush(&mut self) {
        if self.write_error.is_none()
            && let Err(e) = self.sink.flush()
        {
            self.closed = true;
            self.write_error = Some(e);
        }
    }
}

/// How severe a level is (higher is more severe).
fn severity(level: Level) -> u8 {
    match level {
        Level::Trace => 0,
        Level::Debug => 1,
        Level::Info => 2,
        Level::Warn => 3,
        Level::Error => 4,
    }
}

/// Why `text` is not a JSON object in UTF-8, if it is not.
fn invalid_object(text: &[u8]) -> Option<String> {
    let text = match std::str::from_utf8(text) {
        Ok(text) => text,
        Err(e) => return Some(format!("not valid UTF-8: {e}")),
    };
    if !text.trim_start().starts_with('{') {
        return Some("it does not start with `{`".into());
    }
    serde_json::from_str::<IgnoredAny>(text)
        .err()
        .map(|e| e.to_string())
}

/// Writes one log line on stderr: the level, then `message` with its control characters
/// escaped, so neither a component nor a server can forge lines or drive the terminal.
pub fn stderr_line(level: Level, message: &str) {
    eprintln!("{}", format_line(level, message));
}

/// A log line as stderr shows it.
fn format_line(level: Level, message: &str) -> String {
    let level = format!("{level:?}").to_uppercase();
    format!("{level:<5} {}", escape_controls(message))
}

/// `text` with control characters (C0, DEL, C1), line and paragraph separators and bidi
/// overrides written as Rust escapes (`\n`, `\u{1b}`).
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Most bytes of guest stderr shown per run; the rest is dropped with one note.
const GUEST_STDERR_LIMIT: usize = 64 << 10;
/// Longest guest stderr line shown whole; longer ones are cut.
const GUEST_LINE_LIMIT: usize = 4096;

/// The component's stderr: split into lines, each logged on the runner's stderr with a
/// prefix and its control characters escaped. Bounded per run.
#[derive(Clone, Default)]
pub struct GuestStderr {
    state: Arc<Mutex<GuestLines>>,
}

#[derive(Default)]
struct GuestLines {
    pending: Vec<u8>,
    shown: usize,
}

impl GuestStderr {
    pub fn new() -> Self {
        Self::default()
    }

    fn take(&self, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for &byte in bytes {
            if byte == b'\n' || state.pending.len() >= GUEST_LINE_LIMIT {
                let line = std::mem::take(&mut state.pending);
                state.emit(&line);
            }
            if byte != b'\n' {
                state.pending.push(byte);
            }
        }
    }
}

impl GuestLines {
    fn emit(&mut self, line: &[u8]) {
        if self.shown > GUEST_STDERR_LIMIT {
            return;
        }
        self.shown += line.len() + 1;
        let text = String::from_utf8_lossy(line);
        if self.shown > GUEST_STDERR_LIMIT {
            stderr_line(Level::Warn, "component stderr: (more output dropped)");
        } else {
            stderr_line(Level::Warn, &format!("component stderr: {text}"));
        }
    }
}

impl Drop for GuestLines {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for GuestStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestStderr {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.take(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::ProtocolLines;
    use serde_json::Value;

    /// A buffer the test keeps while the output writes protocol lines into it.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn output(buf: &Buffer) -> Output {
        Output::new(
            Box::new(ProtocolLines::new(buf.clone())),
            Level::Info,
            false,
        )
    }

    fn lines(buf: &Buffer) -> Vec<Value> {
        String::from_utf8_lossy(&buf.0.lock().unwrap())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn counts_records_since_the_last_state() {
        let buf = Buffer::default();
        {
            let mut out = output(&buf);
            out.status("s", Status::Started);
            out.records(
                "s",
                &[
                    "{\"a\":1}".as_bytes().to_vec(),
                    "{\"a\":2}".as_bytes().to_vec(),
                ],
            )
            .unwrap();
            out.state("s", "{}").unwrap();
            out.records("s", &["{\"a\":3}".as_bytes().to_vec()])
                .unwrap();
            out.state("s", "{\"c\":1}").unwrap();
            out.status("s", Status::Complete);
        }
        let v = lines(&buf);
        let counts: Vec<f64> = v
            .iter()
            .filter(|m| m["type"] == "STATE")
            .map(|m| m["state"]["sourceStats"]["recordCount"].as_f64().unwrap())
            .collect();
        assert_eq!(counts, vec![2.0, 1.0]);
        assert_eq!(v.iter().filter(|m| m["type"] == "RECORD").count(), 3);
    }

    #[test]
    fn rejects_records_that_are_not_objects() {
        let mut out = output(&Buffer::default());
        assert!(
            out.records("s", &[b"{\"a\":\"\xff\"}".to_vec()]).is_err(),
            "invalid UTF-8"
        );
        for bad in ["[1]", "{\"a\":", "{}\n{\"type\":\"SPEC\"}", "nope"] {
            assert!(
                out.records("s", &[bad.as_bytes().to_vec()]).is_err(),
                "{bad}"
            );
        }
        assert!(out.progress("s").is_none());
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain 文字"), "plain 文字");
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\nINFO forged\r\u{2028}\u{202e}"),
            "a\\u{1b}[2Jb\\nINFO forged\\r\\u{2028}\\u{202e}"
        );
    }

    #[test]
    fn open_streams_are_closed_incomplete() {
        let buf = Buffer::default();
        {
            let mut out = output(&buf);
            out.records("a", &["{}".as_bytes().to_vec()]).unwrap();
            out.status("b", Status::Started);
            out.status("b", Status::Complete);
            assert_eq!(out.close_open_streams(), vec!["a".to_string()]);
            assert!(out.records("b", &["{}".as_bytes().to_vec()]).is_err());
        }
        let statuses: Vec<String> = lines(&buf)
            .iter()
            .filter(|m| m["type"] == "TRACE")
            .map(|m| {
                format!(
                    "{}:{}",
                    m["trace"]["stream_status"]["stream_descriptor"]["name"],
                    m["trace"]["stream_status"]["status"]
                )
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                "\"a\":\"STARTED\"",
                "\"b\":\"STARTED\"",
                "\"b\":\"COMPLETE\"",
                "\"a\":\"INCOMPLETE\""
            ]
        );
    }
}
