//! PyAirbyte, a client our users read with: it runs host-runner + feishu.wasm as a local
//! executable into its DuckDB cache, incrementally, and a record deleted in Feishu between two
//! reads (`detect_deletes`) reaches the cache as deleted: its row, merged on `record_id`, has
//! `_ab_cdc_deleted_at` set.

use crate::harness::{component, mock, venv_python, workspace};
use mock_feishu::{MockConfig, data};
use serde_json::{Value, json};
use std::process::Command;

const PACKAGES: [&str; 1] = ["airbyte==0.71.3"];

#[test]
fn a_record_deleted_in_feishu_reaches_the_pyairbyte_cache_as_deleted() {
    let python = venv_python("pyairbyte-venv", &PACKAGES, "import airbyte");
    let mock = mock(MockConfig::with_records(250));
    let mut config = mock.connector_config(100);
    config["detect_deletes"] = json!(true);
    let workdir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(python)
        .arg(workspace().join("tests/pyairbyte/read_deletes.py"))
        .arg(workdir.path())
        .env("FEISHU_WASM_RUNNER", env!("CARGO_BIN_EXE_host-runner"))
        .env("FEISHU_WASM_COMPONENT", component())
        .env(
            "FEISHU_WASM_CACHE",
            workspace().join("target/e2e-wasm-cache"),
        )
        .env("FEISHU_CONFIG", config.to_string())
        .env("FEISHU_MOCK_URL", mock.url())
        // No registry lookups and no telemetry: the machine reaches package registries only.
        .env("AIRBYTE_OFFLINE_MODE", "1")
        .env("DO_NOT_TRACK", "1")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "PyAirbyte failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no result line in:\n{stdout}"));
    assert_eq!(result["first"], json!({"rows": 250, "deleted": []}));
    let mut deleted = vec![data::record_id(4), data::record_id(120)];
    deleted.sort();
    assert_eq!(result["second"], json!({"rows": 250, "deleted": deleted}));
}
