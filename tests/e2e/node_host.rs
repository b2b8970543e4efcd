//! A second, independent host runs feishu.wasm unchanged: the Node.js host (hosts/node, jco)
//! prints the same protocol lines as host-runner, apart from `emitted_at` and the end-of-read
//! summary's figures, and ends with the same exit code.

use crate::harness::{Files, Run, assert_same_lines, component, mock, run, run_command, workspace};
use crate::incremental::{incremental_catalog, states_of};
use mock_feishu::{MockConfig, MockFeishu};
use serde_json::{Value, json};
use std::process::Command;

/// `scripts/node-host.sh COMPONENT args...` (installs the pinned packages on first use).
fn node_host(args: &[&str]) -> Run {
    run_command(
        Command::new(workspace().join("scripts/node-host.sh"))
            .arg(component())
            .args(args),
    )
}

/// Runs both hosts with `args` and checks they agree; returns host-runner's run.
fn both_agree(args: &[&str]) -> Run {
    let mut ours = vec![args[0], "--concurrency", "1"];
    ours.extend(&args[1..]);
    let reference = run(&ours);
    let mut theirs = args.to_vec();
    theirs.extend(["--concurrency", "1"]);
    let node = node_host(&theirs);
    assert_eq!(
        node.code, reference.code,
        "exit codes differ\nnode: {}",
        node.stderr
    );
    assert_same_lines(&reference.stdout, &node.stdout);
    let summaries = |run: &Run| run.stdout.matches(r#""message":"summary: read "#).count();
    assert_eq!(summaries(&node), summaries(&reference), "{}", node.stdout);
    reference
}

fn base_mock() -> MockFeishu {
    mock(MockConfig {
        records: 230,
        copies: 2,
        ..MockConfig::default()
    })
}

fn base_config(mock: &MockFeishu, page_size: u32) -> Value {
    let mut config = mock.connector_config(page_size);
    config.as_object_mut().map(|c| c.remove("table_id"));
    config
}

#[test]
fn spec_check_and_discover_match_host_runner() {
    let mock = base_mock();
    let files = Files::new();
    let config = files.json("config.json", &base_config(&mock, 100));
    assert_eq!(both_agree(&["spec"]).code, 0);
    assert_eq!(both_agree(&["check", "--config", &config]).code, 0);
    let discover = both_agree(&["discover", "--config", &config]);
    assert!(
        discover.stdout.contains("tblMockCopy00002"),
        "{}",
        discover.stdout
    );
}

#[test]
fn a_multi_page_multi_table_read_matches_host_runner() {
    let mock = base_mock();
    let files = Files::new();
    let config = files.json("config.json", &base_config(&mock, 50));
    let reference = both_agree(&["read", "--config", &config]);
    assert_eq!(reference.code, 0, "{}", reference.stderr);
    // 3 tables of 230 records (5 pages each) and the mock's small tables.
    assert!(
        reference.records().len() > 690,
        "{}",
        reference.records().len()
    );
}

#[test]
fn an_incremental_read_with_state_matches_host_runner() {
    let mock = base_mock();
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(50));
    let catalog = files.json("catalog.json", &incremental_catalog("records"));
    let first = run(&["read", "--config", &config, "--catalog", &catalog]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let state = files.json("state.json", &states_of(&first));
    // Changed an hour ago: before either read starts, so both end on the same cursor.
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        - 3_600_000;
    mock.modify(&[3, 140, 229], an_hour_ago);
    let second = both_agree(&[
        "read",
        "--config",
        &config,
        "--catalog",
        &catalog,
        "--state",
        &state,
    ]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.records().len(), 3, "{}", second.stdout);
}

#[test]
fn a_bad_secret_fails_check_the_same_way() {
    let mock = base_mock();
    let files = Files::new();
    let mut config = mock.connector_config(50);
    config["app_secret"] = json!("not-the-secret-1234");
    let config = files.json("config.json", &config);
    let check = both_agree(&["check", "--config", &config]);
    assert_eq!(
        check.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"],
        "FAILED"
    );
    let read = both_agree(&["read", "--config", &config]);
    assert_eq!(read.code, 5, "{}", read.stdout);
}

#[test]
fn a_host_the_operator_did_not_grant_is_refused_the_same_way() {
    let mock = base_mock();
    let files = Files::new();
    let mut config = mock.connector_config(50);
    config.as_object_mut().map(|c| c.remove("lark_host"));
    let config = files.json("config.json", &config);
    let refused = both_agree(&["read", "--config", &config]);
    assert_eq!(refused.code, 7, "{}", refused.stdout);
    refused.assert_failed("config_error", "--allow-host https://open.feishu.cn");
    assert_eq!(mock.requests().len(), 0, "the mock saw a request");
}

#[test]
fn the_embedding_example_counts_records() {
    let mock = mock(MockConfig::with_records(42));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(10));
    node_host(&["spec"]); // installs the packages on first use
    let output = Command::new("node")
        .arg(workspace().join("hosts/node/examples/count-records.js"))
        .arg(component())
        .arg(&config)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "records\t42\n");
}

