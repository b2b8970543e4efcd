//! A mock of the Feishu / Lark Open API for the Bitable connector's tests and demo.
//!
//! [`MockFeishu::start`] serves, on `127.0.0.1` in a thread of its own: the tenant token
//! endpoint, the tables and fields lists, and records search over a deterministic table
//! ([`data`]). It requires the Bearer token, records every request it sees, and injects the
//! [`Fault`]s it is given on chosen records-search requests.

pub mod data;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Credentials the mock accepts.
pub const APP_ID: &str = "cli_mock_app_0001";
pub const APP_SECRET: &str = "mock-secret-Zx8Kq2Lr5Tn9";

/// A failure injected into one records-search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429, code 99991400, with `x-ogw-ratelimit-reset: reset_secs`.
    RateLimited { reset_secs: u32 },
    /// HTTP 200, code 1254290 (Bitable's TooManyRequest), no reset header.
    TooManyRequests,
    /// Every token issued so far stops working (code 99991663), as if it expired.
    ExpireTokens,
    /// HTTP 504 with code 1255040.
    GatewayTimeout,
    /// HTTP 500 with an HTML body.
    ServerErrorHtml,
    /// Headers and part of the body are sent, then the connection is cut.
    DropConnection,
    /// HTTP `status` with a Feishu error `code` and `msg`.
    Code { status: u16, code: i64, msg: String },
    /// HTTP 200 with a JSON body cut short.
    MalformedJson,
    /// The page answers with the page_token it was asked for, so paging would loop.
    RepeatPageToken,
    /// `has_more: true` with no page_token.
    MissingPageToken,
    /// The answer comes only after `secs` seconds.
    Stall { secs: u64 },
    /// The page's second item is not valid JSON inside (`tru` for `true`), though its
    /// brackets balance.
    BrokenRecord,
    /// The connection the request came on is closed before any byte of an answer, as a
    /// server does with a keep-alive connection it has just timed out.
    CloseConnection,
    /// `count` records are appended to the main table (created now, as the next indices)
    /// before this search is answered, as if users added them during the read.
    AddRecords { count: usize },
}

/// What the mock serves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Records in the table.
    pub records: usize,
    /// `expire` of issued tokens, in seconds.
    pub token_ttl_secs: u64,
    /// Faults by records-search request number (1-based, counting retries).
    pub faults: HashMap<usize, Fault>,
    /// Copies of the main table in the Base (same records), at most 8.
    pub copies: usize,
    /// Delay before every Open API answer, as over a real network.
    pub latency: std::time::Duration,
    /// Bitable requests allowed per sliding second (as Feishu's per-app quota); over it the
    /// mock answers HTTP 429, code 99991400, and counts a violation.
    pub qps: Option<usize>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            records: 10,
            token_ttl_secs: 7200,
            faults: HashMap::new(),
            copies: 0,
            latency: std::time::Duration::ZERO,
            qps: None,
        }
    }
}

impl MockConfig {
    pub fn with_records(records: usize) -> Self {
        Self {
            records,
            ..Self::default()
        }
    }

    /// Adds a fault on records-search request `n` (1-based).
    pub fn fault(mut self, n: usize, fault: Fault) -> Self {
        self.faults.insert(n, fault);
        self
    }
}

/// One request the mock saw.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub authorization: Option<String>,
    pub body: String,
    /// The client's port: one per TCP connection.
    pub peer_port: u16,
    /// When the request arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    requests: Vec<SeenRequest>,
    valid_tokens: Vec<String>,
    tokens_issued: usize,
    searches: usize,
    /// Main-table records changed since start: index -> last modified (ms).
    modified: HashMap<usize, i64>,
    /// Main-table records added since start.
    added: usize,
    /// When the Bitable requests of the last second arrived (for the quota).
    recent: std::collections::VecDeque<Instant>,
    /// Requests answered 429 because the quota was exceeded.
    violations: usize,
}

impl Shared {
    /// Marks main-table records as modified at `at_ms`.
    fn mark_modified(&mut self, indices: &[usize], at_ms: i64) {
        for &i in indices {
            self.modified.insert(i, at_ms);
        }
    }
}

