//! Deleted records (`detect_deletes`): an incremental read reports each record deleted in
//! Feishu once, as `{record_id, _ab_cdc_deleted_at}`, brings restored records back, and keeps
//! the ids it compares with in the state.

use crate::harness::{Files, Run, mock, run};
use crate::incremental::{incremental_catalog, states_of};
use mock_feishu::data;
use mock_feishu::{MockConfig, MockFeishu};
use serde_json::{Value, json};

const N: usize = 1200;

fn config(mock: &MockFeishu) -> Value {
    let mut config = mock.connector_config(500);
    config["detect_deletes"] = json!(true);
    config
}

fn read(config: &Value, state: &Value, mode: &str) -> Run {
    let files = Files::new();
    let mut catalog = incremental_catalog("records");
    catalog["streams"][0]["sync_mode"] = json!(mode);
    let args = [
        "read".to_string(),
        "--config".into(),
        files.json("config.json", config),
        "--catalog".into(),
        files.json("catalog.json", &catalog),
        "--state".into(),
        files.json("state.json", state),
    ];
    let run = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

/// The ids of the deleted-record messages a run printed.
fn tombstones(run: &Run) -> Vec<String> {
    run.records()
        .iter()
        .filter(|r| r.get("_ab_cdc_deleted_at").is_some())
        .map(|r| {
            let keys: Vec<&String> = r
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            assert_eq!(keys, ["_ab_cdc_deleted_at", "record_id"], "{r}");
            let at = r["_ab_cdc_deleted_at"].as_str().unwrap_or_default();
            assert!(at.ends_with('Z') && at.len() == 24, "ISO-8601 UTC: {at}");
            r["record_id"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

fn remembered(run: &Run) -> u64 {
    let states = run.of_type("STATE");
    let last = states.last().expect("a state");
    last["state"]["stream"]["stream_state"]["record_ids"]["count"]
        .as_u64()
        .unwrap_or(0)
}

fn id_sweeps(mock: &MockFeishu) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.path.ends_with("/search") && r.body.contains(r#""field_names":["#))
        .count()
}

#[test]
fn each_deleted_record_is_reported_once_and_a_restored_one_comes_back() {
    let mock = mock(MockConfig::with_records(N));
    let config = config(&mock);
    let first = read(&config, &json!([]), "incremental");
    assert_eq!(first.records().len(), N);
    assert!(tombstones(&first).is_empty());
    assert_eq!(remembered(&first), N as u64);
    assert!(
        first
            .stderr
            .contains("remembered the ids of its 1200 records")
    );
    assert_eq!(id_sweeps(&mock), 3, "1200 ids at 500 a page");
    let sweep = mock
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/search") && r.body.contains("field_names"))
        .expect("a sweep");
    assert_eq!(
        serde_json::from_str::<Value>(&sweep.body).unwrap(),
        json!({"field_names": ["任务名称"]}),
        "only the primary field"
    );

    mock.delete(&[5, 700]);
    let second = read(&config, &states_of(&first), "incremental");
    assert_eq!(
        tombstones(&second),
        [data::record_id(5), data::record_id(700)]
    );
    assert_eq!(remembered(&second), N as u64 - 2);
    assert!(
        second
            .stderr
            .contains("2 records deleted since the last read, 0 came back"),
        "{}",
        second.stderr
    );

    let third = read(&config, &states_of(&second), "incremental");
    assert!(tombstones(&third).is_empty(), "reported once");

    mock.restore(&[5]);
    let fourth = read(&config, &states_of(&third), "incremental");
    assert!(tombstones(&fourth).is_empty());
    let back: Vec<&Value> = fourth
        .records()
        .into_iter()
        .filter(|r| r["record_id"] == json!(data::record_id(5)))
        .collect();
    assert_eq!(
        back,
        [&mock.current_record(5)],
        "restored: emitted whole again"
    );
    assert_eq!(remembered(&fourth), N as u64 - 1);
}

#[test]
fn the_state_keeps_ids_compactly_and_checkpoints_stay_lighter_than_the_records() {
    let mock = mock(MockConfig::with_records(N));
    let first = read(&config(&mock), &json!([]), "incremental");
    let states = first.of_type("STATE");
    let last = states.last().expect("a state").to_string();
    assert!(
        last.len() < N * 10,
        "{} bytes of state for {N} records",
        last.len()
    );
    let second = read(&config(&mock), &states_of(&first), "incremental");
    let record_bytes: usize = second.records().iter().map(|r| r.to_string().len()).sum();
    let state_bytes: usize = second
        .of_type("STATE")
        .iter()
        .map(|s| s.to_string().len())
        .sum();
    assert_eq!(
        second.of_type("STATE").len(),
        1,
        "one record changed: the final state only"
    );
    assert!(record_bytes < state_bytes);
}

#[test]
fn full_refresh_and_reads_without_the_option_do_not_sweep() {
    let mock = mock(MockConfig::with_records(20));
    let full = read(&config(&mock), &json!([]), "full_refresh");
    assert_eq!(full.records().len(), 20);
    let mut plain_config = mock.connector_config(500);
    plain_config["detect_deletes"] = json!(false);
    let incremental = read(&plain_config, &json!([]), "incremental");
    assert_eq!(incremental.records().len(), 20);
    assert_eq!(id_sweeps(&mock), 0);
    assert!(
        !incremental.of_type("STATE")[0]
            .to_string()
            .contains("record_ids"),
        "no ids remembered without the option"
    );
}

#[test]
fn discover_declares_the_deleted_at_column_only_with_the_option() {
    let mock = mock(MockConfig::with_records(3));
    let files = Files::new();
    let with = files.json("with.json", &config(&mock));
    let without = files.json("without.json", &mock.connector_config(100));
    let column = |path: &str| {
        let run = run(&["discover", "--config", path]);
        let catalog = &run.of_type("CATALOG")[0]["catalog"];
        catalog["streams"][0]["json_schema"]["properties"]["_ab_cdc_deleted_at"].clone()
    };
    assert_eq!(
        column(&with),
        json!({"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"})
    );
    assert_eq!(column(&without), Value::Null);
}

/// A second mock of the same Base whose `batch_get` answers `answer`, with `deleted` gone.
fn answering(answer: Value, deleted: &[usize]) -> MockFeishu {
    let mock = mock(MockConfig {
        batch_get_answer: Some(answer),
        ..MockConfig::with_records(N)
    });
    mock.delete(deleted);
    mock
}

#[test]
fn only_ids_asked_about_and_reported_absent_are_deleted() {
    let before = mock(MockConfig::with_records(N));
    let first = read(&config(&before), &json!([]), "incremental");
    let listed = data::record_id(6);
    let answer = json!({
        "records": [],
        "absent_record_ids": [data::record_id(5), listed, "recNeverAsked1"],
        "forbidden_record_ids": [],
    });
    let after = answering(answer, &[5]);
    let second = read(&config(&after), &states_of(&first), "incremental");
    assert_eq!(
        tombstones(&second),
        [data::record_id(5)],
        "a listed id and one nobody asked about are not deleted"
    );
    assert_eq!(remembered(&second), N as u64 - 1);
}

#[test]
fn asked_ids_the_answer_leaves_out_are_asked_again_next_run() {
    let before = mock(MockConfig::with_records(N));
    let first = read(&config(&before), &json!([]), "incremental");
    for answer in [
        json!({"records": [], "absent_record_ids": [data::record_id(5)]}),
        json!({}),
    ] {
        let after = answering(answer.clone(), &[5, 700]);
        let second = read(&config(&after), &states_of(&first), "incremental");
        let reported = tombstones(&second);
        assert!(
            reported.iter().all(|id| *id == data::record_id(5)),
            "{answer}: {reported:?}"
        );
        assert_eq!(
            remembered(&second),
            N as u64 - reported.len() as u64,
            "{answer}: the unanswered ids stay remembered"
        );
        assert!(
            second
                .logs()
                .iter()
                .any(|l| l.contains("records/batch_get said nothing of")),
            "{answer}: {:?}",
            second.logs()
        );
        // The next run, answered in full, reports what was left.
        let honest = mock(MockConfig::with_records(N));
        honest.delete(&[5, 700]);
        let third = read(&config(&honest), &states_of(&second), "incremental");
        let mut all = reported;
        all.extend(tombstones(&third));
        assert_eq!(all, [data::record_id(5), data::record_id(700)], "{answer}");
    }
}

#[test]
fn deletes_are_found_whatever_an_empty_field_names_list_means() {
    for all in [false, true] {
        let mock = mock(MockConfig {
            empty_field_names_mean_all: all,
            ..MockConfig::with_records(600)
        });
        let config = config(&mock);
        let first = read(&config, &json!([]), "incremental");
        assert_eq!(remembered(&first), 600, "empty list means all: {all}");
        mock.delete(&[3, 599]);
        let second = read(&config, &states_of(&first), "incremental");
        assert_eq!(
            tombstones(&second),
            [data::record_id(3), data::record_id(599)],
            "empty list means all: {all}"
        );
        assert!(
            mock.requests()
                .iter()
                .filter(|r| r.path.ends_with("/search"))
                .all(|r| !r.body.contains(r#""field_names":[]"#)),
            "the connector never asks with an empty list"
        );
    }
}
