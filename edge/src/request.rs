//! What a request asks for: the operation from the route, the inputs from the JSON body.

use serde_json::Value;

/// The protocol operation a route names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Spec,
    Check,
    Discover,
    Read,
}

/// The routes, as the 404 answer lists them.
pub const ROUTES: &str = "GET /spec, POST /check, POST /discover, POST /read";

/// Why a request cannot be served: the HTTP status and the message of its TRACE ERROR.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
}

fn reject(status: u16, message: impl Into<String>) -> Rejection {
    Rejection {
        status,
        message: message.into(),
    }
}

/// The operation of `method` and `path` (a query string is ignored).
pub fn route(method: &str, path: &str) -> Result<Operation, Rejection> {
    let path = path.split('?').next().unwrap_or_default();
    let (operation, wanted) = match path.trim_end_matches('/') {
        "/spec" => (Operation::Spec, "GET"),
        "/check" => (Operation::Check, "POST"),
        "/discover" => (Operation::Discover, "POST"),
        "/read" => (Operation::Read, "POST"),
        _ => {
            return Err(reject(
                404,
                format!("no such route {path}; routes: {ROUTES}"),
            ));
        }
    };
    match method == wanted {
        true => Ok(operation),
        false => Err(reject(405, format!("{path} takes {wanted}, not {method}"))),
    }
}

/// The inputs of check, discover and read, as the connector takes them (JSON texts).
#[derive(Debug, PartialEq, Eq)]
pub struct Inputs {
    pub config: String,
    pub catalog: Option<String>,
    pub state: Option<String>,
}

/// Parses `{"config": {...}, "catalog": {...}?, "state": [...]?}`. Errors never quote the body
/// (it holds the app secret).
pub fn inputs(body: &[u8]) -> Result<Inputs, Rejection> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        reject(
            400,
            format!(
                "the request body is not JSON ({} at line {} column {}): send \
                 {{\"config\": {{...}}, \"catalog\": {{...}}, \"state\": [...]}}",
                e.classify_name(),
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(mut body) = value else {
        return Err(reject(
            400,
            "the request body must be a JSON object with a `config` object",
        ));
    };
    let config = match body.remove("config") {
        Some(config @ Value::Object(_)) => config.to_string(),
        Some(_) => {
            return Err(reject(
                400,
                "`config` in the request body must be a JSON object",
            ));
        }
        None => {
            return Err(reject(
                400,
                "the request body lacks `config` (the connector's config object)",
            ));
        }
    };
    let optional = |value: Option<Value>| value.filter(|v| !v.is_null()).map(|v| v.to_string());
    Ok(Inputs {
        config,
        catalog: optional(body.remove("catalog")),
        state: optional(body.remove("state")),
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(route("GET", "/spec"), Ok(Operation::Spec));
        assert_eq!(route("POST", "/read?x=1"), Ok(Operation::Read));
        assert_eq!(route("GET", "/read").unwrap_err().status, 405);
        assert_eq!(route("POST", "/sync").unwrap_err().status, 404);
    }

    #[test]
    fn takes_config_catalog_and_state() {
        let parsed = inputs(br#"{"config": {"a": 1}, "state": [{"type": "STREAM"}]}"#).unwrap();
        assert_eq!(parsed.config, r#"{"a":1}"#);
        assert_eq!(parsed.catalog, None);
        assert_eq!(parsed.state.as_deref(), Some(r#"[{"type":"STREAM"}]"#));
    }

    #[test]
    fn bad_bodies_are_refused_without_echoing_them() {
        let e = inputs(br#"{"config": {"app_secret": "s3cret"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(!e.message.contains("s3cret"), "{}", e.message);
        assert!(e.message.contains("not JSON"), "{}", e.message);
        assert!(
            inputs(br#"{"catalog": {}}"#)
                .unwrap_err()
                .message
                .contains("lacks `config`")
        );
        assert!(
            inputs(br#"{"config": "x"}"#)
                .unwrap_err()
                .message
                .contains("must be a JSON object")
        );
    }
}
