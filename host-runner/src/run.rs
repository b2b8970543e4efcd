//! One run of a component export under the sandbox: inputs, instantiation, the export call
//! and its outcome as messages to the sink, under a wall-clock watchdog that also hears
//! [`Stop`] requests.

use crate::grants::{allow_list, log_grants, secret_values};
use crate::limiter::RateLimiter;
use crate::output::{Output, Report, SharedOutput, lock};
use crate::protocol::{FailureType, Level};
use crate::runtime::{Access, Runtime, StoreData, explain_trap, hit_limit};
use crate::sink::Sink;
use crate::stats::RunStats;
use crate::{ErrorKind, Input, Operation, Outcome, Settings, Stop, StopReason};
use anyhow::{Context, Result, bail};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::Store;

/// How a run ended, before it is reported.
enum Failure {
    /// The caller's input is wrong (unreadable file, not JSON).
    Input(String),
    /// The connector reported an error, as it is reported.
    Connector(Report),
    /// The component could not run, trapped or misbehaved; `kind` is `Limit` when a cap
    /// stopped it.
    Host(anyhow::Error, ErrorKind),
    /// The caller (or a signal) stopped the run.
    Stopped(StopReason),
}

/// What the worker thread reports.
enum Progress {
    /// The component is instantiated and its export is being called: the clock starts.
    Running,
    Done(Result<(), Failure>),
}

/// How often the watchdog looks at the stop request.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Runs `operation` with the component `load` gives, reporting every message to `sink`.
pub fn run(
    load: impl FnOnce() -> Result<Arc<Runtime>> + Send + 'static,
    operation: Operation,
    settings: &Settings,
    sink: Box<dyn Sink>,
    stop: &Stop,
) -> Outcome {
    let is_check = matches!(operation, Operation::Check { .. });
    let is_read = matches!(operation, Operation::Read { .. });
    let mut out = Output::new(sink, settings.min_level, settings.echo_stderr);
    if settings.progress && settings.echo_stderr && is_read {
        out.show_progress();
    }
    let output: SharedOutput = Arc::new(Mutex::new(out));
    let (events, progress) = mpsc::channel();
    let worker_output = output.clone();
    let worker_settings = settings.clone();
    let stats = Arc::new(RunStats::default());
    let worker_stats = stats.clone();
    let started_at = Instant::now();
    std::thread::spawn(move || {
        let started = events.clone();
        let result = execute(
            load,
            &operation,
            &worker_settings,
            &worker_output,
            &worker_stats,
            move || {
                let _ = started.send(Progress::Running);
            },
        );
        let _ = events.send(Progress::Done(result));
    });
    let result = watch(&progress, settings.timeout, stop);
    let Some(mut out) = lock_within(&output, Duration::from_secs(2)) else {
        // The worker is stuck handing output to a sink that does not take it.
        return Outcome::OutputFailed(std::io::Error::other(
            "the run was stopped while its output was blocked",
        ));
    };
    let outcome = finish(&mut out, is_check, result);
    if is_read {
        out.summary(&stats.totals(), started_at.elapsed());
    }
    out.flush();
    out.seal();
    match out.take_write_error() {
        Some(e) => Outcome::OutputFailed(e),
        None => outcome,
    }
}

/// Waits for the worker; the wall-clock cap counts from the export call (compiling the
/// component is not the connector's time).
fn watch(
    progress: &mpsc::Receiver<Progress>,
    timeout: Duration,
    stop: &Stop,
) -> Result<(), Failure> {
    let mut deadline: Option<Instant> = None;
    loop {
        if let Some(reason) = stop.requested() {
            return Err(Failure::Stopped(reason));
        }
        let wait = deadline.map_or(STOP_POLL, |d| {
            d.saturating_duration_since(Instant::now()).min(STOP_POLL)
        });
        match progress.recv_timeout(wait) {
            Ok(Progress::Running) => deadline = Some(Instant::now() + timeout),
            Ok(Progress::Done(result)) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Failure::Host(
                        anyhow::anyhow!(
                            "the connector did not finish within {} s (--timeout-secs)",
                            timeout.as_secs()
                        ),
                        ErrorKind::Limit,
                    ));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::Host(
                    anyhow::anyhow!("the connector thread stopped unexpectedly"),
                    ErrorKind::Internal,
                ));
            }
        }
    }
}

/// The output, unless another thread holds it for longer than `wait`.
fn lock_within(output: &SharedOutput, wait: Duration) -> Option<std::sync::MutexGuard<'_, Output>> {
    let deadline = Instant::now() + wait;
    loop {
        match output.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}

