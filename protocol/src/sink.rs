//! Where a run's messages go: the [`Sink`] trait a host or an embedding platform implements,
//! the [`Message`]s it receives, and [`ProtocolLines`], the sink that writes Airbyte protocol
//! lines (what the CLI prints and the edge build streams).

use crate::{
    ConnectionStatus, Level, Line, Log, ProtocolWriter, Report, Status, StreamState, Trace,
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
        /// Whether the connection worked.
        succeeded: bool,
        /// Why it did not.
        message: Option<&'a str>,
    },
    /// The catalog (`discover`).
    Catalog(&'a RawValue),
    /// One page of records of `stream`, each the raw JSON object the component handed over
    /// (valid UTF-8 JSON, checked by the host).
    Records {
        /// The stream's name.
        stream: &'a str,
        /// The page's records.
        records: &'a [Vec<u8>],
        /// When they were taken (ms since the Unix epoch).
        emitted_at: u64,
    },
    /// A checkpoint of `stream`, with the records emitted since the previous one.
    State {
        /// The stream's name.
        stream: &'a str,
        /// The state to hand back on the next read.
        state: &'a RawValue,
        /// Records of the stream since its previous state.
        record_count: u64,
    },
    /// A stream's progress.
    StreamStatus {
        /// The stream's name.
        stream: &'a str,
        /// Where it is.
        status: Status,
    },
    /// A log line of the connector or the host.
    Log {
        /// Severity.
        level: Level,
        /// The text (never a secret).
        message: &'a str,
    },
    /// A failure, of one stream when `stream` is set, otherwise of the run.
    Error {
        /// What failed, how, and the upstream's code and request id when known.
        report: &'a Report,
        /// The stream that failed, when the failure is one stream's.
        stream: Option<&'a str>,
    },
}

/// One page of records of `stream`, owned (see [`Sink::send_page`]).
#[derive(Debug)]
pub struct Page<'a> {
    pub stream: &'a str,
    /// Each record's JSON object, as the component handed it over.
    pub records: Vec<Vec<u8>>,
    /// When the page was taken, in milliseconds since the epoch.
    pub emitted_at: u64,
}

/// Receives a run's messages in order. `send` returns once the message is taken, which is the
/// back-pressure: the component waits meanwhile. An error stops the run (the component is
/// told its output is closed).
pub trait Sink {
    /// Takes one message.
    fn send(&mut self, message: Message<'_>) -> io::Result<()>;

    /// Takes one page of records (checked): as [`Message::Records`] unless the sink keeps
    /// pages, which it may then take without copying them.
    fn send_page(&mut self, page: Page<'_>) -> io::Result<()> {
        self.send(Message::Records {
            stream: page.stream,
            records: &page.records,
            emitted_at: page.emitted_at,
        })
    }

    /// Makes what was sent durable (called at checkpoints and at the end).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn send(&mut self, message: Message<'_>) -> io::Result<()> {
        (**self).send(message)
    }

    fn send_page(&mut self, page: Page<'_>) -> io::Result<()> {
        (**self).send_page(page)
    }

    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
}

/// A sink that writes Airbyte protocol messages, one JSON object per line, to `W`; records
/// and states are flushed at once, the rest when the run flushes.
pub struct ProtocolLines<W: Write> {
    writer: ProtocolWriter<W>,
}

impl<W: Write> ProtocolLines<W> {
    /// Protocol lines written to `out` (buffer it: pages and states are flushed).
    pub fn new(out: W) -> Self {
        Self {
            writer: ProtocolWriter::new(out),
        }
    }
}

impl<W: Write> Sink for ProtocolLines<W> {
    fn send(&mut self, message: Message<'_>) -> io::Result<()> {
        let w = &mut self.writer;
        match message {
            Message::Spec(spec) => w.line(&Line::Spec { spec }),
            Message::ConnectionStatus { succeeded, message } => w.line(&Line::ConnectionStatus {
                connection_status: ConnectionStatus {
                    status: if succeeded { "SUCCEEDED" } else { "FAILED" },
                    message,
                },
            }),
            Message::Catalog(catalog) => w.line(&Line::Catalog { catalog }),
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
                w.line(&Line::State {
                    state: StreamState::new(stream, state, record_count),
                })?;
                w.flush()
            }
            Message::StreamStatus { stream, status } => w.line(&Line::Trace {
                trace: Trace::stream_status(stream, status),
            }),
            Message::Log { level, message } => w.line(&Line::Log {
                log: Log { level, message },
            }),
            Message::Error { report, stream } => w.line(&Line::Trace {
                trace: Trace::error(
                    &report.message,
                    &report.internal,
                    report.failure_type,
                    stream,
                ),
            }),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}
