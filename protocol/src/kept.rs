//! Secrets the host keeps: config fields the component's spec marks `"x-host-secret": true`
//! reach the component as opaque placeholders (`host-secret-` and 32 random hex digits, new
//! each run); the host puts the real value back only into the headers and body of requests
//! to granted hosts (its sandbox refuses every other request first), never into a URL, and
//! never into what comes back. The component never holds the secret; a placeholder it prints
//! is harmless. Every Rust host (host-runner, the edge build) keeps them with this module.

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

    /// Whether no field is kept.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// `bytes` with every placeholder replaced by its real value; None when none is there.
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

    /// `text` with every placeholder replaced by its real value; None when none is there.
    pub fn put_back_in_text(&self, text: &str) -> Option<String> {
        let bytes = self.put_back(text.as_bytes())?;
        // Whole UTF-8 strings replaced by whole UTF-8 strings stay UTF-8.
        String::from_utf8(bytes).ok()
    }
}

/// The top-level config fields `spec` marks `x-host-secret`.
pub fn host_secret_fields(spec: &Value) -> Vec<String> {
    marked(spec, "x-host-secret")
        .map(|(name, _)| name.clone())
        .collect()
}

/// The spec's config properties whose schema sets `marker` to true: name and schema.
pub fn marked<'a>(
    spec: &'a Value,
    marker: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Value)> {
    spec.pointer("/connectionSpecification/properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(move |(_, schema)| schema.get(marker) == Some(&Value::Bool(true)))
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
    fn marked_fields_become_fresh_placeholders_and_come_back_in_bytes() {
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
        let body = format!(r#"{{"a":"{placeholder}","b":"{placeholder}"}}"#);
        assert_eq!(
            kept.put_back_in_text(&body).as_deref(),
            Some(r#"{"a":"real-secret","b":"real-secret"}"#)
        );
        assert_eq!(kept.put_back(b"nothing here"), None);
    }
}
