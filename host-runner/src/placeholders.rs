//! Secrets the host keeps: config fields the component's spec marks `"x-host-secret": true`
//! reach the component as opaque placeholders (`host-secret-` and 32 random hex digits, new
//! each run); the host puts the real value back only into the headers and body of requests
//! to granted hosts (the sandbox refuses every other request first), never into a URL, and
//! never into what comes back. The component never holds the secret; a placeholder it prints
//! is harmless.

use bytes::Bytes;
use memchr::memmem;
use serde_json::Value;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Prefix of every placeholder.
pub const PREFIX: &str = "host-secret-";

/// The placeholders of one run and the values they stand for.
#[derive(Debug, Default)]
pub struct Placeholders {
    /// (placeholder, real value).
    pairs: Vec<(String, String)>,
}

impl Placeholders {
    /// Replaces the string value of every top-level config field `spec` marks
    /// `x-host-secret` with a fresh placeholder; returns the placeholders and the fields kept.
    pub fn keep(spec: &Value, config: &mut Value) -> (Self, Vec<String>) {
        let mut kept = Self::default();
        let mut fields = Vec::new();
        for field in host_secret_fields(spec) {
            if let Some(Value::String(real)) = config.get_mut(&field) {
                let placeholder = fresh();
                kept.pairs.push((placeholder.clone(), std::mem::take(real)));
                *real = placeholder;
                fields.push(field);
            }
        }
        (kept, fields)
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `bytes` with every placeholder replaced by its real value.
    pub fn put_back(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for (placeholder, real) in &self.pairs {
            let text = out.as_deref().unwrap_or(bytes);
            let finder = memmem::Finder::new(placeholder.as_bytes());
            if finder.find(text).is_none() {
                continue;
            }
            let mut next = Vec::with_capacity(text.len() + real.len());
            let mut at = 0;
            for found in finder.find_iter(text) {
                next.extend_from_slice(&text[at..found]);
                next.extend_from_slice(real.as_bytes());
                at = found + placeholder.len();
            }
            next.extend_from_slice(&text[at..]);
            out = Some(next);
        }
        out
    }

    /// A request's headers and body with the real values put back (the URL as it was).
    pub fn put_back_in_request(&self, parts: &mut http::request::Parts, body: Bytes) -> Bytes {
        if self.is_empty() {
            return body;
        }
        for value in parts.headers.values_mut() {
            if let Some(real) = self.put_back(value.as_bytes())
                && let Ok(real) = http::HeaderValue::from_bytes(&real)
            {
                *value = real;
            }
        }
        match self.put_back(&body) {
            Some(real) => {
                if parts.headers.contains_key(http::header::CONTENT_LENGTH) {
                    parts
                        .headers
                        .insert(http::header::CONTENT_LENGTH, real.len().into());
                }
                Bytes::from(real)
            }
            None => body,
        }
    }
}

/// The top-level config fields `spec` marks `x-host-secret`.
pub fn host_secret_fields(spec: &Value) -> Vec<String> {
    crate::grants::marked(spec, "x-host-secret")
        .map(|(name, _)| name.clone())
        .collect()
}

/// A new placeholder: the prefix and 128 bits from the OS-seeded hasher keys.
fn fresh() -> String {
    let word = || {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x9e37_79b9_7f4a_7c15);
        hasher.finish()
    };
    format!("{PREFIX}{:016x}{:016x}", word(), word())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marked_fields_become_placeholders_put_back_only_in_headers_and_body() {
        let spec = json!({"connectionSpecification": {"properties": {
            "app_secret": {"type": "string", "x-host-secret": true},
            "app_id": {"type": "string"},
        }}});
        let mut config = json!({"app_secret": "real-secret", "app_id": "cli_1"});
        let (kept, fields) = Placeholders::keep(&spec, &mut config);
        assert_eq!(fields, ["app_secret"]);
        let placeholder = config["app_secret"].as_str().unwrap().to_string();
        assert!(placeholder.starts_with(PREFIX) && placeholder.len() == PREFIX.len() + 32);
        assert_eq!(config["app_id"], "cli_1");
        let (again, _) = Placeholders::keep(&spec, &mut json!({"app_secret": "real-secret"}));
        assert_ne!(again.pairs[0].0, placeholder, "new each run");

        let request = http::Request::post(format!("https://h/p?s={placeholder}"))
            .header("x-key", placeholder.as_str())
            .header(http::header::CONTENT_LENGTH, 40)
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let body = Bytes::from(format!(r#"{{"app_secret":"{placeholder}"}}"#));
        let body = kept.put_back_in_request(&mut parts, body);
        assert_eq!(&body[..], br#"{"app_secret":"real-secret"}"#);
        assert_eq!(parts.headers["x-key"], "real-secret");
        assert_eq!(
            parts.headers[http::header::CONTENT_LENGTH],
            body.len().to_string()
        );
        assert!(
            parts.uri.to_string().contains(&placeholder),
            "the URL keeps it"
        );
    }
}
