//! `feishu_wasm._native`: the host runner library for Python. A [`Runner`] holds a compiled
//! component and the sandbox settings; [`Runner::start`] runs an operation on a thread of its
//! own and returns a [`Run`], an iterator over its messages fed through a bounded channel (the
//! component waits while Python is behind: the table is never held in memory). The GIL is
//! released while waiting; Ctrl-C stops the run. The Pythonic API (`feishu_wasm.Source`, the
//! exceptions, the dlt source) is written in Python over this module.

use arrow_array::ffi::{FFI_ArrowSchema, to_ffi};
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_records::BatchDecoder;
use host_runner::{
    Choices, CompileCache, Connector, ErrorKind, Input, Message, Operation, Outcome, Page,
    ProtocolLines, Report, SettingNames, Settings, Sink, Stop, StopReason, Totals,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyList, PyTuple};
use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// The Feishu connector, built with this package.
static FEISHU_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/feishu.wasm"));

/// Messages (pages count as one) buffered between the component and Python.
const QUEUE_DEPTH: usize = 8;
/// How often a waiting `__next__` looks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// A message of a run, owned so it can cross to the Python thread.
enum Owned {
    // Every message but records carries its protocol line (JSON text, as the CLI prints it),
    // which Python parses for `read()`: its dicts equal the CLI's lines by construction. The
    // fields beside it are what the Python API itself needs (states, failures, results).
    Spec(String, String),
    ConnectionStatus(bool, Option<String>, String),
    Catalog(String, String),
    Records(String, Vec<Vec<u8>>, u64),
    State(String, String, String),
    StreamStatus(String),
    Log(String),
    Error(Failure),
    /// A page as one Arrow batch, with the cells made null because they did not fit.
    Batch(String, RecordBatch, u64),
}

/// Why a run ended as it did: (kind, message, upstream code, request id).
type Detail = (String, String, Option<i64>, Option<String>);

/// A TRACE ERROR, as Python sees it: the contract's report and its protocol line.
#[derive(Clone)]
struct Failure {
    kind: &'static str,
    message: String,
    stream: Option<String>,
    internal: String,
    upstream_code: Option<i64>,
    request_id: Option<String>,
    line: String,
}

impl Failure {
    /// `report` of `stream` (or of the run).
    fn of(report: &Report, stream: Option<&str>) -> Self {
        Self {
            kind: report.kind.name(),
            message: report.message.clone(),
            stream: stream.map(str::to_string),
            internal: report.internal.clone(),
            upstream_code: report.upstream_code,
            request_id: report.request_id.clone(),
            line: line_of(Message::Error { report, stream }),
        }
    }
}

/// `message` as the protocol line the CLI prints (without its newline).
fn line_of(message: Message<'_>) -> String {
    let mut buffer = Vec::new();
    {
        let mut lines = ProtocolLines::new(&mut buffer);
        let _ = lines.send(message);
        let _ = lines.flush();
    }
    let mut text = String::from_utf8_lossy(&buffer).into_owned();
    text.truncate(text.trim_end().len());
    text
}

/// A sink that hands owned messages to the Python side; blocks when the queue is full.
struct ChannelSink(SyncSender<Owned>);

impl Sink for ChannelSink {
    fn send_page(&mut self, page: Page<'_>) -> io::Result<()> {
        let stream = page.stream.to_string();
        self.pass(Owned::Records(stream, page.records, page.emitted_at))
    }

    fn send(&mut self, message: Message<'_>) -> io::Result<()> {
        let owned = match message {
            Message::Records {
                stream,
                records,
                emitted_at,
            } => Owned::Records(stream.to_string(), records.to_vec(), emitted_at),
            Message::Error { report, stream } => Owned::Error(Failure::of(report, stream)),
            Message::Spec(spec) => Owned::Spec(spec.get().to_string(), line_of(message)),
            Message::ConnectionStatus {
                succeeded,
                message: text,
            } => Owned::ConnectionStatus(succeeded, text.map(str::to_string), line_of(message)),
            Message::Catalog(catalog) => {
                Owned::Catalog(catalog.get().to_string(), line_of(message))
            }
            Message::State { stream, state, .. } => Owned::State(
                stream.to_string(),
                state.get().to_string(),
                line_of(message),
            ),
            Message::StreamStatus { .. } => Owned::StreamStatus(line_of(message)),
            Message::Log { .. } => Owned::Log(line_of(message)),
        };
        self.pass(owned)
    }
}

