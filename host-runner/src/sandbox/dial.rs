//! Outgoing HTTP for the sandbox hook: hyper-util's pooled client (keep-alive, idle expiry)
//! over rustls, on top of [`Dialer`], which resolves the host itself and checks every
//! address against the sandbox's address policy before connecting.
//!
//! Each request carries its own connect / first-byte / between-bytes timeouts. A request that
//! fails on a connection before any byte of its answer arrived (a pooled connection the server
//! had just closed) is sent once more on a fresh connection, so the guest never sees it.

use crate::sandbox::hosts::{AllowList, Origin, check_address};
use crate::sandbox::placeholders::Placeholders;
use crate::sandbox::request_rate::RateLimiter;
use crate::sandbox::stats::RunStats;
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Sleep;
use wasmtime_wasi_http::{Error, WasiBody};

/// How long an idle pooled connection is kept (below common server keep-alive limits).
const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 4;
/// Largest request body the guest may send (ours are small JSON filters).
const MAX_REQUEST_BODY: usize = 8 << 20;

/// Timeouts of one request (every one set by the hook).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

/// Why a connection was not made.
#[derive(Debug)]
pub enum DialError {
    /// The sandbox refused every address (or the origin itself): the reason.
    Denied(String),
    Timeout,
    Resolve(io::Error),
    Connect(io::Error),
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied(why) => write!(f, "sandbox refused the connection: {why}"),
            Self::Timeout => f.write_str("connect timed out"),
            Self::Resolve(e) => write!(f, "name resolution failed: {e}"),
            Self::Connect(e) => write!(f, "connect failed: {e}"),
        }
    }
}

impl StdError for DialError {}

/// Resolves, applies the address policy, and opens TCP connections.
#[derive(Clone)]
pub struct Dialer {
    allowed: Arc<AllowList>,
    connect_timeout: Duration,
}

impl tower_service::Service<Uri> for Dialer {
    type Response = TokioIo<TcpStream>;
    type Error = DialError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, DialError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), DialError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let dialer = self.clone();
        Box::pin(async move { dialer.dial(&uri).await })
    }
}

impl Dialer {
    async fn dial(&self, uri: &Uri) -> Result<TokioIo<TcpStream>, DialError> {
        let origin = Origin::of(uri)
            .ok_or_else(|| DialError::Denied(format!("{uri} is not an http(s) URL")))?;
        let access = self
            .allowed
            .allows(&origin)
            .ok_or_else(|| DialError::Denied(format!("{origin} is not allowed")))?;
        let addrs = self.resolve(&origin).await?;
        let mut refused = Vec::new();
        let mut failed = None;
        for addr in addrs {
            if let Err(why) = check_address(addr.ip(), access.private_ok) {
                refused.push(why);
                continue;
            }
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(TokioIo::new(stream));
                }
                Ok(Err(e)) => failed = Some(DialError::Connect(e)),
                Err(_) => failed = Some(DialError::Timeout),
            }
        }
        Err(failed.unwrap_or_else(|| {
            let host = origin.url_host();
            DialError::Denied(format!("{host}: {}", refused.join("; ")))
        }))
    }

    async fn resolve(&self, origin: &Origin) -> Result<Vec<SocketAddr>, DialError> {
        if let Some(ip) = origin.ip() {
            return Ok(vec![SocketAddr::new(ip, origin.port)]);
        }
        let lookup = tokio::net::lookup_host((origin.host.as_str(), origin.port));
        let addrs = tokio::time::timeout(self.connect_timeout, lookup)
            .await
            .map_err(|_| DialError::Timeout)?
            .map_err(DialError::Resolve)?;
        Ok(addrs.collect())
    }
}

type TlsDialer = hyper_rustls::HttpsConnector<Dialer>;

/// Called with the reason when the sandbox refuses a connection.
pub type DenialReport = Arc<dyn Fn(&str) + Send + Sync>;

/// The pooled client of one store.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<TlsDialer, Full<Bytes>>,
    on_denied: DenialReport,
    limiter: Arc<RateLimiter>,
    stats: Arc<RunStats>,
    on_exchange: Option<ExchangeReport>,
    /// Secrets the host keeps: put back into each request's headers and body.
    placeholders: Arc<Placeholders>,
}

/// Hears a debug line per request: method, path (no query), status, size and time (only
/// when such lines are shown).
pub type ExchangeReport = Arc<dyn Fn(&str) + Send + Sync>;

