//! `host-runner`: the command line over the [`host_runner`] library. Runs a source connector
//! component (WIT world `source`) in a wasmtime sandbox and speaks the Airbyte protocol on
//! stdout; logs go to stderr.
//!
//! Flow: [`cli`] parses flags into the library's operation and settings; SIGINT / SIGTERM
//! become a stop request (a second one exits at once); [`host_runner::run_component`] runs the
//! component with protocol lines on stdout as its sink; the outcome becomes the exit code.

mod cli;

use clap::Parser;
use host_runner::{Outcome, ProtocolLines, Stop, StopReason};
use std::io::BufWriter;
use std::process::ExitCode;

// Exit codes: the contract's table ([`host_runner::exit`], one per kind of failure a script
// may want to tell apart), 2 for bad flags, 128 + N for a signal.
use host_runner::exit::{
    CONFIG as EXIT_CONFIG, INTERNAL as EXIT_INTERNAL, OUTPUT as EXIT_OUTPUT_FAILED,
};

fn main() -> ExitCode {
    // The operator's environment must not change what the component sees: no host backtraces
    // (with source paths) in error texts handed to it. Set before any thread starts.
    // SAFETY: single-threaded at this point.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    let cli = cli::Cli::parse_from(cli::args_with_default_component());
    let config = match cli.into_run_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let operation = match config.action.clone() {
        cli::Action::Run(operation) => operation,
        cli::Action::Inspect {
            config: file,
            offline,
            json,
        } => return inspect(&config, file, offline, json),
    };
    let stop = Stop::new();
    stop_on_signals(&stop);
    let Some(path) = config.output.clone() else {
        let stdout = BufWriter::with_capacity(1 << 16, std::io::stdout());
        return run(
            config,
            operation,
            Box::new(ProtocolLines::new(stdout)),
            &stop,
        );
    };
    let file = match OutputFile::create(&path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("error: cannot write --output {}: {e:#}", path.display());
            return ExitCode::from(2);
        }
    };
    let sink = match file.writer() {
        Ok(writer) => ProtocolLines::new(writer),
        Err(e) => {
            eprintln!("error: cannot write --output {}: {e:#}", path.display());
            return ExitCode::from(2);
        }
    };
    let code = run(config, operation, Box::new(sink), &stop);
    if code == ExitCode::SUCCESS {
        if let Err(e) = file.commit() {
            eprintln!("ERROR cannot write --output {}: {e:#}", path.display());
            return ExitCode::from(EXIT_OUTPUT_FAILED);
        }
    } else {
        eprintln!(
            "ERROR the run failed: {} was not written (its messages went to a temporary file, now removed)",
            path.display()
        );
    }
    code
}

fn run(
    config: cli::RunConfig,
    operation: host_runner::Operation,
    sink: host_runner::BoxedSink,
    stop: &Stop,
) -> ExitCode {
    let outcome = host_runner::run_component(
        &config.component,
        &config.cache,
        operation,
        &config.settings,
        sink,
        stop,
    );
    exit_code(outcome)
}

/// `inspect`: prints the component's interface and what the run would grant it, and with a
/// config (unless `offline`) what the component says when it checks it.
fn inspect(
    config: &cli::RunConfig,
    file: Option<std::path::PathBuf>,
    offline: bool,
    json: bool,
) -> ExitCode {
    let file = file.map(host_runner::Input::File);
    let inspection = host_runner::Connector::load(&config.component, &config.cache).and_then(|c| {
        let mut inspection = c.inspect(file.as_ref(), &config.settings)?;
        if let Some(file) = file.as_ref().filter(|_| !offline) {
            inspection.check = Some(c.check_says(file, &config.settings));
        }
        Ok(inspection)
    });
    let inspection = match inspection {
        Ok(inspection) => inspection,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if json {
        match serde_json::to_string_pretty(&inspection) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_INTERNAL);
            }
        }
        return ExitCode::SUCCESS;
    }
    print!("{}", describe(&inspection, &config.component));
    ExitCode::SUCCESS
}

