//! The error classifier: maps a Feishu response (status, headers, body) to what to do next.

use crate::error::{Category, ConnectorError, Upstream};
use crate::host::HttpResponse;
use serde::Deserialize;
use std::time::Duration;

/// What the client should do with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `code == 0` with a 2xx status: the body holds the data.
    Success,
    /// The tenant token was rejected: fetch a new one and retry once.
    RefreshToken,
    /// Rate-limited: wait (the upstream's hint when given) and retry.
    RateLimited {
        wait: Option<Duration>,
        reason: String,
        upstream: Upstream,
    },
    /// A passing failure: back off and retry, bounded.
    Retry { reason: String, upstream: Upstream },
    /// Give up.
    Fail(ConnectorError),
}

#[derive(Deserialize, Default)]
struct Envelope {
    code: Option<i64>,
    #[serde(default)]
    msg: String,
    error: Option<ErrorDetail>,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    log_id: Option<String>,
    logid: Option<String>,
}

const TOKEN_INVALID: [i64; 4] = [99991663, 99991664, 99991665, 99991671];
const RATE_LIMITED: [i64; 2] = [99991400, 1254290];
const RETRYABLE: [i64; 9] = [
    1254291, 1254607, 1254036, 1255001, 1255002, 1255003, 1255005, 1255040, 1254002,
];
const BAD_CREDENTIALS: [i64; 7] = [10003, 10014, 10015, 99991543, 99991661, 99991662, 99991673];
const NO_PERMISSION: [i64; 4] = [99991672, 99991676, 1254302, 91403];
const BAD_REQUEST: [i64; 6] = [1254000, 1254001, 1254011, 1254016, 1254018, 1254024];

/// Classifies a response to `what` (e.g. `POST /open-apis/...`, used in messages).
pub fn classify(response: &HttpResponse, what: &str) -> Verdict {
    if (200..300).contains(&response.status) && is_cut_short(&response.body) {
        return Verdict::Retry {
            reason: format!(
                "the answer to {what} was cut short (HTTP {}, {} bytes ending inside the JSON)",
                response.status,
                response.body.len()
            ),
            upstream: Upstream::default(),
        };
    }
    if (200..300).contains(&response.status) && starts_with_code_zero(&response.body) {
        return Verdict::Success;
    }
    let envelope: Option<Envelope> = serde_json::from_slice(&response.body).ok();
    let status = response.status;
    match envelope.as_ref().and_then(|e| e.code) {
        Some(0) if (200..300).contains(&status) => Verdict::Success,
        Some(code) if code != 0 => {
            let envelope = envelope.unwrap_or_default();
            classify_code(code, &envelope, response, what)
        }
        _ => classify_status(response, what, envelope.is_some()),
    }
}

/// A JSON object body that ends before its closing brace: cut in transit (a proxy, a dropped
/// connection with valid framing), so the request is worth repeating.
fn is_cut_short(body: &[u8]) -> bool {
    let text = body.trim_ascii();
    text.first() == Some(&b'{') && text.last() != Some(&b'}')
}

/// Fast path for the usual success body `{"code":0,...}`: when the first key is `code` and its
/// value is 0 the answer is a success, and the whole body need not be parsed twice.
fn starts_with_code_zero(body: &[u8]) -> bool {
    let text = body.trim_ascii_start();
    let Some(rest) = text.strip_prefix(b"{") else {
        return false;
    };
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b"\"code\"") else {
        return false;
    };
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b":") else {
        return false;
    };
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b"0") else {
        return false;
    };
    matches!(rest.trim_ascii_start().first(), Some(b',' | b'}'))
}

/// The hint of a request Feishu rejected as malformed (HTTP 400 and like codes).
pub const REJECTED_REQUEST_HINT: &str =
    "Feishu rejected the request; check `page_size`, `app_token` and `table_id`";

fn classify_code(code: i64, envelope: &Envelope, response: &HttpResponse, what: &str) -> Verdict {
    let log_id = envelope
        .error
        .as_ref()
        .and_then(|e| e.log_id.clone().or_else(|| e.logid.clone()))
        .or_else(|| response.header("x-tt-logid").map(str::to_string));
    let mut described = format!(
        "Feishu answered {what} with HTTP {} code {code} ({})",
        response.status,
        envelope.msg.trim()
    );
    if let Some(log_id) = &log_id {
        described.push_str(&format!(", log_id {log_id}"));
    }
    let upstream = Upstream {
        code: Some(code),
        request_id: log_id,
    };
    let fail = |category, hint: &str| {
        Verdict::Fail(
            ConnectorError::new(category, format!("{described}: {hint}"))
                .with_upstream(upstream.clone()),
        )
    };
    if TOKEN_INVALID.contains(&code) {
        Verdict::RefreshToken
    } else if RATE_LIMITED.contains(&code) {
        Verdict::RateLimited {
            wait: rate_limit_wait(response),
            reason: described,
            upstream,
        }
    } else if RETRYABLE.contains(&code) || response.status >= 500 && !is_known_final(code) {
        Verdict::Retry {
            reason: described,
            upstream,
        }
    } else if BAD_CREDENTIALS.contains(&code) {
        fail(Category::Auth, credentials_hint(code))
    } else if NO_PERMISSION.contains(&code) {
        fail(Category::Permission, permission_hint(code))
    } else if code == 91402
        || (1254003..=1254006).contains(&code)
        || (1254040..=1254045).contains(&code)
    {
        fail(Category::NotFound, "check `app_token` and `table_id`")
    } else if code == 1254030 {
        fail(
            Category::ResponseTooLarge,
            "the response was too large even for a page of one record",
        )
    } else if code == 99991403 {
        fail(
            Category::RateLimited(None),
            "the app's monthly API quota is used up",
        )
    } else if BAD_REQUEST.contains(&code) {
        fail(Category::Config, REJECTED_REQUEST_HINT)
    } else {
        fail(Category::BadResponse, "unexpected Feishu error")
    }
}

