//! Attachment files: the drive download endpoint over every attachment the mock's records
//! name, and the files table ([`FILES_TABLE_ID`], listed when [`MockConfig::files`] is not
//! empty) with one file of each configured size. File bodies are generated from the file
//! token, byte by byte, never stored (a 200 MB file costs nothing), so tests compute the same
//! bytes with [`file_bytes`]. The endpoint honours `Range: bytes=N-`, requires the `extra`
//! parameter on the files table when [`MockConfig::files_advanced`] is set (403 otherwise),
//! keeps to [`MockConfig::download_qps`] (429 beyond it) and injects [`DownloadFault`]s by
//! download number.

use super::*;
use futures_util::stream;

/// The files table: one record per configured size, each with one attachment.
pub const FILES_TABLE_ID: &str = "tblFilesTable001";
pub const FILES_TABLE_NAME: &str = "文件 Files";
/// The files table's attachment field.
pub const FILES_FIELD: &str = "附件";
/// Chunk of a generated body.
const CHUNK: u64 = 64 << 10;

/// What a download request may meet instead of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadFault {
    /// Half of the body, then the connection is cut.
    Cut,
    /// HTTP 500 with a Feishu error.
    ServerError,
    /// HTTP 302 to this URL.
    Redirect(String),
    /// HTTP 302 to the mock's own CDN path for the file (no token needed), under this host
    /// name and the mock's port (`localhost`: another origin than `127.0.0.1`).
    RedirectToCdn(String),
    /// The answer waits this long.
    Slow(std::time::Duration),
}

/// A record added to the files table since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// With a new file of this many bytes.
    File(u64),
    /// With the file of record `i` (its token).
    CopyOf(usize),
}

/// The file token of file `i` of the files table.
pub fn file_token(i: usize) -> String {
    format!("boxcnFile{i:06}")
}

/// The `extra` a download of the files table needs under advanced permissions.
pub fn advanced_extra() -> String {
    json!({"bitablePerm": {"tableId": FILES_TABLE_ID, "rev": 1}}).to_string()
}

