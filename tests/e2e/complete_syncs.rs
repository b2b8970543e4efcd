//! Complete syncs at the edges: runs stopped by the request budget each make progress and
//! together deliver every record once, a state is only used for the table it was saved for,
//! and answers that contradict themselves end as clear failures instead of lost records.

use crate::harness::{Files, Run, mock, run};
use crate::incremental::states_of;
use crate::quota::read;
use mock_feishu::{Fault, MockConfig, data};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn ids(run: &Run) -> Vec<String> {
    run.records()
        .iter()
        .map(|r| r["record_id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Runs incremental reads with `config`, each from the last one's state, until one ends
/// with exit 0 (at most `runs`); returns every record id emitted, in order, and the runs.
fn read_until_complete(config: &Value, runs: usize) -> (Vec<String>, Vec<Run>) {
    let (mut emitted, mut done) = (Vec::new(), Vec::new());
    let mut state = json!([]);
    for _ in 0..runs {
        let run = read(config, &state);
        emitted.extend(ids(&run));
        let code = run.code;
        if !run.of_type("STATE").is_empty() {
            state = states_of(&run);
        }
        done.push(run);
        if code == 0 {
            break;
        }
    }
    (emitted, done)
}

#[test]
fn a_one_day_table_read_under_a_tiny_budget_arrives_whole_over_runs() {
    const N: usize = 1000;
    let mock = mock(MockConfig::with_records(N));
    // Every record modified at the same moment: the date filter cannot narrow anything.
    let at = data::default_modified(N - 1);
    mock.modify(&(0..N).collect::<Vec<_>>(), at);
    let mut config = mock.connector_config(100);
    config["max_api_calls"] = json!(8);
    let (emitted, runs) = read_until_complete(&config, 12);
    let last = runs.last().expect("a run");
    assert_eq!(last.code, 0, "{}", last.stderr);
    assert!(runs.len() > 2, "the budget stops the first runs");
    for stopped in &runs[..runs.len() - 1] {
        stopped.assert_failed("config_error", "`max_api_calls` allows 8 requests");
        assert!(!ids(stopped).is_empty(), "every stopped run makes progress");
    }
    let unique: BTreeSet<&String> = emitted.iter().collect();
    assert_eq!(unique.len(), N, "every record");
    assert_eq!(emitted.len(), N, "and each once");
}

#[test]
fn a_saved_page_that_changed_is_read_again_from_the_cursor_without_repeats() {
    const N: usize = 600;
    let mock = mock(MockConfig::with_records(N));
    let mut config = mock.connector_config(100);
    config["max_api_calls"] = json!(7);
    let stopped = read(&config, &json!([]));
    stopped.assert_failed("config_error", "`max_api_calls` allows 7 requests");
    let first = ids(&stopped);
    assert_eq!(first.len(), 200);
    // An early record deleted: every later record moves up one place, so the saved page
    // is not what it was.
    mock.delete(&[3]);
    config["max_api_calls"] = Value::Null;
    let rest = read(&config, &states_of(&stopped));
    assert_eq!(rest.code, 0, "{}", rest.stderr);
    assert!(
        rest.logs()
            .iter()
            .any(|l| l.contains("cannot go on after the page the last read stopped at")),
        "{:?}",
        rest.logs()
    );
    let mut all = first.clone();
    all.extend(ids(&rest));
    let want: BTreeSet<String> = (0..N).map(data::record_id).collect();
    assert_eq!(all.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(all.len(), N, "none twice");
}

#[test]
fn a_state_saved_for_another_table_or_view_is_not_used() {
    const N: usize = 30;
    let mock = mock(MockConfig {
        copies: 1,
        ..MockConfig::with_records(N)
    });
    let config = mock.connector_config(100);
    let first = read(&config, &json!([]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(ids(&first).len(), N);

    // The same stream name, another table at the same revision: read, not skipped.
    let mut other = config.clone();
    other["table_id"] = json!(data::COPY_TABLE_IDS[0]);
    let copy = read(&other, &states_of(&first));
    assert_eq!(copy.code, 0, "{}", copy.stderr);
    assert_eq!(ids(&copy).len(), N, "{}", copy.stderr);
    let warning = format!(
        "the state given was saved for table {} (this stream reads {})",
        data::TABLE_ID,
        data::COPY_TABLE_IDS[0]
    );
    assert!(
        copy.logs().iter().any(|l| l.contains(&warning)),
        "{:?}",
        copy.logs()
    );

    // The table's state reused for one of its views: the view is read whole.
    let mut view = config.clone();
    view["view_id"] = json!(data::ODD_DESC_VIEW);
    let viewed = read(&view, &states_of(&first));
    assert_eq!(viewed.code, 0, "{}", viewed.stderr);
    assert_eq!(ids(&viewed).len(), N / 2);
    assert!(
        viewed
            .logs()
            .iter()
            .any(|l| l.contains("saved for no view (this stream reads view")),
        "{:?}",
        viewed.logs()
    );
    let state = &states_of(&viewed)[0]["stream"]["stream_state"];
    assert_eq!(state["table"]["view_id"], data::ODD_DESC_VIEW);
    assert!(!state.to_string().contains(data::APP_TOKEN));
}

#[test]
fn pages_that_promise_more_but_hold_nothing_end_the_stream() {
    let empty = Fault::Answer(
        r#"{"code":0,"msg":"success","data":{"has_more":true,"page_token":"PT","total":9,"items":[]}}"#
            .into(),
    );
    let mut config = MockConfig::with_records(9);
    for n in 1..=20 {
        let answer = match &empty {
            Fault::Answer(body) => Fault::Answer(body.replace("PT", &format!("pt{n}"))),
            other => other.clone(),
        };
        config = config.fault(n, answer);
    }
    let mock = mock(config);
    let run = read(&mock.connector_config(100), &json!([]));
    run.assert_failed(
        "system_error",
        "5 pages in a row (up to page 5) held no records not sent before yet said has_more",
    );
    let searches = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/search"))
        .count();
    assert!(searches <= 6, "stops after a few pages: {searches}");
}

#[test]
fn records_without_a_record_id_are_refused() {
    let answer = Fault::Answer(
        r#"{"code":0,"msg":"success","data":{"has_more":false,"total":2,"items":[{"record_id":"recA1","fields":{}},{"fields":{"x":1}}]}}"#
            .into(),
    );
    let mock = mock(MockConfig::with_records(2).fault(1, answer));
    let run = read(&mock.connector_config(100), &json!([]));
    run.assert_failed(
        "system_error",
        "`data.items[1]` has no `record_id` string, the stream's primary key",
    );
    assert!(run.records().is_empty(), "nothing of the refused page");
}

#[test]
fn a_search_that_stays_short_of_its_total_is_reported_with_the_numbers() {
    let short = Fault::Answer(
        r#"{"code":0,"msg":"success","data":{"has_more":false,"total":3,"items":[{"record_id":"recA1","fields":{}},{"record_id":"recA2","fields":{}}]}}"#
            .into(),
    );
    let mock = mock(
        MockConfig::with_records(3)
            .fault(1, short.clone())
            .fault(2, short),
    );
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(100));
    let run = run(&["read", "--config", &config]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(ids(&run), ["recA1", "recA2"], "each once");
    let warning = "the search gave 2 records where Feishu counted 3, read twice";
    assert!(
        run.logs().iter().any(|l| l.contains(warning)),
        "{:?}",
        run.logs()
    );
}

#[test]
fn a_page_feishu_sends_again_is_emitted_once_and_the_records_it_hid_still_come() {
    // Search 3 (the third page of 100) answers with the second page's records again, under
    // the token of the fourth: records 200..300 are not sent in the first reading.
    let mock = mock(MockConfig::with_records(450).fault(3, Fault::RepeatPreviousPage));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(100));
    let run = run(&["read", "--config", &config]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let emitted = ids(&run);
    let unique: BTreeSet<&String> = emitted.iter().collect();
    assert_eq!(unique.len(), emitted.len(), "no record twice");
    let expected: BTreeSet<String> = (0..450).map(data::record_id).collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every record, the hidden page's from the second reading"
    );
    let logs = run.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("Feishu sent records of an earlier page again")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.contains("the search gave 350 records where Feishu counted 450")),
        "{logs:?}"
    );
}
