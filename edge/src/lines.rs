//! The connector's [`Output`] as Airbyte protocol lines, each stream's standing kept in the
//! [`StreamLedger`] host-runner keeps too: a STARTED status before a stream's first records,
//! each STATE with the records since the one before, a failed stream INCOMPLETE with its TRACE
//! ERROR, and at the end every stream left open marked INCOMPLETE with the run's error.

use airbyte_protocol::{
    ConnectionStatus, FailureType, Level, Log, Message, ProtocolWriter, Status, StreamLedger,
    StreamState, Trace, now_ms,
};
use feishu::error::{Category, ConnectorError};
use feishu::host::{LogLevel, Output, StreamStatus};
use serde_json::value::RawValue;
use std::io::Write;
use std::time::Instant;

/// Protocol lines written to `W` (the response body) as the connector produces them.
pub struct Lines<W: Write> {
    out: ProtocolWriter<W>,
    streams: StreamLedger,
    failed: bool,
    broken: bool,
    started: Instant,
}

/// A failure as a TRACE ERROR carries it.
pub struct Report {
    pub message: String,
    pub internal: String,
    pub failure_type: FailureType,
}

impl Report {
    /// host-runner's report of a connector error (the WIT category names the class).
    pub fn of(error: &ConnectorError) -> Self {
        let (name, failure_type) = match &error.category {
            Category::Config => ("Config".into(), FailureType::Config),
            Category::Auth => ("Auth".into(), FailureType::Config),
            Category::Permission => ("Permission".into(), FailureType::Config),
            Category::NotFound => ("NotFound".into(), FailureType::Config),
            Category::RateLimited(wait) => (
                format!("RateLimited({:?})", wait.map(|d| d.as_millis() as u64)),
                FailureType::Transient,
            ),
            Category::Transient => ("Transient".into(), FailureType::Transient),
            Category::BadResponse | Category::ResponseTooLarge => {
                ("BadResponse".into(), FailureType::System)
            }
            Category::Internal | Category::OutputClosed => ("Internal".into(), FailureType::System),
        };
        Self {
            message: error.message.clone(),
            internal: format!("connector error category: ErrorCategory::{name}"),
            failure_type,
        }
    }

    /// A request the adapter cannot serve.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            internal: "invalid input".into(),
            failure_type: FailureType::Config,
        }
    }
}

