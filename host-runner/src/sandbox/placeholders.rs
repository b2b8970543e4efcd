//! The HTTP side of the secrets the host keeps ([`Placeholders`], shared with the other Rust
//! hosts in the protocol crate): the real values go back into a granted request's headers and
//! body, the content length follows, the URL keeps the placeholder.

use bytes::Bytes;
pub use protocol::kept::{Placeholders, host_secret_fields};

/// A request's headers and body with the real values put back (the URL as it was).
pub fn put_back_in_request(
    kept: &Placeholders,
    parts: &mut http::request::Parts,
    body: Bytes,
) -> Bytes {
    if kept.is_empty() {
        return body;
    }
    for value in parts.headers.values_mut() {
        if let Some(real) = kept.put_back(value.as_bytes())
            && let Ok(real) = http::HeaderValue::from_bytes(&real)
        {
            *value = real;
        }
    }
    match kept.put_back(&body) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::kept::PREFIX;
    use serde_json::json;

    #[test]
    fn real_values_go_back_only_in_headers_and_body() {
        let spec = json!({"connectionSpecification": {"properties": {
            "app_secret": {"type": "string", "x-host-secret": true},
        }}});
        let mut config = json!({"app_secret": "real-secret"});
        let (kept, _) = Placeholders::keep(&spec, &mut config);
        let placeholder = config["app_secret"].as_str().unwrap().to_string();
        assert!(placeholder.starts_with(PREFIX));
        let request = http::Request::post(format!("https://h/p?s={placeholder}"))
            .header("x-key", placeholder.as_str())
            .header(http::header::CONTENT_LENGTH, 40)
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let body = Bytes::from(format!(r#"{{"app_secret":"{placeholder}"}}"#));
        let body = put_back_in_request(&kept, &mut parts, body);
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