impl ChannelSink {
    /// Passes `message` on to the Python side (waiting while the queue is full).
    fn pass(&self, message: Owned) -> io::Result<()> {
        self.0
            .send(message)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the Python reader went away"))
    }
}

/// A compiled component with its sandbox settings.
#[pyclass(module = "feishu_wasm._native", frozen)]
struct Runner {
    connector: Connector,
    settings: Settings,
}

#[pymethods]
impl Runner {
    /// `component`: a path, or None for the bundled feishu.wasm. `allow_hosts`: extra
    /// `scheme://host[:port]` patterns. `cache_dir`: where compiled components are kept
    /// (wasmtime's default when None). Every limit left None takes the runner's default
    /// (`Settings::default()`); the rate limit is what the component's spec declares unless `max_rps` is given.
    #[new]
    #[pyo3(signature = (component=None, allow_hosts=Vec::new(), max_memory_mib=None, timeout_secs=None, request_timeout_secs=None, cache_dir=None, concurrency=None, max_rps=None, files_dir=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        component: Option<std::path::PathBuf>,
        allow_hosts: Vec<String>,
        max_memory_mib: Option<u64>,
        timeout_secs: Option<u64>,
        request_timeout_secs: Option<u64>,
        cache_dir: Option<std::path::PathBuf>,
        concurrency: Option<usize>,
        max_rps: Option<usize>,
        files_dir: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let names = SettingNames {
            allow_hosts: "allow_hosts".into(),
            max_memory: "max_memory_mib".into(),
            timeout: "timeout_secs".into(),
            files_dir: "files_dir".into(),
        };
        let choices = Choices {
            allow_hosts,
            max_memory_mib,
            timeout_secs,
            request_timeout_secs,
            concurrency: concurrency.map(|n| n as u64),
            max_rps: max_rps.map(|n| n as u64),
            files_dir,
        };
        let settings = Settings::chosen(choices, names).map_err(PyValueError::new_err)?;
        let cache = cache_dir.map_or(CompileCache::Default, CompileCache::Dir);
        let connector = py
            .detach(|| match &component {
                Some(path) => Connector::load(path, &cache),
                None => Connector::from_bytes(FEISHU_WASM, "the bundled feishu.wasm", &cache),
            })
            .map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
        Ok(Self {
            connector,
            settings,
        })
    }

    /// Starts `operation` ("spec", "check", "discover" or "read") with JSON texts. With
    /// `arrow_schema` (a stream's JSON schema), or `arrow_schemas` (a JSON object of each
    /// stream's), a read hands each page of records over as one Arrow record batch ("BATCH"
    /// messages), the columns named in `flatten` flattened.
    #[pyo3(signature = (operation, config=None, catalog=None, state=None, arrow_schema=None, flatten=Vec::new(), arrow_schemas=None))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        operation: &str,
        config: Option<String>,
        catalog: Option<String>,
        state: Option<String>,
        arrow_schema: Option<String>,
        flatten: Vec<String>,
        arrow_schemas: Option<String>,
    ) -> PyResult<Run> {
        let arrow = match (arrow_schema, arrow_schemas) {
            (Some(schema), _) => Some(Decoders::Every(decoder(&schema, &flatten)?)),
            (None, Some(schemas)) => Some(Decoders::by_stream(&schemas, &flatten)?),
            (None, None) => None,
        };
        let config = || {
            config
                .clone()
                .map(Input::Text)
                .ok_or_else(|| PyValueError::new_err(format!("{operation} needs a config")))
        };
        let operation = match operation {
            "spec" => Operation::Spec,
            "check" => Operation::Check { config: config()? },
            "discover" => Operation::Discover { config: config()? },
            "read" => Operation::Read {
                config: config()?,
                catalog: catalog.map(Input::Text),
                state: state.map(Input::Text),
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown operation {other:?}"
                )));
            }
        };
        let (sender, receiver) = sync_channel(QUEUE_DEPTH);
        let stop = Stop::new();
        let (connector, settings, worker_stop) =
            (self.connector.clone(), self.settings.clone(), stop.clone());
        let worker = std::thread::spawn(move || {
            connector.run_measured(
                operation,
                &settings,
                Box::new(ChannelSink(sender)),
                &worker_stop,
            )
        });
        Ok(Run {
            receiver: Some(Mutex::new(receiver)),
            arrow: arrow.map(Mutex::new),
            worker: Some(worker),
            stop,
            outcome: None,
            totals: None,
        })
    }
}

