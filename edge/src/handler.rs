//! The `wasi:http/incoming-handler` export: one request, one operation, lines streamed back.

use crate::kept::KeptTransport;
use crate::lines::{Lines, report_of};
use crate::request::{self, Operation, Rejection};
use feishu::host::{LogLevel, Output};
use feishu::source;
use feishu::wasi_http::WasiTransport;
use protocol::Report;
use serde_json::Value;
use serde_json::value::RawValue;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasip2::io::streams::{OutputStream, StreamError};

wasip2::http::proxy::export!(Edge);

/// The largest request body taken (config, catalog and state are small).
const MAX_BODY: usize = 4 << 20;

struct Edge;

impl Guest for Edge {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let method = method_name(&request.method());
        let path = request.path_with_query().unwrap_or_default();
        let operation = request::route(&method, &path);
        let inputs = match operation {
            Ok(Operation::Spec) | Err(_) => Ok(None),
            Ok(_) => read_body(request)
                .and_then(|b| request::inputs(&b))
                .map(Some),
        };
        match (operation, inputs) {
            (Ok(operation), Ok(inputs)) => {
                respond(response_out, 200, |lines| serve(operation, inputs, lines))
            }
            (Err(rejection), _) | (_, Err(rejection)) => {
                respond(response_out, rejection.status, |lines| {
                    lines.borrow_mut().error(&Report::input(rejection.message))
                })
            }
        }
    }
}

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Post => "POST".into(),
        Method::Other(other) => other.clone(),
        other => format!("{other:?}").to_uppercase(),
    }
}

fn read_body(request: IncomingRequest) -> Result<Vec<u8>, Rejection> {
    let failed = |why: &str| Rejection {
        status: 400,
        message: format!("cannot read the request body: {why}"),
    };
    let body = request.consume().map_err(|()| failed("no body"))?;
    let stream = body.stream().map_err(|()| failed("no body stream"))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(failed(&e.to_debug_string())),
        }
        if bytes.len() > MAX_BODY {
            return Err(Rejection {
                status: 413,
                message: format!("the request body is over {MAX_BODY} bytes"),
            });
        }
    }
    drop(stream);
    IncomingBody::finish(body);
    Ok(bytes)
}

/// Sends the head (`status`, NDJSON) at once, then lets `write` stream the body.
fn respond(
    response_out: ResponseOutparam,
    status: u16,
    write: impl FnOnce(&Rc<RefCell<Lines<BodyWriter>>>),
) {
    let headers = Fields::new();
    let _ = headers.set("content-type", &[b"application/x-ndjson".to_vec()]);
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(body) = response.body() else { return };
    ResponseOutparam::set(response_out, Ok(response));
    let Ok(stream) = body.write() else { return };
    let lines = Rc::new(RefCell::new(Lines::new(BodyWriter::new(stream))));
    write(&lines);
    lines.borrow_mut().flush();
    drop(lines);
    let _ = OutgoingBody::finish(body, None);
}

fn serve(
    operation: Operation,
    inputs: Option<request::Inputs>,
    lines: &Rc<RefCell<Lines<BodyWriter>>>,
) {
    let logger = lines.clone();
    let wasi = WasiTransport::new(Box::new(move |level: LogLevel, message: &str| {
        logger.borrow_mut().log(level, message)
    }));
    // The connector sees placeholders for the secrets the spec marks `x-host-secret`.
    let mut inputs = inputs;
    let mut kept = None;
    if let Some(inputs) = inputs.as_mut() {
        let spec: Value = serde_json::from_str(&source::spec()).unwrap_or_default();
        let mut config: Value = serde_json::from_str(&inputs.config).unwrap_or_default();
        lines.borrow_mut().mask_config_secrets(&spec, &config);
        let transport = KeptTransport::new(wasi, &spec, &mut config);
        if config.is_object() {
            inputs.config = config.to_string();
        }
        kept = Some(transport);
    }
    let mut transport = || kept.take().expect("one connector call per request");
    match (operation, inputs) {
        (Operation::Spec, _) => {
            let spec: Value = serde_json::from_str(&source::spec()).unwrap_or_default();
            if let Some(raw) = raw(&spec["connectionSpecification"].is_object().then_some(&spec)) {
                lines.borrow_mut().spec(&raw);
            }
        }
        (Operation::Check, Some(inputs)) => {
            let result = source::check(transport(), &inputs.config);
            lines.borrow_mut().connection_status(result);
        }
        (Operation::Discover, Some(inputs)) => {
            match source::discover(transport(), &inputs.config) {
                Ok(catalog) => {
                    let catalog: Value = serde_json::from_str(&catalog).unwrap_or_default();
                    if let Some(raw) = raw(&catalog["streams"].is_array().then_some(&catalog)) {
                        lines.borrow_mut().catalog(&raw);
                    }
                }
                Err(error) => lines.borrow_mut().error(&report_of(&error)),
            }
        }
        (Operation::Read, Some(inputs)) => {
            let mut output = Shared(lines.clone());
            let result = source::read(
                transport(),
                &mut output,
                &inputs.config,
                inputs.catalog.as_deref(),
                inputs.state.as_deref(),
            );
            lines.borrow_mut().finish_read(result);
        }
        (_, None) => {}
    }
}

/// A JSON value as raw text (serde_json's own key order, as host-runner writes it).
fn raw(value: &Option<&Value>) -> Option<Box<RawValue>> {
    RawValue::from_string(value.as_ref()?.to_string()).ok()
}

/// The lines, shared by the connector's output and its transport's log.
struct Shared(Rc<RefCell<Lines<BodyWriter>>>);

impl Output for Shared {
    fn log(&mut self, level: LogLevel, message: &str) {
        self.0.borrow_mut().log(level, message);
    }
    fn emit_records(
        &mut self,
        stream: &str,
        records: Vec<Vec<u8>>,
    ) -> Result<(), feishu::error::ConnectorError> {
        self.0.borrow_mut().emit_records(stream, records)
    }
    fn emit_state(
        &mut self,
        stream: &str,
        state: &str,
    ) -> Result<(), feishu::error::ConnectorError> {
        self.0.borrow_mut().emit_state(stream, state)
    }
    fn stream_status(&mut self, stream: &str, status: feishu::host::StreamStatus) {
        self.0.borrow_mut().stream_status(stream, status);
    }
    fn fail_stream(&mut self, stream: &str, error: &feishu::error::ConnectorError) {
        self.0.borrow_mut().fail_stream(stream, error);
    }
    fn stream_requests(&mut self, stream: &str, requests: u64) {
        self.0.borrow_mut().stream_requests(stream, requests);
    }
}

/// The response body as `io::Write`: buffered, sent when 64 KiB gather and on `flush` (once
/// per page of records, and after each STATE).
struct BodyWriter {
    stream: OutputStream,
    buffer: Vec<u8>,
}

const SEND_AT: usize = 64 * 1024;

impl BodyWriter {
    fn new(stream: OutputStream) -> Self {
        Self {
            stream,
            buffer: Vec::with_capacity(SEND_AT),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            self.stream.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }
}

impl Write for BodyWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= SEND_AT {
            self.send()?;
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()?;
        Write::flush(&mut self.stream)
    }
}