/// Writes the outcome: INCOMPLETE for streams left open, and the TRACE ERROR(s).
fn finish(out: &mut Output, is_check: bool, result: Result<(), Failure>) -> Outcome {
    if out.write_error().is_some() {
        // The sink failed: nothing more can be written (the caller says so).
        return Outcome::Failed(ErrorKind::Internal);
    }
    let open = out.close_open_streams();
    let failure = match (result, open.first()) {
        // Each failed stream has its INCOMPLETE and TRACE ERROR already; the run failed.
        (Ok(()), None) => {
            return out
                .first_failure()
                .map_or(Outcome::Succeeded, Outcome::Failed);
        }
        (Ok(()), Some(stream)) => Failure::Host(
            anyhow::anyhow!("the connector returned without finishing stream `{stream}`"),
            ErrorKind::Internal,
        ),
        (Err(failure), _) => failure,
    };
    let report = describe(&failure);
    let outcome = match failure {
        Failure::Stopped(reason) => Outcome::Stopped(reason),
        _ => Outcome::Failed(out.first_failure().unwrap_or(report.kind)),
    };
    if is_check {
        out.connection_status(false, Some(&report.message));
        if let Failure::Host(..) | Failure::Stopped(_) = failure {
            out.error(&report, None);
            return outcome;
        }
        out.log_stderr(Level::Info, &format!("check failed: {}", report.message));
        return Outcome::CheckFailed {
            kind: report.kind,
            message: report.message,
        };
    }
    if open.is_empty() {
        out.error(&report, None);
    }
    for stream in &open {
        out.error(&report, Some(stream));
    }
    outcome
}

fn describe(failure: &Failure) -> Report {
    let report = |message: String, internal: String, failure_type, kind| Report {
        message,
        internal,
        failure_type,
        kind,
    };
    match failure {
        Failure::Input(message) => report(
            message.clone(),
            "invalid input".into(),
            FailureType::Config,
            ErrorKind::Input,
        ),
        Failure::Connector(connector) => connector.clone(),
        Failure::Host(error, kind) => report(
            error.to_string(),
            format!("{error:#}"),
            FailureType::System,
            *kind,
        ),
        Failure::Stopped(reason) => report(
            format!(
                "the run was interrupted by {reason}; streams in progress are incomplete, and \
                 the last STATE written for each is where the next read resumes"
            ),
            format!("stopped: {reason:?}"),
            FailureType::Transient,
            ErrorKind::Stopped,
        ),
    }
}

/// Everything the worker thread does; `running` is called once the component is ready.
fn execute(
    load: impl FnOnce() -> Result<Arc<Runtime>>,
    operation: &Operation,
    settings: &Settings,
    output: &SharedOutput,
    stats: &Arc<RunStats>,
    running: impl FnOnce(),
) -> Result<(), Failure> {
    let inputs = Inputs::read(operation)?;
    let runtime = load().map_err(internal)?;
    let (mut store, source) = runtime
        .instantiate(output.clone(), settings.limits)
        .map_err(internal)?;
    running();
    let spec_text = source.call_spec(&mut store).map_err(|e| trap(e, &store))?;
    let spec: Value = serde_json::from_str(&spec_text).map_err(|e| {
        internal(anyhow::anyhow!(
            "the connector's spec is not valid JSON: {e}"
        ))
    })?;
    let mut grants = None;
    if let Some(config_json) = &inputs.config {
        let (allowed, proposed) = allow_list(settings, &spec, config_json);
        log_grants(output, &allowed);
        let access = Access {
            allowed,
            proposed,
            limiter: RateLimiter::new(settings.max_rps),
            stats: stats.clone(),
            request_log: matches!(settings.min_level, Level::Debug | Level::Trace)
                .then(|| Arc::new(secret_values(&spec, config_json))),
        };
        store.data_mut().hooks.grant(&access);
        grants = Some(access);
    }
    let config_text = inputs.config_text.as_deref().unwrap_or_default();
    match operation {
        Operation::Spec => {
            let raw = object_with(&spec, "connectionSpecification", "spec").map_err(internal)?;
            lock(output).spec(&raw);
        }
        Operation::Check { .. } => {
            connector_result(source.call_check(&mut store, config_text), &store)?;
            lock(output).connection_status(true, None);
        }
        Operation::Discover { .. } => {
            let catalog = connector_result(source.call_discover(&mut store, config_text), &store)?;
            let catalog: Value = serde_json::from_str(&catalog)
                .context("the connector's catalog is not valid JSON")
                .map_err(internal)?;
            let raw = object_with(&catalog, "streams", "catalog").map_err(internal)?;
            lock(output).catalog(&raw);
        }
        Operation::Read { .. } => {
            let entries = match (&grants, settings.concurrency > 1) {
                (Some(_), true) => stream_entries(inputs.catalog.as_deref()),
                _ => None,
            };
            if let (Some(entries), Some(grants)) = (entries, &grants) {
                let shared = Shared {
                    runtime: &runtime,
                    settings,
                    output,
                    grants,
                    config: config_text,
                    state: inputs.state.as_deref(),
                };
                read_concurrently(&shared, entries);
                return Ok(());
            }
            let call = source.call_read(
                &mut store,
                config_text,
                inputs.catalog.as_deref(),
                inputs.state.as_deref(),
            );
            connector_result(call, &store)?;
        }
    }
    Ok(())
}

fn internal(error: anyhow::Error) -> Failure {
    Failure::Host(error, ErrorKind::Internal)
}

