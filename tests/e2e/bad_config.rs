//! Bad configs and input files: a config_error naming the field or file, exit 1, no records
//! and no request sent.

use crate::harness::{Files, mock, run};
use mock_feishu::MockConfig;
use serde_json::{Value, json};

fn assert_rejected(args: &[&str], needle: &str) {
    let done = run(args);
    done.assert_failed("config_error", needle);
    assert!(done.records().is_empty());
    assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
}

#[test]
fn each_bad_field_is_named() {
    let mock = mock(MockConfig::with_records(3));
    let good = mock.connector_config(100);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("app_id", Value::Null, "config field `app_id` is required"),
        (
            "app_secret",
            json!(42),
            "config field `app_secret` must be a string",
        ),
        (
            "app_token",
            json!(""),
            "config field `app_token` is required (or `base_url`, a link to the Base)",
        ),
        (
            "table_id",
            json!(["tbl"]),
            "config field `table_id` must be a string",
        ),
        (
            "page_size",
            json!(0),
            "config field `page_size` must be an integer from 1 to 500",
        ),
        (
            "page_size",
            json!(501),
            "config field `page_size` must be an integer from 1 to 500",
        ),
        (
            "page_size",
            json!("100"),
            "config field `page_size` must be an integer",
        ),
        (
            "lark_host",
            json!("ftp://open.feishu.cn"),
            "config field `lark_host` must be an http(s) URL",
        ),
        (
            "lark_host",
            json!("open.feishu.cn"),
            "config field `lark_host` must be an http(s) URL",
        ),
    ];
    for (field, value, needle) in cases {
        let mut config = good.clone();
        if value.is_null() {
            config.as_object_mut().map(|o| o.remove(field));
        } else {
            config[field] = value;
        }
        let files = Files::new();
        let path = files.json("config.json", &config);
        assert_rejected(&["read", "--config", &path], needle);
    }
    assert!(mock.requests().is_empty());
}

#[test]
fn a_lark_link_with_the_feishu_host_is_named_before_any_request() {
    let mock = mock(MockConfig::with_records(3));
    let mut config = mock.connector_config(100);
    let object = config.as_object_mut().expect("object");
    object.remove("app_token");
    object.remove("lark_host");
    config["base_url"] =
        json!("https://acme.sg.larksuite.com/base/bascnMockBase0001?table=tblMockTable0001");
    let files = Files::new();
    let path = files.json("config.json", &config);
    assert_rejected(
        &["read", "--config", &path],
        "config field `base_url` is a Lark link, but `lark_host` is https://open.feishu.cn (the default), a Feishu host: set `lark_host` to https://open.larksuite.com",
    );
    assert!(mock.requests().is_empty());
}

#[test]
fn unreadable_or_invalid_files_are_named() {
    let files = Files::new();
    let not_json = files.text("config.json", "{ app_id: nope");
    assert_rejected(
        &["read", "--config", &not_json],
        "--config is not valid JSON",
    );
    assert_rejected(
        &["read", "--config", "/nonexistent/config.json"],
        "cannot read --config file /nonexistent/config.json",
    );
    let array = files.text("array.json", "[]");
    assert_rejected(
        &["discover", "--config", &array],
        "config must be a JSON object",
    );
}

#[test]
fn bad_flags_exit_2_with_usage() {
    let bad_host = run(&[
        "read",
        "--config",
        "c.json",
        "--allow-host",
        "open.feishu.cn",
    ]);
    assert_eq!(bad_host.code, 2);
    assert!(
        bad_host
            .stderr
            .contains("invalid --allow-host \"open.feishu.cn\"")
            && bad_host.stderr.contains("needs a scheme"),
        "{}",
        bad_host.stderr
    );
    let no_config = run(&["read"]);
    assert_eq!(no_config.code, 2);
    assert!(
        no_config.stderr.contains("--config"),
        "{}",
        no_config.stderr
    );
}
