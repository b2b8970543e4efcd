//! `read` with the configured catalogs and states real clients send.

use crate::harness::{Files, assert_exact_records, mock, run, searches};
use mock_feishu::MockConfig;
use serde_json::json;

fn catalog(name: &str, sync_mode: &str) -> serde_json::Value {
    json!({"streams": [{
        "stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
        "sync_mode": sync_mode, "destination_sync_mode": "overwrite",
        "generation_id": 3, "minimum_generation_id": 3, "sync_id": 77
    }]})
}

#[test]
fn client_catalog_with_extra_fields_and_empty_state_reads_all() {
    let mock = mock(MockConfig::with_records(7));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(3));
    let cat = files.json("catalog.json", &catalog("records", "full_refresh"));
    let state = files.text("state.json", "[]");
    let run = run(&[
        "read",
        "--config",
        &config,
        "--catalog",
        &cat,
        "--state",
        &state,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, 7);
}

#[test]
fn unknown_stream_in_catalog_is_a_config_error() {
    let mock = mock(MockConfig::with_records(4));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(3));
    let cat = files.json("catalog.json", &catalog("orders", "full_refresh"));
    let run = run(&["read", "--config", &config, "--catalog", &cat]);
    run.assert_failed(
        "config_error",
        "selects stream `orders`, which this source does not offer",
    );
    assert_eq!(run.trace_error()["stream_descriptor"]["name"], "orders");
    assert_eq!(searches(&mock), 0, "nothing is read");
}

#[test]
fn doubtful_catalogs_are_config_errors() {
    let mock = mock(MockConfig::with_records(4));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(3));
    let twice = json!({"streams": [
        {"stream": {"name": "records"}, "sync_mode": "full_refresh"},
        {"stream": {"name": "records"}, "sync_mode": "incremental"}
    ]});
    let not_a_string = json!({"streams": [
        {"stream": {"name": "records"}, "sync_mode": ["incremental"]}
    ]});
    for (catalog, needle) in [
        (twice, "lists stream `records` twice"),
        (not_a_string, "has sync_mode [\"incremental\"]"),
    ] {
        let cat = files.json("catalog.json", &catalog);
        let run = run(&["read", "--config", &config, "--catalog", &cat]);
        run.assert_failed("config_error", needle);
        assert!(run.records().is_empty());
    }
    assert!(mock.requests().is_empty());
}

#[test]
fn state_printed_by_an_earlier_read_is_accepted() {
    let mock = mock(MockConfig::with_records(4));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(3));
    let first = run(&["read", "--config", &config]);
    let states: Vec<serde_json::Value> = first
        .of_type("STATE")
        .into_iter()
        .map(|m| m["state"].clone())
        .collect();
    let state = files.json("state.json", &json!(states));
    let second = run(&["read", "--config", &config, "--state", &state]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_exact_records(&second, 4);
    let bad = files.text("bad.json", "42");
    let third = run(&["read", "--config", &config, "--state", &bad]);
    assert_eq!(third.code, 4, "a config error");
    assert_eq!(third.trace_error()["failure_type"], "config_error");
}
