//! The component glue of the `source` world: its exports call [`crate::source`] with
//! [`WasiTransport`] (WASI HTTP) and [`WasiOutput`], which implements [`Output`] with the WIT
//! `host` imports.

use crate::error::{ConnectorError, WireCategory};
use crate::host::{LogLevel, Output, OutputRefusal, StoredFile, StreamStatus};
use crate::source;
use crate::wasi_http::WasiTransport;

#[allow(clippy::too_many_arguments)]
mod bindings {
    // The world's WASI imports are the `wasip2` crate's own bindings (same WASI 0.2.12).
    wit_bindgen::generate!({
        path: "../wit",
        world: "source",
        with: {
            "wasi:cli/environment@0.2.12": wasip2::cli::environment,
            "wasi:cli/exit@0.2.12": wasip2::cli::exit,
            "wasi:cli/stdin@0.2.12": wasip2::cli::stdin,
            "wasi:cli/stdout@0.2.12": wasip2::cli::stdout,
            "wasi:cli/stderr@0.2.12": wasip2::cli::stderr,
            "wasi:cli/terminal-input@0.2.12": wasip2::cli::terminal_input,
            "wasi:cli/terminal-output@0.2.12": wasip2::cli::terminal_output,
            "wasi:cli/terminal-stdin@0.2.12": wasip2::cli::terminal_stdin,
            "wasi:cli/terminal-stdout@0.2.12": wasip2::cli::terminal_stdout,
            "wasi:cli/terminal-stderr@0.2.12": wasip2::cli::terminal_stderr,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
            "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:random/random@0.2.12": wasip2::random::random,
            "wasi:random/insecure-seed@0.2.12": wasip2::random::insecure_seed,
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        },
    });
}

use bindings::Guest;
use bindings::datasource::connector::files as wit_files;
use bindings::datasource::connector::host as wit_host;
use bindings::datasource::connector::types as wit;

struct Component;

impl Guest for Component {
    fn spec() -> String {
        source::spec()
    }

    fn check(config: String) -> Result<(), wit::ConnectorError> {
        source::check(WasiTransport::new(Box::new(log)), &config).map_err(to_wit)
    }

    fn discover(config: String) -> Result<String, wit::ConnectorError> {
        source::discover(WasiTransport::new(Box::new(log)), &config).map_err(to_wit)
    }

    fn read(
        config: String,
        catalog: Option<String>,
        state: Option<String>,
    ) -> Result<(), wit::ConnectorError> {
        source::read(
            WasiTransport::new(Box::new(log)),
            &mut WasiOutput,
            &config,
            catalog.as_deref(),
            state.as_deref(),
        )
        .map_err(to_wit)
    }
}

bindings::export!(Component with_types_in bindings);

fn to_wit(error: ConnectorError) -> wit::ConnectorError {
    to_wit_ref(&error)
}

fn to_wit_ref(error: &ConnectorError) -> wit::ConnectorError {
    let category = match error.category.wire() {
        WireCategory::Config => wit::ErrorCategory::Config,
        WireCategory::Auth => wit::ErrorCategory::Auth,
        WireCategory::Permission => wit::ErrorCategory::Permission,
        WireCategory::NotFound => wit::ErrorCategory::NotFound,
        WireCategory::RateLimited(wait) => wit::ErrorCategory::RateLimited(wait),
        WireCategory::Transient => wit::ErrorCategory::Transient,
        WireCategory::BadResponse => wit::ErrorCategory::BadResponse,
        WireCategory::Internal => wit::ErrorCategory::Internal,
    };
    wit::ConnectorError {
        category,
        message: error.message.clone(),
        upstream_code: error.upstream.code,
        request_id: error.upstream.request_id.clone(),
    }
}

/// [`Output`] over the `host` imports.
struct WasiOutput;

impl Output for WasiOutput {
    fn log(&mut self, level: LogLevel, message: &str) {
        log(level, message);
    }

    fn emit_records(&mut self, stream: &str, records: Vec<Vec<u8>>) -> Result<(), ConnectorError> {
        wit_host::emit_records(stream, &records).map_err(host_refused)
    }

    fn emit_state(&mut self, stream: &str, state: &str) -> Result<(), ConnectorError> {
        wit_host::emit_state(stream, state).map_err(host_refused)
    }

    fn stream_status(&mut self, stream: &str, status: StreamStatus) {
        let status = match status {
            StreamStatus::Started => wit::StreamStatus::Started,
            StreamStatus::Complete => wit::StreamStatus::Complete,
            StreamStatus::Incomplete => wit::StreamStatus::Incomplete,
        };
        wit_host::set_stream_status(stream, status);
    }

    fn fail_stream(&mut self, stream: &str, error: &ConnectorError) {
        wit_host::fail_stream(stream, &to_wit_ref(error));
    }

    fn streams_at_once(&self) -> u32 {
        wit_host::streams_at_once()
    }

    fn stream_requests(&mut self, stream: &str, requests: u64) {
        wit_host::stream_requests(stream, requests);
    }

    fn open_file(&mut self, stream: &str, path: &str) -> Result<u32, String> {
        wit_files::open_file(stream, path)
    }

    fn write_file(&mut self, file: u32, chunk: &[u8]) -> Result<(), String> {
        wit_files::write_file(file, chunk)
    }

    fn finish_file(&mut self, file: u32, size: u64) -> Result<StoredFile, String> {
        let stored = wit_files::finish_file(file, size)?;
        Ok(StoredFile {
            size: stored.size,
            sha256: stored.sha256,
            location: stored.location,
        })
    }

    fn abort_file(&mut self, file: u32) {
        wit_files::abort_file(file);
    }
}

fn log(level: LogLevel, message: &str) {
    let level = match level {
        LogLevel::Debug => wit::LogLevel::Debug,
        LogLevel::Info => wit::LogLevel::Info,
        LogLevel::Warn => wit::LogLevel::Warn,
        LogLevel::Error => wit::LogLevel::Error,
    };
    wit_host::log(level, message);
}

fn host_refused(error: wit::OutputError) -> ConnectorError {
    match error {
        wit::OutputError::InvalidRecord(r) => OutputRefusal::Invalid {
            index: r.index,
            reason: r.reason,
        },
        wit::OutputError::Closed(why) => OutputRefusal::Closed(why),
    }
    .into_error()
}
