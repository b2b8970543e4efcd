//! The component glue: the WIT `source` exports call [`crate::source`], and [`WasiHost`]
//! implements [`Host`] with the WIT host imports and WASI HTTP (through waki).

use crate::error::{Category, ConnectorError};
use crate::host::{Host, HttpRequest, HttpResponse, LogLevel, Method, StreamStatus, TransportFailure};
use crate::source;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

mod bindings {
    wit_bindgen::generate!({ path: "../wit", world: "source" });
}

use bindings::Guest;
use bindings::datasource::connector::host as wit_host;
use bindings::datasource::connector::types as wit;

/// Longest wait for a TCP connection; the runner caps the other timeouts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

struct Component;

impl Guest for Component {
    fn spec() -> String {
        source::spec()
    }

    fn check(config: String) -> Result<(), wit::ConnectorError> {
        source::check(WasiHost::new(), &config).map_err(to_wit)
    }

    fn discover(config: String) -> Result<String, wit::ConnectorError> {
        source::discover(WasiHost::new(), &config).map_err(to_wit)
    }

    fn read(config: String, catalog: Option<String>, state: Option<String>) -> Result<(), wit::ConnectorError> {
        source::read(WasiHost::new(), &config, catalog.as_deref(), state.as_deref()).map_err(to_wit)
    }
}

bindings::export!(Component with_types_in bindings);

fn to_wit(error: ConnectorError) -> wit::ConnectorError {
    let category = match error.category {
        Category::Config => wit::ErrorCategory::Config,
        Category::Auth => wit::ErrorCategory::Auth,
        Category::Permission => wit::ErrorCategory::Permission,
        Category::NotFound => wit::ErrorCategory::NotFound,
        Category::RateLimited(wait) => wit::ErrorCategory::RateLimited(wait.map(|d| d.as_millis() as u64)),
        Category::Transient => wit::ErrorCategory::Transient,
        Category::BadResponse => wit::ErrorCategory::BadResponse,
        Category::Internal => wit::ErrorCategory::Internal,
    };
    wit::ConnectorError { category, message: error.message }
}

/// [`Host`] over the component's imports.
struct WasiHost {
    started: Instant,
    random: RandomState,
    draws: u64,
}

impl WasiHost {
    fn new() -> Self {
        Self { started: Instant::now(), random: RandomState::new(), draws: 0 }
    }
}

fn transport_failure(error: &(dyn std::error::Error + 'static)) -> TransportFailure {
    match error.downcast_ref::<waki::ErrorCode>() {
        Some(waki::ErrorCode::HttpRequestDenied) => TransportFailure::Denied,
        Some(waki::ErrorCode::HttpRequestUriInvalid) => TransportFailure::Invalid("invalid URL".into()),
        Some(code) => TransportFailure::Network(format!("{code:?}")),
        None => TransportFailure::Network(error.to_string()),
    }
}

impl Host for WasiHost {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportFailure> {
        let client = waki::Client::new();
        let mut builder = match request.method {
            Method::Get => client.get(&request.url),
            Method::Post => client.post(&request.url),
        }
        .connect_timeout(CONNECT_TIMEOUT);
        if let Some(token) = &request.bearer {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(body) = &request.json_body {
            builder = builder
                .header("Content-Type", "application/json; charset=utf-8")
                .body(body.as_bytes().to_vec());
        }
        let response = builder.send().map_err(|e| transport_failure(e.as_ref()))?;
        let status = response.status_code();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let body = response.body().map_err(|e| transport_failure(e.as_ref()))?;
        Ok(HttpResponse { status, headers, body })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn random(&mut self) -> u64 {
        self.draws += 1;
        self.random.hash_one(self.draws)
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        };
        wit_host::log(level, message);
    }

    fn emit_records(&mut self, stream: &str, records: Vec<String>) -> Result<(), ConnectorError> {
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
}

fn host_refused(message: String) -> ConnectorError {
    ConnectorError::internal(format!("the host stopped taking output: {message}"))
}

