//! The connector's [`Output`] over the host contract's [`RunReport`], writing Airbyte protocol
//! lines to the response body: the same bracket, counts, failures, end and summary as
//! host-runner, from the same code. This module only converts the connector's own types.

use feishu::error::{ConnectorError, WireCategory};
use feishu::host::{LogLevel, Output, OutputRefusal, StreamStatus};
use protocol::{
    ConnectorFailure, ErrorCategory, Level, ProtocolLines, Refusal, Report, RunReport, Status,
};
use serde_json::Value;
use serde_json::value::RawValue;
use std::io::Write;
use std::time::Instant;

/// Protocol lines written to `W` (the response body) as the connector produces them.
pub struct Lines<W: Write> {
    report: RunReport<ProtocolLines<W>>,
    started: Instant,
}

/// The contract's report of a connector error (the category as the connector maps it for
/// every host).
pub fn report_of(error: &ConnectorError) -> Report {
    let category = match error.category.wire() {
        WireCategory::Config => ErrorCategory::Config,
        WireCategory::Auth => ErrorCategory::Auth,
        WireCategory::Permission => ErrorCategory::Permission,
        WireCategory::NotFound => ErrorCategory::NotFound,
        WireCategory::RateLimited(wait) => ErrorCategory::RateLimited(wait),
        WireCategory::Transient => ErrorCategory::Transient,
        WireCategory::BadResponse => ErrorCategory::BadResponse,
        WireCategory::Internal => ErrorCategory::Internal,
    };
    let failure = ConnectorFailure {
        category,
        message: error.message.clone(),
        upstream_code: error.upstream.code,
        request_id: error.upstream.request_id.clone(),
    };
    Report::connector(failure, None)
}

/// The connector's view of a refused output (as the connector maps it for every host).
fn refused(refusal: Refusal) -> ConnectorError {
    match refusal {
        Refusal::Invalid { index, reason } => OutputRefusal::Invalid {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            reason,
        },
        Refusal::Closed(why) | Refusal::StreamEnded(why) => OutputRefusal::Closed(why),
    }
    .into_error()
}

impl<W: Write> Lines<W> {
    pub fn new(out: W) -> Self {
        Self {
            report: RunReport::new(ProtocolLines::new(out), Level::Info, ()),
            started: Instant::now(),
        }
    }

    pub fn spec(&mut self, spec: &RawValue) {
        self.report.spec(spec);
    }

    /// Masks the values of the config's fields that the spec marks `airbyte_secret` in
    /// everything written from now on.
    pub fn mask_config_secrets(&mut self, spec: &Value, config: &Value) {
        self.report.secrets().add_config(spec, config);
    }

    pub fn catalog(&mut self, catalog: &RawValue) {
        self.report.catalog(catalog);
    }

    /// A check's outcome: SUCCEEDED, or FAILED with the error's message.
    pub fn connection_status(&mut self, result: Result<(), ConnectorError>) {
        match result {
            Ok(()) => self.report.connection_status(true, None),
            Err(error) => {
                self.report.finish(Some(report_of(&error)), true);
            }
        }
    }

    /// A TRACE ERROR of the run (a request the adapter cannot serve, a failed discover).
    pub fn error(&mut self, report: &Report) {
        self.report.finish(Some(report.clone()), false);
    }

    /// Ends a read: open streams INCOMPLETE with the run's error, then the summary LOG.
    pub fn finish_read(&mut self, result: Result<(), ConnectorError>) {
        let failure = result.err().map(|error| report_of(&error));
        self.report.finish(failure, false);
        self.report.summary(self.started.elapsed(), "");
        self.report.flush();
    }

    pub fn flush(&mut self) {
        self.report.flush();
    }
}

impl<W: Write> Output for Lines<W> {
    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        };
        self.report.log(level, message);
    }

    fn emit_records(&mut self, stream: &str, records: Vec<Vec<u8>>) -> Result<(), ConnectorError> {
        self.report.records(stream, records).map_err(refused)
    }

    fn emit_state(&mut self, stream: &str, state: &str) -> Result<(), ConnectorError> {
        self.report.state(stream, state).map_err(refused)
    }

    fn stream_status(&mut self, stream: &str, status: StreamStatus) {
        let status = match status {
            StreamStatus::Started => Status::Started,
            StreamStatus::Complete => Status::Complete,
            StreamStatus::Incomplete => Status::Incomplete,
        };
        self.report.status(stream, status);
    }

    fn fail_stream(&mut self, stream: &str, error: &ConnectorError) {
        self.report.fail_stream(stream, &report_of(error));
    }

    fn stream_requests(&mut self, stream: &str, requests: u64) {
        self.report.stream_requests(stream, requests);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feishu::error::{Category, Upstream};
    use serde_json::Value;

    fn parsed(bytes: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(bytes).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn reports_through_the_contract() {
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
            let error = ConnectorError::new(Category::Transient, "gone").with_upstream(Upstream {
                code: Some(1254607),
                request_id: Some("L7".into()),
            });
            lines.finish_read(Err(error));
        }
        let messages = parsed(&buffer);
        let kinds: Vec<&str> = messages
            .iter()
            .map(|m| m["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "TRACE", "RECORD", "RECORD", "STATE", "TRACE", "RECORD", "TRACE", "TRACE", "TRACE",
                "TRACE", "LOG"
            ]
        );
        assert_eq!(messages[3]["state"]["sourceStats"]["recordCount"], 2.0);
        let error = &messages[8]["trace"]["error"];
        assert_eq!(error["failure_type"], "transient_error");
        assert_eq!(
            error["internal_message"],
            "connector error category: ErrorCategory::Transient; upstream code 1254607; \
             request id L7"
        );
        assert!(!std::str::from_utf8(&buffer).unwrap().contains('\u{2028}'));
    }

    #[test]
    fn a_closed_body_tells_the_connector_to_stop() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut lines = Lines::new(Closed);
        let error = lines.emit_records("a", vec![b"{}".to_vec()]).unwrap_err();
        assert_eq!(error.category, Category::OutputClosed);
    }
}