/// When main-table record `index` was last modified: as changed since start, or as generated.
fn modified_at(changed: &HashMap<usize, i64>, index: usize) -> i64 {
    changed
        .get(&index)
        .copied()
        .unwrap_or_else(|| data::default_modified(index))
}

#[derive(Clone)]
struct AppState {
    config: Arc<MockConfig>,
    shared: Arc<Mutex<Shared>>,
    records: Arc<RecordCache>,
    /// Nanoseconds spent building records-search answers.
    busy_nanos: Arc<AtomicU64>,
    /// Duplicates of accepted sockets by client port, kept only when a fault closes them.
    sockets: Arc<Mutex<HashMap<u16, std::net::TcpStream>>>,
}

impl AppState {
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps a duplicate of an accepted socket, so a fault can close it under the server.
fn keep_socket(sockets: &Mutex<HashMap<u16, std::net::TcpStream>>, io: &tokio::net::TcpStream) {
    use std::os::fd::AsFd;
    let Ok(peer) = io.peer_addr() else { return };
    if let Ok(fd) = io.as_fd().try_clone_to_owned() {
        let socket = std::net::TcpStream::from(fd);
        let mut sockets = sockets.lock().unwrap_or_else(|p| p.into_inner());
        sockets.insert(peer.port(), socket);
    }
}

/// Shuts the connection from client port `port` down in both directions.
fn close_socket(state: &AppState, port: u16) {
    let socket = state
        .sockets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&port);
    if let Some(socket) = socket {
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
}

/// A running mock server; it stops when the process ends.
pub struct MockFeishu {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    records: Arc<RecordCache>,
}

impl MockFeishu {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub fn start(config: MockConfig) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("valid address"), config)
    }

    /// Starts on `addr` in a background thread with its own runtime.
    pub fn start_on(addr: SocketAddr, config: MockConfig) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let records = Arc::new(RecordCache::new(config.records));
        let state = AppState {
            records: records.clone(),
            config: Arc::new(config),
            shared: shared.clone(),
            busy_nanos: Arc::new(AtomicU64::new(0)),
            sockets: Arc::default(),
        };
        let closes = state
            .config
            .faults
            .values()
            .any(|f| *f == Fault::CloseConnection);
        let sockets = state.sockets.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let listener = listener.tap_io(move |io| {
                    if closes {
                        keep_socket(&sockets, io);
                    }
                });
                axum::serve(
                    listener,
                    router(state).into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .expect("mock server");
            });
        });
        Ok(Self {
            addr,
            shared,
            records,
        })
    }

    /// Renders every record ahead of time, so a benchmark measures serving, not rendering.
    pub fn prerender(&self) {
        for i in 0..self.records.len() {
            self.records.get(i);
        }
    }

    /// `http://127.0.0.1:PORT`, the value for `lark_host`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Marks main-table records as modified at `at_ms` (ms since the epoch).
    pub fn modify(&self, indices: &[usize], at_ms: i64) {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.mark_modified(indices, at_ms);
    }

    /// Appends `count` records to the main table, modified at `at_ms`; returns their indices.
    pub fn add_records(&self, count: usize, at_ms: i64) -> std::ops::Range<usize> {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let first = self.records.len() + shared.added;
        shared.added += count;
        for i in first..first + count {
            shared.modified.insert(i, at_ms);
        }
        first..first + count
    }

    /// Record `index` of the main table as it stands now (with automatic fields).
    pub fn current_record(&self, index: usize) -> Value {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        data::record_modified_at(index, true, modified_at(&shared.modified, index))
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .requests
            .clone()
    }

    /// A config for the connector pointing at this mock.
    pub fn connector_config(&self, page_size: u32) -> Value {
        json!({
            "app_id": APP_ID, "app_secret": APP_SECRET, "app_token": data::APP_TOKEN,
            "table_id": data::TABLE_ID, "lark_host": self.url(), "page_size": page_size
        })
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/open-apis/auth/v3/tenant_access_token/internal",
            post(token),
        )
        .route("/open-apis/bitable/v1/apps/{app}/tables", get(tables))
        .route(
            "/open-apis/bitable/v1/apps/{app}/tables/{table}/fields",
            get(fields),
        )
        .route(
            "/open-apis/bitable/v1/apps/{app}/tables/{table}/records/search",
            post(search),
        )
        .route("/open-apis/wiki/v2/spaces/get_node", get(wiki_node))
        .route("/__mock/stats", get(stats))
        .route("/__mock/modify", post(modify))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), wan))
        .with_state(state)
}

