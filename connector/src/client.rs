//! The Feishu client: tenant token caching, and every request sent through one retry loop
//! driven by the error classifier.

use crate::classify::{Verdict, classify};
use crate::config::Config;
use crate::error::{Category, ConnectorError};
use crate::host::{Host, HttpRequest, HttpResponse, LogLevel, Method, TransportFailure};
use crate::records::{SEARCH_BODY, search_path};
use crate::token::{TOKEN_PATH, TenantToken};
use std::time::Duration;

/// Bounds of the retry loop.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after transient failures (5xx, dropped connections, retryable codes).
    pub max_retries: u32,
    /// Retries after rate limiting.
    pub max_rate_limit_retries: u32,
    /// First backoff; doubles each retry, with jitter, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest wait honoured from a rate-limit reset header.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            max_rate_limit_retries: 10,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_rate_limit_wait: Duration::from_secs(120),
        }
    }
}

/// A Feishu Open API client over a [`Host`].
pub struct FeishuClient<H> {
    host: H,
    config: Config,
    token: Option<TenantToken>,
    policy: RetryPolicy,
}

impl<H: Host> FeishuClient<H> {
    pub fn new(host: H, config: Config) -> Self {
        Self::with_policy(host, config, RetryPolicy::default())
    }

    pub fn with_policy(host: H, config: Config, policy: RetryPolicy) -> Self {
        Self { host, config, token: None, policy }
    }

    pub fn host(&mut self) -> &mut H {
        &mut self.host
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One page of the table's records (`page_token` of the previous page, if any).
    pub fn search_records(&mut self, page_size: u32, page_token: Option<&str>) -> Result<HttpResponse, ConnectorError> {
        let path = search_path(&self.config.app_token, &self.config.table_id);
        let mut url = format!("{}{path}?page_size={page_size}", self.config.lark_host);
        if let Some(token) = page_token {
            url.push_str("&page_token=");
            url.push_str(&crate::host::encode_component(token));
        }
        let what = format!("POST {path}");
        self.send(&what, true, |bearer| HttpRequest {
            method: Method::Post,
            url: url.clone(),
            bearer,
            json_body: Some(SEARCH_BODY.to_string()),
        })
    }

    /// The cached tenant token, fetched anew when missing or close to expiry.
    fn bearer(&mut self) -> Result<String, ConnectorError> {
        let now = self.host.now_ms();
        if let Some(token) = self.token.as_ref().filter(|t| t.is_fresh(now)) {
            return Ok(token.value.expose().to_string());
        }
        let body = serde_json::json!({
            "app_id": self.config.app_id,
            "app_secret": self.config.app_secret.expose(),
        })
        .to_string();
        let url = format!("{}{TOKEN_PATH}", self.config.lark_host);
        let response = self.send(&format!("POST {TOKEN_PATH}"), false, |_| HttpRequest {
            method: Method::Post,
            url: url.clone(),
            bearer: None,
            json_body: Some(body.clone()),
        })?;
        let token = TenantToken::from_response(&response.body, self.host.now_ms())?;
        let value = token.value.expose().to_string();
        self.token = Some(token);
        Ok(value)
    }

    /// Sends a request built by `build` (given the bearer token when `authorized`), retrying
    /// as the classifier says, within the policy's bounds.
    fn send(
        &mut self,
        what: &str,
        authorized: bool,
        build: impl Fn(Option<String>) -> HttpRequest,
    ) -> Result<HttpResponse, ConnectorError> {
        let (mut retries, mut rate_limit_retries, mut refreshed) = (0, 0, false);
        loop {
            let bearer = if authorized { Some(self.bearer()?) } else { None };
            let verdict = match self.host.send(&build(bearer)) {
                Ok(response) => match classify(&response, what) {
                    Verdict::Success => return Ok(response),
                    verdict => verdict,
                },
                Err(failure) => self.transport_verdict(failure, what),
            };
            match verdict {
                Verdict::Success => unreachable!("returned above"),
                Verdict::RefreshToken if authorized && !refreshed => {
                    self.host.log(LogLevel::Info, "Feishu rejected the tenant token; fetching a new one");
                    self.token = None;
                    refreshed = true;
                }
                Verdict::RefreshToken => {
                    return Err(ConnectorError::new(
                        Category::Auth,
                        format!("Feishu rejected the tenant token for {what} even after a new one was fetched"),
                    ));
                }
                Verdict::RateLimited { wait, reason } => {
                    if rate_limit_retries >= self.policy.max_rate_limit_retries {
                        return Err(ConnectorError::new(
                            Category::RateLimited(wait),
                            format!("still rate-limited after {rate_limit_retries} retries: {reason}"),
                        ));
                    }
                    let pause = wait
                        .unwrap_or_else(|| self.backoff(rate_limit_retries))
                        .min(self.policy.max_rate_limit_wait);
                    rate_limit_retries += 1;
                    self.pause(pause, &reason);
                }
                Verdict::Retry { reason } => {
                    if retries >= self.policy.max_retries {
                        return Err(ConnectorError::new(
                            Category::Transient,
                            format!("gave up after {retries} retries: {reason}"),
                        ));
                    }
                    let pause = self.backoff(retries);
                    retries += 1;
                    self.pause(pause, &reason);
                }
                Verdict::Fail(error) => return Err(error),
            }
        }
    }

    fn transport_verdict(&self, failure: TransportFailure, what: &str) -> Verdict {
        match failure {
            TransportFailure::Network(detail) => Verdict::Retry {
                reason: format!("{what} to {} failed: {detail}", self.config.lark_host),
            },
            TransportFailure::Denied => Verdict::Fail(ConnectorError::config(format!(
                "the sandbox refused {what} to {}: the runner does not allow this host \
                 (check `lark_host` and the hosts the runner allows)",
                self.config.lark_host
            ))),
            TransportFailure::Invalid(detail) => Verdict::Fail(ConnectorError::config(format!(
                "cannot build {what} for `lark_host` {}: {detail}",
                self.config.lark_host
            ))),
        }
    }

    /// Exponential backoff with jitter: a random point in the upper half of the window.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let window = self
            .policy
            .base_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.policy.max_backoff);
        let half = window / 2;
        let jitter_ms = self.host.random() % (half.as_millis() as u64 + 1);
        half + Duration::from_millis(jitter_ms)
    }

    fn pause(&mut self, pause: Duration, reason: &str) {
        self.host.log(
            LogLevel::Warn,
            &format!("{reason}; retrying in {} ms", pause.as_millis()),
        );
        self.host.sleep(pause);
    }
}
