//! The host contract of the `source` world, shared by every host (host-runner natively, the
//! edge build in wasm, the Python package through host-runner): what a run reports and how.
//!
//! - [`report`]: the failure table — a connector's error category or a runner failure becomes
//!   a [`Report`] with its [`ErrorKind`], [`FailureType`], exit code and internal text.
//! - [`RunReport`] ([`run_report`]): the stream status bracket, fail-stream, the run's end and
//!   the summary, as [`Message`]s to a [`Sink`] ([`sink`]), over each stream's [`StreamLedger`],
//!   with the run's [`Secrets`] ([`secrets`]) masked in everything it writes.
//! - [`kept`]: the secrets the host keeps — config fields marked `x-host-secret` reach the
//!   component as placeholders the host puts the real values back for in granted requests.
//! - This module: the Airbyte protocol on the wire, serialize-only [`Line`]s written one JSON
//!   object per line by [`ProtocolWriter`]; RECORD lines are spliced around the connector's raw
//!   JSON instead of re-serialised.

pub mod conformance;
pub mod kept;
mod ledger;
pub mod report;
pub mod run_report;
pub mod secrets;
pub mod sink;

pub use ledger::{StreamLedger, StreamProgress};
pub use report::{Blame, ConnectorFailure, ErrorCategory, ErrorKind, Report, contract, exit};
pub use run_report::{Ending, Observer, Refusal, RunReport};
pub use secrets::Secrets;
use serde::Serialize;
use serde_json::value::RawValue;
pub use sink::{Message, Page, ProtocolLines, Sink};
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A protocol line other than RECORD, as it goes on the wire.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Line<'a> {
    Spec {
        spec: &'a RawValue,
    },
    ConnectionStatus {
        #[serde(rename = "connectionStatus")]
        connection_status: ConnectionStatus<'a>,
    },
    Catalog {
        catalog: &'a RawValue,
    },
    Log {
        log: Log<'a>,
    },
    State {
        state: StreamState<'a>,
    },
    Trace {
        trace: Trace<'a>,
    },
}

#[derive(Serialize)]
pub struct ConnectionStatus<'a> {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
}

/// Log levels as the protocol spells them.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// A failure.
    Error,
    /// Something the user should look at.
    Warn,
    /// Progress worth knowing.
    Info,
    /// Detail for diagnosing (shown at `--log-level debug`).
    Debug,
    /// Finer detail (never shown by the CLI).
    Trace,
}

impl Level {
    /// How severe the level is (higher is more severe).
    pub fn severity(self) -> u8 {
        match self {
            Level::Trace => 0,
            Level::Debug => 1,
            Level::Info => 2,
            Level::Warn => 3,
            Level::Error => 4,
        }
    }
}

#[derive(Serialize)]
pub struct Log<'a> {
    pub level: Level,
    pub message: &'a str,
}

#[derive(Serialize)]
pub struct StreamDescriptor<'a> {
    pub name: &'a str,
}

/// A per-stream STATE message with its record count.
#[derive(Serialize)]
pub struct StreamState<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub stream: StreamStateBody<'a>,
    #[serde(rename = "sourceStats")]
    pub source_stats: SourceStats,
}

#[derive(Serialize)]
pub struct StreamStateBody<'a> {
    pub stream_descriptor: StreamDescriptor<'a>,
    pub stream_state: &'a RawValue,
}

#[derive(Serialize)]
pub struct SourceStats {
    #[serde(rename = "recordCount")]
    pub record_count: f64,
}

impl<'a> StreamState<'a> {
    pub fn new(stream: &'a str, state: &'a RawValue, record_count: u64) -> Self {
        Self {
            kind: "STREAM",
            stream: StreamStateBody {
                stream_descriptor: StreamDescriptor { name: stream },
                stream_state: state,
            },
            source_stats: SourceStats {
                record_count: record_count as f64,
            },
        }
    }
}

/// Failure classes of a TRACE ERROR.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureType {
    /// The user must fix the config (or credentials, permissions, ids).
    #[serde(rename = "config_error")]
    Config,
    /// May pass if retried later.
    #[serde(rename = "transient_error")]
    Transient,
    /// A fault in the connector, the runner or the upstream's answers.
    #[serde(rename = "system_error")]
    System,
}

/// Stream statuses of a TRACE STREAM_STATUS.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Reading of the stream began.
    Started,
    /// Every record of the stream was emitted.
    Complete,
    /// The stream stopped before all its records were emitted.
    Incomplete,
}

