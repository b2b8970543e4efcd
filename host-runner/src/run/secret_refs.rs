//! Secret references in a config: a string value that is exactly `${env:NAME}` or
//! `${file:PATH}` is replaced by the host with that environment variable's value, or that
//! file's contents (one trailing newline dropped), before the component sees the config, so
//! the config file need not hold the secret. A variable that is not set or a file that cannot
//! be read is a config error naming the field, before any request.

use serde_json::Value;

/// Replaces every secret reference in `config`; returns the values put in (to be masked in
/// all the run writes), or why a reference cannot be resolved.
pub fn resolve(config: &mut Value) -> Result<Vec<String>, String> {
    let mut resolved = Vec::new();
    walk(config, &mut String::new(), &mut resolved)?;
    Ok(resolved)
}

fn walk(value: &mut Value, path: &mut String, resolved: &mut Vec<String>) -> Result<(), String> {
    match value {
        Value::String(text) => {
            if let Some(secret) = reference(text, path)? {
                resolved.push(secret.clone());
                *text = secret;
            }
        }
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                let before = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                walk(member, path, resolved)?;
                path.truncate(before);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let before = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, resolved)?;
                path.truncate(before);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The value `text` refers to, when it is a secret reference.
fn reference(text: &str, field: &str) -> Result<Option<String>, String> {
    let Some(inner) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
        return Ok(None);
    };
    if let Some(name) = inner.strip_prefix("env:") {
        return std::env::var(name).map(Some).map_err(|_| {
            format!(
                "config field `{field}` refers to environment variable {name}, which is not set \
                 (or not valid UTF-8): set it, or put the value in the config"
            )
        });
    }
    if let Some(path) = inner.strip_prefix("file:") {
        let contents = std::fs::read_to_string(path).map_err(|e| {
            // Worded as every host words it (not the platform's error text).
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "it does not exist",
                std::io::ErrorKind::PermissionDenied => "permission denied",
                _ => "it is not a readable UTF-8 text file",
            };
            format!("config field `{field}` refers to file {path}, which cannot be read: {why}")
        })?;
        let value = contents.strip_suffix('\n').unwrap_or(&contents);
        return Ok(Some(value.strip_suffix('\r').unwrap_or(value).to_string()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_become_their_values_and_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.txt");
        std::fs::write(&file, "from-a-file\n").unwrap();
        // SAFETY: this test alone reads this variable.
        unsafe { std::env::set_var("SECRET_REFS_TEST_VAR", "from-the-env") };
        let mut config = json!({
            "app_secret": "${env:SECRET_REFS_TEST_VAR}",
            "nested": {"key": format!("${{file:{}}}", file.display())},
            "plain": "not ${env:A} a reference",
            "page_size": 5,
        });
        let resolved = resolve(&mut config).unwrap();
        assert_eq!(config["app_secret"], "from-the-env");
        assert_eq!(config["nested"]["key"], "from-a-file");
        assert_eq!(config["plain"], "not ${env:A} a reference");
        assert_eq!(resolved, ["from-the-env", "from-a-file"]);
    }

    #[test]
    fn a_missing_variable_or_file_names_the_field() {
        let mut config = json!({"app_secret": "${env:SECRET_REFS_SURELY_UNSET}"});
        let e = resolve(&mut config).unwrap_err();
        assert!(e.starts_with("config field `app_secret` refers to environment variable SECRET_REFS_SURELY_UNSET, which is not set"), "{e}");
        let mut config = json!({"a": [{"b": "${file:/nonexistent/secret}"}]});
        let e = resolve(&mut config).unwrap_err();
        assert!(
            e.starts_with("config field `a[0].b` refers to file /nonexistent/secret"),
            "{e}"
        );
    }
}
