//! The probe: a tiny connector implementing the `source` world, for the contract tests that hold
//! every host to the same sandbox. It knows no upstream. Its spec marks `secret` as kept by the
//! host (`x-host-secret`) and `granted_url` as a host (`x-outbound-host`); `read` then shows
//! everything it was given (its config as a record, in a log line and in its state) and sends
//! the `secret` it sees in a header (`authorization`), a body and a URL query, first to
//! `granted_url` and then to `other_url`, which no grant covers. A test checks where the real
//! secret arrived: only in the header and body of the request to the granted host.
//!
//! Modules: this root (the world's exports) and `send` (one POST over WASI HTTP).

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod send;

/// The probe's spec.
pub fn spec() -> String {
    serde_json::json!({
        "documentationUrl": "https://example.invalid/probe",
        "connectionSpecification": {
            "type": "object",
            "required": ["secret", "granted_url", "other_url"],
            "properties": {
                "secret": {"type": "string", "airbyte_secret": true, "x-host-secret": true},
                "granted_url": {"type": "string", "x-outbound-host": true},
                "other_url": {"type": "string"}
            }
        }
    })
    .to_string()
}

/// The requests `read` sends for `config`: (url, authorization header, body), each carrying the
/// secret as the probe sees it (to a request recorder's `/probe`).
pub fn probes(config: &serde_json::Value) -> Vec<(String, String, String)> {
    let secret = config["secret"].as_str().unwrap_or_default();
    let body = serde_json::json!({"app_id": "probe", "app_secret": secret}).to_string();
    ["granted_url", "other_url"]
        .iter()
        .filter_map(|field| config[*field].as_str())
        .map(|base| {
            let url = format!("{}/probe?probe={secret}", base.trim_end_matches('/'));
            (url, format!("Bearer {secret}"), body.clone())
        })
        .collect()
}
