//! Records search: page tokens, the CreatedTime / ModifiedTime narrowing and sort Feishu
//! supports, and each page's body (rendered records cached).

use super::*;

pub(crate) fn page_token(offset: usize) -> String {
    format!(
        "pgt{:x}x{:x}",
        offset,
        offset.wrapping_mul(2654435761) & 0xffff
    )
}

pub(crate) fn parse_page_token(token: &str) -> Option<usize> {
    let (offset, check) = token.strip_prefix("pgt")?.split_once('x')?;
    let offset = usize::from_str_radix(offset, 16).ok()?;
    (page_token(offset) == format!("pgt{offset:x}x{check}")).then_some(offset)
}

/// The offset a list request's `page_token` stands for (0 without one); None for a token the
/// mock never gave.
pub(crate) fn list_offset(q: &HashMap<String, String>) -> Option<usize> {
    q.get("page_token").map_or(Some(0), |t| parse_page_token(t))
}

/// Feishu's answer to a page token it never gave.
pub(crate) fn forged_page_token() -> Response {
    feishu_error(StatusCode::OK, 1254002, "Fail")
}

pub(crate) async fn search(
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

pub(crate) async fn search_page(
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
    if let Some(r) = authorize(&state, &headers).or_else(|| check_ids(&state, &app, Some(&table))) {
        return r;
    }
    if table == crate::files::FILES_TABLE_ID {
        return crate::files::files_search(&state, &q);
    }
    if let Some(Fault::Answer(answer)) = fault {
        // Whatever was asked (a page token of the answer's own making, say).
        return (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            answer,
        )
            .into_response();
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
    let (modified, added, deleted, renamed) = {
        let shared = state.shared();
        let deleted = shared.deleted.clone();
        (
            shared.modified.clone(),
            shared.added,
            deleted,
            shared.renamed.clone(),
        )
    };
    let projection: Option<Vec<String>> = request
        .get("field_names")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .filter(|names: &Vec<String>| {
            !(names.is_empty() && state.config.empty_field_names_mean_all)
        });
    let reshaped = projection.is_some() || (main && !renamed.is_empty());
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
                    .filter(|i| !deleted.contains(i))
                    .filter(|&i| narrowing.keeps(modified_of(i), data::created_at(i)))
                    .collect();
                match narrowing.order {
                    Order::Stored | Order::CreatedAsc => {}
                    Order::ModifiedAsc => order.sort_by_key(|&i| (modified_of(i), i)),
                    Order::CreatedDesc => order.reverse(),
                }
                (order.len(), Box::new(move |p| order[p]))
            }
            (None, _) if main && deleted.is_empty() => (n, Box::new(|p| p)),
            (None, _) if main => {
                let order: Vec<usize> = (0..n).filter(|i| !deleted.contains(i)).collect();
                (order.len(), Box::new(move |p| order[p]))
            }
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
        if reshaped {
            let record = if main {
                data::record_modified_at(index, automatic, modified_of(index))
            } else {
                data::table_record(&table, index, automatic)
            };
            let renames: &[(String, String)] = if main { &renamed } else { &[] };
            return reshape(record, renames, projection.as_deref())
                .to_string()
                .into();
        }
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
        Some(Fault::Code { status, code, msg }) => {
            // `{bearer}` in the message stands for the token the request carried.
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            let msg = msg.replace("{bearer}", bearer);
            fault_response(&Fault::Code { status, code, msg })
        }
        Some(
            f @ (Fault::RateLimited { .. }
            | Fault::TooManyRequests
            | Fault::GatewayTimeout
            | Fault::DataNotReady
            | Fault::ServerErrorHtml),
        ) => fault_response(&f),
        _ => (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            body,
        )
            .into_response(),
    }
}

/// A record with renamed fields under their new names and only the `projection`'s fields.
pub(crate) fn reshape(
    mut record: Value,
    renamed: &[(String, String)],
    projection: Option<&[String]>,
) -> Value {
    if let Some(fields) = record.get_mut("fields").and_then(Value::as_object_mut) {
        for (old, new) in renamed {
            if let Some(value) = fields.remove(old) {
                fields.insert(new.clone(), value);
            }
        }
        if let Some(keep) = projection {
            fields.retain(|name, _| keep.contains(name));
        }
    }
    record
}

