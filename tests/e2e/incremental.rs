//! Incremental sync on last_modified_time: states that survive interruptions, boundary ties
//! emitted again, nothing older, both the server-filtered and the client-side path.

use crate::harness::{Files, Run, mock, run};
use mock_feishu::data::{self, DUP_TABLE_IDS};
use mock_feishu::{Fault, MockConfig, MockFeishu};
use serde_json::{Value, json};

const N: usize = 1200;

/// A configured catalog reading `stream` incrementally on last_modified_time.
pub fn incremental_catalog(stream: &str) -> Value {
    json!({"streams": [{"stream": {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                        "sync_mode": "incremental", "cursor_field": ["last_modified_time"], "destination_sync_mode": "append_dedup",
                        "primary_key": [["record_id"]]}]})
}

/// An incremental read of `stream` with `state` (the STATE messages of an earlier run).
fn read_incremental(config: &Value, stream: &str, state: &Value) -> Run {
    read_with_state_text(config, stream, &state.to_string())
}

/// The state to resume from: the STATE messages a run printed, as `--state` takes them.
pub fn states_of(run: &Run) -> Value {
    Value::Array(
        run.of_type("STATE")
            .into_iter()
            .map(|m| m["state"].clone())
            .collect(),
    )
}

fn last_cursor(run: &Run) -> Option<i64> {
    run.of_type("STATE")
        .last()
        .and_then(|m| m["state"]["stream"]["stream_state"]["last_modified_time"].as_i64())
}

fn record_ids(run: &Run) -> Vec<String> {
    run.records()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn search_bodies(mock: &MockFeishu) -> Vec<Value> {
    mock.requests()
        .iter()
        .filter(|r| r.path.ends_with("/search"))
        .map(|r| serde_json::from_str(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[test]
fn a_second_read_emits_exactly_what_changed_since_the_first() {
    let mock = mock(MockConfig::with_records(N));
    let config = mock.connector_config(500);
    let first = read_incremental(&config, "records", &json!([]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let all: Vec<Value> = (0..N).map(|i| mock.current_record(i)).collect();
    assert_eq!(
        first.records().into_iter().cloned().collect::<Vec<_>>(),
        all
    );
    let cursor = last_cursor(&first).expect("a cursor");
    assert_eq!(cursor, data::default_modified(N - 1));
    assert_eq!(
        first.of_type("STATE").len(),
        4,
        "one state per sorted page, one at the end"
    );

    mock.modify(&[10, 20], cursor);
    mock.modify(&[30, 40, 50], cursor + 5_000);
    let added = mock.add_records(3, cursor + 10_000);
    let before = search_bodies(&mock).len();
    let second = read_incremental(&config, "records", &states_of(&first));
    assert_eq!(second.code, 0, "{}", second.stderr);
    let mut want: Vec<usize> = vec![10, 20, 30, 40, 50];
    want.extend(added);
    let want: Vec<Value> = want.into_iter().map(|i| mock.current_record(i)).collect();
    assert_eq!(
        second.records().into_iter().cloned().collect::<Vec<_>>(),
        want,
        "new ties at the cursor come, the one emitted at it before does not; nothing older"
    );
    assert_eq!(last_cursor(&second), Some(cursor + 10_000));

    let bodies = search_bodies(&mock);
    let condition = &bodies[before]["filter"]["conditions"][0];
    assert_eq!(condition["field_name"], data::MODIFIED_FIELD);
    assert_eq!(condition["operator"], "isGreater");
    assert_eq!(
        condition["value"],
        json!(["ExactDate", (cursor - 2 * 86_400_000).to_string()])
    );
    assert_eq!(
        bodies[before]["sort"],
        json!([{"field_name": data::MODIFIED_FIELD, "desc": false}])
    );
    assert_eq!(
        bodies.len() - before,
        1,
        "the filter narrows the read to one page"
    );
}

#[test]
fn an_interrupted_read_resumes_without_losing_records() {
    let mock = mock(MockConfig::with_records(N).fault(3, Fault::BrokenRecord));
    let config = mock.connector_config(500);
    let first = read_incremental(&config, "records", &json!([]));
    assert_eq!(first.code, 1);
    assert_eq!(first.statuses(), ["records:STARTED", "records:INCOMPLETE"]);
    assert_eq!(
        last_cursor(&first),
        Some(data::default_modified(999)),
        "saved after each sorted page"
    );
    let second = read_incremental(&config, "records", &states_of(&first));
    assert_eq!(second.code, 0, "{}", second.stderr);
    let mut seen = record_ids(&first);
    seen.extend(record_ids(&second));
    seen.sort();
    let mut all: Vec<String> = (0..N).map(data::record_id).collect();
    all.sort();
    assert_eq!(seen, all, "every record exactly once across the two runs");
    assert_eq!(
        second.records().len(),
        N - 1000,
        "goes on after the saved page"
    );
    assert!(
        second
            .logs()
            .iter()
            .any(|l| l.contains("going on after the page the last read stopped at")),
        "{:?}",
        second.logs()
    );
}

#[test]
fn a_table_without_a_modified_time_field_is_filtered_here() {
    let mock = mock(MockConfig::with_records(3));
    let mut config = mock.connector_config(100);
    config.as_object_mut().map(|o| o.remove("table_id"));
    let stream = "重复_tblDupName000002";
    let both = data::table_record(DUP_TABLE_IDS[1], 1, true);
    let cursor = both["last_modified_time"].as_i64().expect("cursor");
    let state = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": {"last_modified_time": cursor}}}]);
    let run = read_incremental(&config, stream, &state);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.records().into_iter().cloned().collect::<Vec<_>>(),
        vec![both]
    );
    let logs = run.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("no \"Modified time\" field")),
        "{logs:?}"
    );
    assert!(
        search_bodies(&mock)
            .iter()
            .all(|b| b.get("filter").is_none())
    );
    assert_eq!(
        run.of_type("STATE").len(),
        1,
        "unsorted: the cursor is saved only at the end"
    );
}

#[test]
fn a_cursor_in_the_future_yields_nothing_and_is_kept() {
    let mock = mock(MockConfig::with_records(20));
    let future = 4_102_444_800_000i64;
    let state = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "records"}, "stream_state": {"last_modified_time": future}}}]);
    let run = read_incremental(&mock.connector_config(100), "records", &state);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.records().is_empty());
    assert_eq!(last_cursor(&run), Some(future));
}