/// What to do about rejected credentials.
fn credentials_hint(code: i64) -> &'static str {
    match code {
        10003 | 99991543 => {
            "Feishu does not know this `app_id`: check it, and if the app was made in Lark's \
             developer console (open.larksuite.com) set `lark_host` to \
             https://open.larksuite.com (or the reverse for a Feishu app)"
        }
        10014 | 10015 => {
            "the `app_secret` does not match the `app_id`: copy it again from the app's \
             credentials page (it changes when reset)"
        }
        99991661 | 99991662 | 99991673 => {
            "the app is disabled or not yet published: enable it and publish a version in the \
             developer console"
        }
        _ => "check `app_id` and `app_secret` (and that the app is enabled)",
    }
}

/// What to do about a permission refusal.
fn permission_hint(code: i64) -> &'static str {
    match code {
        99991672 | 99991676 => {
            "the app lacks the bitable:app:readonly scope: add it under Permissions & Scopes in \
             the developer console and publish a new version"
        }
        _ => {
            "the app has no access to this Base: open the Base, \"...\" → \"Add document app\" \
             (or share the Base with the app); with advanced permissions on, give it manage rights"
        }
    }
}

fn is_known_final(code: i64) -> bool {
    BAD_CREDENTIALS.contains(&code) || NO_PERMISSION.contains(&code) || BAD_REQUEST.contains(&code)
}

fn classify_status(response: &HttpResponse, what: &str, is_json: bool) -> Verdict {
    let status = response.status;
    let body = if is_json {
        "a JSON body without a code"
    } else {
        "a body that is not JSON"
    };
    let described = format!("Feishu answered {what} with HTTP {status} and {body}");
    let upstream = Upstream {
        code: None,
        request_id: response.header("x-tt-logid").map(str::to_string),
    };
    match status {
        // The endpoint's own parser names what is wrong with the body.
        200..=299 => Verdict::Success,
        429 => Verdict::RateLimited {
            wait: rate_limit_wait(response),
            reason: described,
            upstream,
        },
        500..=599 => Verdict::Retry {
            reason: described,
            upstream,
        },
        401 => Verdict::Fail(ConnectorError::new(Category::Auth, described)),
        403 => Verdict::Fail(ConnectorError::new(Category::Permission, described)),
        404 => Verdict::Fail(ConnectorError::config(format!(
            "{described}: is `lark_host` a Feishu / Lark Open API host?"
        ))),
        _ => Verdict::Fail(ConnectorError::bad_response(described)),
    }
}

