//! How every host reports a run: [`RunReport`] checks what the connector hands over and turns
//! it into [`Message`]s for a [`Sink`] — each stream bracketed by STARTED and COMPLETE or
//! INCOMPLETE, states counted, a failed stream INCOMPLETE with its TRACE ERROR, the run's end
//! (open streams closed, the failure reported once per open stream, a check's FAILED status)
//! and the summary. What a host shows besides (stderr lines, a progress bar) goes to its
//! [`Observer`].

use crate::{
    Blame, ErrorKind, Level, Message, Page, Report, Secrets, Sink, Status, StreamLedger, now_ms,
};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io;
use std::time::Duration;

/// Why a batch of output was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Item `index` is not a valid JSON object; nothing was written.
    Invalid { index: usize, reason: String },
    /// The sink is closed (it failed, or the run's outcome is written).
    Closed(String),
    /// The stream already ended: it takes no more records.
    StreamEnded(String),
}

/// What a host shows besides the messages: lines for people and live progress. Every method
/// does nothing by default.
pub trait Observer {
    /// A line for people, at a level the run shows.
    fn note(&mut self, _level: Level, _message: &str) {}
    /// A page of `records` records of `stream` was written.
    fn page(&mut self, _stream: &str, _records: u64) {}
    /// `stream` ended with `status`.
    fn ended(&mut self, _stream: &str, _status: Status) {}
}

impl Observer for () {}

/// How a run ended, as the report saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every stream finished and nothing failed.
    Succeeded,
    /// A `check` found the connection failing (reported as its FAILED status).
    CheckFailed(Report),
    /// The run failed; the kind of the first failure.
    Failed(ErrorKind),
}

/// A run's report: messages to `S`, lines for people to `O`.
pub struct RunReport<S: Sink, O: Observer = ()> {
    sink: S,
    observer: O,
    streams: StreamLedger,
    /// Set once the sink failed or the run's outcome is written: later writes are refused.
    closed: bool,
    /// The first failure to write the sink: the output is incomplete.
    write_error: Option<io::Error>,
    /// Streams the connector reported as failed, in order.
    failed: Vec<(String, ErrorKind)>,
    /// Logs less severe than this are dropped.
    min_level: Level,
    /// Masked in everything written.
    secrets: Secrets,
}

impl<S: Sink, O: Observer> RunReport<S, O> {
    /// A report to `sink`, passing on logs at `min_level` or more severe.
    pub fn new(sink: S, min_level: Level, observer: O) -> Self {
        Self {
            sink,
            observer,
            streams: StreamLedger::default(),
            closed: false,
            write_error: None,
            failed: Vec::new(),
            min_level,
            secrets: Secrets::default(),
        }
    }

    /// Masks `secrets` in everything written from now on (they may grow meanwhile: the
    /// bearer tokens a host sees are added as they come).
    pub fn mask(&mut self, secrets: Secrets) {
        self.secrets = secrets;
    }

