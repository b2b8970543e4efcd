//! `host-runner COMPONENT inspect`: what a component imports and exports, the hosts its spec
//! asks for, and what a run would grant it, before running it.

use crate::harness::{Files, component, mock, runner, workspace};
use mock_feishu::MockConfig;
use serde_json::Value;

fn inspect(args: &[&str]) -> (i32, String) {
    let out = runner(component(), &workspace().join("target/e2e-wasm-cache"))
        .arg("inspect")
        .args(args)
        .output()
        .expect("run host-runner");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8"),
    )
}

#[test]
fn inspect_shows_the_interface_and_the_grants() {
    let mock = mock(MockConfig::with_records(1));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(100));
    let (code, text) = inspect(&["--config", &config, "--json", "--offline"]);
    assert_eq!(code, 0, "{text}");
    let view: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        view["exports"],
        serde_json::json!(["spec", "check", "discover", "read"])
    );
    let imports: Vec<&str> = view["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("wasi:http/outgoing-handler"))
    );
    assert!(
        !imports
            .iter()
            .any(|i| i.starts_with("wasi:filesystem") || i.starts_with("wasi:sockets")),
        "{imports:?}"
    );
    assert_eq!(view["host_fields"][0]["field"], "lark_host");
    assert_eq!(view["host_fields"][0]["value"], "https://open.feishu.cn");
    assert_eq!(view["grants"][0]["pattern"], mock.url().as_str());
    assert_eq!(view["grants"][0]["source"], "config field lark_host");
    assert_eq!(view["max_memory_mib"], 256);
    assert_eq!(view["concurrency"], 4);
    assert!(
        imports
            .iter()
            .any(|i| i.starts_with("datasource:connector/files")),
        "{imports:?}"
    );
    let files_dir = std::path::absolute("files").unwrap();
    assert_eq!(view["files_dir"], files_dir.display().to_string());
    assert!(view.get("check").is_none(), "{view}");
    assert!(
        mock.requests().is_empty(),
        "inspect --offline sends nothing"
    );

    let mut budgeted = mock.connector_config(100);
    budgeted["max_api_calls"] = serde_json::json!(50);
    let config = files.json("budgeted.json", &budgeted);
    let (code, text) = inspect(&["--config", &config]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("4 streams at once\n"), "{text}");
    let dir = files.text("dir-marker", "");
    let dir = std::path::Path::new(&dir).parent().unwrap().join("out");
    let dir_arg = dir.to_string_lossy().into_owned();
    let (code, text) = inspect(&["--config", &config, "--offline", "--files-dir", &dir_arg]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "files it hands over go under {dir_arg} (--files-dir)"
        )),
        "{text}"
    );

    let mut no_host = mock.connector_config(100);
    no_host.as_object_mut().map(|o| o.remove("lark_host"));
    let config = files.json("no-host.json", &no_host);
    let (code, text) = inspect(&[
        "--config",
        &config,
        "--allow-host",
        "https://*.larksuite.com",
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("https://*.larksuite.com (from --allow-host)"),
        "{text}"
    );
    assert!(
        text.contains(
            "not https://open.feishu.cn: the default of `lark_host`, which the config leaves out"
        ),
        "{text}"
    );
}

#[test]
fn inspect_with_a_config_shows_what_reads_would_cost() {
    let mock = mock(MockConfig::with_records(1200));
    let files = Files::new();
    let mut config = mock.connector_config(500);
    config["sync_every"] = serde_json::json!("30m");
    let config = files.json("config.json", &config);
    let (code, text) = inspect(&["--config", &config]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("checking the config (through the grants above), the component said:"),
        "{text}"
    );
    // 1440 runs a month, 30 of them re-checking the table (3 calls), the others 1.
    assert!(
        text.contains(
            "incremental reads every 30m (`sync_every`) about 1500 a month (15%) of the free \
             plan's 10000"
        ),
        "{text}"
    );
    assert!(text.contains("  check: succeeded\n"), "{text}");
    assert_eq!(
        mock.requests().len(),
        2,
        "the check's token and a one-record search"
    );

    let (code, text) = inspect(&["--config", &config, "--json"]);
    assert_eq!(code, 0, "{text}");
    let view: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(view["check"]["succeeded"], true);
    let logs = view["check"]["logs"].as_array().expect("logs");
    assert!(
        logs.iter().any(|l| l
            .as_str()
            .is_some_and(|l| l.starts_with("quota (calls Feishu counts"))),
        "{logs:?}"
    );
}
