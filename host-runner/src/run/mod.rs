//! One run of a component export under the sandbox: the inputs read, a store instantiated
//! and granted, the export called on a worker thread, and its outcome reported through the
//! contract's [`RunReport`](protocol::RunReport) while the [`watchdog`] keeps the clock.
//!
//! | module | job |
//! |---|---|
//! | this root | [`run`]: the worker thread, the export called, the outcome and the summary |
//! | [`failure`] | how a run ended before it is reported, and its report |
//! | [`inputs`] | config, catalog and state read and checked before the component runs |
//! | [`secret_refs`] | `${env:NAME}` / `${file:PATH}` config values resolved by the host |
//! | [`state_input`] | any shape of Airbyte state a platform hands back, normalised |
//! | [`watchdog`] | the run's clock, signals and stops |
//! | [`output`] | the run's report: the sink, the stderr echo |
//! | [`progress`] | the progress line on a terminal |
//! | [`guest_stderr`] | the component's stderr, escaped and masked, as log lines |

pub mod failure;
pub mod guest_stderr;
pub mod inputs;
pub mod output;
pub mod progress;
pub mod secret_refs;
pub mod state_input;
pub mod watchdog;

pub use failure::{Failure, describe, internal};

use crate::component::Runtime;
use crate::component::bindings::datasource::connector::types::ConnectorError;
use crate::component::store::StoreData;
use crate::run::inputs::Inputs;
use crate::run::output::{BoxedSink, Output, SharedOutput, lock, output};
use crate::run::watchdog::{WorkerEvent, lock_within, watch};
use crate::sandbox::egress::RunGrants;
use crate::sandbox::files::FileStore;
use crate::sandbox::grants::{allow_list, log_grants};
use crate::sandbox::placeholders::Placeholders;
use crate::sandbox::request_rate::{DeclaredLimit, uncounted_paths};
use crate::sandbox::stats::{RunStats, StreamFigures, Totals};
use crate::{ErrorKind, Operation, Outcome, Settings, Stop};
use anyhow::{Context, Result, bail};
use protocol::{Ending, Level};
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::Store;

/// Runs `operation` with the component `load` gives, reporting every message to `sink`;
/// returns how it ended and what it cost on the network.
pub fn run(
    load: impl FnOnce() -> Result<Arc<Runtime>> + Send + 'static,
    operation: Operation,
    settings: &Settings,
    sink: BoxedSink,
    stop: &Stop,
) -> (Outcome, Totals) {
    let is_check = matches!(operation, Operation::Check { .. });
    let is_read = matches!(operation, Operation::Read { .. });
    let mut out = output(sink, settings.min_level, settings.echo_stderr);
    if settings.progress && settings.echo_stderr && is_read {
        out.observer_mut().show_progress();
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
                let _ = started.send(WorkerEvent::Running);
            },
        );
        let _ = events.send(WorkerEvent::Done(result));
    });
    let result = watch(&progress, settings.timeout, &settings.names.timeout, stop);
    let Some(mut out) = lock_within(&output, Duration::from_secs(2)) else {
        // The worker is stuck handing output to a sink that does not take it.
        let stopped = std::io::Error::other("the run was stopped while its output was blocked");
        return (Outcome::OutputFailed(stopped), stats.totals());
    };
    let outcome = finish(&mut out, is_check, result);
    let mut totals = stats.totals();
    if is_read {
        out.summary(started_at.elapsed(), &totals.describe());
        totals.streams = out
            .streams()
            .iter()
            .map(|(name, p)| {
                let figures = StreamFigures {
                    records: p.total,
                    requests: p.requests,
                };
                (name.clone(), figures)
            })
            .collect();
    }
    out.flush();
    out.seal();
    let outcome = match out.take_write_error() {
        Some(e) => Outcome::OutputFailed(e),
        None => outcome,
    };
    (outcome, totals)
}

