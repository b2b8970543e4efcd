//! Command-line interface: clap types, turned into a typed [`RunConfig`] whose errors name the
//! flag at fault.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use host_runner::{Choices, CompileCache, Input, Level, Operation, SettingNames, Settings};
use std::path::PathBuf;

/// The environment variable naming a default component: when it is set and the first argument
/// is a command (`spec`, `check`, ...), the component argument may be left out. Images set it so
/// that the platform can run `host-runner spec`, `host-runner check --config F`, ...
pub const COMPONENT_ENV: &str = "HOST_RUNNER_COMPONENT";

const COMMANDS: [&str; 5] = ["spec", "check", "discover", "read", "inspect"];

/// The command line, with `$HOST_RUNNER_COMPONENT` put in place of a left-out component.
pub fn args_with_default_component() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let first_is_command = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| COMMANDS.contains(&a));
    if let Some(component) = std::env::var_os(COMPONENT_ENV).filter(|_| first_is_command) {
        args.insert(1, component);
    }
    args
}

/// Runs a source connector component in a wasmtime sandbox and prints Airbyte protocol
/// messages on stdout (one JSON object per line); logs go to stderr.
#[derive(Parser, Debug)]
#[command(name = "host-runner", version, args_override_self = true)]
pub struct Cli {
    /// The connector: a WebAssembly component implementing the `source` world (e.g. feishu.wasm).
    /// May be left out when $HOST_RUNNER_COMPONENT names it.
    pub component: PathBuf,
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Review a component before running it: what it imports and exports, the hosts its spec
    /// asks for, and what a run with this config and these flags would grant it.
    Inspect {
        /// Config JSON file (to see the grants it gives). The component then also checks it,
        /// reaching the granted hosts, and inspect shows what it says (what reads would cost).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// With --config: do not run the check (nothing is sent anywhere).
        #[arg(long)]
        offline: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the connector's specification (a SPEC message).
    Spec,
    /// Validate a config and try to connect with it (one CONNECTION_STATUS message; exit 0
    /// even when the check fails).
    Check {
        /// Config JSON file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// List the streams a config gives access to (a CATALOG message).
    Discover {
        /// Config JSON file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Read records (RECORD, STATE, LOG and TRACE messages); non-zero exit on failure.
    Read {
        /// Config JSON file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Configured catalog JSON file; without it every stream is read.
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
        /// State JSON file from an earlier read (`[]` on a first read).
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
}

/// Sandbox and limit flags; they may be given before or after the subcommand.
#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// Also allow outgoing HTTP to PATTERN: scheme://host[:port], with `*` for any scheme,
    /// host, leading subdomain label or port (Spin's allowed_outbound_hosts grammar). Repeatable.
    #[arg(long = "allow-host", value_name = "PATTERN", global = true)]
    pub allow_host: Vec<String>,
    /// Do not allow the hosts the config names (such as lark_host): only --allow-host
    /// patterns, so with none every request is refused.
    #[arg(long, global = true)]
    pub no_config_hosts: bool,
    /// Memory cap for all of the component's linear memories together, in MiB [default: 256].
    #[arg(long, value_name = "MIB", global = true,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_memory_mib: Option<u64>,
    /// Wall-clock cap on the connector's run (from the export call on; compiling is not
    /// counted), in seconds [default: 21600, six hours].
    #[arg(long, value_name = "SECS", global = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_secs: Option<u64>,
    /// Cap on each request's connect, first-byte and between-bytes waits, in seconds
    /// [default: 60].
    #[arg(long, value_name = "SECS", global = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: Option<u64>,
    /// Directory for compiled components (default: wasmtime's cache directory).
    #[arg(long, value_name = "DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Compile the component on every run instead of caching it.
    #[arg(long, global = true, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Streams read at once by the sandboxed instance, taking turns page by page (1: one after
    /// another). Records of different streams may interleave; each stream's messages stay in
    /// order [default: 4].
    #[arg(long, value_name = "N", global = true,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: Option<u64>,
    /// Requests per second to each host, for the whole run, instead of what the component's
    /// spec declares (`x-rate-limit`; 0 = no limit). Parallel syncs of one app share its
    /// upstream's quota: give each a part (also settable where flags are not, as in an image).
    #[arg(long, value_name = "N", global = true, env = "HOST_RUNNER_MAX_RPS")]
    pub max_rps: Option<u64>,
    /// Also show debug logs on stderr (the same as --log-level debug).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Least severe log level shown (LOG messages on stdout and lines on stderr).
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = LogLevel::Info, global = true)]
    pub log_level: LogLevel,
    /// Draw no live progress on stderr (it is drawn only when stderr is a terminal).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Write the protocol stream to FILE instead of stdout: to a temporary file beside it,
    /// renamed to FILE only when the run succeeds (a failed run leaves no FILE).
    #[arg(long, value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,
    /// Where files the connector hands over (attachments) are written, at the relative path
    /// each record names; created when the first file arrives. On the Airbyte platform its
    /// file-transfer staging directory (`AIRBYTE_STAGING_DIRECTORY`).
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        default_value = "files",
        env = "AIRBYTE_STAGING_DIRECTORY"
    )]
    pub files_dir: PathBuf,
}

