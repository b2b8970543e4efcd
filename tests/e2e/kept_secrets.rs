//! Secrets the host keeps, held the same in every host that can load a component (host-runner's
//! CLI and library, Node; Python's test is `python/tests/test_kept_secrets.py`): the probe
//! component (`probe/`) shows the config it was handed (as a record, a log line and its state)
//! and sends the secret it sees in a header, a body and a URL query to a granted host and to one
//! no grant covers. The real secret must arrive only in the header and body of the request to
//! the granted host, and appear nowhere in the output.

use crate::harness::{Files, Run, guest_component, mock, run_command, runner, workspace};
use mock_feishu::{MockConfig, MockFeishu};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The secret the operator configures (long enough for every host's placeholders).
const REAL: &str = "probe-real-secret-7Qm2Xv9Lp4Kd";

fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| guest_component("probe", "probe", "target/e2e-guest"))
}

/// A granted recorder, one that no grant covers, and the probe's config naming both.
fn recorders() -> (MockFeishu, MockFeishu, Value) {
    let granted = mock(MockConfig::default());
    let other = mock(MockConfig::default());
    let config = json!({"secret": REAL, "granted_url": granted.url(), "other_url": other.url()});
    (granted, other, config)
}

/// What every host must do with the probe's requests and output.
fn assert_kept(run: &Run, granted: &MockFeishu, other: &MockFeishu) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = run.records();
    let seen = records[0]["config"]["secret"]
        .as_str()
        .expect("the config the probe saw");
    assert_ne!(seen, REAL, "the component holds a placeholder");
    assert!(seen.len() >= 16, "{seen}");
    for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains(REAL), "the real secret in {what}: {text}");
    }
    assert!(
        run.logs()
            .iter()
            .any(|l| l.starts_with("probe config: ") && l.contains(seen)),
        "the probe logged the placeholder: {:?}",
        run.logs()
    );
    let requests = granted.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.path, "/probe");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {REAL}").as_str()),
        "the header carries the real value"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&request.body).expect("JSON body"),
        json!({"app_id": "probe", "app_secret": REAL}),
        "the body carries the real value (its length set for it)"
    );
    assert_eq!(
        request.query.get("probe").map(String::as_str),
        Some(seen),
        "the URL keeps the placeholder"
    );
    assert!(
        other.requests().is_empty(),
        "nothing reaches a host no grant covers"
    );
}

fn read_args(files: &Files, config: &Value) -> Vec<String> {
    vec![
        "read".into(),
        "--config".into(),
        files.json("config.json", config),
    ]
}

#[test]
fn host_runner_puts_the_secret_only_into_the_granted_request() {
    let (granted, other, config) = recorders();
    let files = Files::new();
    let cache = workspace().join("target/e2e-wasm-cache");
    let run = run_command(runner(probe(), &cache).args(read_args(&files, &config)));
    assert_kept(&run, &granted, &other);
    assert!(
        run.stderr
            .contains("kept by the host (the component sees a placeholder): secret"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_node_host_puts_the_secret_only_into_the_granted_request() {
    let (granted, other, config) = recorders();
    let files = Files::new();
    let run = run_command(
        Command::new(workspace().join("scripts/node-host.sh"))
            .arg(probe())
            .args(read_args(&files, &config)),
    );
    assert_kept(&run, &granted, &other);
}