/// A run under way: iterate for its messages as tuples, then ask `outcome()`.
#[pyclass(module = "feishu_wasm._native")]
struct Run {
    receiver: Option<Mutex<Receiver<Owned>>>,
    /// With decoders, each page of records becomes one Arrow record batch, decoded while the
    /// GIL is released and the component already reads the next page.
    arrow: Option<Mutex<Decoders>>,
    worker: Option<JoinHandle<(Outcome, Totals)>>,
    stop: Stop,
    outcome: Option<Outcome>,
    /// What the run cost on the network, once it ended.
    totals: Option<Totals>,
}

#[pymethods]
impl Run {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next message as a tuple whose first item names its type; None at the end.
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyTuple>>> {
        loop {
            let Some(receiver) = &self.receiver else {
                return Ok(None);
            };
            let arrow = &self.arrow;
            let next = py.detach(|| {
                let receiver = receiver.lock().unwrap_or_else(|p| p.into_inner());
                receiver
                    .recv_timeout(SIGNAL_POLL)
                    .map(|message| as_batch(arrow.as_ref(), message))
            });
            match next {
                Ok(Err(failure)) => {
                    self.cancel();
                    return to_tuple(py, Owned::Error(*failure)).map(Some);
                }
                Ok(Ok(message)) => return to_tuple(py, message).map(Some),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        self.cancel();
                        return Err(interrupt);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish(py);
                    return Ok(None);
                }
            }
        }
    }

    /// Stops the run: the component gets no more output and ends at its next host call.
    fn cancel(&mut self) {
        self.stop.request(StopReason::Cancelled);
        self.receiver = None;
    }

    /// What the run cost on the network, once it ended: requests sent, those the upstream
    /// counts against its quota, answers retried, requests the rate limiter held and for how
    /// many seconds, and each stream's (name, records, requests or None); None before the end.
    #[allow(clippy::type_complexity)]
    fn figures(
        &mut self,
        py: Python<'_>,
    ) -> Option<(u64, u64, u64, u64, f64, Vec<(String, u64, Option<u64>)>)> {
        if self.receiver.is_some() {
            return None;
        }
        self.finish(py);
        self.totals.as_ref().map(|t| {
            let streams = t
                .streams
                .iter()
                .map(|(name, s)| (name.clone(), s.records, s.requests))
                .collect();
            (
                t.requests,
                t.counted(),
                t.retried_answers,
                t.waits,
                t.waited.as_secs_f64(),
                streams,
            )
        })
    }

    /// How the run ended, once the iterator is exhausted: ("succeeded" | "check_failed" |
    /// "failed" | "stopped" | "output_failed", detail), the detail being (kind, message,
    /// upstream code, request id).
    fn outcome(&mut self, py: Python<'_>) -> PyResult<(String, Option<Detail>)> {
        if self.receiver.is_some() {
            return Err(PyRuntimeError::new_err(
                "the run has not finished: exhaust the iterator first",
            ));
        }
        self.finish(py);
        Ok(match &self.outcome {
            Some(Outcome::Succeeded) => ("succeeded".into(), None),
            Some(Outcome::CheckFailed(report)) => (
                "check_failed".into(),
                Some((
                    report.kind.name().into(),
                    report.message.clone(),
                    report.upstream_code,
                    report.request_id.clone(),
                )),
            ),
            Some(Outcome::Failed(_)) => ("failed".into(), None),
            Some(Outcome::Stopped(reason)) => (
                "stopped".into(),
                Some(("stopped".into(), reason.to_string(), None, None)),
            ),
            Some(Outcome::OutputFailed(e)) => (
                "output_failed".into(),
                Some(("internal".into(), e.to_string(), None, None)),
            ),
            None => ("failed".into(), None),
        })
    }
}