/// The entries of a configured catalog worth splitting over several instances. None without
/// a catalog (the connector then reads every stream it offers in one instance), with one
/// stream or fewer, or when the catalog is not one the connector would take as it is (the
/// sequential read then reports why).
fn stream_entries(catalog: Option<&str>) -> Option<Vec<Value>> {
    let catalog: Value = serde_json::from_str(catalog?).ok()?;
    let entries = catalog.get("streams")?.as_array()?.clone();
    let mut names = std::collections::HashSet::new();
    let distinct = entries.iter().all(|e| {
        e.pointer("/stream/name")
            .and_then(Value::as_str)
            .is_some_and(|name| names.insert(name.to_string()))
    });
    (distinct && entries.len() > 1).then_some(entries)
}

/// What every instance of a concurrent read shares.
struct Shared<'a> {
    runtime: &'a Runtime,
    settings: &'a Settings,
    output: &'a SharedOutput,
    grants: &'a Access,
    config: &'a str,
    state: Option<&'a str>,
}

/// Reads each catalog entry in an instance of its own, `settings.concurrency` at a time. A
/// stream whose instance fails is that stream's failure; the others go on.
fn read_concurrently(shared: &Shared<'_>, entries: Vec<Value>) {
    let workers = shared.settings.concurrency.min(entries.len()).max(1);
    let queue = Mutex::new(
        entries
            .into_iter()
            .collect::<std::collections::VecDeque<_>>(),
    );
    let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(entry) = next() {
                    let name = entry
                        .pointer("/stream/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if let Err(failure) = read_one(shared, entry) {
                        lock(shared.output).fail_stream(&name, &describe(&failure));
                    }
                }
            });
        }
    });
}

/// One stream's read in a fresh instance.
fn read_one(shared: &Shared<'_>, entry: Value) -> Result<(), Failure> {
    let (mut store, source) = shared
        .runtime
        .instantiate(shared.output.clone(), shared.settings.limits)
        .map_err(internal)?;
    store.data_mut().hooks.grant(shared.grants);
    let catalog = json!({ "streams": [entry] }).to_string();
    let call = source.call_read(&mut store, shared.config, Some(&catalog), shared.state);
    connector_result(call, &store)
}

fn trap(error: wasmtime::Error, store: &Store<StoreData>) -> Failure {
    let kind = if hit_limit(store) {
        ErrorKind::Limit
    } else {
        ErrorKind::Internal
    };
    Failure::Host(explain_trap(error, store), kind)
}

fn connector_result<T>(
    call: wasmtime::Result<Result<T, crate::runtime::ConnectorError>>,
    store: &Store<StoreData>,
) -> Result<T, Failure> {
    match call {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::Connector(store.data().report(e))),
        Err(e) => Err(trap(e, store)),
    }
}

/// `value` as compact raw JSON, if it is an object with the key `key`.
fn object_with(value: &Value, key: &str, what: &str) -> Result<Box<RawValue>> {
    if value.get(key).is_none() {
        bail!("the connector's {what} has no `{key}`");
    }
    Ok(RawValue::from_string(value.to_string())?)
}

/// The inputs of an operation, read and checked before the component runs.
struct Inputs {
    config_text: Option<String>,
    config: Option<Value>,
    catalog: Option<String>,
    state: Option<String>,
}

impl Inputs {
    fn read(operation: &Operation) -> Result<Self, Failure> {
        let (config, catalog, state) = match operation {
            Operation::Spec => (None, None, None),
            Operation::Check { config } | Operation::Discover { config } => {
                (Some(config), None, None)
            }
            Operation::Read {
                config,
                catalog,
                state,
            } => (Some(config), catalog.as_ref(), state.as_ref()),
        };
        let (config_text, config) = match config {
            Some(input) => {
                let (text, value) = input.read_json("config").map_err(Failure::Input)?;
                (Some(text), Some(value))
            }
            None => (None, None),
        };
        let state = match state {
            Some(input) => Some(
                crate::state_input::normalize(&input.text("state").map_err(Failure::Input)?)
                    .map_err(|e| Failure::Input(format!("{}: {e}", input.source("state"))))?,
            ),
            None => None,
        };
        let catalog = catalog.map(|c| c.text("catalog")).transpose();
        Ok(Self {
            config_text,
            config,
            catalog: catalog.map_err(Failure::Input)?,
            state,
        })
    }
}

impl Input {
    /// How messages name this input: `--config` for a file, `the config` for text.
    fn name(&self, what: &str) -> String {
        match self {
            Input::File(_) => format!("--{what}"),
            Input::Text(_) => format!("the {what}"),
        }
    }

    /// Where this input came from: `--state file PATH`, or `the state`.
    fn source(&self, what: &str) -> String {
        match self {
            Input::File(path) => format!("--{what} file {}", path.display()),
            Input::Text(_) => format!("the {what}"),
        }
    }

    /// The input's text, or why it cannot be read.
    fn text(&self, what: &str) -> Result<String, String> {
        match self {
            Input::Text(text) => Ok(text.clone()),
            Input::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --{what} file {}: {e}", path.display())),
        }
    }

    /// The input's text and its JSON, or why there are none.
    pub(crate) fn read_json(&self, what: &str) -> Result<(String, Value), String> {
        let text = self.text(what)?;
        let value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", self.name(what)))?;
        Ok((text, value))
    }
}