/// A validated run configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub component: PathBuf,
    pub action: Action,
    pub settings: Settings,
    pub cache: CompileCache,
    /// Write the protocol stream here (atomically) instead of stdout.
    pub output: Option<PathBuf>,
}

/// What the command does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run an operation of the component.
    Run(Operation),
    /// Describe the component and its grants.
    Inspect {
        config: Option<PathBuf>,
        offline: bool,
        json: bool,
    },
}

/// How much the component and the runner log.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl Cli {
    pub fn into_run_config(self) -> Result<RunConfig> {
        let s = self.sandbox;
        let action = match self.command {
            Command::Inspect {
                config,
                offline,
                json,
            } => Action::Inspect {
                config,
                offline,
                json,
            },
            Command::Spec => Action::Run(Operation::Spec),
            Command::Check { config } => Action::Run(Operation::Check {
                config: Input::File(config),
            }),
            Command::Discover { config } => Action::Run(Operation::Discover {
                config: Input::File(config),
            }),
            Command::Read {
                config,
                catalog,
                state,
            } => Action::Run(Operation::Read {
                config: Input::File(config),
                catalog: catalog.map(Input::File),
                state: state.map(Input::File),
            }),
        };
        let cache = match (s.no_cache, s.cache_dir) {
            (true, _) => CompileCache::Off,
            (false, Some(dir)) => CompileCache::Dir(
                std::path::absolute(&dir)
                    .with_context(|| format!("invalid --cache-dir {}", dir.display()))?,
            ),
            (false, None) => CompileCache::Default,
        };
        let names = SettingNames {
            allow_hosts: "--allow-host".into(),
            max_memory: "--max-memory-mib".into(),
            timeout: "--timeout-secs".into(),
            files_dir: "--files-dir".into(),
        };
        let choices = Choices {
            allow_hosts: s.allow_host.clone(),
            max_memory_mib: s.max_memory_mib,
            timeout_secs: s.timeout_secs,
            request_timeout_secs: s.request_timeout_secs,
            concurrency: s.concurrency,
            max_rps: s.max_rps,
            files_dir: Some(s.files_dir.clone()),
        };
        let chosen = Settings::chosen(choices, names).map_err(anyhow::Error::msg)?;
        Ok(RunConfig {
            component: self.component,
            action,
            settings: Settings {
                allow_config_hosts: !s.no_config_hosts,
                min_level: match (s.verbose, s.log_level) {
                    (true, _) | (_, LogLevel::Debug) => Level::Debug,
                    (_, LogLevel::Info) => Level::Info,
                    (_, LogLevel::Warn) => Level::Warn,
                    (_, LogLevel::Error) => Level::Error,
                },
                echo_stderr: true,
                progress: !s.quiet,
                ..chosen
            },
            cache,
            output: s.output,
        })
    }
}
