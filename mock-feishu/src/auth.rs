//! Auth: the tenant token endpoint, the Bearer check on every API call, and the Base and
//! table ids a request must name.

use super::*;

#[derive(Deserialize)]
pub(crate) struct TokenRequest {
    app_id: Option<String>,
    app_secret: Option<String>,
}

pub(crate) async fn token(
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
pub(crate) fn admit(
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
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Option<Response> {
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
pub(crate) fn check_ids(state: &AppState, app: &str, table: Option<&str>) -> Option<Response> {
    if app != data::APP_TOKEN {
        return Some(feishu_error(StatusCode::OK, 1254040, "BaseTokenNotFound"));
    }
    let known = |t: &str| {
        !t.starts_with("ldx")
            && data::tables_with_copies(0, 8)
                .iter()
                .any(|m| m.table_id == t)
            || state.config.extra_tables.iter().any(|(id, _)| id == t)
            || (t == crate::files::FILES_TABLE_ID && !state.config.files.is_empty())
    };
    table
        .filter(|t| !known(t))
        .map(|_| feishu_error(StatusCode::OK, 1254041, "TableIdNotFound"))
}