#[test]
fn states_that_do_not_fit_are_config_errors() {
    let mock = mock(MockConfig::with_records(2));
    for (state, needle) in [
        (
            json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "records"}, "stream_state": {"last_modified_time": "soon"}}}]),
            "must be an integer",
        ),
        (json!(7), "must be a JSON array"),
    ] {
        let run = read_incremental(&mock.connector_config(100), "records", &state);
        run.assert_failed("config_error", needle);
    }
}

/// `read` with the state given as raw file text.
fn read_with_state_text(config: &Value, stream: &str, state: &str) -> Run {
    let files = Files::new();
    let config = files.json("config.json", config);
    let catalog = files.json("catalog.json", &incremental_catalog(stream));
    let state = files.text("state.txt", state);
    run(&[
        "read",
        "--config",
        &config,
        "--catalog",
        &catalog,
        "--state",
        &state,
    ])
}

#[test]
fn state_is_taken_back_as_printed() {
    let mock = mock(MockConfig::with_records(N));
    let config = mock.connector_config(500);
    let first = read_incremental(&config, "records", &json!([]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let cursor = last_cursor(&first).expect("a cursor");
    let state_lines: Vec<String> = first
        .of_type("STATE")
        .into_iter()
        .map(Value::to_string)
        .collect();
    let wrappers = Value::Array(first.of_type("STATE").into_iter().cloned().collect());
    for (shape, text) in [
        ("the whole stdout of the last read", first.stdout.clone()),
        ("its STATE lines", state_lines.join("\n")),
        ("its STATE messages as an array", wrappers.to_string()),
        (
            "the last state message alone",
            first.of_type("STATE").last().unwrap()["state"].to_string(),
        ),
    ] {
        let again = read_with_state_text(&config, "records", &text);
        assert_eq!(again.code, 0, "{shape}: {}", again.stderr);
        assert!(
            again.records().len() < N,
            "{shape}: resumed from the cursor, not from scratch"
        );
        assert_eq!(last_cursor(&again), Some(cursor), "{shape}");
    }
}

#[test]
fn state_of_a_stream_no_longer_offered_is_ignored() {
    let mock = mock(MockConfig::with_records(3));
    let state = json!([
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "deleted_tblGone"}, "stream_state": {"last_modified_time": 1}}}
    ]);
    let run = read_incremental(&mock.connector_config(100), "records", &state);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records().len(), 3);
    assert!(
        run.logs().iter().any(|l| l.contains(
            "the state names stream `deleted_tblGone`, which this source no longer offers"
        )),
        "{:?}",
        run.logs()
    );
}

#[test]
fn an_incremental_read_of_a_view_only_ever_emits_the_views_records() {
    let n = 9;
    let mock = mock(MockConfig::with_records(n));
    let mut config = mock.connector_config(3);
    config["view_id"] = json!(data::ODD_DESC_VIEW);
    let first = read_incremental(&config, "records", &json!([]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(record_ids(&first).len(), n / 2, "the view's records only");
    let cursor = last_cursor(&first).expect("a cursor");
    assert_eq!(
        first.of_type("STATE").len(),
        1,
        "saved when the stream completes"
    );
    mock.modify(&[2, 5], cursor + 1_000);
    let second = read_incremental(&config, "records", &states_of(&first));
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        second.records().into_iter().cloned().collect::<Vec<_>>(),
        vec![mock.current_record(5)],
        "7, at the cursor, was emitted already; record 2 changed too, but it is not in the view"
    );
    assert_eq!(last_cursor(&second), Some(cursor + 1_000));
    for body in search_bodies(&mock) {
        assert_eq!(body["view_id"], data::ODD_DESC_VIEW, "{body}");
        assert!(
            body.get("filter").is_none() && body.get("sort").is_none(),
            "{body}"
        );
    }
    assert!(
        second.logs().iter().any(|l| l.contains("it reads a view")),
        "{:?}",
        second.logs()
    );
}
