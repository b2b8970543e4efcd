//! `host-runner`: the command line over the [`host_runner`] library. Runs a source connector
//! component (WIT world `source`) in a wasmtime sandbox and speaks the Airbyte protocol on
//! stdout; logs go to stderr.
//!
//! Flow: [`cli`] parses flags into the library's operation and settings; SIGINT / SIGTERM
//! become a stop request (a second one exits at once); [`host_runner::run_component`] runs the
//! component with protocol lines on stdout as its sink; the outcome becomes the exit code.

mod cli;

use clap::Parser;
use host_runner::{ErrorKind, Outcome, ProtocolLines, Stop, StopReason};
use std::io::BufWriter;
use std::process::ExitCode;

/// Exit codes, one per kind of failure a script may want to tell apart (0 is success, 2 bad
/// flags, 128 + N a signal).
const EXIT_INTERNAL: u8 = 1;
const EXIT_OUTPUT_FAILED: u8 = 3;
const EXIT_CONFIG: u8 = 4;
const EXIT_AUTH: u8 = 5;
const EXIT_TRANSIENT: u8 = 6;
const EXIT_SANDBOX: u8 = 7;

/// The exit code of a failure of `kind`.
fn failure_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Input | ErrorKind::Config | ErrorKind::NotFound => EXIT_CONFIG,
        ErrorKind::Auth | ErrorKind::Permission => EXIT_AUTH,
        ErrorKind::Transient | ErrorKind::RateLimited => EXIT_TRANSIENT,
        ErrorKind::Sandbox => EXIT_SANDBOX,
        ErrorKind::BadResponse | ErrorKind::Limit | ErrorKind::Stopped | ErrorKind::Internal => {
            EXIT_INTERNAL
        }
    }
}

fn main() -> ExitCode {
    // The operator's environment must not change what the component sees: no host backtraces
    // (with source paths) in error texts handed to it. Set before any thread starts.
    // SAFETY: single-threaded at this point.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    let cli = cli::Cli::parse();
    let config = match cli.into_run_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let stop = Stop::new();
    stop_on_signals(&stop);
    let Some(path) = config.output.clone() else {
        let stdout = BufWriter::with_capacity(1 << 16, std::io::stdout());
        return run(config, Box::new(ProtocolLines::new(stdout)), &stop);
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
    let code = run(config, Box::new(sink), &stop);
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

fn run(config: cli::RunConfig, sink: Box<dyn host_runner::Sink>, stop: &Stop) -> ExitCode {
    let outcome = host_runner::run_component(
        &config.component,
        &config.cache,
        config.operation,
        &config.settings,
        sink,
        stop,
    );
    exit_code(outcome)
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
        Outcome::Failed(kind) => ExitCode::from(failure_code(kind)),
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
