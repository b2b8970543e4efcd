//! Reads inside the monthly quota: `max_api_calls` stops a run at exactly that many requests
//! with state to go on from, `check` estimates a full read, and an incremental read of a
//! table whose revision has not changed costs no search.

use crate::harness::{Files, Run, mock, run};
use crate::incremental::{incremental_catalog, states_of};
use mock_feishu::MockConfig;
use mock_feishu::data;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const N: usize = 1200;

/// An incremental read of the `records` stream from `state`.
pub fn read(config: &Value, state: &Value) -> Run {
    let files = Files::new();
    let args = [
        "read".to_string(),
        "--config".into(),
        files.json("config.json", config),
        "--catalog".into(),
        files.json("catalog.json", &incremental_catalog("records")),
        "--state".into(),
        files.json("state.json", state),
    ];
    run(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn ids(run: &Run) -> BTreeSet<String> {
    run.records()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_budget_stops_at_exactly_that_many_requests_and_the_next_run_goes_on() {
    let mock = mock(MockConfig::with_records(N));
    let mut config = mock.connector_config(100);
    config["max_api_calls"] = json!(8);
    let stopped = read(&config, &json!([]));
    stopped.assert_failed(
        "config_error",
        "config field `max_api_calls` allows 8 requests",
    );
    assert_eq!(
        mock.requests().len(),
        8,
        "token, the tables list (three pages: the mock pages it by two), fields, three pages"
    );
    assert_eq!(stopped.records().len(), 300);
    assert_eq!(
        stopped.statuses().last().map(String::as_str),
        Some("records:INCOMPLETE")
    );
    let cursor = stopped.of_type("STATE").last().expect("a state")["state"]["stream"]
        ["stream_state"]["last_modified_time"]
        .clone();
    assert_eq!(cursor, json!(data::default_modified(299)));
    assert!(
        stopped.stderr.contains(": 8 requests"),
        "{}",
        stopped.stderr
    );

    config["max_api_calls"] = Value::Null;
    let rest = read(&config, &states_of(&stopped));
    assert_eq!(rest.code, 0, "{}", rest.stderr);
    let mut all = ids(&stopped);
    all.extend(ids(&rest));
    assert_eq!(all.len(), N, "every record across the two runs");
    assert_eq!(rest.records().len(), N - 300, "each record once");
}

#[test]
fn check_estimates_what_a_full_read_costs() {
    let mock = mock(MockConfig::with_records(N));
    let mut config = mock.connector_config(500);
    config["max_api_calls"] = json!(3);
    let files = Files::new();
    let path = files.json("config.json", &config);
    let check = run(&["check", "--config", &path]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stderr.contains(
            "a full read of 1 tables (1200 records at page_size 500) would send about 6 \
             requests (this check sent 2); more than max_api_calls (3)"
        ),
        "{}",
        check.stderr
    );
    assert!(
        check.stderr.contains(
            "a full read about 5; an incremental read when nothing changed 1 (the tables list), \
             3 when it re-checks every table (every 24 hours, `revision_recheck_hours`), 6 with \
             the sweep for deleted records (`detect_deletes`, off); incremental reads every hour \
             about 780 a month (7%), every day about 90 a month (under 1%) of the free plan's \
             10000 a month for all the tenant's apps"
        ),
        "{}",
        check.stderr
    );
}

#[test]
fn an_unchanged_table_costs_only_the_tables_list_and_a_changed_one_is_read() {
    let mock = mock(MockConfig::with_records(50));
    let config = mock.connector_config(500);
    let first = read(&config, &json!([]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let state = states_of(&first);
    let saved = &state.as_array().unwrap().last().unwrap()["stream"]["stream_state"];
    assert_eq!(saved["table_revision"], json!(1));

    let before = mock.requests().len();
    let unchanged = read(&config, &state);
    assert_eq!(unchanged.code, 0, "{}", unchanged.stderr);
    let paths: Vec<String> = mock.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    // The mock pages the tables list by two (Feishu by up to 100): no fields list, no search.
    assert!(
        paths[0].ends_with("/tenant_access_token/internal"),
        "{paths:?}"
    );
    assert!(
        paths[1..].iter().all(|p| p.ends_with("/tables")),
        "{paths:?}"
    );
    assert!(unchanged.records().is_empty());
    let again = states_of(&unchanged);
    assert_eq!(
        again.as_array().unwrap().last().unwrap()["stream"]["stream_state"],
        *saved,
        "the same state again"
    );
    assert!(
        unchanged
            .stderr
            .contains("unchanged since the last read (revision 1)")
    );

    mock.modify(&[7], data::default_modified(49) + 1);
    let changed = read(&config, &states_of(&unchanged));
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert_eq!(
        ids(&changed),
        [data::record_id(7)].into_iter().collect(),
        "the edited record; the one at the cursor was emitted already"
    );
    let last = states_of(&changed);
    assert_eq!(
        last.as_array().unwrap().last().unwrap()["stream"]["stream_state"]["table_revision"],
        json!(2)
    );
}

#[test]
fn the_budget_holds_for_a_whole_run_of_several_streams() {
    let mock = mock(MockConfig {
        copies: 3,
        ..MockConfig::with_records(300)
    });
    let files = Files::new();
    let mut config = mock.connector_config(100);
    config.as_object_mut().map(|o| o.remove("table_id"));
    config["max_api_calls"] = json!(10);
    let tables = [
        "tblMockTable0001",
        "tblMockCopy00001",
        "tblMockCopy00002",
        "tblMockCopy00003",
    ];
    let streams: Vec<Value> = tables
        .iter()
        .map(|t| json!({"stream": {"name": format!("t_{t}")}, "sync_mode": "full_refresh"}))
        .collect();
    let args = [
        "read".to_string(),
        "--config".into(),
        files.json("config.json", &config),
        "--catalog".into(),
        files.json("catalog.json", &json!({ "streams": streams })),
        "--concurrency".into(),
        "4".into(),
    ];
    let run = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        mock.requests().len(),
        10,
        "the budget is the run's, not each stream's"
    );
    let errors: Vec<&Value> = run
        .of_type("TRACE")
        .into_iter()
        .filter(|t| t["trace"]["type"] == "ERROR")
        .collect();
    let incomplete = run
        .statuses()
        .iter()
        .filter(|s| s.ends_with(":INCOMPLETE"))
        .count();
    assert!(
        incomplete > 0 && errors.len() == incomplete,
        "{}",
        run.stdout
    );
    for error in errors {
        let message = error["trace"]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("config field `max_api_calls` allows 10 requests"),
            "{message}"
        );
        assert_eq!(error["trace"]["error"]["failure_type"], "config_error");
    }
}

/// The states `run` saved, its last one's `read_at` moved a day and a minute back (past the
/// default `revision_recheck_hours`); and the `read_at` it had.
fn read_a_day_ago(run: &Run) -> (Value, i64) {
    let mut state = states_of(run);
    let last = state.as_array_mut().unwrap().last_mut().unwrap();
    let read_at = last["stream"]["stream_state"]["read_at"]
        .as_i64()
        .expect("read_at");
    last["stream"]["stream_state"]["read_at"] = json!(read_at - 86_460_000);
    (state, read_at)
}

#[test]
fn an_unchanged_table_is_read_for_real_again_after_revision_recheck_hours() {
    let mock = mock(MockConfig::with_records(50));
    let mut config = mock.connector_config(500);
    let first = read(&config, &json!([]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let (state, read_at) = read_a_day_ago(&first);
    let searches = |from: usize| {
        mock.requests()[from..]
            .iter()
            .filter(|r| r.path.ends_with("/search"))
            .count()
    };
    let before = mock.requests().len();
    let stale = read(&config, &state);
    assert_eq!(stale.code, 0, "{}", stale.stderr);
    assert_eq!(searches(before), 1, "a real incremental search");
    assert!(
        stale
            .logs()
            .iter()
            .any(|l| l.contains("not read for real in the last 24 hours")),
        "{:?}",
        stale.logs()
    );
    assert!(
        stale.records().is_empty(),
        "nothing changed, nothing emitted"
    );
    let fresh = states_of(&stale);
    let fresh_state = &fresh.as_array().unwrap().last().unwrap()["stream"]["stream_state"];
    assert!(
        fresh_state["read_at"].as_i64() > Some(read_at),
        "the real read is noted"
    );

    // 0: never skip.
    config["revision_recheck_hours"] = json!(0);
    let before = mock.requests().len();
    let never = read(&config, &fresh);
    assert_eq!(never.code, 0, "{}", never.stderr);
    assert_eq!(searches(before), 1);
}

#[test]
fn an_edit_that_leaves_the_revision_alone_is_found_by_the_recheck() {
    let mock = mock(MockConfig {
        edits_keep_revision: true,
        ..MockConfig::with_records(50)
    });
    let config = mock.connector_config(500);
    let first = read(&config, &json!([]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let edited_at = data::default_modified(49) + 60_000;
    mock.modify(&[7], edited_at);

    // Within the re-check window the unchanged revision skips the table: the edit waits.
    let skipped = read(&config, &states_of(&first));
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert!(skipped.records().is_empty(), "{}", skipped.stdout);

    // Past it (read_at a day and a minute back), a real search finds the edit.
    let (state, _) = read_a_day_ago(&skipped);
    let recheck = read(&config, &state);
    assert_eq!(recheck.code, 0, "{}", recheck.stderr);
    let ids: Vec<&str> = recheck
        .records()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, [data::record_id(7)], "the edited record, once");
}
