//! The Feishu client: tenant token caching, and every request sent through one retry loop
//! driven by the error classifier.

use crate::api::classify::{Verdict, classify};
use crate::api::token::{TOKEN_PATH, TenantToken};
use crate::config::Config;
use crate::error::{Category, ConnectorError};
use crate::host::{
    BodyChunks, HttpRequest, HttpResponse, LogLevel, Method, Transport, TransportFailure,
    shown_path,
};
use crate::read::records::TableRef;
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

/// A Feishu Open API client over a [`Transport`].
pub struct FeishuClient<H: Transport> {
    host: H,
    config: Config,
    token: Option<TenantToken>,
    policy: RetryPolicy,
    /// Records requests started ahead of need: one page ahead per search being read.
    prefetched: Vec<Prefetched<H::Pending>>,
    /// Requests sent so far (retries, token and prefetched pages included).
    sent: u64,
    /// Answers that said the table was busy with other requests ([`BUSY_CODES`]).
    busy: u64,
    /// Answers to GETs (tables and fields lists, wiki nodes) by URL: asked once a run.
    got: std::collections::HashMap<String, HttpResponse>,
}

/// Codes by which Feishu says a table is busy with other requests (1254607 "data not ready",
/// 1254291 write conflict): its docs advise reading one table one request at a time.
pub const BUSY_CODES: [i64; 2] = [1254607, 1254291];

/// A records search started ahead of need, found again by its URL and body.
struct Prefetched<P> {
    url: String,
    body: String,
    pending: P,
}

/// The records search request for `url` with `body`.
fn search_request(url: &str, body: &str, bearer: Option<String>) -> HttpRequest {
    HttpRequest {
        method: Method::Post,
        url: url.to_string(),
        bearer,
        json_body: Some(body.to_string()),
        range_from: None,
    }
}

/// What the attempts at one request have used of the retry policy.
#[derive(Debug, Default)]
pub struct Attempts {
    pub retries: u32,
    pub rate_limited: u32,
    pub refreshed: bool,
}

