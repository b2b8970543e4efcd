//! `host_runner`: runs a source connector component (WIT world `source`) in a wasmtime sandbox,
//! for embedding platforms and for the `host-runner` CLI, which uses exactly this API.
//!
//! Flow: [`Connector::load`] compiles the component once (or loads it from wasmtime's cache);
//! [`Connector::run`] instantiates it in a fresh store with the [`Settings`]' limits, grants
//! outgoing HTTP from what the operator supplied (config values of fields the spec marks as
//! hosts, and [`Settings::allow_hosts`]; never a default the component proposes), calls the
//! export for the [`Operation`], and hands every [`Message`] to the caller's [`Sink`] (records
//! a page at a time, as the raw JSON the component handed over), under a wall-clock cap and a
//! [`Stop`] the caller can pull. The [`Outcome`] says how it ended.
//!
//! Rooms (each root has its own table):
//!
//! | module | job |
//! |---|---|
//! | `component` | the compiled component, its bindings, and the store's `host` interface |
//! | `sandbox` | grants, the egress hook, the HTTP client, rate limit, caps, kept secrets |
//! | `run` | one run: inputs, the worker and its watchdog, the report and the summary |
//! | `inspect` | what a component is and what a run would let it do |
//! | this root | the public API: [`Connector`], [`Settings`], [`Operation`], [`Outcome`] |
//!
//! The CLI (`main.rs`, `cli.rs`) is a thin client of this API.
//!
//! ```no_run
//! use host_runner::{CompileCache, Connector, Input, Operation, ProtocolLines, Settings, Stop};
//! let connector = Connector::load("feishu.wasm".as_ref(), &CompileCache::Default)?;
//! let read = Operation::Read {
//!     config: Input::Text(r#"{"app_id":"cli_x","app_secret":"...","app_token":"bascn..."}"#.into()),
//!     catalog: None,
//!     state: None,
//! };
//! let sink = Box::new(ProtocolLines::new(std::io::stdout()));
//! let outcome = connector.run(read, &Settings::default(), sink, &Stop::new());
//! assert!(outcome.is_success());
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

mod component;
mod inspect;
mod run;
mod sandbox;

pub use component::CompileCache;
pub use inspect::{CheckSays, GrantView, HostField, Inspection};
pub use protocol::{
    ErrorKind, FailureType, Level, Message, Page, ProtocolLines, Report, Sink, Status, contract,
    exit, now_ms,
};
pub use run::output::BoxedSink;
pub use sandbox::hosts::HostPattern;
pub use sandbox::limits::Limits;
pub use sandbox::stats::{StreamFigures, Totals};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// A config, catalog or state: given as text, or as a file the runner reads.
#[derive(Debug, Clone)]
pub enum Input {
    /// The JSON text itself.
    Text(String),
    /// A file holding it.
    File(PathBuf),
}

/// What to run.
#[derive(Debug, Clone)]
pub enum Operation {
    /// The connector's specification.
    Spec,
    /// Validate a config and try to connect with it.
    Check {
        /// The connector's config (a JSON object).
        config: Input,
    },
    /// List the streams a config gives access to.
    Discover {
        /// The connector's config (a JSON object).
        config: Input,
    },
    /// Read records: every stream when `catalog` is `None`, resuming from `state` (any shape
    /// of Airbyte state a platform hands back: an array, a single message, STATE lines).
    Read {
        /// The connector's config (a JSON object).
        config: Input,
        /// A configured catalog selecting streams and sync modes.
        catalog: Option<Input>,
        /// The state of an earlier read.
        state: Option<Input>,
    },
}

/// The sandbox and limits of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Hosts the component may reach besides those the config names
    /// (`scheme://host[:port]`, Spin's grammar).
    pub allow_hosts: Vec<HostPattern>,
    /// Grant the hosts that config fields marked `x-outbound-host` name (when set).
    pub allow_config_hosts: bool,
    /// Memory and per-request limits.
    pub limits: Limits,
    /// Wall-clock cap on the export call.
    pub timeout: Duration,
    /// Least severe level of the log messages passed on (to the sink and stderr).
    pub min_level: Level,
    /// Also write human-readable log lines on stderr (the CLI does).
    pub echo_stderr: bool,
    /// Draw live progress on stderr when it is a terminal (needs `echo_stderr`).
    pub progress: bool,
    /// Streams read at once by the instance, taking turns page by page (1: one after another).
    pub concurrency: usize,
    /// Requests per second to each host instead of what the component's spec declares
    /// (`x-rate-limit`); None takes the declaration, 0 sets no limit.
    pub max_rps: Option<usize>,
    /// Where files the component hands over are written (None: the run refuses files).
    pub files_dir: Option<PathBuf>,
    /// How the front end names these settings in the messages the runner writes.
    pub names: SettingNames,
}