/// `inspect`'s text.
fn describe(i: &host_runner::Inspection, component: &std::path::Path) -> String {
    let mut text = format!("component {}\n\nexports:\n", component.display());
    for export in &i.exports {
        text.push_str(&format!("  {export}\n"));
    }
    text.push_str("imports (all it can ask the host for):\n");
    for import in &i.imports {
        text.push_str(&format!("  {import}\n"));
    }
    text.push_str("\nhosts its spec asks for (config fields marked x-outbound-host):\n");
    for field in &i.host_fields {
        let default = field.value.as_deref().unwrap_or("no default");
        text.push_str(&format!("  {} (default {default})\n", field.field));
    }
    if !i.kept_by_host.is_empty() {
        text.push_str(&format!(
            "\nkept by the host (the component sees a placeholder): {}\n",
            i.kept_by_host.join(", ")
        ));
    }
    text.push_str("\nwould grant:\n");
    if i.grants.is_empty() {
        text.push_str("  nothing: set the host fields in the config, or pass --allow-host\n");
    }
    for grant in &i.grants {
        text.push_str(&format!("  {} (from {})\n", grant.pattern, grant.source));
    }
    for refused in &i.refused_defaults {
        let value = refused.value.as_deref().unwrap_or_default();
        text.push_str(&format!(
            "  not {value}: the default of `{}`, which the config leaves out\n",
            refused.field
        ));
    }
    text.push_str(&format!(
        "\nlimits: memory {} MiB in all, run {} s, each request {} s, {} requests/s per host{}, {} streams at once\n",
        i.max_memory_mib,
        i.timeout_secs,
        i.request_timeout_secs,
        i.max_rps,
        if i.max_rps == 0 { " (no limit)" } else { "" },
        i.concurrency
    ));
    match &i.files_dir {
        Some(dir) => text.push_str(&format!(
            "files it hands over go under {dir} (--files-dir), at paths it names inside it\n"
        )),
        None => text.push_str("files it hands over are refused (no files directory)\n"),
    }
    if let Some(check) = &i.check {
        text.push_str("\nchecking the config (through the grants above), the component said:\n");
        for line in &check.logs {
            text.push_str(&format!("  {line}\n"));
        }
        match (&check.succeeded, &check.message) {
            (true, _) => text.push_str("  check: succeeded\n"),
            (false, message) => text.push_str(&format!(
                "  check: FAILED: {}\n",
                message.as_deref().unwrap_or("no reason given")
            )),
        }
    }
    text
}

/// `--output FILE`: a temporary file beside FILE, renamed over it only on success.
struct OutputFile {
    temp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

impl OutputFile {
    fn create(path: &std::path::Path) -> std::io::Result<Self> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => std::path::Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".host-runner-output-")
            .tempfile_in(dir)?;
        Ok(Self {
            temp,
            path: path.to_path_buf(),
        })
    }

    fn writer(&self) -> std::io::Result<BufWriter<std::fs::File>> {
        Ok(BufWriter::with_capacity(1 << 16, self.temp.reopen()?))
    }

    /// Makes the file durable and moves it to its name.
    fn commit(self) -> std::io::Result<()> {
        self.temp.as_file().sync_all()?;
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Succeeded | Outcome::CheckFailed { .. } => ExitCode::SUCCESS,
        Outcome::Failed(kind) => ExitCode::from(kind.exit_code()),
        Outcome::Stopped(StopReason::Cancelled) => ExitCode::from(EXIT_INTERNAL),
        Outcome::Stopped(StopReason::Signal(n)) => ExitCode::from(128u8.saturating_add(n as u8)),
        Outcome::OutputFailed(e) => {
            eprintln!(
                "ERROR cannot write the protocol stream to stdout ({e}); the output is incomplete"
            );
            ExitCode::from(EXIT_OUTPUT_FAILED)
        }
    }
}

/// On SIGINT or SIGTERM, asks the run to stop; on a second one, exits at once.
fn stop_on_signals(stop: &Stop) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        eprintln!("WARN  cannot handle SIGINT / SIGTERM; an interrupted run ends without a TRACE");
        return;
    };
    let stop = stop.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if stop.requested().is_some() {
                std::process::exit(128 + signal);
            }
            stop.request(StopReason::Signal(signal));
        }
    });
}
