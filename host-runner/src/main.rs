//! `host-runner`: runs a source connector component (WIT world `source`) in a wasmtime sandbox
//! and speaks the Airbyte protocol on stdout.
//!
//! Flow: [`cli`] parses flags into a run config; [`run`] reads the input files, has
//! [`runtime`] compile (or load from cache) and instantiate the component with its limits,
//! grants outgoing HTTP ([`sandbox`], [`dial`]) from what the operator supplied (config values of
//! fields the spec marks as hosts, and `--allow-host`), calls the export, and writes
//! what the component hands back through [`output`] as [`protocol`] messages, all under a
//! wall-clock watchdog.

mod cli;
mod dial;
mod output;
mod protocol;
mod run;
mod runtime;
mod sandbox;
mod state_input;

use clap::Parser;
use std::process::ExitCode;

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
    run::run(config)
}