/// How long Feishu asked to wait: `x-ogw-ratelimit-reset` (seconds), else `Retry-After`.
pub fn rate_limit_wait(response: &HttpResponse) -> Option<Duration> {
    ["x-ogw-ratelimit-reset", "retry-after"]
        .iter()
        .find_map(|h| response.header(h)?.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn category(v: Verdict) -> Category {
        match v {
            Verdict::Fail(e) => e.category,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn success_needs_code_zero_and_2xx() {
        assert_eq!(
            classify(&resp(200, r#"{"code":0,"data":{}}"#, &[]), "x"),
            Verdict::Success
        );
        assert!(matches!(
            classify(&resp(503, r#"{"code":0}"#, &[]), "x"),
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn fast_path_only_takes_code_zero() {
        assert!(starts_with_code_zero(br#" { "code" : 0 , "data":{}}"#));
        assert!(starts_with_code_zero(br#"{"code":0}"#));
        assert!(!starts_with_code_zero(br#"{"code":01}"#));
        assert!(!starts_with_code_zero(br#"{"code":0.5}"#));
        assert!(!starts_with_code_zero(br#"{"code":99991663,"msg":"x"}"#));
        assert!(!starts_with_code_zero(br#"{"msg":"x","code":0}"#));
        assert_eq!(
            classify(&resp(200, r#"{"msg":"x","code":0}"#, &[]), "x"),
            Verdict::Success
        );
        assert!(matches!(
            classify(&resp(500, r#"{"code":0}"#, &[]), "x"),
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn code_beats_http_200() {
        let v = classify(
            &resp(
                200,
                r#"{"code":1254043,"msg":"RecordIdNotFound","error":{"log_id":"L1"}}"#,
                &[],
            ),
            "GET /p",
        );
        let Verdict::Fail(e) = v else { panic!() };
        assert_eq!(e.category, Category::NotFound);
        assert!(
            e.message
                .contains("code 1254043 (RecordIdNotFound), log_id L1"),
            "{}",
            e.message
        );
        assert_eq!(
            e.upstream,
            Upstream {
                code: Some(1254043),
                request_id: Some("L1".into())
            }
        );
    }

    #[test]
    fn log_id_falls_back_to_logid_then_header() {
        let v = classify(
            &resp(200, r#"{"code":1,"msg":"m","error":{"logid":"L2"}}"#, &[]),
            "x",
        );
        assert!(format!("{v:?}").contains("log_id L2"));
        let v = classify(
            &resp(200, r#"{"code":1,"msg":"m"}"#, &[("x-tt-logid", "L3")]),
            "x",
        );
        assert!(format!("{v:?}").contains("log_id L3"));
    }

    #[test]
    fn rate_limits_carry_the_wait() {
        let r = resp(
            429,
            r#"{"code":99991400,"msg":"request trigger frequency limit"}"#,
            &[("x-ogw-ratelimit-reset", "3")],
        );
        assert!(
            matches!(classify(&r, "x"), Verdict::RateLimited { wait: Some(d), .. } if d == Duration::from_secs(3))
        );
        let r = resp(200, r#"{"code":1254290,"msg":"TooManyRequest"}"#, &[]);
        assert!(matches!(
            classify(&r, "x"),
            Verdict::RateLimited { wait: None, .. }
        ));
        let r = resp(429, "slow down", &[("retry-after", "2")]);
        assert!(
            matches!(classify(&r, "x"), Verdict::RateLimited { wait: Some(d), .. } if d == Duration::from_secs(2))
        );
    }

    #[test]
    fn token_errors_ask_for_a_refresh() {
        for code in TOKEN_INVALID {
            let r = resp(
                200,
                &format!(r#"{{"code":{code},"msg":"invalid token"}}"#),
                &[],
            );
            assert_eq!(classify(&r, "x"), Verdict::RefreshToken);
        }
    }

    #[test]
    fn final_errors_have_categories() {
        assert_eq!(
            category(classify(
                &resp(200, r#"{"code":10014,"msg":"app secret invalid"}"#, &[]),
                "x"
            )),
            Category::Auth
        );
        assert_eq!(
            category(classify(
                &resp(400, r#"{"code":10014,"msg":"app secret invalid"}"#, &[]),
                "x"
            )),
            Category::Auth
        );
        assert_eq!(
            category(classify(
                &resp(403, r#"{"code":91403,"msg":"Forbidden"}"#, &[]),
                "x"
            )),
            Category::Permission
        );
        assert_eq!(
            category(classify(
                &resp(400, r#"{"code":1254011,"msg":"bad page_size"}"#, &[]),
                "x"
            )),
            Category::Config
        );
        assert_eq!(
            category(classify(&resp(404, "404 page not found", &[]), "x")),
            Category::Config
        );
        assert_eq!(
            category(classify(&resp(418, "teapot", &[]), "x")),
            Category::BadResponse
        );
        assert!(matches!(
            classify(&resp(200, r#"{"code":0,"data":{"items":[{"#, &[]), "x"),
            Verdict::Retry { reason, .. } if reason.contains("cut short")
        ));
    }

    #[test]
    fn server_errors_retry() {
        assert!(matches!(
            classify(&resp(504, r#"{"code":1255040,"msg":"timeout"}"#, &[]), "x"),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify(&resp(502, "<html>bad gateway</html>", &[]), "x"),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify(
                &resp(400, r#"{"code":1254607,"msg":"data not ready"}"#, &[]),
                "x"
            ),
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn common_failures_say_what_to_do() {
        let message = |status, body: &str| match classify(&resp(status, body, &[]), "x") {
            Verdict::Fail(e) => e.message,
            other => panic!("{other:?}"),
        };
        for (status, body, fix) in [
            (
                200,
                r#"{"code":10003,"msg":"invalid param"}"#,
                "set `lark_host` to https://open.larksuite.com",
            ),
            (
                400,
                r#"{"code":10014,"msg":"app secret invalid"}"#,
                "copy it again",
            ),
            (
                200,
                r#"{"code":99991672,"msg":"Access denied"}"#,
                "add it under Permissions & Scopes",
            ),
            (
                403,
                r#"{"code":91403,"msg":"Forbidden"}"#,
                "\"Add document app\"",
            ),
            (
                200,
                r#"{"code":1254041,"msg":"TableIdNotFound"}"#,
                "check `app_token` and `table_id`",
            ),
            (
                200,
                r#"{"code":99991403,"msg":"quota"}"#,
                "monthly API quota is used up",
            ),
        ] {
            let text = message(status, body);
            assert!(text.contains(fix), "{body}: {text}");
        }
    }
}
