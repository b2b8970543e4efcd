//! Secret values a host masks in everything a run writes: the config values of fields the
//! component's spec marks `airbyte_secret`, and the bearer tokens the host saw the component
//! send. A server that echoes a secret in an error message, or a component that logs one,
//! gets `**********` printed instead, in messages, records, states and lines for people.

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::{Arc, RwLock};

/// What a secret is replaced with.
pub const MASK: &str = "**********";

/// Values shorter than this are not masked: masking a two-letter value would garble every
/// text that happens to hold those letters, and hides nothing worth hiding.
pub const MIN_SECRET_LEN: usize = 6;

/// The secrets of one run, shared between the host's parts (the egress hook adds the bearer
/// tokens it sees while the report masks).
#[derive(Debug, Clone, Default)]
pub struct Secrets(Arc<RwLock<Known>>);

/// The secrets and one matcher for all of them (a single pass over each text).
#[derive(Debug, Default)]
struct Known {
    all: Vec<String>,
    matcher: Option<AhoCorasick>,
}

impl Secrets {
    /// The values of the config's fields that `spec` (the component's spec, or its
    /// `connectionSpecification`) marks `airbyte_secret`, at any depth of its properties.
    pub fn of_config(spec: &Value, config: &Value) -> Self {
        let secrets = Self::default();
        secrets.add_config(spec, config);
        secrets
    }

    /// Adds the values of the config's fields that `spec` marks `airbyte_secret` (see
    /// [`Secrets::of_config`]).
    pub fn add_config(&self, spec: &Value, config: &Value) {
        let schema = spec.get("connectionSpecification").unwrap_or(spec);
        let mut marked = Vec::new();
        secret_fields(schema, &mut marked);
        for field in marked {
            collect_values(config, &field, self);
        }
    }

    /// Adds the token of an `Authorization: Bearer <token>` header value.
    pub fn add_bearer(&self, authorization: &str) {
        let token = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .unwrap_or(authorization);
        self.add(token.trim());
    }

    /// Adds a secret (and the form it takes inside a JSON string, when that differs).
    pub fn add(&self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        if self
            .0
            .read()
            .is_ok_and(|known| known.all.iter().any(|s| s == secret))
        {
            return;
        }
        let mut known = self.0.write().unwrap_or_else(|p| p.into_inner());
        let quoted = Value::String(secret.to_string()).to_string();
        let escaped = &quoted[1..quoted.len() - 1];
        for form in [secret, escaped] {
            if !known.all.iter().any(|s| s == form) {
                known.all.push(form.to_string());
            }
        }
        // Leftmost-longest: a secret holding another is masked whole.
        known.matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&known.all)
            .ok();
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.0.read().map_or(true, |known| known.all.is_empty())
    }

    /// `text` with every secret masked.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.scrub_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// `bytes` with every secret masked (a secret and the mask are both UTF-8, so valid UTF-8
    /// stays valid, and JSON stays JSON: the mask needs no escaping). One pass over `bytes`.
    pub fn scrub_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let known = self.0.read().unwrap_or_else(|p| p.into_inner());
        let Some(matcher) = &known.matcher else {
            return Cow::Borrowed(bytes);
        };
        if !matcher.is_match(bytes) {
            return Cow::Borrowed(bytes);
        }
        let masks = vec![MASK; known.all.len()];
        Cow::Owned(matcher.replace_all_bytes(bytes, &masks))
    }
}

/// Paths (property names from the top) of the fields `schema` marks `airbyte_secret`,
/// through nested objects and `oneOf` / `anyOf` alternatives.
fn secret_fields(schema: &Value, found: &mut Vec<Vec<String>>) {
    fn walk(schema: &Value, path: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
        if schema.get("airbyte_secret") == Some(&Value::Bool(true)) {
            found.push(path.clone());
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                path.push(name.clone());
                walk(property, path, found);
                path.pop();
            }
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            for alternative in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                walk(alternative, path, found);
            }
        }
    }
    walk(schema, &mut Vec::new(), found);
}

/// Adds the string values at `path` of `config` to `secrets`.
fn collect_values(config: &Value, path: &[String], secrets: &Secrets) {
    let mut value = config;
    for name in path {
        match value.get(name) {
            Some(inner) => value = inner,
            None => return,
        }
    }
    match value {
        Value::String(s) => secrets.add(s),
        Value::Number(n) => secrets.add(&n.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marked_config_values_are_masked_everywhere() {
        let spec = json!({"connectionSpecification": {"properties": {
            "app_secret": {"type": "string", "airbyte_secret": true},
            "app_id": {"type": "string"},
            "auth": {"oneOf": [{"properties": {"key": {"airbyte_secret": true}}}]},
        }}});
        let config = json!({"app_secret": "s3cr\"et-value", "app_id": "cli_visible",
                            "auth": {"key": "nested-key-1"}});
        let secrets = Secrets::of_config(&spec, &config);
        assert_eq!(
            secrets.scrub("msg: s3cr\"et-value and nested-key-1 from cli_visible"),
            "msg: ********** and ********** from cli_visible"
        );
        let record = br#"{"note":"s3cr\"et-value"}"#;
        assert_eq!(
            &*secrets.scrub_bytes(record),
            br#"{"note":"**********"}"#.as_slice()
        );
        assert!(matches!(secrets.scrub("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_values_and_added_tokens() {
        let secrets = Secrets::default();
        secrets.add("abc");
        assert!(secrets.is_empty(), "too short to mask");
        let shared = secrets.clone();
        shared.add("t-g1044ghJRUIJJ5ELPKN");
        assert_eq!(
            secrets.scrub("Bearer t-g1044ghJRUIJJ5ELPKN!"),
            "Bearer **********!"
        );
    }
}