impl<W: Write> Lines<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: ProtocolWriter::new(out),
            streams: StreamLedger::default(),
            failed: false,
            broken: false,
            started: Instant::now(),
        }
    }

    /// Writes one message; a write that fails marks the output closed.
    fn write(&mut self, message: &Message<'_>) -> Result<(), ConnectorError> {
        let urgent = !matches!(message, Message::Log { .. });
        if !self.broken
            && (self.out.message(message).is_err() || (urgent && self.out.flush().is_err()))
        {
            self.broken = true;
        }
        self.closed()
    }

    fn closed(&self) -> Result<(), ConnectorError> {
        match self.broken {
            true => Err(ConnectorError::new(
                Category::OutputClosed,
                "the client stopped reading the response".to_string(),
            )),
            false => Ok(()),
        }
    }

    pub fn spec(&mut self, spec: &RawValue) {
        let _ = self.write(&Message::Spec { spec });
    }

    pub fn catalog(&mut self, catalog: &RawValue) {
        let _ = self.write(&Message::Catalog { catalog });
    }

    pub fn connection_status(&mut self, error: Option<&ConnectorError>) {
        let connection_status = ConnectionStatus {
            status: if error.is_some() {
                "FAILED"
            } else {
                "SUCCEEDED"
            },
            message: error.map(|e| e.message.as_str()),
        };
        let _ = self.write(&Message::ConnectionStatus { connection_status });
    }

    /// A TRACE ERROR, of `stream` when given, otherwise of the run.
    pub fn error(&mut self, report: &Report, stream: Option<&str>) {
        let trace = Trace::error(
            &report.message,
            &report.internal,
            report.failure_type,
            stream,
        );
        let _ = self.write(&Message::Trace { trace });
    }

    fn status(&mut self, stream: &str, status: Status) {
        self.streams.set_status(stream, status);
        let trace = Trace::stream_status(stream, status);
        let _ = self.write(&Message::Trace { trace });
    }

    /// Ends a read: open streams INCOMPLETE with the run's error, then the summary LOG.
    pub fn finish_read(&mut self, result: Result<(), ConnectorError>) {
        let open = self.streams.open();
        for stream in &open {
            self.status(stream, Status::Incomplete);
        }
        let error = match (result, open.first()) {
            (Err(error), _) => Some(Report::of(&error)),
            (Ok(()), Some(stream)) => Some(Report {
                message: format!("the connector returned without finishing stream `{stream}`"),
                internal: "unfinished stream".into(),
                failure_type: FailureType::System,
            }),
            (Ok(()), None) => None,
        };
        if let Some(report) = &error {
            if open.is_empty() {
                self.error(report, None);
            }
            for stream in &open {
                self.error(report, Some(stream));
            }
        }
        self.failed |= error.is_some();
        self.summary();
        let _ = self.out.flush();
    }

    fn summary(&mut self) {
        let records = self.streams.total();
        let per_stream: Vec<String> = self
            .streams
            .iter()
            .map(|(name, p)| {
                let status = p
                    .status
                    .map_or("NOT STARTED".into(), |s| format!("{s:?}").to_uppercase());
                format!("stream `{name}`: {} records, {status}", p.total)
            })
            .collect();
        let message = format!(
            "summary: read {records} records of {} streams in {:.1} s; {}",
            self.streams.len(),
            self.started.elapsed().as_secs_f64(),
            per_stream.join("; ")
        );
        self.log(LogLevel::Info, &message);
    }

    /// Whether a stream or the run failed.
    pub fn failed(&self) -> bool {
        self.failed
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

impl<W: Write> Output for Lines<W> {
    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            // Detail stays out of the protocol stream, as with host-runner.
            LogLevel::Debug => return,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        };
        let _ = self.write(&Message::Log {
            log: Log { level, message },
        });
    }

    fn emit_records(&mut self, stream: &str, records: Vec<Vec<u8>>) -> Result<(), ConnectorError> {
        let start = self
            .streams
            .admit(stream)
            .map_err(|why| ConnectorError::new(Category::Internal, why))?;
        if start {
            self.status(stream, Status::Started);
        }
        let emitted_at = now_ms();
        for record in &records {
            if !self.broken && self.out.record(stream, record, emitted_at).is_err() {
                self.broken = true;
            }
        }
        if !self.broken && self.out.flush().is_err() {
            self.broken = true;
        }
        self.streams.count(stream, records.len() as u64);
        self.closed()
    }

    fn emit_state(&mut self, stream: &str, state: &str) -> Result<(), ConnectorError> {
        let state: &RawValue = serde_json::from_str(state).map_err(|e| {
            ConnectorError::new(Category::Internal, format!("a state is not JSON: {e}"))
        })?;
        let count = self.streams.get(stream).map_or(0, |p| p.since_state);
        self.write(&Message::State {
            state: StreamState::new(stream, state, count),
        })?;
        self.streams.checkpoint(stream);
        Ok(())
    }

    fn stream_status(&mut self, stream: &str, status: StreamStatus) {
        let status = match status {
            StreamStatus::Started => Status::Started,
            StreamStatus::Complete => Status::Complete,
            StreamStatus::Incomplete => Status::Incomplete,
        };
        self.status(stream, status);
    }

    fn fail_stream(&mut self, stream: &str, error: &ConnectorError) {
        self.status(stream, Status::Incomplete);
        self.error(&Report::of(error), Some(stream));
        self.failed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parsed(bytes: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(bytes).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn keeps_host_runner_bookkeeping() {
        let mut buffer = Vec::new();
        {
            let mut lines = Lines::new(&mut buffer);
            lines
                .emit_records("a", vec![b"{\"x\":1}".to_vec(), b"{\"x\":2}".to_vec()])
                .unwrap();
            lines.emit_state("a", "{\"c\":1}").unwrap();
            lines
                .emit_records("b", vec![b"{\"y\":\"\xe2\x80\xa8\"}".to_vec()])
                .unwrap();
            let error = ConnectorError::new(Category::Transient, "gone");
            lines.finish_read(Err(error));
            assert!(lines.failed());
        }
        let messages = parsed(&buffer);
        let kinds: Vec<String> = messages
            .iter()
            .map(|m| {
                let status = &m["trace"]["stream_status"]["status"];
                format!(
                    "{}{}",
                    m["type"].as_str().unwrap(),
                    status.as_str().map_or(String::new(), |s| format!(" {s}"))
                )
            })
            .collect();
        assert_eq!(
            kinds,
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
                "TRACE",
                "LOG"
            ]
        );
        assert_eq!(messages[3]["state"]["sourceStats"]["recordCount"], 2.0);
        assert_eq!(
            messages[8]["trace"]["error"]["failure_type"],
            "transient_error"
        );
        assert_eq!(
            messages[8]["trace"]["error"]["internal_message"],
            "connector error category: ErrorCategory::Transient"
        );
        assert!(!std::str::from_utf8(&buffer).unwrap().contains('\u{2028}'));
    }
}
