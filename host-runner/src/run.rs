//! One command run: inputs, instantiation, the export call and its outcome as protocol
//! messages and an exit code, under a wall-clock watchdog.

use crate::cli::{Operation, RunConfig};
use crate::output::{Output, SharedOutput, lock};
use crate::protocol::{FailureType, Level};
use crate::runtime::{ErrorCategory, Runtime, StoreData, explain_trap, failure_type, with_refusal};
use crate::sandbox::{AllowList, GrantSource, HostPattern, Origin};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use serde_json::value::RawValue;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::Store;

/// How a run ended.
enum Failure {
    /// The user's input is wrong (unreadable file, not JSON).
    Input(String),
    /// The connector reported an error.
    Connector {
        category: ErrorCategory,
        message: String,
    },
    /// The component could not run, trapped or misbehaved.
    Host(anyhow::Error),
    /// The operator stopped the run with this signal.
    Interrupted(i32),
}

/// Exit codes besides 0 (success), 1 (the run failed) and 2 (bad flags).
const EXIT_OUTPUT_FAILED: u8 = 3;

/// Runs the command and returns the process exit code.
pub fn run(config: RunConfig) -> ExitCode {
    let stdout: Box<dyn Write + Send> =
        Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout()));
    let output: SharedOutput = Arc::new(Mutex::new(Output::new(stdout, config.verbose)));
    let (events, progress) = mpsc::channel();
    forward_signals(events.clone());
    let worker_output = output.clone();
    let worker_config = config.clone();
    std::thread::spawn(move || {
        let started = events.clone();
        let result = execute(&worker_config, &worker_output, move || {
            let _ = started.send(Progress::Running);
        });
        let _ = events.send(Progress::Done(result));
    });
    let result = watch(&progress, config.timeout);
    let Some(mut out) = lock_within(&output, Duration::from_secs(2)) else {
        // The connector thread is stuck writing (stdout not drained): report on stderr only.
        eprintln!("ERROR the run was stopped, and its output is blocked; exiting");
        return ExitCode::FAILURE;
    };
    let code = finish(&mut out, &config.operation, result);
    out.flush();
    out.seal();
    if let Some(e) = out.write_error() {
        eprintln!(
            "ERROR cannot write the protocol stream to stdout ({e}); the output is incomplete"
        );
        return ExitCode::from(EXIT_OUTPUT_FAILED);
    }
    code
}

/// On SIGINT or SIGTERM, tells the watcher to end the run; on a second one, exits at once.
fn forward_signals(events: mpsc::Sender<Progress>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        eprintln!("WARN  cannot handle SIGINT / SIGTERM; an interrupted run ends without a TRACE");
        return;
    };
    std::thread::spawn(move || {
        let mut seen = false;
        for signal in signals.forever() {
            if seen {
                std::process::exit(128 + signal);
            }
            seen = true;
            let _ = events.send(Progress::Interrupted(signal));
        }
    });
}

/// What the worker thread reports.
enum Progress {
    /// The component is instantiated and its export is being called: the clock starts.
    Running,
    Done(Result<(), Failure>),
    /// A signal asked the run to stop.
    Interrupted(i32),
}

