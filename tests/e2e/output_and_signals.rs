//! The protocol stream is complete or the exit code says it is not: stdout failures, signals,
//! and lines that every reader splits the same way.

use crate::harness::{Files, assert_exact_records, component, mock, read, runner, workspace};
use mock_feishu::{Fault, MockConfig};
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cache() -> std::path::PathBuf {
    workspace().join("target/e2e-wasm-cache")
}

/// Runs host-runner with stdout going to `stdout`; returns (exit code, stderr).
fn run_into(stdout: Stdio, args: &[&str]) -> (i32, String) {
    let out = runner(component(), &cache())
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("run host-runner");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_full_disk_is_a_failure_for_every_command() {
    let mock = mock(MockConfig::with_records(1200));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(500));
    for args in [
        vec!["spec"],
        vec!["check", "--config", &config],
        vec!["discover", "--config", &config],
        vec!["read", "--config", &config],
    ] {
        let full = std::fs::File::create("/dev/full").expect("/dev/full");
        let (code, stderr) = run_into(full.into(), &args);
        assert_eq!(code, 3, "{args:?}: {stderr}");
        let line = "cannot write the protocol stream to stdout (No space left on device";
        assert_eq!(stderr.matches(line).count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn a_closed_stdout_is_a_failure() {
    let mock = mock(MockConfig::with_records(3000));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(500));
    let mut child = runner(component(), &cache())
        .args(["read", "--config", &config])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn sigterm_ends_a_read_incomplete_with_a_trace() {
    let mock = mock(MockConfig::with_records(1200).fault(2, Fault::Stall { secs: 30 }));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(500));
    let child = runner(component(), &cache())
        .args(["read", "--config", &config])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while crate::harness::searches(&mock) < 2 {
        assert!(Instant::now() < deadline, "the read never reached page 2");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Page 2 is asked for before page 1 is written: give page 1 time to go out.
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the signal did not stop the run"
    );
    assert_eq!(out.status.code(), Some(143));
    let messages: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let records = messages.iter().filter(|m| m["type"] == "RECORD").count();
    assert_eq!(records, 500, "the first page was written whole");
    // The end: INCOMPLETE, the TRACE ERROR, then the run's summary.
    let last_two: Vec<&Value> = messages
        .iter()
        .rev()
        .filter(|m| m["type"] == "TRACE")
        .take(2)
        .collect();
    assert_eq!(
        messages.last().map(|m| m["type"].clone()),
        Some("LOG".into())
    );
    let error = &last_two[0]["trace"]["error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("interrupted by SIGTERM"),
        "{error}"
    );
    assert_eq!(error["stream_descriptor"]["name"], "records");
    assert_eq!(error["failure_type"], "transient_error");
    assert_eq!(
        last_two[1]["trace"]["stream_status"]["status"],
        "INCOMPLETE"
    );
}

/// Whether Python's `str.splitlines()` would cut a line somewhere `\n` does not.
fn splits_like_python(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(
            c,
            '\r' | '\u{0b}'
                | '\u{0c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        )
    })
}

#[test]
fn every_line_survives_splitlines() {
    let mock = mock(MockConfig::with_records(30).fault(
        1,
        Fault::Code {
            status: 200,
            code: 1254290,
            msg: "slow\u{2028}down\u{2029}".into(),
        },
    ));
    let run = read(&mock, 10, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, 30);
    let text = run.records()[0]["fields"]["任务名称"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.contains('\u{2028}') && text.contains('\u{2029}'),
        "{text}"
    );
    assert!(!splits_like_python(&run.stdout));
    assert!(run.stdout.contains("\\u2028"));
}
