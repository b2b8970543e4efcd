//! The sandbox for outgoing HTTP, in wasmtime's one hook (`send_request`): a request reaches
//! the dialer only when the operator's grants allow its origin, with capped timeouts; anything
//! else is refused with a text that says how to allow it.

use crate::run::output::{SharedOutput, lock};
use crate::sandbox::dial::{ExchangeReport, HttpClient, Timeouts};
use crate::sandbox::hosts::{AllowList, HostPattern, Origin};
use crate::sandbox::placeholders::Placeholders;
use crate::sandbox::request_rate::RateLimiter;
use crate::sandbox::stats::RunStats;
use protocol::{Level, Secrets};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// What every instance of a run is given: the hosts granted, the defaults refused (named when
/// refused), the run's rate limiter and counters, and the run's secrets (masked in all it writes).
pub struct RunGrants {
    pub allowed: AllowList,
    pub proposed: Vec<(String, Origin)>,
    pub limiter: Arc<RateLimiter>,
    pub stats: Arc<RunStats>,
    /// Whether each request gets a debug line (otherwise no line is formatted at all).
    pub request_log: bool,
    /// The run's secrets: each bearer token the component sends is added, so that nothing
    /// the run writes shows it.
    pub secrets: Secrets,
    /// The secrets the host keeps, put back into requests to granted hosts.
    pub placeholders: Arc<Placeholders>,
}

/// The sandbox for outgoing HTTP: the operator's grants, the address policy (in the dialer)
/// and timeouts on every request. Nothing is allowed until [`SandboxHooks::grant`] is called.
pub struct SandboxHooks {
    allowed: Arc<AllowList>,
    /// Hosts the component's spec proposes as field defaults that the operator did not grant:
    /// named in the refusal, so the operator knows which field to set.
    proposed: Vec<(String, Origin)>,
    /// How the front end names the setting that grants more hosts.
    allow_hosts_setting: String,
    request_timeout: Duration,
    output: SharedOutput,
    client: Option<HttpClient>,
    /// The latest refusal, for the run's error message.
    refusal: Arc<Mutex<Option<String>>>,
    /// The run's secrets, which each bearer token sent joins.
    secrets: Secrets,
}

type BoxedFuture<T> = Box<dyn Future<Output = T> + Send>;
type SendResult = Result<
    (
        http::Response<WasiBody>,
        BoxedFuture<Result<(), wasmtime_wasi_http::Error>>,
    ),
    wasmtime_wasi_http::Error,
>;

impl SandboxHooks {
    /// Hooks that allow nothing until [`SandboxHooks::grant`]; every request's timeouts are
    /// capped at `request_timeout`; refusals name `allow_hosts_setting` as the way to grant.
    pub fn new(
        output: SharedOutput,
        request_timeout: Duration,
        allow_hosts_setting: String,
    ) -> Self {
        Self {
            allowed: Arc::new(AllowList::default()),
            proposed: Vec::new(),
            allow_hosts_setting,
            request_timeout,
            output,
            client: None,
            refusal: Arc::default(),
            secrets: Secrets::default(),
        }
    }

    /// Grants `allowed`; `proposed` are the spec's host defaults the config left out.
    pub fn grant(&mut self, access: &RunGrants) {
        let allowed = Arc::new(access.allowed.clone());
        let output = self.output.clone();
        let refusal = self.refusal.clone();
        let on_denied = Arc::new(move |why: &str| {
            let message = format!("sandbox refused a connection to {why}");
            lock(&output).log(Level::Warn, &message);
            *refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
        });
        let output = self.output.clone();
        // The report masks the run's secrets in every line.
        let on_exchange = access.request_log.then(|| {
            Arc::new(move |line: &str| lock(&output).log(Level::Debug, line)) as ExchangeReport
        });
        self.client = Some(HttpClient::new(
            allowed.clone(),
            self.request_timeout,
            on_denied,
            access.limiter.clone(),
            access.stats.clone(),
            on_exchange,
            access.placeholders.clone(),
        ));
        self.allowed = allowed;
        self.proposed = access.proposed.clone();
        self.secrets = access.secrets.clone();
    }

    /// Why the sandbox refused a request since the last call, if it did.
    pub fn take_refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Refuses a request the allowlist does not cover, saying how to allow it.
    fn refuse(&mut self, uri: &http::Uri) -> BoxedFuture<SendResult> {
        let message = match Origin::of(uri) {
            Some(origin) => {
                let pattern = HostPattern::exact(&origin);
                let field = self.proposed.iter().find(|(_, o)| *o == origin).map_or(
                    String::new(),
                    |(field, _)| {
                        format!(
                            " (the connector's default for `{field}`, which the config leaves out)"
                        )
                    },
                );
                format!(
                    "sandbox refused a request to {origin}{field}: no grant allows it. \
                     Allow it by setting the host in the config, or with {} {pattern} \
                     (allowed now: {})",
                    self.allow_hosts_setting, self.allowed
                )
            }
            None => format!("sandbox refused a request to {uri}: not an http(s) URL"),
        };
        lock(&self.output).log(Level::Warn, &message);
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiHttpHooks for SandboxHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: BoxedFuture<Result<(), wasmtime_wasi_http::Error>>,
    ) -> BoxedFuture<SendResult> {
        if let Some(bearer) = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            self.secrets.add_bearer(bearer);
        }
        let granted = Origin::of(request.uri()).is_some_and(|o| self.allowed.allows(&o).is_some());
        let Some(client) = self.client.clone().filter(|_| granted) else {
            return self.refuse(request.uri());
        };
        let cap = |asked: Option<Duration>| {
            asked.map_or(self.request_timeout, |d| d.min(self.request_timeout))
        };
        let asked = options.unwrap_or_default();
        let timeouts = Timeouts {
            connect: cap(asked.connect_timeout),
            first_byte: cap(asked.first_byte_timeout),
            between_bytes: cap(asked.between_bytes_timeout),
        };
        Box::new(client.send(request, timeouts))
    }
}