/// Waits for the worker; the wall-clock cap counts from the export call (compiling the
/// component is not the connector's time).
fn watch(progress: &mpsc::Receiver<Progress>, timeout: Duration) -> Result<(), Failure> {
    let stopped = || {
        Err(Failure::Host(anyhow::anyhow!(
            "the connector thread stopped unexpectedly"
        )))
    };
    match progress.recv() {
        Ok(Progress::Running) => {}
        Ok(Progress::Done(result)) => return result,
        Ok(Progress::Interrupted(signal)) => return Err(Failure::Interrupted(signal)),
        Err(_) => return stopped(),
    }
    match progress.recv_timeout(timeout) {
        Ok(Progress::Done(result)) => result,
        Ok(Progress::Interrupted(signal)) => Err(Failure::Interrupted(signal)),
        Ok(Progress::Running) => Err(Failure::Host(anyhow::anyhow!(
            "the connector thread reported twice"
        ))),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::Host(anyhow::anyhow!(
            "the connector did not finish within {} s (--timeout-secs)",
            timeout.as_secs()
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => stopped(),
    }
}

/// The output, unless another thread holds it for longer than `wait`.
fn lock_within(
    output: &SharedOutput,
    wait: Duration,
) -> Option<std::sync::MutexGuard<'_, Output<Box<dyn Write + Send>>>> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match output.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}

/// Writes the outcome and picks the exit code.
fn finish(
    out: &mut Output<Box<dyn Write + Send>>,
    operation: &Operation,
    result: Result<(), Failure>,
) -> ExitCode {
    if out.write_error().is_some() {
        // stdout went away or is full: nothing more can be written (the caller says so).
        return ExitCode::FAILURE;
    }
    let open = out.close_open_streams();
    let failure = match (result, open.first()) {
        // Each failed stream has its INCOMPLETE and TRACE ERROR already; the run failed.
        (Ok(()), None) if !out.failed_streams().is_empty() => return ExitCode::FAILURE,
        (Ok(()), None) => return ExitCode::SUCCESS,
        (Ok(()), Some(stream)) => Failure::Host(anyhow::anyhow!(
            "the connector returned without finishing stream `{stream}`"
        )),
        (Err(failure), _) => failure,
    };
    let (message, internal, failure_type) = describe(&failure);
    let code = match failure {
        Failure::Interrupted(signal) => ExitCode::from(128 + signal as u8),
        _ => ExitCode::FAILURE,
    };
    if let Operation::Check { .. } = operation {
        out.connection_status(false, Some(&message));
        if let Failure::Host(_) | Failure::Interrupted(_) = failure {
            out.error(&message, &internal, failure_type, None);
            return code;
        }
        out.log_stderr(Level::Info, &format!("check failed: {message}"));
        return ExitCode::SUCCESS;
    }
    if open.is_empty() {
        out.error(&message, &internal, failure_type, None);
    }
    for stream in &open {
        out.error(&message, &internal, failure_type, Some(stream));
    }
    code
}

fn describe(failure: &Failure) -> (String, String, FailureType) {
    match failure {
        Failure::Input(message) => (message.clone(), "invalid input".into(), FailureType::Config),
        Failure::Connector { category, message } => (
            message.clone(),
            format!("connector error category: {category:?}"),
            failure_type(category),
        ),
        Failure::Host(error) => {
            let message = error.to_string();
            (message, format!("{error:#}"), FailureType::System)
        }
        Failure::Interrupted(signal) => (
            format!(
                "the run was interrupted by {}; streams in progress are incomplete, and the \
                 last STATE written for each is where the next read resumes",
                signal_name(*signal)
            ),
            format!("signal {signal}"),
            FailureType::Transient,
        ),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        signal_hook::consts::SIGINT => "SIGINT".into(),
        signal_hook::consts::SIGTERM => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}

/// Everything the worker thread does; `running` is called once the component is ready.
fn execute(
    config: &RunConfig,
    output: &SharedOutput,
    running: impl FnOnce(),
) -> Result<(), Failure> {
    let inputs = Inputs::read(&config.operation)?;
    let runtime = Runtime::load(&config.component, &config.cache).map_err(Failure::Host)?;
    let (mut store, source) = runtime
        .instantiate(output.clone(), config.limits)
        .map_err(Failure::Host)?;
    running();
    let spec_text = source.call_spec(&mut store).map_err(|e| trap(e, &store))?;
    let spec: Value = serde_json::from_str(&spec_text).map_err(|e| {
        Failure::Host(anyhow::anyhow!(
            "the connector's spec is not valid JSON: {e}"
        ))
    })?;
    if let Some(config_json) = &inputs.config {
        let (allowed, proposed) = allow_list(config, &spec, config_json);
        log_grants(output, &allowed);
        store.data_mut().hooks.grant(allowed, proposed);
    }
    let config_text = inputs.config_text.as_deref().unwrap_or_default();
    match &config.operation {
        Operation::Spec => {
            let raw = object_with(&spec_text, "connectionSpecification", "spec")
                .map_err(Failure::Host)?;
            lock(output).spec(&raw);
        }
        Operation::Check { .. } => {
            connector_result(source.call_check(&mut store, config_text), &store)?;
            lock(output).connection_status(true, None);
        }
        Operation::Discover { .. } => {
            let catalog = connector_result(source.call_discover(&mut store, config_text), &store)?;
            let raw = object_with(&catalog, "streams", "catalog").map_err(Failure::Host)?;
            lock(output).catalog(&raw);
        }
        Operation::Read { .. } => {
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

fn trap(error: wasmtime::Error, store: &Store<StoreData>) -> Failure {
    Failure::Host(explain_trap(error, store))
}

fn connector_result<T>(
    call: wasmtime::Result<Result<T, crate::runtime::ConnectorError>>,
    store: &Store<StoreData>,
) -> Result<T, Failure> {
    match call {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::Connector {
            category: e.category,
            message: with_refusal(e.message, store.data().hooks.take_refusal()),
        }),
        Err(e) => Err(trap(e, store)),
    }
}

/// `text` as raw JSON, if it is an object with the key `key`.
fn object_with(text: &str, key: &str, what: &str) -> Result<Box<RawValue>> {
    let value: Value = serde_json::from_str(text)
        .with_context(|| format!("the connector's {what} is not valid JSON"))?;
    if value.get(key).is_none() {
        bail!("the connector's {what} has no `{key}`");
    }
    Ok(RawValue::from_string(value.to_string())?)
}

/// The input files of an operation, read and checked before the component runs.
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
        let config_text = config.map(|p| read_json_file(p, "--config")).transpose()?;
        let config = match &config_text {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| Failure::Input(format!("--config is not valid JSON: {e}")))?,
            ),
            None => None,
        };
        Ok(Self {
            config_text,
            config,
            catalog: catalog
                .map(|p| read_json_file(p, "--catalog"))
                .transpose()?,
            state: state
                .map(|p| {
                    let text = read_json_file(p, "--state")?;
                    crate::state_input::normalize(&text)
                        .map_err(|e| Failure::Input(format!("--state file {}: {e}", p.display())))
                })
                .transpose()?,
        })
    }
}

fn read_json_file(path: &Path, flag: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("cannot read {flag} file {}: {e}", path.display())))
}