#[test]
fn the_node_hosts_environment_does_not_reach_the_component() {
    let mock = mock(MockConfig::with_records(600).fault(2, mock_feishu::Fault::DropConnection));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(500));
    let run = run_command(
        Command::new(workspace().join("scripts/node-host.sh"))
            .arg(component())
            .args(["read", "--config", &config])
            .env("RUST_BACKTRACE", "1"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let logs = run.logs().join("\n");
    assert!(logs.contains("retrying"), "{logs}");
    for leak in ["stack backtrace", "backtrace", ".rs:", "/rustc/"] {
        assert!(!logs.contains(leak), "{leak:?} in {logs}");
    }
}

/// Runs `hosts/node/test/SCRIPT ARG` (the pinned packages installed on first use).
fn node_test_script(script: &str, arg: &str) -> Run {
    let command =
        format!("source scripts/node-packages.sh && exec node \"$node_host/test/{script}\" \"$1\"");
    run_command(
        Command::new("bash")
            .current_dir(workspace())
            .args(["-c", &command, script])
            .arg(arg),
    )
}

#[test]
fn the_node_host_follows_the_contracts_failure_table() {
    let table = host_runner::contract();
    let run = node_test_script("contract.js", &table.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let node: Value = serde_json::from_str(&run.stdout).expect("the script prints JSON");
    assert_eq!(node, table);
}

#[test]
fn secrets_a_server_echoes_are_masked_the_same_way() {
    let echo = || mock_feishu::Fault::Code {
        status: 400,
        code: 1254000,
        msg: format!(
            "WrongRequestBody: {} Bearer {{bearer}}",
            mock_feishu::APP_SECRET
        ),
    };
    for command in ["check", "read"] {
        let mock = mock(
            MockConfig::with_records(5)
                .fault(1, echo())
                .fault(2, echo()),
        );
        let files = Files::new();
        let config = files.json("config.json", &mock.connector_config(50));
        let run = both_agree(&[command, "--config", &config]);
        assert!(
            run.stdout
                .contains("WrongRequestBody: ********** Bearer **********"),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn a_base_read_without_a_catalog_takes_turns_the_same_way() {
    let mock = base_mock();
    let files = Files::new();
    let config = files.json("config.json", &base_config(&mock, 50));
    let args = ["read", "--config", &config, "--concurrency", "3"];
    let reference = run(&args);
    assert_eq!(reference.code, 0, "{}", reference.stderr);
    let node = node_host(&args);
    assert_eq!(node.code, 0, "{}", node.stderr);
    assert_same_lines(&reference.stdout, &node.stdout);
    let statuses = reference.statuses();
    let first_complete = statuses
        .iter()
        .position(|s| s.ends_with(":COMPLETE"))
        .expect("a complete stream");
    assert!(
        first_complete >= 3,
        "three streams started at once: {statuses:?}"
    );
}

#[test]
fn secret_references_resolve_the_same_way() {
    let mock = base_mock();
    let files = Files::new();
    let secret = files.text("secret.txt", &format!("{}\n", mock_feishu::APP_SECRET));
    let mut config = mock.connector_config(50);
    config["app_secret"] = json!(format!("${{file:{secret}}}"));
    let good = files.json("good.json", &config);
    assert_eq!(both_agree(&["check", "--config", &good]).code, 0);
    config["app_secret"] = json!("${file:/nonexistent/feishu-secret}");
    let missing = files.json("missing.json", &config);
    let refused = both_agree(&["read", "--config", &missing]);
    refused.assert_failed(
        "config_error",
        "config field `app_secret` refers to file /nonexistent/feishu-secret, which cannot be read",
    );
}

#[test]
fn the_node_host_gives_every_conformance_case_its_lines() {
    let cases = workspace().join("protocol/conformance/cases.json");
    let run = node_test_script("conformance.js", &cases.to_string_lossy());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let node: Vec<Value> = serde_json::from_str(&run.stdout).expect("the script prints JSON");
    let expected = protocol::conformance::cases();
    assert_eq!(node.len(), expected.len());
    for (case, ran) in expected.iter().zip(&node) {
        let name = &case["name"];
        let lines: Vec<Value> = ran["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| serde_json::from_str(l.as_str().expect("a line")).expect("a JSON line"))
            .map(protocol::conformance::comparable)
            .collect();
        let want = case["lines"].as_array().expect("lines");
        for (i, (got, want)) in lines.iter().zip(want).enumerate() {
            assert_eq!(got, want, "line {i} of case {name}");
        }
        assert_eq!(lines.len(), want.len(), "lines of case {name}: {lines:?}");
        assert_eq!(ran["exit"], case["exit"], "exit code of case {name}");
        let calls = case["calls"].as_array().expect("calls");
        for (call, refusal) in calls
            .iter()
            .zip(ran["refusals"].as_array().expect("refusals"))
        {
            let expected = call.get("refused").unwrap_or(&Value::Null);
            assert_eq!(refusal, expected, "refusal of {call} in case {name}");
        }
    }
}

#[test]
fn the_node_host_summary_gives_the_same_figures_and_keeps_the_declared_rate() {
    let base = base_mock();
    let files = Files::new();
    let config = files.json("config.json", &base_config(&base, 100));
    let node = node_host(&["read", "--config", &config]);
    assert_eq!(node.code, 0, "{}", node.stderr);
    let seen = base.requests();
    let tokens = crate::harness::token_requests(&base);
    let summary = node
        .logs()
        .into_iter()
        .find(|l| l.starts_with("summary: read "))
        .expect("a summary")
        .to_string();
    let expected = format!(
        ": {} requests, {} of them counted by the upstream's quota, 0 answers retried (429 or \
         5xx), ",
        seen.len(),
        seen.len() - tokens
    );
    assert!(summary.contains(&expected), "{summary}");
    // The operator's --max-rps replaces the declared 20 a second: at 1, requests are held.
    let small = mock(MockConfig::with_records(5));
    let config = files.json("small.json", &small.connector_config(2));
    let slow = node_host(&["read", "--config", &config, "--max-rps", "1"]);
    assert_eq!(slow.code, 0, "{}", slow.stderr);
    let sent = small.requests();
    assert!(sent.len() >= 4, "{sent:?}");
    // A lower bound only (a loaded machine makes runs slower, never faster): the limiter
    // spaces sends 1.05 s apart; arrivals may bunch by delivery delays, so over the whole run
    // 0.9 s a request is asked, not each gap.
    let span = sent[sent.len() - 1].at.duration_since(sent[0].at);
    let least = std::time::Duration::from_millis(900 * (sent.len() as u64 - 1));
    assert!(
        span >= least,
        "{} requests in {span:?} at --max-rps 1",
        sent.len()
    );
}

#[test]
fn the_node_host_stores_attachment_files_as_host_runner_does() {
    let mock = mock(MockConfig {
        files: vec![0, 70_000, 1 << 20],
        ..MockConfig::default()
    });
    let files = Files::new();
    let mut config = mock.connector_config(100);
    config["table_id"] = json!(mock_feishu::files::FILES_TABLE_ID);
    config["attachments"] = json!("files");
    let config = files.json("config.json", &config);
    let catalog = files.json("catalog.json", &incremental_catalog("records_attachments"));
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let read = |dir: &std::path::Path, node: bool| {
        let dir = dir.to_string_lossy().into_owned();
        let args = [
            "read",
            "--config",
            &config,
            "--catalog",
            &catalog,
            "--files-dir",
            &dir,
        ];
        if node { node_host(&args) } else { run(&args) }
    };
    let reference = read(ours.path(), false);
    let node = read(theirs.path(), true);
    assert_eq!((node.code, reference.code), (0, 0), "{}", node.stderr);
    let without_time = |run: &Run| -> Vec<Value> {
        let mut records: Vec<Value> = run.records().into_iter().cloned().collect();
        for record in &mut records {
            record.as_object_mut().map(|r| r.remove("downloaded_at"));
        }
        records
    };
    assert_eq!(without_time(&node), without_time(&reference));
    assert_eq!(node.records().len(), 3);
    for record in reference.records() {
        let path = record["path"].as_str().unwrap();
        let a = std::fs::read(ours.path().join(path)).unwrap();
        let b = std::fs::read(theirs.path().join(path)).unwrap();
        assert!(a == b, "{path} differs between the hosts");
    }
    // The same states, apart from when each host's run began (`read_at`).
    let states = |run: &Run| {
        let mut states = states_of(run);
        for state in states.as_array_mut().into_iter().flatten() {
            let stream_state = state.pointer_mut("/stream/stream_state");
            stream_state
                .and_then(Value::as_object_mut)
                .map(|s| s.remove("read_at"));
        }
        states
    };
    assert_eq!(states(&node), states(&reference));
}