impl Run {
    /// Waits for the worker (the channel is closed, so it is ending) and keeps its outcome.
    fn finish(&mut self, py: Python<'_>) {
        self.receiver = None;
        if let Some(worker) = self.worker.take()
            && let Some((outcome, totals)) = py.detach(|| worker.join().ok())
        {
            self.outcome = Some(outcome);
            self.totals = Some(totals);
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // An iterator abandoned early: stop the component; the worker ends on its own.
        if self.worker.is_some() {
            self.stop.request(StopReason::Cancelled);
        }
    }
}

fn to_tuple(py: Python<'_>, message: Owned) -> PyResult<Py<PyTuple>> {
    let tuple = match message {
        Owned::Spec(spec, line) => ("SPEC", spec, line).into_pyobject(py)?,
        Owned::ConnectionStatus(ok, message, line) => {
            ("CONNECTION_STATUS", ok, message, line).into_pyobject(py)?
        }
        Owned::Catalog(catalog, line) => ("CATALOG", catalog, line).into_pyobject(py)?,
        Owned::Records(stream, records, emitted_at) => {
            let list = PyList::empty(py);
            for record in &records {
                list.append(PyBytes::new(py, record))?;
            }
            ("RECORDS", stream, list, emitted_at).into_pyobject(py)?
        }
        Owned::State(stream, state, line) => ("STATE", stream, state, line).into_pyobject(py)?,
        Owned::StreamStatus(line) => ("STREAM_STATUS", line).into_pyobject(py)?,
        Owned::Log(line) => ("LOG", line).into_pyobject(py)?,
        Owned::Batch(stream, batch, nulled) => {
            let rows = batch.num_rows();
            let (schema, array) = batch_capsules(py, batch)?;
            ("BATCH", stream, schema, array, rows, nulled).into_pyobject(py)?
        }
        Owned::Error(f) => {
            let upstream = (f.upstream_code, f.request_id);
            (
                "ERROR", f.kind, f.message, f.stream, f.internal, upstream, f.line,
            )
                .into_pyobject(py)?
        }
    };
    Ok(tuple.unbind())
}

/// The Arrow decoders of a read: one for every stream, or one per stream by name.
enum Decoders {
    Every(BatchDecoder),
    ByStream(HashMap<String, BatchDecoder>),
}

impl Decoders {
    /// A decoder per stream of `schemas` (a JSON object of each stream's JSON schema).
    fn by_stream(schemas: &str, flatten: &[String]) -> PyResult<Self> {
        let schemas: HashMap<String, serde_json::Value> =
            serde_json::from_str(schemas).map_err(|e| {
                PyValueError::new_err(format!("arrow_schemas is not a JSON object: {e}"))
            })?;
        let flatten: Vec<&str> = flatten.iter().map(String::as_str).collect();
        let decoders = schemas
            .into_iter()
            .map(|(stream, schema)| {
                BatchDecoder::new(&schema, &flatten)
                    .map(|decoder| (stream, decoder))
                    .map_err(|e| PyValueError::new_err(e.to_string()))
            })
            .collect::<PyResult<_>>()?;
        Ok(Decoders::ByStream(decoders))
    }

