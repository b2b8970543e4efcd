//! The Airbyte protocol on the wire: serialize-only message types, one JSON object per line.
//! RECORD lines are spliced around the connector's raw JSON instead of re-serialised.
//!
//! Shared by host-runner (native) and the edge build (wasm), so both write the same bytes and
//! keep each stream's standing ([`StreamLedger`]) the same way.

mod ledger;

pub use ledger::{StreamLedger, StreamProgress};
use serde::Serialize;
use serde_json::value::RawValue;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A protocol message other than RECORD.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Message<'a> {
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

    pub fn message(&mut self, message: &Message<'_>) -> io::Result<()> {
        let line = serde_json::to_vec(message)?;
        write_one_line(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    /// Writes a RECORD line around `data`, which must already be a valid JSON object.
    pub fn record(&mut self, stream: &str, data: &[u8], emitted_at: u64) -> io::Result<()> {
        self.out
            .write_all(b"{\"type\":\"RECORD\",\"record\":{\"stream\":")?;
        write_one_line(&mut self.out, &serde_json::to_vec(stream)?)?;
        self.out.write_all(b",\"data\":")?;
        write_one_line(&mut self.out, data)?;
        writeln!(self.out, ",\"emitted_at\":{emitted_at}}}}}")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
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
            w.message(&Message::Log {
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
        w.message(&Message::Log {
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
            w.message(&Message::State {
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
            w.message(&Message::Trace {
                trace: Trace::error("m", "i", FailureType::Config, None),
            })
            .unwrap()
        });
        assert_eq!(v["trace"]["type"], "ERROR");
        assert_eq!(v["trace"]["error"]["failure_type"], "config_error");
        let v = line(|w| {
            w.message(&Message::Trace {
                trace: Trace::stream_status("records", Status::Incomplete),
            })
            .unwrap()
        });
        assert_eq!(
            v["trace"]["stream_status"],
            serde_json::json!({"stream_descriptor":{"name":"records"},"status":"INCOMPLETE"})
        );
        let v = line(|w| {
            w.message(&Message::ConnectionStatus {
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