/// Writes the outcome through the contract's report (INCOMPLETE for streams left open, the
/// TRACE ERRORs, a check's status); a stop from outside is its own outcome.
fn finish(out: &mut Output, is_check: bool, result: Result<(), Failure>) -> Outcome {
    let stopped = match &result {
        Err(Failure::Stopped(reason)) => Some(*reason),
        _ => None,
    };
    let ending = out.finish(result.err().map(|f| describe(&f)), is_check);
    match (ending, stopped) {
        (_, Some(reason)) => Outcome::Stopped(reason),
        (Ending::Succeeded, None) => Outcome::Succeeded,
        (Ending::CheckFailed(report), None) => Outcome::CheckFailed(report),
        (Ending::Failed(kind), None) => Outcome::Failed(kind),
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
        .instantiate(output.clone(), settings.limits, &settings.names)
        .map_err(internal)?;
    running();
    let spec_text = source.call_spec(&mut store).map_err(|e| trap(e, &store))?;
    let spec: Value = serde_json::from_str(&spec_text).map_err(|e| {
        internal(anyhow::anyhow!(
            "the connector's spec is not valid JSON: {e}"
        ))
    })?;
    stats.uncounted(uncounted_paths(&spec));
    let mut config_text = inputs.config_text.clone().unwrap_or_default();
    if let Some(config_json) = &inputs.config {
        let secrets = lock(output).secrets().clone();
        secrets.add_config(&spec, config_json);
        for value in &inputs.resolved_secrets {
            secrets.add(value);
        }
        let (allowed, proposed) = allow_list(settings, &spec, config_json);
        log_grants(output, &allowed, &settings.names.allow_hosts);
        let access = RunGrants {
            allowed,
            proposed,
            limiter: DeclaredLimit::of_spec(&spec).limiter(settings.max_rps),
            stats: stats.clone(),
            request_log: matches!(settings.min_level, Level::Debug | Level::Trace),
            secrets,
            placeholders: Arc::new(keep_host_secrets(
                output,
                &spec,
                config_json,
                &mut config_text,
            )),
        };
        store.data_mut().hooks.grant(&access);
    }
    let config_text = config_text.as_str();
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
            // One instance reads the whole catalog, up to `--concurrency` streams at once
            // taking turns, on one token, one tables list and one budget.
            store.data_mut().files =
                FileStore::new(settings.files_dir.clone(), &settings.names.files_dir);
            store.data_mut().streams_at_once =
                u32::try_from(settings.concurrency.max(1)).unwrap_or(u32::MAX);
            let call = source.call_read(
                &mut store,
                config_text,
                inputs.catalog.as_deref(),
                inputs.state.as_deref(),
            );
            if let Some(stored) = store.data().files.describe() {
                lock(output).note(Level::Info, &stored);
            }
            connector_result(call, &store)?;
        }
    }
    Ok(())
}

/// The config's fields the spec marks `x-host-secret`, replaced in `config_text` by
/// placeholders the host puts the real values back for ([`Placeholders`]).
fn keep_host_secrets(
    output: &SharedOutput,
    spec: &Value,
    config: &Value,
    config_text: &mut String,
) -> Placeholders {
    let mut config = config.clone();
    let (kept, fields) = Placeholders::keep(spec, &mut config);
    if !fields.is_empty() {
        *config_text = config.to_string();
        let message = format!(
            "kept by the host (the component sees a placeholder): {}",
            fields.join(", ")
        );
        lock(output).note(Level::Info, &message);
    }
    kept
}

fn trap(error: wasmtime::Error, store: &Store<StoreData>) -> Failure {
    let cap = &store.data().limiter;
    let kind = if cap.hit() {
        ErrorKind::Limit
    } else {
        ErrorKind::Internal
    };
    Failure::Host(cap.explain(error), kind)
}

pub fn connector_result<T>(
    call: wasmtime::Result<Result<T, ConnectorError>>,
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