impl Status {
    /// The status as the protocol spells it (`COMPLETE`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Started => "STARTED",
            Status::Complete => "COMPLETE",
            Status::Incomplete => "INCOMPLETE",
        }
    }

    /// The status in a sentence for people (`Complete`).
    pub fn title(self) -> &'static str {
        match self {
            Status::Started => "Started",
            Status::Complete => "Complete",
            Status::Incomplete => "Incomplete",
        }
    }
}

#[derive(Serialize)]
pub struct Trace<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    emitted_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<TraceError<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_status: Option<StreamStatusTrace<'a>>,
}

#[derive(Serialize)]
struct TraceError<'a> {
    message: &'a str,
    internal_message: &'a str,
    failure_type: FailureType,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_descriptor: Option<StreamDescriptor<'a>>,
}

#[derive(Serialize)]
struct StreamStatusTrace<'a> {
    stream_descriptor: StreamDescriptor<'a>,
    status: Status,
}

impl<'a> Trace<'a> {
    /// A TRACE ERROR: `message` for people, `internal_message` for operators.
    pub fn error(
        message: &'a str,
        internal_message: &'a str,
        failure_type: FailureType,
        stream: Option<&'a str>,
    ) -> Self {
        Self {
            kind: "ERROR",
            emitted_at: now_ms() as f64,
            error: Some(TraceError {
                message,
                internal_message,
                failure_type,
                stream_descriptor: stream.map(|name| StreamDescriptor { name }),
            }),
            stream_status: None,
        }
    }

    /// A TRACE STREAM_STATUS.
    pub fn stream_status(stream: &'a str, status: Status) -> Self {
        Self {
            kind: "STREAM_STATUS",
            emitted_at: now_ms() as f64,
            error: None,
            stream_status: Some(StreamStatusTrace {
                stream_descriptor: StreamDescriptor { name: stream },
                status,
            }),
        }
    }
}

/// Writes protocol lines to any `Write` (stdout in the CLI, a buffer in tests).
pub struct ProtocolWriter<W: Write> {
    out: W,
}

