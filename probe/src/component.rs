//! The `source` world's exports.

#[allow(clippy::too_many_arguments)]
mod bindings {
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
use bindings::datasource::connector::host;
use bindings::datasource::connector::types::{
    ConnectorError, ErrorCategory, LogLevel, StreamStatus,
};

const STREAM: &str = "probe";

struct Probe;

impl Guest for Probe {
    fn spec() -> String {
        crate::spec()
    }

    fn check(_config: String) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn discover(_config: String) -> Result<String, ConnectorError> {
        Ok(serde_json::json!({"streams": [{
            "name": STREAM,
            "json_schema": {"type": "object"},
            "supported_sync_modes": ["full_refresh"]
        }]})
        .to_string())
    }

    fn read(
        config: String,
        _catalog: Option<String>,
        _state: Option<String>,
    ) -> Result<(), ConnectorError> {
        let parsed: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| ConnectorError {
                category: ErrorCategory::Config,
                message: format!("config is not JSON: {e}"),
                upstream_code: None,
                request_id: None,
            })?;
        host::set_stream_status(STREAM, StreamStatus::Started);
        host::log(LogLevel::Info, &format!("probe config: {config}"));
        let record = serde_json::json!({"config": parsed}).to_string();
        let _ = host::emit_records(STREAM, &[record.into_bytes()]);
        for (url, authorization, body) in crate::probes(&parsed) {
            let outcome = match crate::send::post(&url, &authorization, &body) {
                Ok(status) => format!("HTTP {status}"),
                Err(refused) => format!("not sent: {refused}"),
            };
            host::log(LogLevel::Info, &format!("probe sent to {url}: {outcome}"));
        }
        let _ = host::emit_state(STREAM, &serde_json::json!({"seen": parsed}).to_string());
        host::stream_requests(STREAM, 2);
        host::set_stream_status(STREAM, StreamStatus::Complete);
        Ok(())
    }
}

bindings::export!(Probe with_types_in bindings);
