//! Secret references: config values `${env:NAME}` and `${file:PATH}` are resolved by the
//! runner, so the config file need not hold the secret; a missing one is a config error naming
//! the field, before any request; the resolved value is masked like every secret.

use crate::harness::{Files, Run, component, mock, run_command, runner, workspace};
use mock_feishu::{APP_SECRET, MockConfig};
use serde_json::json;

fn with_env(args: &[&str], name: &str, value: &str) -> Run {
    let cache = workspace().join("target/e2e-wasm-cache");
    run_command(runner(component(), &cache).args(args).env(name, value))
}

#[test]
fn a_secret_from_the_environment_or_a_file_reads_like_one_in_the_config() {
    let mock = mock(MockConfig::with_records(5));
    let files = Files::new();
    let mut config = mock.connector_config(100);
    config["app_secret"] = json!("${env:FEISHU_E2E_APP_SECRET}");
    let path = files.json("env.json", &config);
    let from_env = with_env(
        &["read", "--config", &path],
        "FEISHU_E2E_APP_SECRET",
        APP_SECRET,
    );
    assert_eq!(from_env.code, 0, "{}", from_env.stderr);
    assert_eq!(from_env.records().len(), 5);

    let secret_file = files.text("secret.txt", &format!("{APP_SECRET}\n"));
    config["app_secret"] = json!(format!("${{file:{secret_file}}}"));
    let path = files.json("file.json", &config);
    let from_file = with_env(&["check", "--config", &path], "UNUSED", "");
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    assert_eq!(
        from_file.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"],
        "SUCCEEDED"
    );
}

#[test]
fn a_reference_that_cannot_be_resolved_is_a_config_error_before_any_request() {
    let mock = mock(MockConfig::with_records(5));
    let files = Files::new();
    let mut config = mock.connector_config(100);
    config["app_secret"] = json!("${env:FEISHU_E2E_SURELY_UNSET}");
    let path = files.json("config.json", &config);
    let run = with_env(&["read", "--config", &path], "UNUSED", "");
    run.assert_failed(
        "config_error",
        "config field `app_secret` refers to environment variable FEISHU_E2E_SURELY_UNSET, \
         which is not set",
    );
    assert!(mock.requests().is_empty(), "no request");
}

#[test]
fn the_app_secret_stays_with_the_host_and_reaches_feishu_in_the_token_request() {
    let mock = mock(MockConfig::with_records(5));
    let files = Files::new();
    let path = files.json("config.json", &mock.connector_config(100));
    let run = with_env(&["read", "--config", &path], "UNUSED", "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("kept by the host (the component sees a placeholder): app_secret"),
        "{}",
        run.stderr
    );
    // The mock checks the app secret of the token request: the read succeeded, so the host
    // put the real value back in place of the placeholder the component sent.
    assert_eq!(run.records().len(), 5);
    let cache = workspace().join("target/e2e-wasm-cache");
    let inspect = runner(component(), &cache)
        .args(["inspect", "--config", &path])
        .output()
        .expect("run inspect");
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        text.contains("kept by the host (the component sees a placeholder): app_secret"),
        "{text}"
    );
}