fn feishu_error(status: StatusCode, code: i64, msg: &str) -> Response {
    let body = json!({"code": code, "msg": msg, "error": {"log_id": format!("mocklog{code}")}});
    (status, Json(body)).into_response()
}

fn record_request(
    state: &AppState,
    peer: SocketAddr,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &str,
) {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    state.shared().requests.push(SeenRequest {
        method: method.into(),
        path: path.into(),
        query: query.clone(),
        authorization,
        body: body.into(),
        peer_port: peer.port(),
        at: Instant::now(),
    });
}

/// Counters for benchmarks: time spent building search answers, and requests served.
async fn stats(State(state): State<AppState>) -> Response {
    let busy_ns = state.busy_nanos.load(Ordering::Relaxed);
    let (searches, violations) = {
        let shared = state.shared();
        (shared.searches, shared.violations)
    };
    Json(json!({"busy_ns": busy_ns, "searches": searches, "violations": violations}))
        .into_response()
}

/// WAN mode: every Open API answer waits `latency`; Bitable requests over `qps` in the last
/// second are answered 429 (code 99991400, reset in 1 s) and counted as violations.
async fn wan(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let bitable = request.uri().path().starts_with("/open-apis/bitable/");
    let open_api = request.uri().path().starts_with("/open-apis/");
    if open_api && !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    if let (true, Some(qps)) = (bitable, state.config.qps) {
        let now = Instant::now();
        let mut shared = state.shared();
        while shared
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= std::time::Duration::from_secs(1))
        {
            shared.recent.pop_front();
        }
        if shared.recent.len() >= qps {
            shared.violations += 1;
            drop(shared);
            return fault_response(&Fault::RateLimited { reset_secs: 1 });
        }
        shared.recent.push_back(now);
    }
    next.run(request).await
}

impl MockFeishu {
    /// Requests answered 429 for exceeding the quota (WAN mode).
    pub fn violations(&self) -> usize {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .violations
    }
}

#[derive(Deserialize)]
struct ModifyRequest {
    indices: Vec<usize>,
    at_ms: i64,
}

/// Test control: marks main-table records as modified at `at_ms` (as [`MockFeishu::modify`]).
async fn modify(State(state): State<AppState>, Json(request): Json<ModifyRequest>) -> Response {
    state
        .shared()
        .mark_modified(&request.indices, request.at_ms);
    Json(json!({"modified": request.indices.len()})).into_response()
}

