//! `check`: exactly one CONNECTION_STATUS; exit 0 whether it succeeds or fails.

use crate::harness::{Files, Run, mock, run};
use mock_feishu::MockConfig;
use serde_json::{Value, json};

fn check(config: &Value) -> Run {
    let files = Files::new();
    let path = files.json("config.json", config);
    run(&["check", "--config", &path])
}

/// The one CONNECTION_STATUS's status and message.
fn status(run: &Run) -> (String, String) {
    let statuses = run.of_type("CONNECTION_STATUS");
    assert_eq!(statuses.len(), 1, "{}", run.stdout);
    let s = &statuses[0]["connectionStatus"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&s["status"]), text(&s["message"]))
}

#[test]
fn good_credentials_succeed() {
    let mock = mock(MockConfig::with_records(5));
    let run = check(&mock.connector_config(100));
    assert_eq!(run.code, 0);
    assert_eq!(status(&run).0, "SUCCEEDED", "{}", run.stdout);
    let searches: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/search"))
        .collect();
    assert_eq!(searches.len(), 1);
    assert_eq!(searches[0].query["page_size"], "1");
}

#[test]
fn wrong_secret_fails_with_feishu_code() {
    let mock = mock(MockConfig::with_records(5));
    let mut config = mock.connector_config(100);
    config["app_secret"] = json!("not-the-secret");
    let run = check(&config);
    assert_eq!(run.code, 0);
    let (s, message) = status(&run);
    assert_eq!(s, "FAILED");
    assert!(
        message.contains("code 10014 (app secret invalid)") && message.contains("`app_secret`"),
        "{message}"
    );
    assert!(!run.stdout.contains("not-the-secret") && !run.stderr.contains("not-the-secret"));
}

#[test]
fn unknown_app_id_fails() {
    let mock = mock(MockConfig::with_records(5));
    let mut config = mock.connector_config(100);
    config["app_id"] = json!("cli_unknown");
    let (s, message) = status(&check(&config));
    assert_eq!(s, "FAILED");
    assert!(message.contains("code 10003"), "{message}");
}

#[test]
fn unknown_table_fails_naming_the_ids() {
    let mock = mock(MockConfig::with_records(5));
    let mut config = mock.connector_config(100);
    config["table_id"] = json!("tblNope");
    let (s, message) = status(&check(&config));
    assert_eq!(s, "FAILED");
    assert!(
        message.contains("code 1254041") && message.contains("`table_id`"),
        "{message}"
    );
}

#[test]
fn invalid_config_fails_without_requests() {
    let mock = mock(MockConfig::with_records(5));
    let mut config = mock.connector_config(100);
    config["page_size"] = json!(0);
    let (s, message) = status(&check(&config));
    assert_eq!(s, "FAILED");
    assert!(message.contains("`page_size`"), "{message}");
    assert!(mock.requests().is_empty());
}
