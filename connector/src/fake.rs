//! A scripted [`Host`] for native tests: answers requests from a closure and records output.

use crate::error::ConnectorError;
use crate::host::{
    HttpRequest, HttpResponse, LogLevel, Output, StreamStatus, Transport, TransportFailure,
};
use std::time::Duration;

type Responder = Box<dyn FnMut(&HttpRequest) -> Result<HttpResponse, TransportFailure>>;

pub struct FakeHost {
    responder: Responder,
    pub requests: Vec<HttpRequest>,
    pub sleeps: Vec<Duration>,
    pub logs: Vec<(LogLevel, String)>,
    pub clock_ms: u64,
    pub epoch_ms: i64,
}

impl FakeHost {
    pub fn new(
        responder: impl FnMut(&HttpRequest) -> Result<HttpResponse, TransportFailure> + 'static,
    ) -> Self {
        Self {
            responder: Box::new(responder),
            requests: Vec::new(),
            sleeps: Vec::new(),
            logs: Vec::new(),
            clock_ms: 0,
            epoch_ms: 1_800_000_000_000,
        }
    }
}

/// A JSON response with the given status.
pub fn json(status: u16, body: &str) -> Result<HttpResponse, TransportFailure> {
    Ok(HttpResponse {
        status,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    })
}

/// A good token answer.
pub fn token_ok(token: &str) -> Result<HttpResponse, TransportFailure> {
    json(
        200,
        &format!(r#"{{"code":0,"msg":"ok","tenant_access_token":"{token}","expire":7200}}"#),
    )
}

/// What a read produced, recorded.
#[derive(Default)]
pub struct FakeOutput {
    pub logs: Vec<(LogLevel, String)>,
    pub records: Vec<(String, Vec<String>)>,
    pub states: Vec<(String, String)>,
    pub statuses: Vec<(String, StreamStatus)>,
    pub failures: Vec<(String, ConnectorError)>,
    /// What [`Output::streams_at_once`] answers (0 taken as 1).
    pub at_once: u32,
    /// Each stream's requests, as reported when it ended.
    pub stream_requests: Vec<(String, u64)>,
}

impl Transport for FakeHost {
    type Pending = Result<HttpResponse, TransportFailure>;
    fn start(&mut self, request: &HttpRequest) -> Result<Self::Pending, TransportFailure> {
        self.requests.push(request.clone());
        Ok((self.responder)(request))
    }
    fn finish(&mut self, pending: Self::Pending) -> Result<HttpResponse, TransportFailure> {
        pending
    }
    fn now_ms(&self) -> u64 {
        self.clock_ms
    }
    fn epoch_ms(&self) -> i64 {
        self.epoch_ms
    }
    fn sleep(&mut self, duration: Duration) {
        self.clock_ms += duration.as_millis() as u64;
        self.sleeps.push(duration);
    }
    fn random(&mut self) -> u64 {
        7
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        self.logs.push((level, message.to_string()));
    }
}

impl Output for FakeOutput {
    fn log(&mut self, level: LogLevel, message: &str) {
        self.logs.push((level, message.to_string()));
    }
    fn emit_records(&mut self, stream: &str, records: Vec<Vec<u8>>) -> Result<(), ConnectorError> {
        let records = records
            .into_iter()
            .map(|r| String::from_utf8(r).expect("UTF-8 record"))
            .collect();
        self.records.push((stream.to_string(), records));
        Ok(())
    }
    fn emit_state(&mut self, stream: &str, state: &str) -> Result<(), ConnectorError> {
        self.states.push((stream.to_string(), state.to_string()));
        Ok(())
    }
    fn stream_status(&mut self, stream: &str, status: StreamStatus) {
        self.statuses.push((stream.to_string(), status));
    }
    /// As a host does: the stream is marked incomplete and the failure kept.
    fn fail_stream(&mut self, stream: &str, error: &ConnectorError) {
        self.statuses
            .push((stream.to_string(), StreamStatus::Incomplete));
        self.failures.push((stream.to_string(), error.clone()));
    }
    fn stream_requests(&mut self, stream: &str, requests: u64) {
        self.stream_requests.push((stream.to_string(), requests));
    }
    fn streams_at_once(&self) -> u32 {
        self.at_once.max(1)
    }
}