#[derive(Deserialize)]
struct TokenRequest {
    app_id: Option<String>,
    app_secret: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: String,
) -> Response {
    // The body holds the app secret: keep only that a token was asked for.
    record_request(
        &state,
        peer,
        "POST",
        "/open-apis/auth/v3/tenant_access_token/internal",
        &HashMap::new(),
        &headers,
        "",
    );
    let Ok(req) = serde_json::from_str::<TokenRequest>(&body) else {
        return feishu_error(StatusCode::BAD_REQUEST, 10003, "invalid param");
    };
    if req.app_id.as_deref() != Some(APP_ID) {
        return feishu_error(StatusCode::OK, 10003, "invalid param");
    }
    if req.app_secret.as_deref() != Some(APP_SECRET) {
        return feishu_error(StatusCode::OK, 10014, "app secret invalid");
    }
    let mut shared = state.shared();
    shared.tokens_issued += 1;
    let token = format!("t-mock{:06}", shared.tokens_issued);
    shared.valid_tokens.push(token.clone());
    Json(json!({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": state.config.token_ttl_secs})).into_response()
}

/// Records a request, then checks its Bearer token: an error response when it is missing or
/// not valid.
fn admit(
    state: &AppState,
    peer: SocketAddr,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &str,
) -> Option<Response> {
    record_request(state, peer, method, path, query, headers, body);
    authorize(state, headers)
}

/// Checks the Bearer token: an error response when it is missing or not valid.
fn authorize(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        let message = "Missing access token for authorization";
        return Some(feishu_error(StatusCode::BAD_REQUEST, 99991661, message));
    };
    let valid = state.shared().valid_tokens.iter().any(|t| t == token);
    let message = "Invalid access token for authorization";
    (!valid).then(|| feishu_error(StatusCode::BAD_REQUEST, 99991663, message))
}

/// Checks the Base and table ids: an error response when one is unknown.
fn check_ids(app: &str, table: Option<&str>) -> Option<Response> {
    if app != data::APP_TOKEN {
        return Some(feishu_error(StatusCode::OK, 1254040, "BaseTokenNotFound"));
    }
    let known = |t: &str| {
        !t.starts_with("ldx")
            && data::tables_with_copies(0, 8)
                .iter()
                .any(|m| m.table_id == t)
    };
    table
        .filter(|t| !known(t))
        .map(|_| feishu_error(StatusCode::OK, 1254041, "TableIdNotFound"))
}

/// Items of the tables list per page, whatever page_size asks: small, so that clients page.
const TABLES_PER_PAGE: usize = 2;

fn ok(data: Value) -> Response {
    Json(json!({"code": 0, "msg": "success", "data": data})).into_response()
}

async fn tables(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(app): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/open-apis/bitable/v1/apps/{app}/tables");
    if let Some(r) =
        admit(&state, peer, "GET", &path, &q, &headers, "").or_else(|| check_ids(&app, None))
    {
        return r;
    }
    let all = data::tables_with_copies(state.config.records, state.config.copies);
    let offset = match q.get("page_token").map(|t| parse_page_token(t)) {
        None => 0,
        Some(Some(o)) => o,
        Some(None) => return feishu_error(StatusCode::OK, 1254002, "Fail"),
    };
    let end = (offset + TABLES_PER_PAGE).min(all.len());
    let items: Vec<Value> = all[offset.min(end)..end]
        .iter()
        .map(|t| json!({"table_id": t.table_id, "name": t.name, "revision": 1}))
        .collect();
    let has_more = end < all.len();
    ok(
        json!({"has_more": has_more, "page_token": if has_more { page_token(end) } else { String::new() },
              "total": all.len(), "items": items}),
    )
}

async fn wiki_node(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = "/open-apis/wiki/v2/spaces/get_node";
    if let Some(r) = admit(&state, peer, "GET", path, &q, &headers, "") {
        return r;
    }
    let token = q.get("token").cloned().unwrap_or_default();
    let (obj_token, obj_type) = match token.as_str() {
        data::WIKI_NODE => (data::APP_TOKEN, "bitable"),
        data::WIKI_DOC_NODE => ("doxcnMockDoc0001", "docx"),
        _ => return feishu_error(StatusCode::OK, 131005, "not found"),
    };
    ok(
        json!({"node": {"space_id": "7000000000000000001", "node_token": token, "obj_token": obj_token,
                       "obj_type": obj_type, "title": "Mock Base", "has_child": false}}),
    )
}

async fn fields(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((app, table)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/open-apis/bitable/v1/apps/{app}/tables/{table}/fields");
    if let Some(r) = admit(&state, peer, "GET", &path, &q, &headers, "")
        .or_else(|| check_ids(&app, Some(&table)))
    {
        return r;
    }
    let items = data::table_fields(&table);
    ok(json!({"has_more": false, "page_token": "", "total": items.len(), "items": items}))
}

fn page_token(offset: usize) -> String {
    format!(
        "pgt{:x}x{:x}",
        offset,
        offset.wrapping_mul(2654435761) & 0xffff
    )
}

fn parse_page_token(token: &str) -> Option<usize> {
    let (offset, check) = token.strip_prefix("pgt")?.split_once('x')?;
    let offset = usize::from_str_radix(offset, 16).ok()?;
    (page_token(offset) == format!("pgt{offset:x}x{check}")).then_some(offset)
}

async fn search(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((app, table)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let started = Instant::now();
    let busy = state.busy_nanos.clone();
    let response = search_page(state, peer, app, table, q, headers, body).await;
    busy.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    response
}

async fn search_page(
    state: AppState,
    peer: SocketAddr,
    app: String,
    table: String,
    q: HashMap<String, String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    record_request(
        &state,
        peer,
        "POST",
        &format!("/open-apis/bitable/v1/apps/{app}/tables/{table}/records/search"),
        &q,
        &headers,
        &body,
    );
    let fault = {
        let mut shared = state.shared();
        shared.searches += 1;
        state.config.faults.get(&shared.searches).cloned()
    };
    match fault {
        Some(Fault::ExpireTokens) => state.shared().valid_tokens.clear(),
        Some(Fault::CloseConnection) => close_socket(&state, peer.port()),
        Some(Fault::AddRecords { count }) => {
            let mut shared = state.shared();
            let first = state.records.len() + shared.added;
            shared.added += count;
            for i in first..first + count {
                shared.mark_modified(&[i], data::default_modified(i));
            }
        }
        Some(Fault::Stall { secs }) => {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await
        }
        _ => {}
    }
    if let Some(r) = authorize(&state, &headers).or_else(|| check_ids(&app, Some(&table))) {
        return r;
    }
    let page_size = match q.get("page_size").map(|s| s.parse::<i64>()) {
        None => 20,
        Some(Ok(n)) if n <= 0 => {
            return feishu_error(
                StatusCode::BAD_REQUEST,
                1254011,
                "page_size must be greater than 0",
            );
        }
        Some(Ok(n)) if n > 500 => {
            return feishu_error(
                StatusCode::BAD_REQUEST,
                99992402,
                "field validation failed: page_size",
            );
        }
        Some(Ok(n)) => n as usize,
        Some(Err(_)) => {
            return feishu_error(
                StatusCode::BAD_REQUEST,
                99992402,
                "field validation failed: page_size",
            );
        }
    };
    let offset = match q.get("page_token") {
        None => 0,
        Some(t) => match parse_page_token(t) {
            Some(o) => o,
            None => return feishu_error(StatusCode::OK, 1254002, "Fail"),
        },
    };
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let automatic = request.get("automatic_fields").and_then(Value::as_bool) == Some(true);
    let view = request.get("view_id").and_then(Value::as_str);
    let main = data::is_main_like(&table);
    let (modified, added) = {
        let shared = state.shared();
        (shared.modified.clone(), shared.added)
    };
    let modified_of = |i: usize| modified_at(&modified, i);
    let n = state.records.len() + added;
    let narrowing = match narrowing(&request) {
        Ok(narrowing) => narrowing,
        Err(message) => return feishu_error(StatusCode::OK, 1254018, &message),
    };
    // The records in answer order: (count, position -> record index).
    let (count, index_of): (usize, Box<dyn Fn(usize) -> usize + Send + Sync>) =
        match (view, narrowing) {
            (_, Some(narrowing)) if main => {
                let mut order: Vec<usize> = (0..n)
                    .filter(|&i| narrowing.keeps(modified_of(i), data::created_at(i)))
                    .collect();
                match narrowing.order {
                    Order::Stored | Order::CreatedAsc => {}
                    Order::ModifiedAsc => order.sort_by_key(|&i| (modified_of(i), i)),
                    Order::CreatedDesc => order.reverse(),
                }
                (order.len(), Box::new(move |p| order[p]))
            }
            (None, _) if main => (n, Box::new(|p| p)),
            (None, _) => {
                let records = data::tables(n)
                    .iter()
                    .find(|t| t.table_id == table)
                    .map_or(0, |t| t.records);
                (records, Box::new(|p| p))
            }
            (Some(data::ODD_DESC_VIEW), _) if main => {
                let count = n / 2;
                (count, Box::new(move |p| 2 * (count - 1 - p) + 1))
            }
            (Some(_), _) => return feishu_error(StatusCode::OK, 1254004, "WrongViewId"),
        };
    let render = |p: usize| -> std::borrow::Cow<'_, str> {
        let index = index_of(p);
        if !main {
            return data::table_record(&table, index, automatic)
                .to_string()
                .into();
        }
        match modified.get(&index) {
            None if automatic && index < state.records.len() => state.records.get(index).into(),
            _ => data::record_modified_at(index, automatic, modified_of(index))
                .to_string()
                .into(),
        }
    };
    let body = page_body(
        count,
        offset,
        page_size,
        fault.as_ref(),
        q.get("page_token"),
        render,
    );
    match fault {
        Some(Fault::DropConnection) => cut_short(body),
        Some(Fault::BrokenRecord) => {
            let broken = body.replacen(r#"},{"created_by""#, r#"},{"broken":tru,"created_by""#, 1);
            (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                broken,
            )
                .into_response()
        }
        Some(Fault::MalformedJson) => {
            let cut = &body[..body.len() / 2];
            (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                cut.to_string(),
            )
                .into_response()
        }
        Some(
            f @ (Fault::RateLimited { .. }
            | Fault::TooManyRequests
            | Fault::GatewayTimeout
            | Fault::ServerErrorHtml
            | Fault::Code { .. }),
        ) => fault_response(&f),
        _ => (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response(),
    }
}

/// What a search's filter and sort ask of the main table: bounds on its ModifiedTime and
/// CreatedTime fields (each to the day, as Feishu's ExactDate works) and an order. Only what the
/// connector asks for is understood; anything else is refused.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Narrowing {
    modified_after: Option<i64>,
    created_after: Option<i64>,
    created_before: Option<i64>,
    order: Order,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Order {
    #[default]
    Stored,
    ModifiedAsc,
    CreatedAsc,
    CreatedDesc,
}

impl Narrowing {
    fn keeps(&self, modified: i64, created: i64) -> bool {
        self.modified_after.is_none_or(|t| modified > t)
            && self.created_after.is_none_or(|t| created > t)
            && self.created_before.is_none_or(|t| created < t)
    }
}

/// 00:00 of the day of `ms` in the Base's time zone (UTC+8 here): what ExactDate compares with.
fn day_start(ms: i64) -> i64 {
    const DAY: i64 = 86_400_000;
    const TZ: i64 = 8 * 3_600_000;
    (ms + TZ).div_euclid(DAY) * DAY - TZ
}

fn narrowing(request: &Value) -> Result<Option<Narrowing>, String> {
    if request.get("filter").is_none() && request.get("sort").is_none() {
        return Ok(None);
    }
    let mut narrowing = Narrowing::default();
    let conditions = match request.get("filter") {
        None => Vec::new(),
        Some(filter) => {
            if filter.get("conjunction").is_some_and(|c| c != "and") {
                return Err(format!("InvalidFilter: {filter}"));
            }
            let conditions = filter["conditions"].as_array().cloned().unwrap_or_default();
            if conditions.is_empty() {
                return Err("filter has no condition".into());
            }
            conditions
        }
    };
    for condition in &conditions {
        let value = condition["value"]
            .as_array()
            .ok_or("condition has no value")?;
        if value.first().and_then(Value::as_str) != Some("ExactDate") {
            return Err(format!("InvalidFilter: {condition}"));
        }
        let ms: i64 = value
            .get(1)
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
            .ok_or("ExactDate needs ms")?;
        let day = Some(day_start(ms));
        let field = condition["field_name"].as_str().unwrap_or_default();
        match (field, condition["operator"].as_str()) {
            (data::MODIFIED_FIELD, Some("isGreater")) => narrowing.modified_after = day,
            (data::CREATED_FIELD, Some("isGreater")) => narrowing.created_after = day,
            (data::CREATED_FIELD, Some("isLess")) => narrowing.created_before = day,
            _ => return Err(format!("InvalidFilter: {condition}")),
        }
    }
    if let Some(sort) = request.get("sort") {
        let field = sort.pointer("/0/field_name").and_then(Value::as_str);
        let desc = sort
            .pointer("/0/desc")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        narrowing.order = match (field, desc) {
            (Some(data::MODIFIED_FIELD), false) => Order::ModifiedAsc,
            (Some(data::CREATED_FIELD), false) => Order::CreatedAsc,
            (Some(data::CREATED_FIELD), true) => Order::CreatedDesc,
            _ => return Err(format!("InvalidSort: {sort}")),
        };
    }
    Ok(Some(narrowing))
}

/// The JSON text of a records page, shaped by a paging fault if there is one; `render`
/// gives the record at each answer position.
fn page_body<'a>(
    n: usize,
    offset: usize,
    page_size: usize,
    fault: Option<&Fault>,
    asked_token: Option<&String>,
    render: impl Fn(usize) -> std::borrow::Cow<'a, str>,
) -> String {
    let end = (offset + page_size).min(n);
    // Like Feishu, a token may come even on the last page: clients must stop on has_more.
    let (has_more, token) = match fault {
        Some(Fault::RepeatPageToken) => (
            end < n,
            asked_token.cloned().or_else(|| Some(page_token(0))),
        ),
        Some(Fault::MissingPageToken) => (true, None),
        _ => (end < n, Some(page_token(end))),
    };
    let mut body = String::with_capacity(64 + (end.saturating_sub(offset)) * 1600);
    body.push_str(r#"{"code":0,"msg":"success","data":{"has_more":"#);
    body.push_str(if has_more { "true" } else { "false" });
    if let Some(token) = token {
        body.push_str(r#","page_token":"#);
        body.push_str(&json!(token).to_string());
    }
    body.push_str(&format!(r#","total":{n},"items":["#));
    for p in offset.min(n)..end {
        if p > offset {
            body.push(',');
        }
        body.push_str(&render(p));
    }
    body.push_str("]}}");
    body
}

/// Records rendered once, on first use (with automatic fields, as the connector asks).
struct RecordCache {
    rendered: Vec<OnceLock<Box<str>>>,
}

impl RecordCache {
    fn new(n: usize) -> Self {
        Self {
            rendered: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }

    fn len(&self) -> usize {
        self.rendered.len()
    }

    fn get(&self, index: usize) -> &str {
        self.rendered[index].get_or_init(|| data::record(index, true).to_string().into_boxed_str())
    }
}

fn fault_response(fault: &Fault) -> Response {
    match fault {
        Fault::RateLimited { reset_secs } => {
            let mut r = feishu_error(
                StatusCode::TOO_MANY_REQUESTS,
                99991400,
                "request trigger frequency limit",
            );
            let h = r.headers_mut();
            h.insert("x-ogw-ratelimit-limit", "100".parse().expect("header"));
            h.insert(
                "x-ogw-ratelimit-reset",
                reset_secs.to_string().parse().expect("header"),
            );
            r
        }
        Fault::TooManyRequests => feishu_error(StatusCode::OK, 1254290, "TooManyRequest"),
        Fault::GatewayTimeout => {
            feishu_error(StatusCode::GATEWAY_TIMEOUT, 1255040, "request timeout")
        }
        Fault::ServerErrorHtml => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<html><body>502 Bad Gateway</body></html>",
        )
            .into_response(),
        Fault::Code { status, code, msg } => feishu_error(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
            *code,
            msg,
        ),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "not a response fault").into_response(),
    }
}

/// Sends the headers and the first part of `body`, then fails the body so the connection drops.
fn cut_short(body: String) -> Response {
    use futures_util::StreamExt;
    let head = Bytes::from(body.as_bytes()[..body.len() / 3].to_vec());
    // The first third goes out (headers included) before the connection is cut.
    let chunks = futures_util::stream::iter([Some(head), None]).then(|chunk| async move {
        match chunk {
            Some(bytes) => Ok(bytes),
            None => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(std::io::Error::other("connection dropped by the mock"))
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from_stream(chunks))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_forgeries() {
        for o in [0, 1, 499, 2345] {
            assert_eq!(parse_page_token(&page_token(o)), Some(o));
        }
        assert_eq!(parse_page_token("pgt5x0"), None);
        assert_eq!(parse_page_token("nope"), None);
    }
}