    /// The decoder of `stream`'s pages, if it has one.
    fn of(&mut self, stream: &str) -> Option<&mut BatchDecoder> {
        match self {
            Decoders::Every(decoder) => Some(decoder),
            Decoders::ByStream(decoders) => decoders.get_mut(stream),
        }
    }
}

/// A page of records as one Arrow batch when its stream has a decoder (cells that do not fit
/// their column null, and counted); a page that cannot be decoded at all is a failure of that
/// stream.
fn as_batch(arrow: Option<&Mutex<Decoders>>, message: Owned) -> Result<Owned, Box<Failure>> {
    let (Some(decoders), Owned::Records(stream, records, _)) = (arrow, &message) else {
        return Ok(message);
    };
    let mut decoders = decoders.lock().unwrap_or_else(|p| p.into_inner());
    let Some(decoder) = decoders.of(stream) else {
        return Ok(message);
    };
    match decoder.decode(records) {
        Ok(batch) => Ok(Owned::Batch(stream.clone(), batch, decoder.take_nulled())),
        Err(e) => {
            let message =
                format!("a page of stream `{stream}` does not fit its schema as Arrow: {e}");
            let report = Report::runner(message, e.to_string(), ErrorKind::Internal);
            Err(Box::new(Failure::of(&report, Some(stream))))
        }
    }
}

/// A decoder of records of the stream whose JSON schema is `json_schema`.
fn decoder(json_schema: &str, flatten: &[String]) -> PyResult<BatchDecoder> {
    let schema: serde_json::Value = serde_json::from_str(json_schema)
        .map_err(|e| PyValueError::new_err(format!("the stream's JSON schema is not JSON: {e}")))?;
    let flatten: Vec<&str> = flatten.iter().map(String::as_str).collect();
    BatchDecoder::new(&schema, &flatten).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A record batch as the two capsules of the Arrow PyCapsule interface (`arrow_schema`,
/// `arrow_array`): a struct array of the batch's columns, moved out by whoever imports it.
fn batch_capsules(
    py: Python<'_>,
    batch: RecordBatch,
) -> PyResult<(Bound<'_, PyCapsule>, Bound<'_, PyCapsule>)> {
    let array = StructArray::from(batch);
    let (array, schema) =
        to_ffi(&array.to_data()).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok((
        PyCapsule::new_with_value(py, schema, c"arrow_schema")?,
        PyCapsule::new_with_value(py, array, c"arrow_array")?,
    ))
}

/// The Arrow schema of batches `start` would hand over for `json_schema`, as an
/// `arrow_schema` capsule (for an empty table's schema).
#[pyfunction]
#[pyo3(signature = (json_schema, flatten=Vec::new()))]
fn arrow_schema<'py>(
    py: Python<'py>,
    json_schema: &str,
    flatten: Vec<String>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let schema = decoder(json_schema, &flatten)?.schema();
    let ffi = FFI_ArrowSchema::try_from(schema.as_ref())
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    PyCapsule::new_with_value(py, ffi, c"arrow_schema")
}

/// The host contract's failure table as JSON: each WIT category's kind, failure type and
/// internal text, and each kind's exit code (the Python exceptions are checked against it).
#[pyfunction]
fn contract() -> String {
    host_runner::contract().to_string()
}

/// Runs one case of the host contract's conformance suite (`protocol/conformance/cases.json`,
/// given as JSON) through the contract's report into this package's own channel to Python:
/// (the message tuples Python would get, the exit code). For the package's tests.
#[pyfunction]
fn conformance_case(py: Python<'_>, case: &str) -> PyResult<(Vec<Py<PyTuple>>, u8)> {
    let case: serde_json::Value =
        serde_json::from_str(case).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let (sender, receiver) = sync_channel(4096);
    let (exit, _) = protocol::conformance::drive(&case, ChannelSink(sender));
    let tuples = receiver
        .try_iter()
        .map(|message| to_tuple(py, message))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((tuples, exit))
}

/// A message (JSON text) as hosts compare it: `protocol::conformance::comparable`. For the
/// package's tests.
#[pyfunction]
fn comparable(message: &str) -> PyResult<String> {
    let message =
        serde_json::from_str(message).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(protocol::conformance::comparable(message).to_string())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(comparable, m)?)?;
    m.add_function(wrap_pyfunction!(contract, m)?)?;
    m.add_function(wrap_pyfunction!(conformance_case, m)?)?;
    m.add_function(wrap_pyfunction!(arrow_schema, m)?)?;
    m.add_class::<Runner>()?;
    m.add_class::<Run>()?;
    Ok(())
}