/// Bytes `offset..offset + len` of the file named `token` (the same every time).
pub fn file_bytes(token: &str, offset: u64, len: u64) -> Vec<u8> {
    let seed = token.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (offset..offset + len)
        .map(|p| (splitmix(seed ^ (p / 8)) >> ((p % 8) * 8)) as u8)
        .collect()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Record `i` of the files table, holding file `file` of `size` bytes.
pub fn file_record(i: usize, file: usize, size: u64, advanced: bool) -> Value {
    let token = file_token(file);
    let mut url = format!("https://open.feishu.cn/open-apis/drive/v1/medias/{token}/download");
    if advanced {
        url.push_str("?extra=");
        url.push_str(&encode(&advanced_extra()));
    }
    json!({
        "record_id": format!("recFile{i:06}"),
        "fields": {
            "名称": [{"type": "text", "text": format!("文件 {i}")}],
            FILES_FIELD: [{
                "file_token": token,
                "name": format!("文件 {file}.bin"),
                "size": size,
                "type": "application/octet-stream",
                "url": url,
                "tmp_url": format!("https://open.feishu.cn/open-apis/drive/v1/medias/batch_get_tmp_download_url?file_tokens={token}")
            }]
        }
    })
}

/// The files table's fields.
pub fn file_fields() -> Vec<Value> {
    vec![
        json!({"field_id": "fldFileName001", "field_name": "名称", "type": 1, "ui_type": "Text",
               "is_primary": true, "is_hidden": false, "property": null, "description": ""}),
        json!({"field_id": "fldFileAttach01", "field_name": FILES_FIELD, "type": 17,
               "ui_type": "Attachment", "is_primary": false, "is_hidden": false,
               "property": null, "description": ""}),
    ]
}

fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl AppState {
    /// The files table's records: the file each holds (by index) and its size.
    pub(crate) fn file_rows(&self) -> Vec<(usize, u64)> {
        let mut rows: Vec<(usize, u64)> = self.config.files.iter().copied().enumerate().collect();
        for added in self.shared().files_added.clone() {
            let row = match added {
                Added::File(size) => (rows.len(), size),
                Added::CopyOf(i) => rows[i],
            };
            rows.push(row);
        }
        rows
    }

    /// The size of the file named `token`, and whether it is in the files table.
    fn file_size(&self, token: &str) -> Option<(u64, bool)> {
        if let Some(i) = token.strip_prefix("boxcnFile") {
            let i: usize = i.parse().ok()?;
            return self.file_rows().get(i).map(|&(_, size)| (size, true));
        }
        if token == "boxcnAll" {
            return Some((2048, false));
        }
        let index = usize::from_str_radix(token.strip_prefix("boxcn")?, 16).ok()?;
        let count = self.records.len() + self.shared().added;
        (index < count).then_some((1024 + 7 * index as u64, false))
    }
}

/// `POST …/records/search` of the files table: every record, paged.
pub(crate) fn files_search(state: &AppState, q: &HashMap<String, String>) -> Response {
    let rows = state.file_rows();
    let page_size: usize = q
        .get("page_size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .clamp(1, 500);
    let Some(offset) = list_offset(q) else {
        return forged_page_token();
    };
    let end = (offset + page_size).min(rows.len());
    let advanced = state.config.files_advanced;
    let items: Vec<Value> = (offset.min(end)..end)
        .map(|i| file_record(i, rows[i].0, rows[i].1, advanced))
        .collect();
    let has_more = end < rows.len();
    ok(
        json!({"has_more": has_more, "page_token": if has_more { page_token(end) } else { String::new() },
              "total": rows.len(), "items": items}),
    )
}

/// `GET /open-apis/drive/v1/medias/{token}/download`.
pub(crate) async fn download(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/open-apis/drive/v1/medias/{token}/download");
    if let Some(r) = admit(&state, peer, "GET", &path, &q, &headers, "") {
        return r;
    }
    if let Some(r) = over_download_quota(&state) {
        return r;
    }
    let fault = {
        let mut shared = state.shared();
        shared.downloads += 1;
        state.config.download_faults.get(&shared.downloads).cloned()
    };
    let Some((size, in_files_table)) = state.file_size(&token) else {
        return feishu_error(StatusCode::NOT_FOUND, 1061003, "not found");
    };
    if in_files_table && state.config.files_advanced && q.get("extra") != Some(&advanced_extra()) {
        return feishu_error(StatusCode::FORBIDDEN, 1061004, "forbidden: no permission");
    }
    match fault {
        Some(DownloadFault::ServerError) => {
            return feishu_error(StatusCode::INTERNAL_SERVER_ERROR, 1061045, "internal error");
        }
        Some(DownloadFault::Redirect(to)) => {
            return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
        }
        Some(DownloadFault::RedirectToCdn(host)) => {
            let own = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let port = own
                .and_then(|h| h.rsplit_once(':'))
                .map_or("80", |(_, p)| p);
            let to = format!("http://{host}:{port}/__mock/cdn/{token}");
            return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
        }
        Some(DownloadFault::Slow(wait)) => tokio::time::sleep(wait).await,
        _ => {}
    }
    let ranges = !state.config.downloads_ignore_range;
    body_response(
        token,
        size,
        ranges.then_some(&headers),
        fault == Some(DownloadFault::Cut),
    )
}

/// `GET /__mock/cdn/{token}`: a file as a CDN would serve it after a redirect (no token).
pub(crate) async fn cdn(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/__mock/cdn/{token}");
    record_request(&state, peer, "GET", &path, &HashMap::new(), &headers, "");
    match state.file_size(&token) {
        Some((size, _)) => body_response(token, size, Some(&headers), false),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The file named `token` (`size` bytes) from the `Range` start the headers ask (None: the
/// whole file, whatever they ask), generated a chunk at a time; `cut` drops the connection
/// half way.
fn body_response(token: String, size: u64, headers: Option<&HeaderMap>, cut: bool) -> Response {
    let from = headers
        .and_then(|h| h.get(header::RANGE))
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n <= size);
    let start = from.unwrap_or(0);
    let length = size - start;
    let sent = if cut { length / 2 } else { length };
    let cut = sent < length;
    let chunks = stream::unfold(start, move |at| {
        let token = token.clone();
        async move {
            let end = (at + CHUNK).min(start + sent);
            if at < end {
                Some((Ok(Bytes::from(file_bytes(&token, at, end - at))), end))
            } else if cut && at < start + length {
                // Let what was sent reach the client before the connection drops.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let error = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut");
                Some((Err(error), start + length))
            } else {
                None
            }
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, length.into());
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(from) = from {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let range = format!("bytes {from}-{}/{size}", size.saturating_sub(1));
        if let Ok(value) = header::HeaderValue::from_str(&range) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
    }
    response
}

/// A 429 when downloads of the last second reached [`MockConfig::download_qps`].
fn over_download_quota(state: &AppState) -> Option<Response> {
    let qps = state.config.download_qps?;
    let now = Instant::now();
    let mut shared = state.shared();
    let second = std::time::Duration::from_secs(1);
    while shared
        .recent_downloads
        .front()
        .is_some_and(|t| now.duration_since(*t) >= second)
    {
        shared.recent_downloads.pop_front();
    }
    if shared.recent_downloads.len() >= qps {
        shared.download_violations += 1;
        return Some(fault_response(&Fault::RateLimited { reset_secs: 1 }));
    }
    shared.recent_downloads.push_back(now);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_bytes_are_the_same_from_any_offset() {
        let whole = file_bytes("boxcnFile000001", 0, 100);
        assert_eq!(file_bytes("boxcnFile000001", 37, 20), whole[37..57]);
        assert_ne!(file_bytes("boxcnFile000002", 0, 100), whole);
    }
}
