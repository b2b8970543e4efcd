//! What a component is and what a run would let it do, without running it against anything:
//! its imports and exports, the hosts its spec asks for, and the grants a config and the
//! settings would give (with where each comes from). [`check_says`] is the one part that
//! reaches the upstream: what the component says when it checks a config (its estimates of
//! what reads cost, say), for `inspect --config`.

use crate::component::Runtime;
use crate::run::output::output;
use crate::sandbox::grants::allow_list;
use crate::{Input, Settings};
use anyhow::{Context, Result};
use protocol::Level;
use protocol::{Message, Sink};
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// A component and what a run with given settings (and config) would allow it.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// The interfaces and functions it imports (what it can ask the host for).
    pub imports: Vec<String>,
    /// What it exports.
    pub exports: Vec<String>,
    /// Config fields its spec marks as hosts (`x-outbound-host`), with the default it proposes.
    pub host_fields: Vec<HostField>,
    /// What a run would grant, each with its source; empty without a config and flags.
    pub grants: Vec<GrantView>,
    /// Defaults of host fields the config leaves out: asked for, never granted.
    pub refused_defaults: Vec<HostField>,
    /// Memory cap for all its memories together, in MiB.
    pub max_memory_mib: usize,
    /// Wall-clock cap of a run, in seconds.
    pub timeout_secs: u64,
    /// Cap on each request's waits, in seconds.
    pub request_timeout_secs: u64,
    /// Requests per second to each host (0: no limit).
    pub max_rps: usize,
    /// Streams read at once (by one instance, taking turns page by page).
    pub concurrency: usize,
    /// Where files it hands over (the `files` interface) would be written; None: refused.
    pub files_dir: Option<String>,
    /// Config fields the spec marks `x-host-secret`: the component sees a placeholder, the
    /// host puts the value into requests to granted hosts.
    pub kept_by_host: Vec<String>,
    /// What the component said when it checked the config (set by [`crate::Connector::check_says`]'s caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckSays>,
}

/// What the component says when it checks a config: the outcome and its log lines (WARN and
/// INFO: what it found, and for a connector that estimates them, what reads would cost).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckSays {
    /// Whether the check passed.
    pub succeeded: bool,
    /// Why the check failed.
    pub message: Option<String>,
    /// Its WARN and INFO lines, in order.
    pub logs: Vec<String>,
}

/// Collects a check's messages into a [`CheckSays`].
struct CollectCheck(Arc<Mutex<CheckSays>>);

impl Sink for CollectCheck {
    fn send(&mut self, message: Message<'_>) -> std::io::Result<()> {
        let mut says = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match message {
            Message::Log {
                level: Level::Warn | Level::Info,
                message,
            } => says.logs.push(message.to_string()),
            Message::ConnectionStatus { succeeded, message } => {
                says.succeeded = succeeded;
                says.message = message.map(str::to_string);
            }
            Message::Error { report, .. } => says.message = Some(report.message.clone()),
            _ => {}
        }
        Ok(())
    }
}

/// Runs `check` of `config` in the sandbox of `settings` (the upstream is reached through the
/// granted hosts only, as in any run) and collects what the component says.
pub fn check_says(connector: &crate::Connector, config: &Input, settings: &Settings) -> CheckSays {
    let says = Arc::new(Mutex::new(CheckSays::default()));
    let operation = crate::Operation::Check {
        config: config.clone(),
    };
    let sink = Box::new(CollectCheck(says.clone()));
    connector.run(operation, settings, sink, &crate::Stop::new());
    let says = says.lock().unwrap_or_else(|p| p.into_inner());
    says.clone()
}

/// A config field that names a host.
#[derive(Debug, Clone, Serialize)]
pub struct HostField {
    /// The field's name.
    pub field: String,
    /// The value: the spec's default, or the config's.
    pub value: Option<String>,
}

/// One grant: a host pattern and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    /// `scheme://host[:port]`, with `*` wildcards.
    pub pattern: String,
    /// `config field lark_host` or `--allow-host`.
    pub source: String,
}

/// A sink that drops everything (the spec call logs nothing worth keeping here).
struct Discard;

impl Sink for Discard {
    fn send(&mut self, _message: Message<'_>) -> std::io::Result<()> {
        Ok(())
    }
}

/// Inspects the component of `runtime` for `config` (if any) and `settings`.
pub fn inspect(
    runtime: &Runtime,
    config: Option<&Input>,
    settings: &Settings,
) -> Result<Inspection> {
    let (imports, exports) = runtime.interface();
    let output = Arc::new(Mutex::new(output(Box::new(Discard), Level::Error, false)));
    let (mut store, source) = runtime.instantiate(output, settings.limits, &settings.names)?;
    let spec_text = source
        .call_spec(&mut store)
        .map_err(anyhow::Error::from)
        .context("the connector's spec export failed")?;
    let spec: Value =
        serde_json::from_str(&spec_text).context("the connector's spec is not valid JSON")?;
    let host_fields = crate::sandbox::grants::host_fields(&spec)
        .into_iter()
        .map(|(field, value)| HostField { field, value })
        .collect();
    let config_json: Value = match config {
        Some(input) => input.read_config().map_err(anyhow::Error::msg)?.1,
        None => Value::Object(Default::default()),
    };
    let (allowed, proposed) = allow_list(settings, &spec, &config_json);
    Ok(Inspection {
        imports,
        exports,
        host_fields,
        grants: allowed
            .grants()
            .iter()
            .map(|g| GrantView {
                pattern: g.pattern.to_string(),
                source: g.source.to_string(),
            })
            .collect(),
        refused_defaults: proposed
            .into_iter()
            .map(|(field, origin)| HostField {
                field,
                value: Some(origin.to_string()),
            })
            .collect(),
        max_memory_mib: settings.limits.max_memory_bytes >> 20,
        timeout_secs: settings.timeout.as_secs(),
        request_timeout_secs: settings.limits.request_timeout.as_secs(),
        max_rps: settings
            .max_rps
            .unwrap_or(crate::sandbox::request_rate::DeclaredLimit::of_spec(&spec).max_rps),
        concurrency: settings.concurrency,
        files_dir: settings
            .files_dir
            .as_ref()
            .map(|dir| crate::sandbox::files::absolute(dir).display().to_string()),
        kept_by_host: crate::sandbox::placeholders::host_secret_fields(&spec),
        check: None,
    })
}
