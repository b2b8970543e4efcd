//! Which hosts a run may reach: the operator's grants, derived from the config and the
//! settings (never from the component's defaults), and their log lines.

use crate::Settings;
use crate::run::output::{SharedOutput, lock};
use crate::sandbox::hosts::{AllowList, GrantSource, HostPattern, Origin};
use protocol::Level;
use serde_json::Value;

/// The operator's grants: the values of the config fields the spec marks `x-outbound-host`
/// that the config sets (unless `--no-config-hosts`), and every `--allow-host`. A spec's
/// default is never granted; such defaults come back as proposals, named when refused.
pub fn allow_list(
    settings: &Settings,
    spec: &Value,
    config_json: &Value,
) -> (AllowList, Vec<(String, Origin)>) {
    let mut list = AllowList::default();
    let mut proposed = Vec::new();
    for (field, default) in host_fields(spec) {
        match config_json.get(&field).and_then(Value::as_str) {
            Some(url) if settings.allow_config_hosts => {
                if let Some(origin) = Origin::parse(url) {
                    list.push(HostPattern::exact(&origin), GrantSource::ConfigField(field));
                }
            }
            Some(_) => {}
            None => proposed.extend(default.and_then(|d| Origin::parse(&d)).map(|o| (field, o))),
        }
    }
    for pattern in &settings.allow_hosts {
        list.push(pattern.clone(), GrantSource::AllowHostFlag);
    }
    (list, proposed)
}

/// A member of the spec's config schema (`connectionSpecification`), such as a declaration.
pub(crate) fn schema_member<'a>(spec: &'a Value, key: &str) -> Option<&'a Value> {
    spec.get("connectionSpecification")?.get(key)
}

pub(crate) use protocol::kept::marked;

/// The spec's properties marked `x-outbound-host`, with their defaults.
pub fn host_fields(spec: &Value) -> Vec<(String, Option<String>)> {
    marked(spec, "x-outbound-host")
        .map(|(name, schema)| {
            let default = schema.get("default").and_then(Value::as_str);
            (name.clone(), default.map(str::to_string))
        })
        .collect()
}

/// Logs the effective allowlist, each grant with its source, and warns of clear-text grants.
pub fn log_grants(output: &SharedOutput, allowed: &AllowList, allow_hosts_setting: &str) {
    let mut out = lock(output);
    if allowed.grants().is_empty() {
        out.note(
            Level::Info,
            &format!(
                "outgoing HTTP allowed to: nothing (set the host in the config or pass \
                 {allow_hosts_setting})"
            ),
        );
    }
    for grant in allowed.grants() {
        out.note(
            Level::Info,
            &format!(
                "outgoing HTTP allowed to {} (from {})",
                grant.pattern, grant.source
            ),
        );
        if grant.pattern.allows_cleartext_off_host() {
            out.note(
                Level::Warn,
                &format!(
                    "{} allows plain http:// to hosts other than this machine: the app secret \
                     and the data would cross the network unencrypted; use https://",
                    grant.pattern
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_config(allow_config_hosts: bool, extra: &[&str]) -> Settings {
        Settings {
            allow_hosts: extra
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
            allow_config_hosts,
            ..Settings::default()
        }
    }

    #[test]
    fn only_the_operator_grants_hosts() {
        let spec = json!({"connectionSpecification": {"properties": {
            "lark_host": {"type": "string", "default": "https://open.feishu.cn", "x-outbound-host": true},
            "sneaky": {"type": "string", "default": "http://127.0.0.1:9", "x-outbound-host": true},
            "other": {"type": "string"}
        }}});
        let grants = |config: &Settings, cfg: Value| {
            let (list, proposed) = allow_list(config, &spec, &cfg);
            let grants: Vec<String> = list
                .grants()
                .iter()
                .map(|g| format!("{} ({})", g.pattern, g.source))
                .collect();
            let proposed: Vec<String> = proposed.iter().map(|(f, o)| format!("{f}={o}")).collect();
            (grants, proposed)
        };
        let plain = run_config(true, &[]);
        assert_eq!(
            grants(&plain, json!({})),
            (
                vec![],
                vec![
                    "lark_host=https://open.feishu.cn".to_string(),
                    "sneaky=http://127.0.0.1:9".to_string()
                ]
            )
        );
        let (g, _) = grants(
            &plain,
            json!({"lark_host": "http://127.0.0.1:8080/", "other": "http://evil"}),
        );
        assert_eq!(g, vec!["http://127.0.0.1:8080 (config field lark_host)"]);
        assert!(
            grants(&plain, json!({"lark_host": "not a url"}))
                .0
                .is_empty()
        );
        assert!(
            grants(&plain, json!({"lark_host": "https://u:p@evil.com"}))
                .0
                .is_empty()
        );
        let flags = run_config(false, &["https://*.larksuite.com"]);
        assert_eq!(
            grants(&flags, json!({"lark_host": "http://127.0.0.1:8080"})).0,
            vec!["https://*.larksuite.com (--allow-host)"]
        );
    }
}
