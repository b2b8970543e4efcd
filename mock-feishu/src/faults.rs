//! Injected failures: the [`Fault`]s a test asks for, and the answer each one gives.

use super::*;

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
    /// HTTP 400 with code 1254607, "data not ready": Feishu's answer to concurrent reads of
    /// one table.
    DataNotReady,
    /// HTTP 500 with an HTML body.
    ServerErrorHtml,
    /// Headers and part of the body are sent, then the connection is cut.
    DropConnection,
    /// HTTP `status` with a Feishu error `code` and `msg` (on a records search, `{bearer}` in
    /// `msg` becomes the token the request carried, as a server echoing it would).
    Code { status: u16, code: i64, msg: String },
    /// HTTP 200 with a JSON body cut short.
    MalformedJson,
    /// The page answers with the page_token it was asked for, so paging would loop.
    RepeatPageToken,
    /// `has_more: true` with no page_token.
    MissingPageToken,
    /// The page answers with the previous page's records again (under the page_token of the
    /// page that should have come): its own records are not sent.
    RepeatPreviousPage,
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
    /// HTTP 200 with this body verbatim: for answers whose shape contradicts itself (an
    /// empty page whose `total` says otherwise, items without ids, odd cell values).
    Answer(String),
}

pub(crate) fn fault_response(fault: &Fault) -> Response {
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
        Fault::DataNotReady => feishu_error(StatusCode::BAD_REQUEST, 1254607, "data not ready"),
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
pub(crate) fn cut_short(body: String) -> Response {
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
