//! Every line host-runner prints validates against the Airbyte protocol models
//! (airbyte-protocol-models-pdv2), and every record against its stream's JSON schema
//! (jsonschema); both are installed into a venv under target/ on first use.

use crate::harness::{Files, mock, read, run, venv_python, workspace};
use mock_feishu::{Fault, MockConfig};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const PACKAGES: [&str; 2] = ["airbyte-protocol-models-pdv2==0.18.0", "jsonschema==4.23.0"];

fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        venv_python(
            "protocol-venv",
            &PACKAGES,
            "import airbyte_protocol.models, jsonschema",
        )
    })
}

/// Runs a validator script with `stdin` as input; panics with its report when it fails.
fn validate(script: &str, args: &[&str], stdin: &str) {
    let mut child = Command::new(python())
        .arg(workspace().join("tests/protocol").join(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run validator");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write lines");
    let out = child.wait_with_output().expect("validator output");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn every_record_matches_its_streams_schema() {
    every_record_of_the_base_matches_its_schema(serde_json::json!("raw"));
}

#[test]
fn every_plain_record_matches_its_streams_schema() {
    every_record_of_the_base_matches_its_schema(serde_json::json!("plain"));
}

/// Reads the whole Base with `values` and validates every record against the schema
/// `discover` gave its stream, at strictness high.
fn every_record_of_the_base_matches_its_schema(values: serde_json::Value) {
    let mock = mock(MockConfig::with_records(50));
    let files = Files::new();
    let mut config = mock.connector_config(20);
    config.as_object_mut().map(|o| o.remove("table_id"));
    config["values"] = values;
    let config = files.json("config.json", &config);
    let discovered = run(&["discover", "--config", &config]);
    assert_eq!(discovered.code, 0, "{}", discovered.stderr);
    let catalog = files.text(
        "catalog.jsonl",
        discovered
            .stdout
            .lines()
            .find(|l| l.contains("\"CATALOG\""))
            .expect("catalog"),
    );
    let read = run(&["read", "--config", &config]);
    assert_eq!(read.code, 0, "{}", read.stderr);
    assert_eq!(read.records().len(), 50 + 4 + 1 + 2);
    validate("validate_records.py", &[&catalog], &read.stdout);
}

fn assert_valid_protocol(stdout: &str) {
    validate("validate.py", &[], stdout);
}

#[test]
fn every_line_of_a_read_is_a_valid_protocol_message() {
    let mock = mock(MockConfig::with_records(1200).fault(2, Fault::TooManyRequests));
    let ok = read(&mock, 500, &[]);
    assert_eq!(ok.code, 0);
    assert!(!ok.of_type("LOG").is_empty() && !ok.of_type("STATE").is_empty());
    assert_valid_protocol(&ok.stdout);

    let broken = mock_feishu::MockFeishu::start(
        MockConfig::with_records(1200).fault(2, Fault::BrokenRecord),
    )
    .expect("mock");
    let failed = read(&broken, 500, &[]);
    assert_eq!(failed.code, 1);
    assert_valid_protocol(&failed.stdout);
}

#[test]
fn spec_check_and_discover_print_valid_messages() {
    let mock = mock(MockConfig::with_records(2));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(100));
    let mut bad = mock.connector_config(100);
    bad["app_secret"] = serde_json::json!("wrong");
    let bad = files.json("bad.json", &bad);
    for args in [
        vec!["spec"],
        vec!["check", "--config", &config],
        vec!["check", "--config", &bad],
        vec!["discover", "--config", &config],
        vec!["discover", "--config", &bad],
    ] {
        let done = run(&args);
        assert!(!done.stdout.is_empty(), "{args:?}");
        assert_valid_protocol(&done.stdout);
    }
}

#[test]
fn attachments_streams_print_valid_messages_and_records() {
    let mock = mock(MockConfig {
        files: vec![0, 2048],
        ..MockConfig::default()
    });
    let files = Files::new();
    let mut config = mock.connector_config(100);
    config["table_id"] = serde_json::json!(mock_feishu::files::FILES_TABLE_ID);
    config["attachments"] = serde_json::json!("files");
    let config = files.json("config.json", &config);
    let discovered = run(&["discover", "--config", &config]);
    assert_eq!(discovered.code, 0, "{}", discovered.stderr);
    assert_valid_protocol(&discovered.stdout);
    let catalog_line = discovered
        .stdout
        .lines()
        .find(|l| l.contains("\"CATALOG\""))
        .expect("catalog");
    let catalog = files.text("catalog.jsonl", catalog_line);
    let configured = serde_json::json!({"streams": [{
        "stream": {"name": "records_attachments"}, "sync_mode": "incremental",
        "destination_sync_mode": "append_dedup", "include_files": true}]});
    let configured = files.json("configured.json", &configured);
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_string_lossy().into_owned();
    let read = run(&[
        "read",
        "--config",
        &config,
        "--catalog",
        &configured,
        "--files-dir",
        &dir,
    ]);
    assert_eq!(read.code, 0, "{}", read.stderr);
    assert_eq!(read.records().len(), 2);
    assert_valid_protocol(&read.stdout);
    validate("validate_records.py", &[&catalog], &read.stdout);
}
