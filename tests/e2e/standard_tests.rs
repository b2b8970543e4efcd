//! Airbyte's own standard source tests (airbyte-cdk's `SourceTestSuiteBase`, in-process route)
//! against host-runner + feishu.wasm and the mock: spec lint (secrets marked), config vs spec,
//! check (good, whole-Base, bad secret), discover, basic read with schema validation at
//! strictness high, and a read with a bad catalog. The suite's Docker-image tests run in
//! `image.rs`, against the connector image.

use crate::harness::{component, mock, venv_python, workspace};
use mock_feishu::{MockConfig, MockFeishu};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PACKAGES: [&str; 2] = ["airbyte-cdk==7.39.1", "pytest==9.2.0"];

/// A venv under target/ with the pinned airbyte-cdk, made on first use.
pub fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        venv_python(
            "cdk-venv",
            &PACKAGES,
            "import airbyte_cdk.test.standard_tests, pytest",
        )
    })
}

fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, value.to_string()).expect("write config");
}

/// A connector root for the suite in a temp dir (the suite names the connector after it): the
/// files of tests/standard, and three configs for `mock` (one table, the whole Base, a wrong
/// secret). Returns the temp dir (removed when dropped) and the root.
pub fn suite_root(mock: &MockFeishu) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("source-feishu-wasm");
    std::fs::create_dir_all(root.join("secrets")).expect("mkdir");
    for file in [
        "acceptance-test-config.yml",
        "conftest.py",
        "source_feishu_wasm.py",
        "test_standard.py",
    ] {
        std::fs::copy(
            workspace().join("tests/standard").join(file),
            root.join(file),
        )
        .expect("copy the standard-test files");
    }
    let config = mock.connector_config(10);
    write_json(&root.join("secrets/config.json"), &config);
    let mut base = config.clone();
    base.as_object_mut().map(|o| o.remove("table_id"));
    write_json(&root.join("secrets/config_base.json"), &base);
    let mut bad = config;
    bad["app_secret"] = "wrong-secret".into();
    write_json(&root.join("secrets/config_bad_secret.json"), &bad);
    (dir, root)
}

#[test]
fn airbytes_standard_source_tests_pass() {
    let mock = mock(MockConfig::with_records(25));
    let (_dir, root) = suite_root(&mock);

    let runner_args = serde_json::json!(["--cache-dir", workspace().join("target/e2e-wasm-cache")]);
    let out = Command::new(python())
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rA",
            "-k",
            "not docker",
        ])
        .current_dir(&root)
        .env("FEISHU_WASM_RUNNER", env!("CARGO_BIN_EXE_host-runner"))
        .env("FEISHU_WASM_COMPONENT", component())
        .env("FEISHU_WASM_RUNNER_ARGS", runner_args.to_string())
        .output()
        .expect("run pytest");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "standard tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for test in [
        "test_spec",
        "test_config_matches_spec['config' ",
        "test_check['config_bad_secret' ",
        "test_check['config_base' ",
        "test_discover['config_base' ",
        "test_basic_read['config' ",
        "test_basic_read['config_base' ",
        "test_fail_read_with_bad_catalog['config' ",
    ] {
        assert!(
            report.contains(&format!("PASSED test_standard.py::TestFeishuWasm::{test}")),
            "{test} did not pass:\n{report}"
        );
    }
    assert!(!report.contains("FAILED"), "{report}");
}