impl<W: Write> ProtocolWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    pub fn line(&mut self, message: &Line<'_>) -> io::Result<()> {
        let line = serde_json::to_vec(message)?;
        write_one_line(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    /// Writes a RECORD line around `data`, which must already be a valid JSON object. A
    /// top-level `file_reference` object of `data` (a record describing a file the connector
    /// handed over, for Airbyte's file transfer) becomes the message's own `file_reference`.
    pub fn record(&mut self, stream: &str, data: &[u8], emitted_at: u64) -> io::Result<()> {
        if let Some((data, reference)) = file_reference(data) {
            return self.record_with(stream, &data, Some(&reference), emitted_at);
        }
        self.record_with(stream, data, None, emitted_at)
    }

    fn record_with(
        &mut self,
        stream: &str,
        data: &[u8],
        file_reference: Option<&[u8]>,
        emitted_at: u64,
    ) -> io::Result<()> {
        self.out
            .write_all(b"{\"type\":\"RECORD\",\"record\":{\"stream\":")?;
        write_one_line(&mut self.out, &serde_json::to_vec(stream)?)?;
        self.out.write_all(b",\"data\":")?;
        write_one_line(&mut self.out, data)?;
        if let Some(reference) = file_reference {
            self.out.write_all(b",\"file_reference\":")?;
            write_one_line(&mut self.out, reference)?;
        }
        writeln!(self.out, ",\"emitted_at\":{emitted_at}}}}}")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `data` without its top-level `file_reference` object, and that object, when it has one.
fn file_reference(data: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    memchr::memmem::find(data, b"\"file_reference\"")?;
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(data).ok()?;
    let reference = match object.remove("file_reference")? {
        serde_json::Value::Object(reference) => reference,
        _ => return None,
    };
    Some((
        serde_json::to_vec(&object).ok()?,
        serde_json::to_vec(&reference).ok()?,
    ))
}

/// Writes valid JSON text so that it stays on one line for every reader: raw line breaks
/// (only possible as whitespace between tokens) become spaces, and U+2028 / U+2029 (only
/// possible inside strings, where Python's `str.splitlines()` would still cut) become
/// `\u2028` / `\u2029`.
fn write_one_line(out: &mut impl Write, json: &[u8]) -> io::Result<()> {
    let mut written = 0;
    for i in memchr::memchr3_iter(b'\n', b'\r', 0xE2, json) {
        let escape: &[u8] = match &json[i..] {
            [b'\n' | b'\r', ..] => b" ",
            [0xE2, 0x80, 0xA8, ..] => b"\\u2028",
            [0xE2, 0x80, 0xA9, ..] => b"\\u2029",
            // Another character starting with 0xE2 (such as an em dash): kept as it is.
            _ => continue,
        };
        out.write_all(&json[written..i])?;
        out.write_all(escape)?;
        written = i + if json[i] == 0xE2 { 3 } else { 1 };
    }
    out.write_all(&json[written..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn line(f: impl FnOnce(&mut ProtocolWriter<&mut Vec<u8>>)) -> Value {
        let mut buf = Vec::new();
        f(&mut ProtocolWriter::new(&mut buf));
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_records_file_reference_moves_to_the_message() {
        let data = br#"{"path":"s/f.pdf","file_reference":{"staging_file_url":"/staging/files/s/f.pdf","source_file_relative_path":"s/f.pdf","file_size_bytes":3}}"#;
        let v = line(|w| w.record("files", data, 1).unwrap());
        assert_eq!(v["record"]["data"], serde_json::json!({"path": "s/f.pdf"}));
        assert_eq!(v["record"]["file_reference"]["file_size_bytes"], 3);
        let nested = br#"{"fields":{"file_reference":{"a":1}}}"#;
        let v = line(|w| w.record("t", nested, 1).unwrap());
        assert_eq!(v["record"]["data"]["fields"]["file_reference"]["a"], 1);
        assert!(v["record"].get("file_reference").is_none());
    }

    #[test]
    fn record_lines_splice_the_data() {
        let v = line(|w| {
            w.record("records", b"{\"a\":\n1,\"s\":\"x\\ny\"}", 42)
                .unwrap()
        });
        assert_eq!(
            v,
            serde_json::json!({"type":"RECORD","record":{"stream":"records","data":{"a":1,"s":"x\ny"},"emitted_at":42}})
        );
    }

    #[test]
    fn lines_never_carry_raw_line_separators() {
        let v = line(|w| {
            w.record("records", "{\"s\":\"a\u{2028}b\u{2029}c—…\"}".as_bytes(), 1)
                .unwrap()
        });
        assert_eq!(v["record"]["data"]["s"], "a\u{2028}b\u{2029}c—…");
        let v = line(|w| {
            w.line(&Line::Log {
                log: Log {
                    level: Level::Info,
                    message: "x\u{2028}y",
                },
            })
            .unwrap()
        });
        assert_eq!(v["log"]["message"], "x\u{2028}y");
        let mut buf = Vec::new();
        let mut w = ProtocolWriter::new(&mut buf);
        w.record("r", "{\"s\":\"\u{2028}\"}".as_bytes(), 1).unwrap();
        w.line(&Line::Log {
            log: Log {
                level: Level::Info,
                message: "\u{2029}",
            },
        })
        .unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(!text.contains(['\u{2028}', '\u{2029}']), "{text}");
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.contains("\\u2028") && text.contains("\\u2029"),
            "{text}"
        );
    }

    #[test]
    fn state_lines_carry_the_count() {
        let state = RawValue::from_string("{}".into()).unwrap();
        let v = line(|w| {
            w.line(&Line::State {
                state: StreamState::new("records", &state, 3),
            })
            .unwrap()
        });
        assert_eq!(
            v,
            serde_json::json!({"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"records"},"stream_state":{}},"sourceStats":{"recordCount":3.0}}})
        );
    }

    #[test]
    fn traces_and_statuses() {
        let v = line(|w| {
            w.line(&Line::Trace {
                trace: Trace::error("m", "i", FailureType::Config, None),
            })
            .unwrap()
        });
        assert_eq!(v["trace"]["type"], "ERROR");
        assert_eq!(v["trace"]["error"]["failure_type"], "config_error");
        let v = line(|w| {
            w.line(&Line::Trace {
                trace: Trace::stream_status("records", Status::Incomplete),
            })
            .unwrap()
        });
        assert_eq!(
            v["trace"]["stream_status"],
            serde_json::json!({"stream_descriptor":{"name":"records"},"status":"INCOMPLETE"})
        );
        let v = line(|w| {
            w.line(&Line::ConnectionStatus {
                connection_status: ConnectionStatus {
                    status: "FAILED",
                    message: Some("no"),
                },
            })
            .unwrap()
        });
        assert_eq!(
            v,
            serde_json::json!({"type":"CONNECTION_STATUS","connectionStatus":{"status":"FAILED","message":"no"}})
        );
    }
}