/// Most of an error answer's body read (enough for Feishu's JSON error).
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// Up to `limit` bytes of `body` (what an error answer says); a cut body gives what came.
fn read_some(body: &mut dyn BodyChunks, limit: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match body.next_chunk() {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(limit);
    bytes
}

impl<H: Transport> FeishuClient<H> {
    pub fn new(host: H, config: Config) -> Self {
        Self {
            host,
            config,
            token: None,
            policy: RetryPolicy::default(),
            prefetched: Vec::new(),
            sent: 0,
            busy: 0,
            got: Default::default(),
        }
    }

    /// Answers so far that said a table was busy (each was retried).
    pub fn busy_answers(&self) -> u64 {
        self.busy
    }

    /// Requests sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.sent
    }

    /// Whether the config's `max_api_calls` leaves room for another request.
    fn within_budget(&self) -> bool {
        self.config.max_api_calls.is_none_or(|max| self.sent < max)
    }

    /// Counts a request about to go out, or refuses it when the budget is spent.
    fn spend(&mut self, what: &str) -> Result<(), ConnectorError> {
        if self.within_budget() {
            self.sent += 1;
            return Ok(());
        }
        let max = self.config.max_api_calls.unwrap_or_default();
        Err(ConnectorError::new(
            Category::Config,
            format!(
                "the request budget is spent: config field `max_api_calls` allows {max} \
                 requests and all were sent, so {what} was not; raise `max_api_calls` or \
                 run again from the saved state to go on"
            ),
        ))
    }

    pub fn transport(&mut self) -> &mut H {
        &mut self.host
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One page of `table`'s records searched with `body` (`page_token` of the previous page,
    /// if any). Uses the answer to a matching [`Self::prefetch_records`] when there is one.
    pub fn search_records(
        &mut self,
        table: &TableRef,
        body: &str,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<HttpResponse, ConnectorError> {
        let url = self.search_url(table, page_size, page_token);
        let first = self
            .prefetched
            .iter()
            .position(|p| p.url == url && p.body == body)
            .map(|i| self.prefetched.remove(i).pending)
            .map(|pending| self.host.finish(pending));
        let what = format!("POST {}", shown_path(&table.search_path()));
        self.send_after(&what, true, first, |bearer| {
            search_request(&url, body, bearer)
        })
    }

    /// Starts fetching a page now, to be collected by the next matching
    /// [`Self::search_records`]; skipped unless a fresh token is at hand.
    pub fn prefetch_records(
        &mut self,
        table: &TableRef,
        body: &str,
        page_size: u32,
        page_token: Option<&str>,
    ) {
        let now = self.host.now_ms();
        let Some(bearer) = self
            .token
            .as_ref()
            .filter(|t| t.is_fresh(now))
            .map(|t| t.value.expose().to_string())
        else {
            return;
        };
        if !self.within_budget() {
            return;
        }
        let url = self.search_url(table, page_size, page_token);
        // A request that cannot start now is simply sent again when it is needed.
        if let Ok(pending) = self.host.start(&search_request(&url, body, Some(bearer))) {
            self.sent += 1;
            // One page ahead per search (a table's path and a body): an older one for the same
            // search is dropped; other tables' searches may have the same body.
            let path = |url: &str| url.split('?').next().unwrap_or_default().to_string();
            let this = path(&url);
            self.prefetched
                .retain(|p| p.body != body || path(&p.url) != this);
            self.prefetched.push(Prefetched {
                url,
                body: body.to_string(),
                pending,
            });
        }
    }

    /// An authorized GET of `path_and_query` (`path` names it in messages). What it reads
    /// (metadata of the Base) is asked once a run: a second GET of the same URL is answered
    /// from the first.
    pub fn get(
        &mut self,
        path: &str,
        path_and_query: &str,
    ) -> Result<HttpResponse, ConnectorError> {
        let url = format!("{}{path_and_query}", self.config.lark_host);
        if let Some(answer) = self.got.get(&url) {
            return Ok(answer.clone());
        }
        let answer = self.send(&format!("GET {}", shown_path(path)), true, |bearer| {
            HttpRequest {
                method: Method::Get,
                url: url.clone(),
                bearer,
                json_body: None,
                range_from: None,
            }
        })?;
        self.got.insert(url, answer.clone());
        Ok(answer)
    }

    /// The records of `table` with these ids (at most 100), as `records/batch_get` answers:
    /// `data.records`, and the ids it could not find in `data.absent_record_ids`.
    pub fn batch_get_records(
        &mut self,
        table: &TableRef,
        ids: &[String],
    ) -> Result<HttpResponse, ConnectorError> {
        let path = table.batch_get_path();
        let mut url = format!("{}{path}", self.config.lark_host);
        if let Some(query) = self.user_id_query() {
            url.push('?');
            url.push_str(&query);
        }
        let body = serde_json::json!({"record_ids": ids, "automatic_fields": true}).to_string();
        self.send(&format!("POST {}", shown_path(&path)), true, |bearer| {
            search_request(&url, &body, bearer)
        })
    }

    fn search_url(&self, table: &TableRef, page_size: u32, page_token: Option<&str>) -> String {
        let mut url = format!(
            "{}{}?page_size={page_size}",
            self.config.lark_host,
            table.search_path()
        );
        if let Some(token) = page_token {
            url.push_str("&page_token=");
            url.push_str(&crate::host::encode_component(token));
        }
        if let Some(query) = self.user_id_query() {
            url.push('&');
            url.push_str(&query);
        }
        url
    }

    /// `user_id_type=...` for the records endpoints, when the config sets one.
    fn user_id_query(&self) -> Option<String> {
        let kind = self.config.user_id_type.as_ref()?;
        Some(format!("user_id_type={kind}"))
    }

    /// Fetches the tenant token now (it is cached), so that bad credentials or a refused host
    /// fail at once rather than in the first stream.
    pub fn authenticate(&mut self) -> Result<(), ConnectorError> {
        self.bearer().map(|_| ())
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
            range_from: None,
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
        self.send_after(what, authorized, None, build)
    }

    /// [`Self::send`], taking `first` (the outcome of a request already made) as the first
    /// attempt when given.
    fn send_after(
        &mut self,
        what: &str,
        authorized: bool,
        mut first: Option<Result<HttpResponse, TransportFailure>>,
        build: impl Fn(Option<String>) -> HttpRequest,
    ) -> Result<HttpResponse, ConnectorError> {
        let mut attempts = Attempts::default();
        loop {
            let outcome = match first.take() {
                Some(outcome) => outcome,
                None => {
                    let request = self.next_attempt(what, authorized, &build)?;
                    self.host.send(&request)
                }
            };
            let verdict = match outcome {
                Ok(response) => match classify(&response, what) {
                    Verdict::Success => return Ok(response),
                    verdict => verdict,
                },
                Err(failure) => self.transport_verdict(failure, what),
            };
            self.after(verdict, &mut attempts, what, authorized)?;
        }
    }

    /// The request of the next attempt (with the bearer token when `authorized`), counted
    /// against the budget.
    fn next_attempt(
        &mut self,
        what: &str,
        authorized: bool,
        build: &impl Fn(Option<String>) -> HttpRequest,
    ) -> Result<HttpRequest, ConnectorError> {
        let bearer = if authorized {
            Some(self.bearer()?)
        } else {
            None
        };
        self.spend(what)?;
        Ok(build(bearer))
    }

    /// GET `url` for its body a chunk at a time (a file download), from byte `range_from`
    /// when given: the answer's head and body once it is a 2xx or 3xx; other answers are
    /// classified and retried like any request. `authorized` sends the tenant token (only ever
    /// to `lark_host`).
    pub fn open_get(
        &mut self,
        what: &str,
        url: &str,
        authorized: bool,
        range_from: Option<u64>,
    ) -> Result<(HttpResponse, Box<dyn BodyChunks>), ConnectorError> {
        let build = |bearer| HttpRequest {
            method: Method::Get,
            url: url.to_string(),
            bearer,
            json_body: None,
            range_from,
        };
        let mut attempts = Attempts::default();
        loop {
            let request = self.next_attempt(what, authorized, &build)?;
            let verdict = match self.host.open(&request) {
                Ok((head, body)) if (200..400).contains(&head.status) => return Ok((head, body)),
                Ok((mut head, mut body)) => {
                    head.body = read_some(&mut *body, ERROR_BODY_LIMIT);
                    match classify(&head, what) {
                        Verdict::Success => Verdict::Retry {
                            reason: format!("{what} answered HTTP {}", head.status),
                            upstream: Default::default(),
                        },
                        verdict => verdict,
                    }
                }
                Err(failure) => self.transport_verdict(failure, what),
            };
            self.after(verdict, &mut attempts, what, authorized)?;
        }
    }

    /// Waits or gives up after a failed attempt, as `verdict` says and the policy allows.
    pub fn after(
        &mut self,
        verdict: Verdict,
        attempts: &mut Attempts,
        what: &str,
        authorized: bool,
    ) -> Result<(), ConnectorError> {
        match verdict {
            Verdict::Success => Ok(()),
            Verdict::RefreshToken if authorized && !attempts.refreshed => {
                self.host.log(
                    LogLevel::Info,
                    "Feishu rejected the tenant token; fetching a new one",
                );
                self.token = None;
                attempts.refreshed = true;
                Ok(())
            }
            Verdict::RefreshToken => Err(ConnectorError::new(
                Category::Auth,
                format!(
                    "Feishu rejected the tenant token for {what} even after a new one was fetched"
                ),
            )),
            Verdict::RateLimited {
                wait,
                reason,
                upstream,
            } => {
                let done = attempts.rate_limited;
                if done >= self.policy.max_rate_limit_retries {
                    return Err(ConnectorError::new(
                        Category::RateLimited(wait),
                        format!("still rate-limited after {done} retries: {reason}"),
                    )
                    .with_upstream(upstream));
                }
                let pause = wait
                    .unwrap_or_else(|| self.backoff(done))
                    .min(self.policy.max_rate_limit_wait);
                attempts.rate_limited += 1;
                self.pause(pause, &reason);
                Ok(())
            }
            Verdict::Retry { reason, upstream } => {
                if upstream.code.is_some_and(|code| BUSY_CODES.contains(&code)) {
                    self.busy += 1;
                }
                let done = attempts.retries;
                if done >= self.policy.max_retries {
                    return Err(ConnectorError::new(
                        Category::Transient,
                        format!("gave up after {done} retries: {reason}"),
                    )
                    .with_upstream(upstream));
                }
                let pause = self.backoff(done);
                attempts.retries += 1;
                self.pause(pause, &reason);
                Ok(())
            }
            Verdict::Fail(error) => Err(error),
        }
    }

    fn transport_verdict(&self, failure: TransportFailure, what: &str) -> Verdict {
        match failure {
            TransportFailure::Network(detail) => Verdict::Retry {
                reason: format!("{what} to {} failed: {detail}", self.config.lark_host),
                upstream: Default::default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeHost, json, token_ok};
    use std::cell::Cell;
    use std::rc::Rc;

    fn config() -> Config {
        Config::parse(r#"{"app_id":"cli_1","app_secret":"s3cret","app_token":"app1","table_id":"tbl1","lark_host":"http://127.0.0.1:9"}"#).unwrap()
    }

    fn table() -> TableRef {
        TableRef {
            app_token: "app1".into(),
            table_id: "tbl1".into(),
            view_id: None,
        }
    }

    const BODY: &str = r#"{"automatic_fields":true}"#;

    const PAGE: &str = r#"{"code":0,"data":{"has_more":false,"items":[]}}"#;

    /// A host whose records endpoint answers from `script` in turn, then with PAGE.
    fn scripted(script: Vec<Result<HttpResponse, TransportFailure>>) -> FakeHost {
        let mut script = script.into_iter();
        FakeHost::new(move |req| {
            if req.url.ends_with(TOKEN_PATH) {
                token_ok("t-1")
            } else {
                script.next().unwrap_or_else(|| json(200, PAGE))
            }
        })
    }

    #[test]
    fn token_is_fetched_once_and_sent_as_bearer() {
        let mut client = FeishuClient::new(scripted(vec![]), config());
        client.search_records(&table(), BODY, 10, None).unwrap();
        client
            .search_records(&table(), BODY, 10, Some("p/2"))
            .unwrap();
        let reqs = &client.transport().requests;
        assert_eq!(reqs.len(), 3);
        assert!(
            reqs[0]
                .json_body
                .as_deref()
                .unwrap()
                .contains(r#""app_secret":"s3cret""#)
        );
        assert_eq!(reqs[1].bearer.as_deref(), Some("t-1"));
        assert_eq!(
            reqs[1].url,
            "http://127.0.0.1:9/open-apis/bitable/v1/apps/app1/tables/tbl1/records/search?page_size=10"
        );
        assert!(reqs[2].url.ends_with("page_size=10&page_token=p%2F2"));
    }

    #[test]
    fn expired_token_is_refreshed_once_and_the_request_retried() {
        let tokens = Rc::new(Cell::new(0));
        let seen = tokens.clone();
        let host = FakeHost::new(move |req| {
            if req.url.ends_with(TOKEN_PATH) {
                seen.set(seen.get() + 1);
                return token_ok(&format!("t-{}", seen.get()));
            }
            match req.bearer.as_deref() {
                Some("t-1") => json(200, r#"{"code":99991663,"msg":"token expired"}"#),
                _ => json(200, PAGE),
            }
        });
        let mut client = FeishuClient::new(host, config());
        client.search_records(&table(), BODY, 5, None).unwrap();
        assert_eq!(tokens.get(), 2);
        let always_bad = FakeHost::new(|req| {
            if req.url.ends_with(TOKEN_PATH) {
                token_ok("t-x")
            } else {
                json(200, r#"{"code":99991663,"msg":"token expired"}"#)
            }
        });
        let err = FeishuClient::new(always_bad, config())
            .search_records(&table(), BODY, 5, None)
            .unwrap_err();
        assert_eq!(err.category, Category::Auth);
    }

    #[test]
    fn token_near_expiry_is_replaced_before_use() {
        let mut client = FeishuClient::new(scripted(vec![]), config());
        client.search_records(&table(), BODY, 1, None).unwrap();
        client.transport().clock_ms = 7_200_000 - 299_000;
        client.search_records(&table(), BODY, 1, None).unwrap();
        let token_calls = client
            .transport()
            .requests
            .iter()
            .filter(|r| r.url.ends_with(TOKEN_PATH))
            .count();
        assert_eq!(token_calls, 2);
    }

    #[test]
    fn rate_limits_wait_for_the_reset_header() {
        let limited = HttpResponse {
            status: 429,
            headers: vec![("x-ogw-ratelimit-reset".into(), "2".into())],
            body: br#"{"code":99991400,"msg":"request trigger frequency limit"}"#.to_vec(),
        };
        let mut client = FeishuClient::new(
            scripted(vec![
                Ok(limited),
                json(200, r#"{"code":1254290,"msg":"TooManyRequest"}"#),
            ]),
            config(),
        );
        client.search_records(&table(), BODY, 1, None).unwrap();
        let host = client.transport();
        assert_eq!(host.sleeps[0], Duration::from_secs(2));
        assert_eq!(host.sleeps.len(), 2);
        assert!(host.logs.iter().any(|(_, m)| m.contains("99991400")));
    }

    #[test]
    fn transient_failures_retry_with_growing_backoff_then_give_up() {
        let failures = (0..10)
            .map(|_| Err(TransportFailure::Network("connection reset".into())))
            .collect();
        let mut client = FeishuClient::new(scripted(failures), config());
        let err = client.search_records(&table(), BODY, 1, None).unwrap_err();
        assert_eq!(err.category, Category::Transient);
        assert!(
            err.message.starts_with("gave up after 5 retries"),
            "{}",
            err.message
        );
        let sleeps = &client.transport().sleeps;
        assert_eq!(sleeps.len(), 5);
        assert!(sleeps.windows(2).all(|w| w[0] < w[1]), "{sleeps:?}");
        assert!(sleeps[0] >= Duration::from_millis(100) && sleeps[0] <= Duration::from_millis(200));
    }

    #[test]
    fn server_errors_recover() {
        let mut client = FeishuClient::new(
            scripted(vec![
                json(504, r#"{"code":1255040,"msg":"timeout"}"#),
                json(502, "bad gateway"),
            ]),
            config(),
        );
        client.search_records(&table(), BODY, 1, None).unwrap();
        assert_eq!(client.transport().sleeps.len(), 2);
    }

    #[test]
    fn bad_credentials_fail_without_retry_or_secret() {
        let host = FakeHost::new(|_| json(200, r#"{"code":10014,"msg":"app secret invalid"}"#));
        let mut client = FeishuClient::new(host, config());
        let err = client.search_records(&table(), BODY, 1, None).unwrap_err();
        assert_eq!(err.category, Category::Auth);
        assert!(!err.message.contains("s3cret"));
        assert_eq!(client.transport().requests.len(), 1);
    }

    #[test]
    fn prefetched_pages_are_used_once_and_only_when_they_match() {
        let mut client = FeishuClient::new(scripted(vec![]), config());
        client.prefetch_records(&table(), BODY, 10, Some("a"));
        assert!(
            client.transport().requests.is_empty(),
            "no token yet: no prefetch"
        );
        client.search_records(&table(), BODY, 10, None).unwrap();
        client.prefetch_records(&table(), BODY, 10, Some("a"));
        client
            .search_records(&table(), BODY, 10, Some("a"))
            .unwrap();
        assert_eq!(
            client.transport().requests.len(),
            3,
            "token, first page, prefetched page"
        );
        client.prefetch_records(&table(), BODY, 10, Some("b"));
        client
            .search_records(&table(), BODY, 10, Some("c"))
            .unwrap();
        let urls: Vec<&str> = client
            .transport()
            .requests
            .iter()
            .map(|r| r.url.as_str())
            .collect();
        assert!(
            urls[3].ends_with("page_token=b") && urls[4].ends_with("page_token=c"),
            "{urls:?}"
        );
    }

    #[test]
    fn several_searches_keep_a_page_ahead_each() {
        let mut client = FeishuClient::new(scripted(vec![]), config());
        client.search_records(&table(), BODY, 10, None).unwrap();
        let other = r#"{"filter":{}}"#;
        client.prefetch_records(&table(), BODY, 10, Some("a"));
        client.prefetch_records(&table(), other, 10, Some("x"));
        client
            .search_records(&table(), other, 10, Some("x"))
            .unwrap();
        client
            .search_records(&table(), BODY, 10, Some("a"))
            .unwrap();
        assert_eq!(
            client.transport().requests.len(),
            4,
            "token, first page, and one page ahead for each search, each used once"
        );
    }

    #[test]
    fn a_failed_prefetch_is_retried_like_any_request() {
        let mut client = FeishuClient::new(
            scripted(vec![
                json(200, PAGE),
                json(504, r#"{"code":1255040,"msg":"timeout"}"#),
            ]),
            config(),
        );
        client.search_records(&table(), BODY, 10, None).unwrap();
        client.prefetch_records(&table(), BODY, 10, Some("a"));
        client
            .search_records(&table(), BODY, 10, Some("a"))
            .unwrap();
        assert_eq!(client.transport().sleeps.len(), 1);
        assert_eq!(client.transport().requests.len(), 4);
    }

    #[test]
    fn sandbox_denial_is_a_config_error() {
        let host = FakeHost::new(|_| Err(TransportFailure::Denied));
        let err = FeishuClient::new(host, config())
            .search_records(&table(), BODY, 1, None)
            .unwrap_err();
        assert_eq!(err.category, Category::Config);
        assert!(err.message.contains("sandbox refused"), "{}", err.message);
    }
}