/// How a front end names the settings a message may tell the user to change: the CLI says
/// `--max-memory-mib`, Python `max_memory_mib=`, the library its field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingNames {
    /// Where more hosts are granted ([`Settings::allow_hosts`]).
    pub allow_hosts: String,
    /// The memory cap ([`Limits::max_memory_bytes`]).
    pub max_memory: String,
    /// The wall-clock cap ([`Settings::timeout`]).
    pub timeout: String,
    /// The files directory ([`Settings::files_dir`]).
    pub files_dir: String,
}

impl Default for SettingNames {
    fn default() -> Self {
        Self {
            allow_hosts: "Settings::allow_hosts".into(),
            max_memory: "Limits::max_memory_bytes".into(),
            timeout: "Settings::timeout".into(),
            files_dir: "Settings::files_dir".into(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            allow_config_hosts: true,
            limits: Limits {
                max_memory_bytes: 256 << 20,
                request_timeout: Duration::from_secs(60),
            },
            timeout: Duration::from_secs(6 * 3600),
            min_level: Level::Info,
            echo_stderr: false,
            progress: false,
            concurrency: 4,
            max_rps: None,
            files_dir: None,
            names: SettingNames::default(),
        }
    }
}

/// What a front end lets its user choose, in the user's terms (None keeps the default); the
/// CLI and the Python package both turn their arguments into [`Settings`] with
/// [`Settings::chosen`], so they check and apply them alike.
#[derive(Debug, Clone, Default)]
pub struct Choices {
    /// More host patterns to grant (`scheme://host[:port]`).
    pub allow_hosts: Vec<String>,
    /// Memory cap in MiB (1 to 65536).
    pub max_memory_mib: Option<u64>,
    /// Wall-clock cap of a run, in seconds (at least 1).
    pub timeout_secs: Option<u64>,
    /// Cap on each request's waits, in seconds (at least 1).
    pub request_timeout_secs: Option<u64>,
    /// Streams read at once (1 to 64).
    pub concurrency: Option<u64>,
    /// Requests per second to each host instead of the declared rate (0: no limit).
    pub max_rps: Option<u64>,
    /// Where files the component hands over are written.
    pub files_dir: Option<PathBuf>,
}

impl Settings {
    /// The settings `choices` make, over the defaults; errors name the setting as `names` do
    /// (`allow_hosts` here is the name of the allowlist setting, and so on).
    pub fn chosen(choices: Choices, names: SettingNames) -> Result<Self, String> {
        let allow_hosts = choices
            .allow_hosts
            .iter()
            .map(|p| {
                HostPattern::parse(p)
                    .map_err(|e| format!("invalid {} {p:?}: {e:#}", names.allow_hosts))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let in_range =
            |value: Option<u64>, name: &str, range: std::ops::RangeInclusive<u64>| match value {
                Some(v) if !range.contains(&v) => Err(format!(
                    "{name} must be from {} to {}, got {v}",
                    range.start(),
                    range.end()
                )),
                _ => Ok(value),
            };
        let max_memory_mib = in_range(choices.max_memory_mib, &names.max_memory, 1..=65536)?;
        let timeout_secs = in_range(choices.timeout_secs, &names.timeout, 1..=u64::MAX)?;
        let request_timeout_secs = choices.request_timeout_secs.map(|s| s.max(1));
        let concurrency = choices.concurrency.map(|n| n.clamp(1, 64) as usize);
        let defaults = Settings::default();
        Ok(Settings {
            allow_hosts,
            limits: Limits {
                max_memory_bytes: max_memory_mib
                    .map_or(defaults.limits.max_memory_bytes, |mib| (mib as usize) << 20),
                request_timeout: request_timeout_secs
                    .map_or(defaults.limits.request_timeout, Duration::from_secs),
            },
            timeout: timeout_secs.map_or(defaults.timeout, Duration::from_secs),
            concurrency: concurrency.unwrap_or(defaults.concurrency),
            max_rps: choices
                .max_rps
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            files_dir: choices.files_dir,
            names,
            ..defaults
        })
    }
}

/// Why a run was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The process got this signal (SIGINT = 2, SIGTERM = 15).
    Signal(i32),
    /// The caller asked (an iterator dropped, a Ctrl-C in an embedding language).
    Cancelled,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signal(2) => f.write_str("SIGINT"),
            Self::Signal(15) => f.write_str("SIGTERM"),
            Self::Signal(n) => write!(f, "signal {n}"),
            Self::Cancelled => f.write_str("the caller"),
        }
    }
}