/// The operator's grants: the values of the config fields the spec marks `x-outbound-host`
/// that the config sets (unless `--no-config-hosts`), and every `--allow-host`. A spec's
/// default is never granted; such defaults come back as proposals, named when refused.
fn allow_list(
    config: &RunConfig,
    spec: &Value,
    config_json: &Value,
) -> (AllowList, Vec<(String, Origin)>) {
    let mut list = AllowList::default();
    let mut proposed = Vec::new();
    for (field, default) in host_fields(spec) {
        match config_json.get(&field).and_then(Value::as_str) {
            Some(url) if config.allow_config_hosts => {
                if let Some(origin) = Origin::parse(url) {
                    list.push(HostPattern::exact(&origin), GrantSource::ConfigField(field));
                }
            }
            Some(_) => {}
            None => proposed.extend(default.and_then(|d| Origin::parse(&d)).map(|o| (field, o))),
        }
    }
    for pattern in &config.extra_hosts {
        list.push(pattern.clone(), GrantSource::AllowHostFlag);
    }
    (list, proposed)
}

/// The spec's properties marked `x-outbound-host`, with their defaults.
fn host_fields(spec: &Value) -> Vec<(String, Option<String>)> {
    let Some(properties) = spec
        .pointer("/connectionSpecification/properties")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    properties
        .iter()
        .filter(|(_, schema)| schema.get("x-outbound-host") == Some(&Value::Bool(true)))
        .map(|(name, schema)| {
            let default = schema.get("default").and_then(Value::as_str);
            (name.clone(), default.map(str::to_string))
        })
        .collect()
}

/// Logs the effective allowlist, each grant with its source, and warns of clear-text grants.
fn log_grants(output: &SharedOutput, allowed: &AllowList) {
    let out = lock(output);
    if allowed.grants().is_empty() {
        out.log_stderr(
            Level::Info,
            "outgoing HTTP allowed to: nothing (set the host in the config or pass --allow-host)",
        );
    }
    for grant in allowed.grants() {
        out.log_stderr(
            Level::Info,
            &format!(
                "outgoing HTTP allowed to {} (from {})",
                grant.pattern, grant.source
            ),
        );
        if grant.pattern.allows_cleartext_off_host() {
            out.log_stderr(
                Level::Warn,
                &format!(
                    "{} allows plain http:// to hosts other than this machine: the app secret \
                     and the data would cross the network unencrypted; use https://",
                    grant.pattern
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_config(allow_config_hosts: bool, extra: &[&str]) -> RunConfig {
        RunConfig {
            component: "c.wasm".into(),
            operation: Operation::Spec,
            extra_hosts: extra
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
            allow_config_hosts,
            limits: crate::runtime::Limits {
                max_memory_bytes: 1 << 20,
                request_timeout: Duration::from_secs(1),
            },
            timeout: Duration::from_secs(1),
            cache: crate::runtime::CompileCache::Off,
            verbose: false,
        }
    }

    #[test]
    fn only_the_operator_grants_hosts() {
        let spec = json!({"connectionSpecification": {"properties": {
            "lark_host": {"type": "string", "default": "https://open.feishu.cn", "x-outbound-host": true},
            "sneaky": {"type": "string", "default": "http://127.0.0.1:9", "x-outbound-host": true},
            "other": {"type": "string"}
        }}});
        let grants = |config: &RunConfig, cfg: Value| {
            let (list, proposed) = allow_list(config, &spec, &cfg);
            let grants: Vec<String> = list
                .grants()
                .iter()
                .map(|g| format!("{} ({})", g.pattern, g.source))
                .collect();
            let proposed: Vec<String> = proposed.iter().map(|(f, o)| format!("{f}={o}")).collect();
            (grants, proposed)
        };
        let plain = run_config(true, &[]);
        assert_eq!(
            grants(&plain, json!({})),
            (
                vec![],
                vec![
                    "lark_host=https://open.feishu.cn".to_string(),
                    "sneaky=http://127.0.0.1:9".to_string()
                ]
            )
        );
        let (g, _) = grants(
            &plain,
            json!({"lark_host": "http://127.0.0.1:8080/", "other": "http://evil"}),
        );
        assert_eq!(g, vec!["http://127.0.0.1:8080 (config field lark_host)"]);
        assert!(
            grants(&plain, json!({"lark_host": "not a url"}))
                .0
                .is_empty()
        );
        assert!(
            grants(&plain, json!({"lark_host": "https://u:p@evil.com"}))
                .0
                .is_empty()
        );
        let flags = run_config(false, &["https://*.larksuite.com"]);
        assert_eq!(
            grants(&flags, json!({"lark_host": "http://127.0.0.1:8080"})).0,
            vec!["https://*.larksuite.com (--allow-host)"]
        );
    }
}
