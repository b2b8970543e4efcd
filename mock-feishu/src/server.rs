//! The HTTP server: the router, the request log and stats, the WAN simulation, the mock's own
//! control endpoints, and the Base's tables, fields and wiki node endpoints.

use super::*;

pub(crate) fn router(state: AppState) -> Router {
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
        .route(
            "/open-apis/drive/v1/medias/{token}/download",
            get(crate::files::download),
        )
        .route("/__mock/stats", get(stats))
        .route("/__mock/cdn/{token}", get(crate::files::cdn))
        .route("/__mock/requests", get(requests))
        .route("/probe", post(probe))
        .route(
            "/open-apis/bitable/v1/apps/{app}/tables/{table}/records/batch_get",
            post(crate::search::batch_get),
        )
        .route("/__mock/modify", post(modify))
        .route("/__mock/delete", post(delete))
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found") })
        .layer(axum::middleware::from_fn_with_state(state.clone(), wan))
        .with_state(state)
}

pub(crate) fn feishu_error(status: StatusCode, code: i64, msg: &str) -> Response {
    let body = json!({"code": code, "msg": msg, "error": {"log_id": format!("mocklog{code}")}});
    (status, Json(body)).into_response()
}

pub(crate) fn record_request(
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
        range: headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body.into(),
        peer_port: peer.port(),
        at: Instant::now(),
    });
}

/// `POST /probe`: a request recorder for the hosts' contract tests (the probe component sends
/// here); answers 204 and keeps the request whole, query and body included.
pub(crate) async fn probe(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    record_request(&state, peer, "POST", "/probe", &query, &headers, &body);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /__mock/requests`: every request seen, for tests in other processes.
pub(crate) async fn requests(State(state): State<AppState>) -> Response {
    let seen: Vec<Value> = state
        .shared()
        .requests
        .iter()
        .map(|r| {
            json!({"method": r.method, "path": r.path, "query": r.query,
                   "authorization": r.authorization, "body": r.body})
        })
        .collect();
    Json(seen).into_response()
}

/// Counters for benchmarks: time spent building search answers, and requests served.
pub(crate) async fn stats(State(state): State<AppState>) -> Response {
    let busy_ns = state.busy_nanos.load(Ordering::Relaxed);
    let (searches, violations, tokens, table_lists, downloads) = {
        let shared = state.shared();
        let lists = shared
            .requests
            .iter()
            .filter(|r| r.path.ends_with("/tables"))
            .count();
        (
            shared.searches,
            shared.violations,
            shared.tokens_issued,
            lists,
            shared.downloads,
        )
    };
    Json(
        json!({"busy_ns": busy_ns, "searches": searches, "violations": violations,
                "tokens_issued": tokens, "table_list_pages": table_lists,
                "downloads": downloads}),
    )
    .into_response()
}

/// WAN mode: every Open API answer waits `latency`; Bitable requests over `qps` in the last
/// second are answered 429 (code 99991400, reset in 1 s) and counted as violations.
pub(crate) async fn wan(
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
pub(crate) struct ModifyRequest {
    indices: Vec<usize>,
    at_ms: i64,
}

/// Test control: marks main-table records as modified at `at_ms` (as [`MockFeishu::modify`]).
pub(crate) async fn modify(
    State(state): State<AppState>,
    Json(request): Json<ModifyRequest>,
) -> Response {
    state
        .shared()
        .mark_modified(&request.indices, request.at_ms);
    Json(json!({"modified": request.indices.len()})).into_response()
}

#[derive(Deserialize)]
pub(crate) struct DeleteRequest {
    indices: Vec<usize>,
}

/// Test control: deletes main-table records (as [`MockFeishu::delete`]).
pub(crate) async fn delete(
    State(state): State<AppState>,
    Json(request): Json<DeleteRequest>,
) -> Response {
    state.shared().delete(&request.indices);
    Json(json!({"deleted": request.indices.len()})).into_response()
}

/// Items of the tables list per page, whatever page_size asks: small, so that clients page.
pub(crate) const TABLES_PER_PAGE: usize = 2;

pub(crate) fn ok(data: Value) -> Response {
    Json(json!({"code": 0, "msg": "success", "data": data})).into_response()
}

pub(crate) async fn tables(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(app): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/open-apis/bitable/v1/apps/{app}/tables");
    if let Some(r) = admit(&state, peer, "GET", &path, &q, &headers, "")
        .or_else(|| check_ids(&state, &app, None))
    {
        return r;
    }
    let all = data::tables_with_copies(state.config.records, state.config.copies);
    let main_revision = 1 + state.shared().changes;
    let Some(offset) = list_offset(&q) else {
        return forged_page_token();
    };
    let end = (offset + TABLES_PER_PAGE).min(all.len());
    let items: Vec<Value> = all[offset.min(end)..end]
        .iter()
        .map(|t| {
            let revision = if t.table_id == data::TABLE_ID {
                main_revision
            } else {
                1
            };
            json!({"table_id": t.table_id, "name": t.name, "revision": revision})
        })
        .collect();
    let mut items = items;
    let has_more = end < all.len();
    if !has_more {
        if !state.config.files.is_empty() {
            let revision = 1 + state.shared().files_added.len();
            items.push(
                json!({"table_id": files::FILES_TABLE_ID, "name": files::FILES_TABLE_NAME,
                              "revision": revision}),
            );
        }
        let extra = state.config.extra_tables.iter();
        items.extend(extra.map(|(id, name)| json!({"table_id": id, "name": name, "revision": 1})));
    }
    ok(
        json!({"has_more": has_more, "page_token": if has_more { page_token(end) } else { String::new() },
              "total": all.len(), "items": items}),
    )
}

pub(crate) async fn wiki_node(
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

pub(crate) async fn fields(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((app, table)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/open-apis/bitable/v1/apps/{app}/tables/{table}/fields");
    if let Some(r) = admit(&state, peer, "GET", &path, &q, &headers, "")
        .or_else(|| check_ids(&state, &app, Some(&table)))
    {
        return r;
    }
    let mut items = if table == files::FILES_TABLE_ID {
        files::file_fields()
    } else {
        data::table_fields(&table)
    };
    if table == data::TABLE_ID {
        let shared = state.shared();
        for field in &mut items {
            let name = field["field_name"].as_str().unwrap_or_default().to_string();
            field["field_name"] = json!(shared.field_name(&name));
        }
    }
    ok(json!({"has_more": false, "page_token": "", "total": items.len(), "items": items}))
}
