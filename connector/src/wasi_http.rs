//! Outgoing HTTP over WASI HTTP (`wasi:http/outgoing-handler`), wasm only: [`WasiTransport`]
//! is the connector's [`Transport`] in every wasm build (the `source` component and the edge).
//!
//! The request body is written after `handle`; if that write fails (the request was refused or
//! the connection failed), the response future carries the real cause, which is what we report.

use crate::host::{
    BodyChunks, HttpRequest, HttpResponse, LogLevel, Method, Transport, TransportFailure,
};
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    self as http, ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse,
    OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::{InputStream, StreamError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest chunk `blocking-write-and-flush` accepts.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 256 * 1024;

/// A request under way: the answer's future, and how writing the body went.
pub struct Pending {
    future: FutureIncomingResponse,
    written: Result<(), String>,
}

/// Sends `request` (headers and body) without waiting for the answer.
pub fn start(request: &HttpRequest) -> Result<Pending, TransportFailure> {
    let (scheme, authority, path) = split_url(&request.url).ok_or_else(|| {
        TransportFailure::Invalid(format!("not an absolute http(s) URL: {}", request.url))
    })?;
    let outgoing = OutgoingRequest::new(headers(request)?);
    let method = match request.method {
        Method::Get => http::Method::Get,
        Method::Post => http::Method::Post,
    };
    let invalid =
        |what: &str| TransportFailure::Invalid(format!("invalid {what} in {}", request.url));
    outgoing
        .set_method(&method)
        .map_err(|()| invalid("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|()| invalid("host"))?;
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|()| invalid("path"))?;
    let body = outgoing.body().map_err(|()| invalid("body"))?;
    let future = outgoing_handler::handle(outgoing, Some(options())).map_err(failure)?;
    let written = write_body(
        body,
        request.json_body.as_deref().unwrap_or_default().as_bytes(),
    );
    Ok(Pending { future, written })
}

/// Waits for the answer to a started request and reads it whole.
pub fn finish(pending: Pending) -> Result<HttpResponse, TransportFailure> {
    let (mut head, mut body) = answer(pending)?;
    let mut whole = Vec::new();
    while let Some(chunk) = body.next_chunk()? {
        whole.extend_from_slice(&chunk);
    }
    head.body = whole;
    Ok(head)
}

/// The body of an answer as it arrives. Fields drop in order: the stream before its body,
/// the body before its response.
pub struct WasiBody {
    stream: Option<InputStream>,
    body: Option<IncomingBody>,
    _response: IncomingResponse,
}

impl BodyChunks for WasiBody {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TransportFailure> {
        let Some(stream) = &self.stream else {
            return Ok(None);
        };
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => return Ok(Some(chunk)),
                Err(StreamError::Closed) => {
                    self.stream = None;
                    if let Some(body) = self.body.take() {
                        drop(IncomingBody::finish(body));
                    }
                    return Ok(None);
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    self.stream = None;
                    let detail = http::http_error_code(&e)
                        .map_or_else(|| e.to_debug_string(), |code| format!("{code:?}"));
                    return Err(TransportFailure::Network(format!(
                        "reading the response body failed: {detail}"
                    )));
                }
            }
        }
    }
}

/// Waits for the answer to a started request: its status and headers, and its body to read.
fn answer(
    Pending { future, written }: Pending,
) -> Result<(HttpResponse, WasiBody), TransportFailure> {
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(failure(code)),
        _ => return Err(TransportFailure::Network("the response was lost".into())),
    };
    written.map_err(TransportFailure::Network)?;
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| TransportFailure::Network("response body unavailable".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| TransportFailure::Network("response body stream unavailable".into()))?;
    let head = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let body = WasiBody {
        stream: Some(stream),
        body: Some(incoming),
        _response: response,
    };
    Ok((head, body))
}

fn headers(request: &HttpRequest) -> Result<Fields, TransportFailure> {
    let mut list: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(token) = &request.bearer {
        list.push((
            "authorization".into(),
            format!("Bearer {token}").into_bytes(),
        ));
    }
    if let Some(from) = request.range_from {
        list.push(("range".into(), format!("bytes={from}-").into_bytes()));
    }
    if let Some(body) = &request.json_body {
        list.push((
            "content-type".into(),
            b"application/json; charset=utf-8".to_vec(),
        ));
        list.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    Fields::from_list(&list)
        .map_err(|e| TransportFailure::Invalid(format!("invalid header: {e:?}")))
}

fn options() -> RequestOptions {
    let options = RequestOptions::new();
    let nanos = |d: Duration| Some(d.as_nanos() as u64);
    // A host may refuse to set a timeout; its own limits then apply.
    let _ = options.set_connect_timeout(nanos(CONNECT_TIMEOUT));
    let _ = options.set_first_byte_timeout(nanos(READ_TIMEOUT));
    let _ = options.set_between_bytes_timeout(nanos(READ_TIMEOUT));
    options
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    {
        let stream = body
            .write()
            .map_err(|()| "request body stream unavailable".to_string())?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the request body failed: {e:?}"))?;
        }
    }
    OutgoingBody::finish(body, None)
        .map_err(|e| format!("finishing the request body failed: {e:?}"))
}

fn failure(code: ErrorCode) -> TransportFailure {
    match code {
        ErrorCode::HttpRequestDenied => TransportFailure::Denied,
        ErrorCode::HttpRequestUriInvalid => TransportFailure::Invalid("invalid URL".into()),
        other => TransportFailure::Network(format!("{other:?}")),
    }
}

/// `(scheme, authority, path?query)` of an absolute http(s) URL.
fn split_url(url: &str) -> Option<(Scheme, &str, &str)> {
    let url = crate::api::url::HttpUrl::parse(url)?;
    let scheme = if url.tls { Scheme::Https } else { Scheme::Http };
    Some((scheme, url.authority, url.path_and_query()))
}

/// Where a [`WasiTransport`] sends its log lines.
pub type Logger = Box<dyn FnMut(LogLevel, &str)>;

/// [`Transport`] over WASI HTTP and clocks; its log lines go to a [`Logger`].
pub struct WasiTransport {
    started: Instant,
    random: RandomState,
    draws: u64,
    logger: Logger,
}

impl WasiTransport {
    /// A transport that logs through `logger`.
    pub fn new(logger: Logger) -> Self {
        Self {
            started: Instant::now(),
            random: RandomState::new(),
            draws: 0,
            logger,
        }
    }
}

impl Transport for WasiTransport {
    type Pending = Pending;
    fn start(&mut self, request: &HttpRequest) -> Result<Self::Pending, TransportFailure> {
        start(request)
    }
    fn finish(&mut self, pending: Self::Pending) -> Result<HttpResponse, TransportFailure> {
        finish(pending)
    }
    fn open(
        &mut self,
        request: &HttpRequest,
    ) -> Result<(HttpResponse, Box<dyn BodyChunks>), TransportFailure> {
        let (head, body) = answer(start(request)?)?;
        Ok((head, Box::new(body)))
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn epoch_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn random(&mut self) -> u64 {
        self.draws += 1;
        self.random.hash_one(self.draws)
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        (self.logger)(level, message);
    }
}