/// The answer: the response and the connection's I/O future the hook hands back.
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl HttpClient {
    /// A client that may reach what `allowed` grants; `connect_timeout` caps each dial.
    /// `on_denied` hears every dial-time refusal; `limiter` spaces requests (shared by the run).
    pub fn new(
        allowed: Arc<AllowList>,
        connect_timeout: Duration,
        on_denied: DenialReport,
        limiter: Arc<RateLimiter>,
        stats: Arc<RunStats>,
        on_exchange: Option<ExchangeReport>,
        placeholders: Arc<Placeholders>,
    ) -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(Dialer {
                allowed,
                connect_timeout,
            });
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE_PER_ORIGIN)
            .build(connector);
        Self {
            client,
            on_denied,
            limiter,
            stats,
            on_exchange,
            placeholders,
        }
    }

    /// Sends `request`, re-sending it once on a fresh connection if its connection failed
    /// before any byte of the answer.
    pub async fn send(
        self,
        request: Request<WasiBody>,
        timeouts: Timeouts,
    ) -> Result<(Response<WasiBody>, IoFuture), Error> {
        let (mut parts, body) = request.into_parts();
        let body = Limited::new(body, MAX_REQUEST_BODY)
            .collect()
            .await
            .map_err(|e| match e.downcast::<Error>() {
                Ok(e) => *e,
                Err(_) => Error::HttpRequestBodySize(None),
            })?
            .to_bytes();
        // Only granted requests get here: the real values of kept secrets go back in.
        let body =
            crate::sandbox::placeholders::put_back_in_request(&self.placeholders, &mut parts, body);
        let wait = timeouts.connect + timeouts.first_byte;
        let mut sent_at;
        let destination = Origin::of(&parts.uri).map_or_else(String::new, |o| o.to_string());
        let mut resent = false;
        let response = loop {
            let now = std::time::Instant::now();
            let slot = self.limiter.reserve(&destination, now);
            if slot > now {
                // (A timer, even one already due, costs a tick of the timer wheel: ~1 ms.)
                self.stats.waited(slot - now);
                tokio::time::sleep_until(slot.into()).await;
            }
            self.stats.request(parts.uri.path());
            sent_at = std::time::Instant::now();
            let request = Request::from_parts(parts.clone(), Full::new(body.clone()));
            let attempt = tokio::time::timeout(wait, self.client.request(request)).await;
            match attempt {
                Ok(Ok(response)) => break response,
                Ok(Err(e)) if !resent && failed_before_answer(&e) => resent = true,
                Ok(Err(e)) => {
                    if let Some(why) = denial(&e) {
                        (self.on_denied)(why);
                    }
                    return Err(to_wasi_error(&e));
                }
                Err(_) => return Err(Error::ConnectionReadTimeout),
            }
        };
        self.stats.answer(response.status().as_u16());
        if let Some(report) = &self.on_exchange {
            let size = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .map_or("unknown size".to_string(), |n| format!("{n} bytes"));
            report(&format!(
                "{} {}{} → {}, {size}, first byte after {} ms",
                parts.method,
                destination,
                parts.uri.path(),
                response.status().as_u16(),
                sent_at.elapsed().as_millis()
            ));
        }
        if let Some(reset) = rate_limit_reset(&response, self.limiter.reset_header()) {
            self.limiter
                .pause(&destination, reset, std::time::Instant::now());
        }
        let response = response
            .map(|incoming| BetweenBytes::new(incoming, timeouts.between_bytes).boxed_unsync());
        Ok((response, Box::new(async { Ok(()) })))
    }
}

/// How long a rate-limit answer (HTTP 429, or a 400 with the upstream's reset header) asks
/// every request to wait: the `reset_header`'s seconds, or one second when it does not say.
fn rate_limit_reset<B>(response: &Response<B>, reset_header: Option<&str>) -> Option<Duration> {
    let reset = reset_header
        .and_then(|name| response.headers().get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (response.status().as_u16(), reset) {
        (429, reset) => Some(Duration::from_secs(reset.unwrap_or(1).min(3600))),
        (400, Some(reset)) => Some(Duration::from_secs(reset.min(3600))),
        _ => None,
    }
}

/// The sources of `error`, itself first.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |e: &&'a (dyn StdError + 'static)| {
        (*e).source()
    })
}

/// Whether the request was lost on an open connection before any answer: the connection
/// closed or reset under it (not a failure to connect, which a resend would not cure).
fn failed_before_answer(error: &hyper_util::client::legacy::Error) -> bool {
    if error.is_connect() {
        return false;
    }
    chain(error).any(|e| {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message() || h.is_canceled();
        }
        e.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            )
        })
    })
}

/// The wasi-http error the guest gets for a failed request.
fn to_wasi_error(error: &hyper_util::client::legacy::Error) -> Error {
    for cause in chain(error) {
        if let Some(dial) = cause.downcast_ref::<DialError>() {
            return match dial {
                DialError::Denied(_) => Error::HttpRequestDenied,
                DialError::Timeout => Error::ConnectionTimeout,
                DialError::Resolve(e) => Error::DnsError {
                    rcode: Some(e.to_string()),
                    info_code: None,
                },
                DialError::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    Error::ConnectionRefused
                }
                DialError::Connect(e) => Error::InternalError(Some(format!("connect failed: {e}"))),
            };
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
                _ => Error::TlsProtocolError,
            };
        }
        if let Some(h) = cause.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                return Error::HttpResponseIncomplete;
            }
            if h.is_parse() {
                return Error::HttpProtocolError;
            }
        }
    }
    Error::InternalError(Some(error.to_string()))
}

/// The sandbox's reason, if it refused the request's connection.
fn denial(error: &hyper_util::client::legacy::Error) -> Option<&str> {
    chain(error).find_map(|e| match e.downcast_ref::<DialError>() {
        Some(DialError::Denied(why)) => Some(why.as_str()),
        _ => None,
    })
}

/// A response body that fails when no data arrives for `limit`.
struct BetweenBytes {
    inner: hyper::body::Incoming,
    limit: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl BetweenBytes {
    fn new(inner: hyper::body::Incoming, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl Body for BetweenBytes {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = tokio::time::Instant::now() + self.limit;
                self.sleep.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                Error::HttpResponseTimeout
            } else if e.is_incomplete_message() {
                Error::HttpResponseIncomplete
            } else {
                Error::InternalError(Some(e.to_string()))
            }))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
