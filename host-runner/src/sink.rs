//! Where a run's messages go: the [`Sink`] trait an embedding platform implements, the
//! [`Message`]s it receives, and [`ProtocolLines`], the sink that writes Airbyte protocol lines
//! (what the CLI prints).

use crate::protocol::{
    ConnectionStatus, FailureType, Level, Log, Message as Line, ProtocolWriter, Status,
    StreamState, Trace,
};
use serde_json::value::RawValue;
use std::io::{self, Write};

/// One message of a run, borrowed for the duration of [`Sink::send`].
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// The connector's specification (`spec`).
    Spec(&'a RawValue),
    /// The outcome of `check`; `message` says why it failed.
    ConnectionStatus {
        succeeded: bool,
        message: Option<&'a str>,
    },
    /// The catalog (`discover`).
    Catalog(&'a RawValue),
    /// One page of records of `stream`, each the raw JSON object the component handed over
    /// (valid UTF-8 JSON, checked by the runner).
    Records {
        stream: &'a str,
        records: &'a [Vec<u8>],
        emitted_at: u64,
    },
    /// A checkpoint of `stream`, with the records emitted since the previous one.
    State {
        stream: &'a str,
        state: &'a RawValue,
        record_count: u64,
    },
    /// A stream's progress.
    StreamStatus { stream: &'a str, status: Status },
    /// A log line of the connector or the runner.
    Log { level: Level, message: &'a str },
    /// A failure, of one stream when `stream` is set, otherwise of the run.
    Error {
        message: &'a str,
        internal_message: &'a str,
        failure_type: FailureType,
        stream: Option<&'a str>,
    },
}

/// Receives a run's messages in order. `send` returns once the message is taken, which is the
/// back-pressure: the component waits meanwhile. An error stops the run (the component is
/// told its output is closed) and is reported as [`crate::Outcome::OutputFailed`].
pub trait Sink: Send {
    fn send(&mut self, message: Message<'_>) -> io::Result<()>;

    /// Makes what was sent durable (the runner calls it at checkpoints and at the end).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that writes Airbyte protocol messages, one JSON object per line, to `W`.
pub struct ProtocolLines<W: Write + Send> {
    writer: ProtocolWriter<W>,
}

impl<W: Write + Send> ProtocolLines<W> {
    pub fn new(out: W) -> Self {
        Self {
            writer: ProtocolWriter::new(out),
        }
    }
}

impl<W: Write + Send> Sink for ProtocolLines<W> {
    fn send(&mut self, message: Message<'_>) -> io::Result<()> {
        let w = &mut self.writer;
        match message {
            Message::Spec(spec) => w.message(&Line::Spec { spec }),
            Message::ConnectionStatus { succeeded, message } => w.message(&Line::ConnectionStatus {
                connection_status: ConnectionStatus {
                    status: if succeeded { "SUCCEEDED" } else { "FAILED" },
                    message,
                },
            }),
            Message::Catalog(catalog) => w.message(&Line::Catalog { catalog }),
            Message::Records {
                stream,
                records,
                emitted_at,
            } => {
                for record in records {
                    w.record(stream, record, emitted_at)?;
                }
                w.flush()
            }
            Message::State {
                stream,
                state,
                record_count,
            } => {
                w.message(&Line::State {
                    state: StreamState::new(stream, state, record_count),
                })?;
                w.flush()
            }
            Message::StreamStatus { stream, status } => w.message(&Line::Trace {
                trace: Trace::stream_status(stream, status),
            }),
            Message::Log { level, message } => w.message(&Line::Log {
                log: Log { level, message },
            }),
            Message::Error {
                message,
                internal_message,
                failure_type,
                stream,
            } => w.message(&Line::Trace {
                trace: Trace::error(message, internal_message, failure_type, stream),
            }),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}