    /// The secrets masked in everything written.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The observer, to change what it shows.
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    /// Where each stream stands.
    pub fn streams(&self) -> &StreamLedger {
        &self.streams
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

    /// Hands `message` to the sink, unless the report is closed.
    fn deliver(&mut self, message: Message<'_>) -> Result<(), Refusal> {
        self.deliver_with(|sink| sink.send(message))
    }

    /// Runs `send` on the sink, unless the report is closed; a failure closes it.
    fn deliver_with(&mut self, send: impl FnOnce(&mut S) -> io::Result<()>) -> Result<(), Refusal> {
        if let Some(e) = &self.write_error {
            return Err(Refusal::Closed(format!("stdout cannot be written: {e}")));
        }
        if self.closed {
            return Err(Refusal::Closed("the run is over".into()));
        }
        send(&mut self.sink).map_err(|e| {
            let refusal = Refusal::Closed(format!("stdout cannot be written: {e}"));
            self.closed = true;
            self.write_error = Some(e);
            refusal
        })
    }

    /// Writes one page of records; each must be a JSON object. Returns once flushed.
    pub fn records(&mut self, stream: &str, records: Vec<Vec<u8>>) -> Result<(), Refusal> {
        let invalid = records
            .iter()
            .enumerate()
            .find_map(|(i, r)| invalid_object(r).map(|why| (i, why)));
        if let Some((index, reason)) = invalid {
            return Err(Refusal::Invalid { index, reason });
        }
        if self.streams.admit(stream).map_err(Refusal::StreamEnded)? {
            self.status(stream, Status::Started);
        }
        let records = if self.secrets.is_empty() {
            records
        } else {
            let secrets = &self.secrets;
            records
                .into_iter()
                .map(|r| match secrets.scrub_bytes(&r) {
                    Cow::Borrowed(_) => r,
                    Cow::Owned(masked) => masked,
                })
                .collect()
        };
        let count = records.len() as u64;
        let page = Page {
            stream,
            records,
            emitted_at: now_ms(),
        };
        self.deliver_with(|sink| sink.send_page(page))?;
        self.streams.count(stream, count);
        self.observer.page(stream, count);
        Ok(())
    }

    /// Writes a STATE for `stream` with the records emitted since its previous state.
    pub fn state(&mut self, stream: &str, state: &str) -> Result<(), Refusal> {
        let secrets = self.secrets.clone();
        let state = secrets.scrub(state);
        let state: &RawValue = serde_json::from_str(&state).map_err(|e| Refusal::Invalid {
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
            self.observer.ended(stream, status);
            self.note(
                Level::Info,
                &format!("stream `{stream}` {} after {total} records", status.title()),
            );
        }
    }

    /// The requests the connector reports reading `stream` took (shown in the summary).
    pub fn stream_requests(&mut self, stream: &str, requests: u64) {
        self.streams.set_requests(stream, requests);
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

    /// A connector log line: a LOG message (detail, below INFO, only to the observer).
    pub fn log(&mut self, level: Level, message: &str) {
        if !self.shows(level) {
            return;
        }
        let secrets = self.secrets.clone();
        let message = &*secrets.scrub(message);
        if level.severity() >= Level::Info.severity() {
            let _ = self.deliver(Message::Log { level, message });
        }
        self.observer.note(level, message);
    }

    /// A line for people only (not a message), when the run shows `level`.
    pub fn note(&mut self, level: Level, message: &str) {
        if self.shows(level) {
            let message = self.secrets.scrub(message);
            self.observer.note(level, &message);
        }
    }

    fn shows(&self, level: Level) -> bool {
        level.severity() >= self.min_level.severity() || level == Level::Error
    }

    /// The end-of-read summary: a line per stream and a total for people, and the same as one
    /// LOG message. `detail` follows the total (a host's request figures, say).
    pub fn summary(&mut self, took: Duration, detail: &str) {
        let lines: Vec<String> = self
            .streams
            .iter()
            .map(|(name, p)| {
                let status = p.status.map_or("NOT STARTED", Status::name);
                let secs = p.took.map_or(0.0, |d| d.as_secs_f64());
                let requests = p
                    .requests
                    .map_or(String::new(), |n| format!(" with {n} requests"));
                format!(
                    "stream `{name}`: {} records{requests} in {secs:.1} s, {status}",
                    p.total
                )
            })
            .collect();
        let total = format!(
            "read {} records of {} streams in {:.1} s{detail}",
            self.streams.total(),
            self.streams.len(),
            took.as_secs_f64(),
        );
        for line in &lines {
            self.note(Level::Info, &format!("summary: {line}"));
        }
        self.note(Level::Info, &format!("summary: {total}"));
        if self.shows(Level::Info) {
            let message = if lines.is_empty() {
                format!("summary: {total}")
            } else {
                format!("summary: {total}; {}", lines.join("; "))
            };
            let _ = self.deliver(Message::Log {
                level: Level::Info,
                message: &message,
            });
        }
    }

    /// A TRACE ERROR, of `stream` when given, otherwise of the run (and the same for people).
    pub fn error(&mut self, report: &Report, stream: Option<&str>) {
        let report = &Report {
            message: self.secrets.scrub(&report.message).into_owned(),
            internal: self.secrets.scrub(&report.internal).into_owned(),
            request_id: report
                .request_id
                .as_deref()
                .map(|id| self.secrets.scrub(id).into_owned()),
            ..report.clone()
        };
        self.note(Level::Error, &report.message);
        let _ = self.deliver(Message::Error { report, stream });
    }

    /// The outcome of a `check`.
    pub fn connection_status(&mut self, succeeded: bool, message: Option<&str>) {
        let secrets = self.secrets.clone();
        let message = message.map(|m| secrets.scrub(m));
        let message = message.as_deref();
        let _ = self.deliver(Message::ConnectionStatus { succeeded, message });
    }

    /// The connector's specification.
    pub fn spec(&mut self, spec: &RawValue) {
        let _ = self.deliver(Message::Spec(spec));
    }

    /// The catalog of `discover`.
    pub fn catalog(&mut self, catalog: &RawValue) {
        let _ = self.deliver(Message::Catalog(catalog));
    }

    /// Ends the run: streams left open become INCOMPLETE (a connector that returned without
    /// finishing one failed), then `failure` is reported, once per open stream or once for the
    /// run; in a `check`, as its FAILED status (with a TRACE ERROR only when the runner
    /// failed, not the connection).
    pub fn finish(&mut self, failure: Option<Report>, check: bool) -> Ending {
        if self.write_error.is_some() {
            // The sink failed: nothing more can be written (the caller says so).
            return Ending::Failed(ErrorKind::Internal);
        }
        let open = self.close_open_streams();
        let report = match (failure, open.first()) {
            // Each failed stream has its INCOMPLETE and TRACE ERROR already.
            (None, None) => {
                return self
                    .first_failure()
                    .map_or(Ending::Succeeded, Ending::Failed);
            }
            (None, Some(stream)) => Report::unfinished(stream),
            (Some(report), _) => report,
        };
        let ending = Ending::Failed(self.first_failure().unwrap_or(report.kind));
        if check {
            self.connection_status(false, Some(&report.message));
            if report.blame == Blame::Runner {
                self.error(&report, None);
                return ending;
            }
            self.note(Level::Info, &format!("check failed: {}", report.message));
            return Ending::CheckFailed(report);
        }
        if open.is_empty() {
            self.error(&report, None);
        }
        for stream in &open {
            self.error(&report, Some(stream));
        }
        ending
    }

    /// Flushes the sink; a failure is kept in [`RunReport::write_error`].
    pub fn flush(&mut self) {
        if self.write_error.is_none()
            && let Err(e) = self.sink.flush()
        {
            self.closed = true;
            self.write_error = Some(e);
        }
    }
}

/// Why `text` is not a JSON object in UTF-8, if it is not.
fn invalid_object(text: &[u8]) -> Option<String> {
    let text = match simdutf8::compat::from_utf8(text) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnectorFailure, ErrorCategory, ProtocolLines};
    use serde_json::Value;

    fn report(buffer: &mut Vec<u8>) -> RunReport<ProtocolLines<&mut Vec<u8>>> {
        RunReport::new(ProtocolLines::new(buffer), Level::Info, ())
    }

    fn parsed(bytes: &[u8]) -> Vec<Value> {
        std::str::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn kinds(messages: &[Value]) -> Vec<String> {
        messages
            .iter()
            .map(|m| {
                let status = &m["trace"]["stream_status"]["status"];
                format!(
                    "{}{}",
                    m["type"].as_str().unwrap(),
                    status.as_str().map_or(String::new(), |s| format!(" {s}"))
                )
            })
            .collect()
    }

    fn transient(message: &str) -> Report {
        let failure = ConnectorFailure {
            category: ErrorCategory::Transient,
            message: message.into(),
            upstream_code: None,
            request_id: None,
        };
        Report::connector(failure, None)
    }

    #[test]
    fn counts_records_since_the_last_state() {
        let mut buffer = Vec::new();
        {
            let mut out = report(&mut buffer);
            out.records("s", vec![b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()])
                .unwrap();
            out.state("s", "{}").unwrap();
            out.records("s", vec![b"{\"a\":3}".to_vec()]).unwrap();
            out.state("s", "{\"c\":1}").unwrap();
            out.status("s", Status::Complete);
            assert_eq!(out.finish(None, false), Ending::Succeeded);
        }
        let messages = parsed(&buffer);
        let counts: Vec<f64> = messages
            .iter()
            .filter(|m| m["type"] == "STATE")
            .map(|m| m["state"]["sourceStats"]["recordCount"].as_f64().unwrap())
            .collect();
        assert_eq!(counts, vec![2.0, 1.0]);
        assert_eq!(
            kinds(&messages),
            [
                "TRACE STARTED",
                "RECORD",
                "RECORD",
                "STATE",
                "RECORD",
                "STATE",
                "TRACE COMPLETE"
            ]
        );
    }

    #[test]
    fn rejects_records_that_are_not_objects() {
        let mut buffer = Vec::new();
        let mut out = report(&mut buffer);
        assert!(
            out.records("s", vec![b"{\"a\":\"\xff\"}".to_vec()])
                .is_err(),
            "invalid UTF-8"
        );
        for bad in ["[1]", "{\"a\":", "{}\n{\"type\":\"SPEC\"}", "nope"] {
            assert!(
                out.records("s", vec![bad.as_bytes().to_vec()]).is_err(),
                "{bad}"
            );
        }
        assert!(out.streams().get("s").is_none());
    }

    #[test]
    fn a_failed_run_closes_open_streams_and_reports_each() {
        let mut buffer = Vec::new();
        {
            let mut out = report(&mut buffer);
            out.records("a", vec![b"{\"x\":1}".to_vec(), b"{\"x\":2}".to_vec()])
                .unwrap();
            out.state("a", "{\"c\":1}").unwrap();
            out.records("b", vec![b"{}".to_vec()]).unwrap();
            let ending = out.finish(Some(transient("gone")), false);
            assert_eq!(ending, Ending::Failed(ErrorKind::Transient));
            assert!(out.records("a", vec![b"{}".to_vec()]).is_err());
        }
        let messages = parsed(&buffer);
        assert_eq!(
            kinds(&messages),
            [
                "TRACE STARTED",
                "RECORD",
                "RECORD",
                "STATE",
                "TRACE STARTED",
                "RECORD",
                "TRACE INCOMPLETE",
                "TRACE INCOMPLETE",
                "TRACE",
                "TRACE"
            ]
        );
        let error = &messages[8]["trace"]["error"];
        assert_eq!(error["failure_type"], "transient_error");
        assert_eq!(error["stream_descriptor"]["name"], "a");
        assert_eq!(
            error["internal_message"],
            "connector error category: ErrorCategory::Transient"
        );
    }

    #[test]
    fn a_failed_stream_is_that_streams_and_the_run_fails_with_its_kind() {
        let mut buffer = Vec::new();
        {
            let mut out = report(&mut buffer);
            out.records("a", vec![b"{}".to_vec()]).unwrap();
            out.fail_stream("a", &transient("a broke"));
            out.records("b", vec![b"{}".to_vec()]).unwrap();
            out.status("b", Status::Complete);
            assert_eq!(
                out.finish(None, false),
                Ending::Failed(ErrorKind::Transient)
            );
        }
        let messages = parsed(&buffer);
        assert_eq!(
            kinds(&messages),
            [
                "TRACE STARTED",
                "RECORD",
                "TRACE INCOMPLETE",
                "TRACE",
                "TRACE STARTED",
                "RECORD",
                "TRACE COMPLETE"
            ]
        );
    }

    #[test]
    fn a_check_reports_a_failed_connection_as_its_status() {
        let mut buffer = Vec::new();
        {
            let mut out = report(&mut buffer);
            let ending = out.finish(Some(transient("no answer")), true);
            assert_eq!(ending, Ending::CheckFailed(transient("no answer")));
            let trap = Report::runner("trapped", "detail", ErrorKind::Internal);
            assert_eq!(
                out.finish(Some(trap), true),
                Ending::Failed(ErrorKind::Internal)
            );
        }
        let messages = parsed(&buffer);
        assert_eq!(
            kinds(&messages),
            ["CONNECTION_STATUS", "CONNECTION_STATUS", "TRACE"]
        );
        assert_eq!(messages[0]["connectionStatus"]["message"], "no answer");
    }

    #[test]
    fn a_connector_that_returns_with_a_stream_open_failed() {
        let mut buffer = Vec::new();
        {
            let mut out = report(&mut buffer);
            out.records("a", vec![b"{}".to_vec()]).unwrap();
            out.stream_requests("a", 2);
            assert_eq!(out.finish(None, false), Ending::Failed(ErrorKind::Internal));
            out.summary(Duration::from_millis(1200), ": 3 requests");
        }
        let messages = parsed(&buffer);
        assert_eq!(
            messages[3]["trace"]["error"]["message"],
            "the connector returned without finishing stream `a`"
        );
        assert_eq!(
            messages[4]["log"]["message"],
            "summary: read 1 records of 1 streams in 1.2 s: 3 requests; stream `a`: 1 records \
             with 2 requests in 0.0 s, INCOMPLETE"
        );
    }
}