/// A stop request that another thread can make while a run goes on. The run then ends with
/// INCOMPLETE streams and a TRACE ERROR; the component gets no more output and stops at its
/// next call into the host.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicI32>);

const NOT_STOPPED: i32 = 0;
const CANCELLED: i32 = -1;

impl Stop {
    /// A stop nobody has requested yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop for `reason` (the first request wins).
    pub fn request(&self, reason: StopReason) {
        let code = match reason {
            StopReason::Signal(n) => n.max(1),
            StopReason::Cancelled => CANCELLED,
        };
        let _ = self
            .0
            .compare_exchange(NOT_STOPPED, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The stop asked for, if any.
    pub fn requested(&self) -> Option<StopReason> {
        match self.0.load(Ordering::SeqCst) {
            NOT_STOPPED => None,
            CANCELLED => Some(StopReason::Cancelled),
            n => Some(StopReason::Signal(n)),
        }
    }
}

/// How a run ended. Every outcome but `Succeeded` and `CheckFailed` left a TRACE ERROR in
/// the sink (when the sink still took messages).
#[derive(Debug)]
pub enum Outcome {
    /// Complete: every message is in the sink.
    Succeeded,
    /// `check` ran and the connection failed (reported as a FAILED status): why, with its
    /// kind and the upstream's code and request id when known.
    CheckFailed(Report),
    /// The run failed (the sink got the TRACE ERRORs); the kind of the first failure.
    Failed(ErrorKind),
    /// The run was stopped from outside.
    Stopped(StopReason),
    /// The sink failed: what it holds is incomplete.
    OutputFailed(std::io::Error),
}

impl Outcome {
    /// Whether the operation completed (a failed check completed too: its status says so).
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Succeeded | Self::CheckFailed { .. })
    }
}

/// A compiled component, ready to run any number of times (also from several threads).
#[derive(Clone)]
pub struct Connector {
    runtime: Arc<component::Runtime>,
}

impl Connector {
    /// Compiles `component` (a `source` world component), or loads it from the compilation
    /// cache, and links it against the runner's imports.
    pub fn load(component: &Path, cache: &CompileCache) -> anyhow::Result<Self> {
        Ok(Self {
            runtime: Arc::new(component::Runtime::load(component, cache)?),
        })
    }

    /// Compiles (or loads from the cache) a component given as bytes; `name` is how messages
    /// call it.
    pub fn from_bytes(bytes: &[u8], name: &str, cache: &CompileCache) -> anyhow::Result<Self> {
        Ok(Self {
            runtime: Arc::new(component::Runtime::from_bytes(bytes, name, cache)?),
        })
    }

    /// What the component imports and exports, the hosts its spec asks for, and what a run
    /// with `config` (if given) and `settings` would grant it; nothing is sent anywhere.
    pub fn inspect(
        &self,
        config: Option<&Input>,
        settings: &Settings,
    ) -> anyhow::Result<Inspection> {
        inspect::inspect(&self.runtime, config, settings)
    }

    /// Runs `check` of `config` (reaching the hosts `settings` grant, like any run) and
    /// collects the outcome and what the component logged.
    pub fn check_says(&self, config: &Input, settings: &Settings) -> CheckSays {
        inspect::check_says(self, config, settings)
    }

    /// Runs `operation` in a fresh sandboxed instance, reporting to `sink`.
    pub fn run(
        &self,
        operation: Operation,
        settings: &Settings,
        sink: BoxedSink,
        stop: &Stop,
    ) -> Outcome {
        self.run_measured(operation, settings, sink, stop).0
    }

    /// Like [`Connector::run`], also returning what the run cost on the network.
    pub fn run_measured(
        &self,
        operation: Operation,
        settings: &Settings,
        sink: BoxedSink,
        stop: &Stop,
    ) -> (Outcome, Totals) {
        let runtime = self.runtime.clone();
        run::run(move || Ok(runtime), operation, settings, sink, stop)
    }
}

/// Loads `component` and runs `operation` once; a component that cannot be loaded is reported
/// to `sink` as a TRACE ERROR like any other failure (what the CLI does).
pub fn run_component(
    component: &Path,
    cache: &CompileCache,
    operation: Operation,
    settings: &Settings,
    sink: BoxedSink,
    stop: &Stop,
) -> Outcome {
    let (component, cache) = (component.to_path_buf(), cache.clone());
    let load = move || component::Runtime::load(&component, &cache).map(Arc::new);
    run::run(load, operation, settings, sink, stop).0
}
