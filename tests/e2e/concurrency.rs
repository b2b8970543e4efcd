//! Streams read concurrently under one shared rate limiter: each stream's output as a
//! sequential read gives it, the mock's quota never exceeded by us, and a 429 with a reset
//! pausing every instance.

use crate::harness::{Files, Run, mock, run};
use mock_feishu::{Fault, MockConfig, MockFeishu};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A Base of the main table and three copies (plus the mock's small tables).
fn base(records: usize) -> MockConfig {
    MockConfig {
        copies: 3,
        ..MockConfig::with_records(records)
    }
}

/// Every table of the mock Base with three copies (streams are matched by table id).
const TABLES: [&str; 8] = [
    "tblMockTable0001",
    "tblMockCopy00001",
    "tblMockCopy00002",
    "tblMockCopy00003",
    "tblAllTypes00001",
    "tblEmptyTable001",
    "tblDupName000001",
    "tblDupName000002",
];

/// A read of every table through a configured catalog (concurrency applies to catalogs).
fn read_base(mock: &MockFeishu, page_size: u32, extra: &[&str]) -> Run {
    let files = Files::new();
    let mut config = mock.connector_config(page_size);
    config.as_object_mut().map(|o| o.remove("table_id"));
    let config = files.json("config.json", &config);
    let streams: Vec<Value> = TABLES
        .iter()
        .map(|t| serde_json::json!({"stream": {"name": format!("t_{t}")}, "sync_mode": "full_refresh"}))
        .collect();
    let catalog = files.json("catalog.json", &serde_json::json!({ "streams": streams }));
    let mut args = vec!["read", "--config", &config, "--catalog", &catalog];
    args.extend_from_slice(extra);
    run(&args)
}

/// Each stream's messages in order, without `emitted_at` (which differs between runs).
fn per_stream(run: &Run) -> BTreeMap<String, Vec<Value>> {
    let mut streams: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for message in &run.messages {
        let (name, item) = match message["type"].as_str() {
            Some("RECORD") => (
                &message["record"]["stream"],
                message["record"]["data"].clone(),
            ),
            Some("STATE") => (
                &message["state"]["stream"]["stream_descriptor"]["name"],
                message["state"]["stream"].clone(),
            ),
            Some("TRACE") if message["trace"]["type"] == "STREAM_STATUS" => (
                &message["trace"]["stream_status"]["stream_descriptor"]["name"],
                message["trace"]["stream_status"]["status"].clone(),
            ),
            _ => continue,
        };
        let name = name.as_str().unwrap_or_default().to_string();
        streams.entry(name).or_default().push(item);
    }
    streams
}

#[test]
fn a_concurrent_read_gives_each_stream_what_a_sequential_one_does() {
    let mock = mock(base(1200));
    let sequential = read_base(&mock, 500, &["--concurrency", "1"]);
    let concurrent = read_base(&mock, 500, &["--concurrency", "4"]);
    assert_eq!(sequential.code, 0, "{}", sequential.stderr);
    assert_eq!(concurrent.code, 0, "{}", concurrent.stderr);
    let (a, b) = (per_stream(&sequential), per_stream(&concurrent));
    assert_eq!(a.len(), 8, "{:?}", a.keys());
    assert_eq!(a, b);
    assert_eq!(concurrent.records().len(), 4 * 1200 + 4 + 1 + 2);
}

#[test]
fn a_failing_stream_among_concurrent_ones_fails_alone() {
    let forbidden = Fault::Code {
        status: 403,
        code: 91403,
        msg: "Forbidden".into(),
    };
    let mock = mock(base(600).fault(2, forbidden));
    let run = read_base(&mock, 500, &["--concurrency", "4"]);
    run.assert_failed("config_error", "91403");
    let failed = run.trace_error()["stream_descriptor"]["name"].clone();
    let streams = per_stream(&run);
    for (name, items) in &streams {
        let last = items.last().cloned().unwrap_or_default();
        if *name == failed.as_str().unwrap_or_default() {
            assert_eq!(last, "INCOMPLETE", "{name}");
        } else {
            assert_eq!(last, "COMPLETE", "{name}: {items:?}");
        }
    }
    assert_eq!(streams.len(), 8);
}

#[test]
fn the_shared_limiter_keeps_every_instance_under_the_quota() {
    let quota = MockConfig {
        qps: Some(10),
        ..base(600)
    };
    let limited = mock(quota.clone());
    // Below the quota by a fifth: the mock measures the window at arrival, and a loaded
    // machine delays some requests more than others (at 9 of 10, one in a few runs on a
    // 2-core machine saw a request land early).
    let run = read_base(&limited, 100, &["--concurrency", "4", "--max-rps", "8"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        limited.violations(),
        0,
        "our own concurrency tripped the quota"
    );
    assert_eq!(run.records().len(), 4 * 600 + 7);
    // Without the limiter, the same read trips it (and recovers through the retries).
    let unlimited = mock(quota);
    let run = read_base(&unlimited, 100, &["--concurrency", "4", "--max-rps", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(unlimited.violations() > 0, "the test cannot tell");
}

#[test]
fn a_429_with_a_reset_pauses_every_instance() {
    let mock = mock(base(1200).fault(3, Fault::RateLimited { reset_secs: 2 }));
    // Small pages, so the other instances would keep sending through the reset window.
    let run = read_base(&mock, 10, &["--concurrency", "4", "--max-rps", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let searches: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/records/search"))
        .collect();
    let refused_at = searches[2].at;
    let early: Vec<Duration> = searches[3..]
        .iter()
        .map(|r| r.at.saturating_duration_since(refused_at))
        // Requests already in flight when the 429 came may still land (a loaded CI machine can
        // delay them a few hundred ms); none may be sent after it until the reset.
        .filter(|d| *d > Duration::from_millis(400) && *d < Duration::from_millis(1900))
        .collect();
    assert!(
        early.is_empty(),
        "requests went out during the pause: {early:?}"
    );
}

/// A read of every table without a catalog: one instance reads the streams at once.
fn read_base_without_catalog(mock: &MockFeishu, page_size: u32, extra: &[&str]) -> Run {
    let files = Files::new();
    let mut config = mock.connector_config(page_size);
    config.as_object_mut().map(|o| o.remove("table_id"));
    let config = files.json("config.json", &config);
    let mut args = vec!["read", "--config", &config];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn a_read_without_a_catalog_takes_streams_at_once_on_one_token_and_one_tables_list() {
    let mock = mock(base(1200));
    let sequential = read_base_without_catalog(&mock, 500, &["--concurrency", "1"]);
    let before = mock.requests().len();
    let at_once = read_base_without_catalog(&mock, 500, &["--concurrency", "4"]);
    assert_eq!(sequential.code, 0, "{}", sequential.stderr);
    assert_eq!(at_once.code, 0, "{}", at_once.stderr);
    assert_eq!(
        per_stream(&sequential),
        per_stream(&at_once),
        "each stream's own output"
    );
    let statuses = at_once.statuses();
    let first_complete = statuses.iter().position(|s| s.ends_with(":COMPLETE"));
    assert_eq!(
        first_complete,
        Some(4),
        "four streams in progress at once: {statuses:?}"
    );
    let paths: Vec<String> = mock.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let count = |end: &str| paths.iter().filter(|p| p.ends_with(end)).count();
    assert_eq!(count("/tenant_access_token/internal"), 1, "one token");
    // The mock pages the tables list by two: one listing of its 9 items is 5 pages.
    assert_eq!(count("/tables"), 5, "one tables list");
    assert_eq!(count("/search"), 4 * 3 + 4, "every page once: {paths:?}");
    assert!(
        at_once.logs().contains(
            &"stream `项目任务_Tasks_tblMockTable0001`: read 1200 records with 3 requests"
        ),
        "each stream's own requests: {:?}",
        at_once.logs()
    );
}

#[test]
fn a_read_with_the_discovered_catalog_spends_a_page_per_page_and_a_fields_list_per_table() {
    let mock = mock(base(1200));
    let files = Files::new();
    let mut config = mock.connector_config(500);
    config.as_object_mut().map(|o| o.remove("table_id"));
    let config = files.json("config.json", &config);
    let discover = run(&["discover", "--config", &config]);
    assert_eq!(discover.code, 0, "{}", discover.stderr);
    let streams: Vec<Value> = discover.of_type("CATALOG")[0]["catalog"]["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| serde_json::json!({"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}))
        .collect();
    let catalog = files.json("catalog.json", &serde_json::json!({ "streams": streams }));
    let before = mock.requests().len();
    let read = run(&["read", "--config", &config, "--catalog", &catalog]);
    assert_eq!(read.code, 0, "{}", read.stderr);
    let paths: Vec<String> = mock.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let count = |end: &str| paths.iter().filter(|p| p.ends_with(end)).count();
    let (tables, pages) = (TABLES.len(), 4 * 3 + 4);
    assert_eq!(count("/tenant_access_token/internal"), 1);
    assert_eq!(count("/search"), pages, "each page once");
    assert_eq!(
        count("/fields"),
        tables,
        "each table's fields once (the catalog's check)"
    );
    // Calls Feishu counts: pages, a fields list per table, and the tables list (5 pages of
    // the mock's; one for up to 100 tables on Feishu).
    assert_eq!(paths.len() - 1, pages + tables + 5, "{paths:?}");
}
