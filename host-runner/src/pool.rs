//! Keep-alive for outgoing HTTP: HTTP/1.1 connections are kept per origin and reused, so a
//! read does not pay a TCP (and TLS) handshake per page. Used by the sandbox hook after the
//! allowlist check; every request keeps its connect, first-byte and between-bytes timeouts.

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Sleep;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

/// Idle connections kept per origin.
const MAX_IDLE_PER_ORIGIN: usize = 4;

/// Timeouts of one request (every one set by the hook).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

/// Reusable connections by origin (`scheme://host:port`).
pub struct ConnectionPool {
    idle: Mutex<HashMap<String, Vec<SendRequest<WasiBody>>>>,
    tls: tokio_rustls::TlsConnector,
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl ConnectionPool {
    pub fn new() -> Arc<Self> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        Arc::new(Self {
            idle: Mutex::new(HashMap::new()),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<SendRequest<WasiBody>>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection ready for a request, if one is idle; closed ones are dropped, busy ones kept.
    fn take(&self, origin: &str) -> Option<SendRequest<WasiBody>> {
        let mut idle = self.idle();
        let senders = idle.get_mut(origin)?;
        senders.retain(|s| !s.is_closed());
        let ready = senders.iter().position(SendRequest::is_ready)?;
        Some(senders.swap_remove(ready))
    }

    fn put(&self, origin: String, sender: SendRequest<WasiBody>) {
        let mut idle = self.idle();
        let senders = idle.entry(origin).or_default();
        if senders.len() < MAX_IDLE_PER_ORIGIN {
            senders.push(sender);
        }
    }

    /// Sends `request` over an idle or new connection.
    pub async fn send(
        self: Arc<Self>,
        mut request: Request<WasiBody>,
        timeouts: Timeouts,
    ) -> Result<(Response<WasiBody>, IoFuture), Error> {
        let (origin, host, port, tls) =
            origin_of(request.uri()).ok_or(Error::HttpRequestUriInvalid)?;
        let mut sender = match self.take(&origin) {
            Some(sender) => sender,
            None => self.connect(&host, port, tls, timeouts.connect).await?,
        };
        // On the wire the request line carries only the path (no proxy in between).
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        *request.uri_mut() = Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
        let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(Error::from)?;
        self.put(origin, sender);
        let response = response
            .map(|incoming| BetweenBytes::new(incoming, timeouts.between_bytes).boxed_unsync());
        Ok((response, Box::new(async { Ok(()) })))
    }

    async fn connect(
        &self,
        host: &str,
        port: u16,
        tls: bool,
        timeout: Duration,
    ) -> Result<SendRequest<WasiBody>, Error> {
        let within = |e: tokio::time::error::Elapsed| -> Error {
            let _ = e;
            Error::ConnectionTimeout
        };
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(within)?
            .map_err(Error::Connect)?;
        let _ = tcp.set_nodelay(true);
        let sender = if tls {
            let name = rustls::pki_types::ServerName::try_from(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            )
            .map_err(|_| Error::HttpRequestUriInvalid)?;
            let stream = tokio::time::timeout(timeout, self.tls.connect(name, tcp))
                .await
                .map_err(within)?
                .map_err(Error::Tls)?;
            handshake(TokioIo::new(stream), timeout).await?
        } else {
            handshake(TokioIo::new(tcp), timeout).await?
        };
        Ok(sender)
    }
}

/// HTTP/1.1 handshake; the connection is driven by a task of its own until it closes.
async fn handshake<T>(io: T, timeout: Duration) -> Result<SendRequest<WasiBody>, Error>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) =
        tokio::time::timeout(timeout, hyper::client::conn::http1::handshake(io))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::from)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// `(origin, host, port, tls)` of an absolute http(s) URI.
fn origin_of(uri: &Uri) -> Option<(String, String, u16, bool)> {
    let tls = match uri.scheme_str()? {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let host = uri.host()?.to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let scheme = if tls { "https" } else { "http" };
    Some((format!("{scheme}://{host}:{port}"), host, port, tls))
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
            } else {
                Error::from(e)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_carry_default_ports() {
        let o = |u: &str| origin_of(&u.parse().unwrap());
        assert_eq!(
            o("https://open.feishu.cn/x"),
            Some((
                "https://open.feishu.cn:443".into(),
                "open.feishu.cn".into(),
                443,
                true
            ))
        );
        assert_eq!(
            o("http://127.0.0.1:8080/x?y"),
            Some((
                "http://127.0.0.1:8080".into(),
                "127.0.0.1".into(),
                8080,
                false
            ))
        );
        assert_eq!(o("ftp://x/"), None);
    }
}