#[derive(Deserialize)]
pub(crate) struct BatchGet {
    record_ids: Vec<String>,
    #[serde(default)]
    automatic_fields: bool,
}

/// `records/batch_get` of the main table: the records found, and the ids that are not
/// (deleted, or never there) in `absent_record_ids`.
pub(crate) async fn batch_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((app, table)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = format!("/open-apis/bitable/v1/apps/{app}/tables/{table}/records/batch_get");
    if let Some(r) = admit(&state, peer, "POST", &path, &q, &headers, &body)
        .or_else(|| check_ids(&state, &app, Some(&table)))
    {
        return r;
    }
    let Ok(request) = serde_json::from_str::<BatchGet>(&body) else {
        return feishu_error(StatusCode::BAD_REQUEST, 99992402, "field validation failed");
    };
    if request.record_ids.is_empty() || request.record_ids.len() > 100 {
        return feishu_error(StatusCode::BAD_REQUEST, 99992402, "record_ids: 1 to 100");
    }
    if let Some(answer) = &state.config.batch_get_answer {
        return ok(answer.clone());
    }
    let shared = state.shared();
    let n = state.records.len() + shared.added;
    let (mut records, mut absent) = (Vec::new(), Vec::new());
    for id in &request.record_ids {
        let index = data::record_index(id, n).filter(|i| !shared.deleted.contains(i));
        match index {
            Some(i) if table == data::TABLE_ID => {
                let record = data::record_modified_at(
                    i,
                    request.automatic_fields,
                    modified_at(&shared.modified, i),
                );
                records.push(reshape(record, &shared.renamed, None));
            }
            _ => absent.push(id.clone()),
        }
    }
    ok(json!({"records": records, "absent_record_ids": absent, "forbidden_record_ids": []}))
}

/// What a search's filter and sort ask of the main table: bounds on its ModifiedTime and
/// CreatedTime fields (each to the day, as Feishu's ExactDate works) and an order. Only what the
/// connector asks for is understood; anything else is refused.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Narrowing {
    modified_after: Option<i64>,
    created_after: Option<i64>,
    created_before: Option<i64>,
    order: Order,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    #[default]
    Stored,
    ModifiedAsc,
    CreatedAsc,
    CreatedDesc,
}

impl Narrowing {
    pub(crate) fn keeps(&self, modified: i64, created: i64) -> bool {
        self.modified_after.is_none_or(|t| modified > t)
            && self.created_after.is_none_or(|t| created > t)
            && self.created_before.is_none_or(|t| created < t)
    }
}

/// 00:00 of the day of `ms` in the Base's time zone (UTC+8 here): what ExactDate compares with.
pub(crate) fn day_start(ms: i64) -> i64 {
    const DAY: i64 = 86_400_000;
    const TZ: i64 = 8 * 3_600_000;
    (ms + TZ).div_euclid(DAY) * DAY - TZ
}

pub(crate) fn narrowing(request: &Value) -> Result<Option<Narrowing>, String> {
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
pub(crate) fn page_body<'a>(
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
    let (from, to) = match fault {
        Some(Fault::RepeatPreviousPage) => (offset.saturating_sub(page_size), offset.min(n)),
        _ => (offset.min(n), end),
    };
    for p in from..to {
        if p > from {
            body.push(',');
        }
        body.push_str(&render(p));
    }
    body.push_str("]}}");
    body
}

/// Records rendered once, on first use (with automatic fields, as the connector asks).
pub(crate) struct RecordCache {
    rendered: Vec<OnceLock<Box<str>>>,
}

impl RecordCache {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            rendered: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rendered.len()
    }

    pub(crate) fn get(&self, index: usize) -> &str {
        self.rendered[index].get_or_init(|| data::record(index, true).to_string().into_boxed_str())
    }
}
