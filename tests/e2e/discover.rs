//! `discover`: one `records` stream keyed by record_id, after checking access.

use crate::harness::{Files, mock, run};
use mock_feishu::MockConfig;
use serde_json::json;

#[test]
fn discover_offers_the_records_stream() {
    let mock = mock(MockConfig::with_records(3));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(100));
    let run = run(&["discover", "--config", &config]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let catalogs = run.of_type("CATALOG");
    assert_eq!(catalogs.len(), 1);
    let streams = catalogs[0]["catalog"]["streams"]
        .as_array()
        .expect("streams");
    assert_eq!(streams.len(), 1);
    let stream = &streams[0];
    assert_eq!(stream["name"], "records");
    assert_eq!(
        stream["supported_sync_modes"],
        json!(["full_refresh", "incremental"])
    );
    assert_eq!(stream["source_defined_cursor"], true);
    assert_eq!(
        stream["default_cursor_field"],
        json!(["last_modified_time"])
    );
    assert_eq!(stream["source_defined_primary_key"], json!([["record_id"]]));
    let props = &stream["json_schema"]["properties"];
    for key in [
        "record_id",
        "fields",
        "created_time",
        "last_modified_time",
        "created_by",
        "last_modified_by",
    ] {
        assert!(props.get(key).is_some(), "{key}");
    }
}

#[test]
fn discover_with_bad_credentials_fails() {
    let mock = mock(MockConfig::with_records(3));
    let files = Files::new();
    let mut config = mock.connector_config(100);
    config["app_secret"] = json!("wrong");
    let path = files.json("config.json", &config);
    let run = run(&["discover", "--config", &path]);
    assert_eq!(run.code, 5, "an auth failure");
    assert_eq!(run.trace_error()["failure_type"], "config_error");
    assert!(run.of_type("CATALOG").is_empty());
}
