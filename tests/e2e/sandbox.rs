//! The sandbox: outgoing HTTP only to what the operator granted (never to a host the component
//! proposes), a dial-time address policy, pooled connections, store-wide limits, and escaped
//! text from the component and the server.

use crate::harness::{
    Files, assert_exact_records, component, mock, read, run, run_command, runner, searches,
    workspace,
};
use mock_feishu::{Fault, MockConfig, MockFeishu};
use serde_json::Value;
use std::net::SocketAddr;

/// `read` with `config` and extra flags.
fn read_with(config: &Value, extra: &[&str]) -> crate::harness::Run {
    let files = Files::new();
    let config = files.json("config.json", config);
    let mut args = vec!["read", "--config", config.as_str()];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn requests_outside_the_allowlist_are_refused() {
    let mock = mock(MockConfig::with_records(3));
    for extra in [
        vec!["--no-config-hosts"],
        vec!["--no-config-hosts", "--allow-host", "http://127.0.0.1:1"],
    ] {
        let run = read(&mock, 100, &extra);
        run.assert_failed("config_error", "the sandbox refused POST /open-apis/auth");
        let logged = format!("sandbox refused a request to {}", mock.url());
        assert!(run.stderr.contains(&logged), "{}", run.stderr);
        assert!(
            run.trace_error()["message"]
                .as_str()
                .unwrap()
                .contains(&logged)
        );
        assert!(run.records().is_empty());
    }
    assert!(
        mock.requests().is_empty(),
        "no request may reach the server"
    );
}

#[test]
fn allow_host_patterns_grant_access_and_every_grant_is_logged() {
    let mock = mock(MockConfig::with_records(3));
    let run = read(&mock, 100, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let logged = format!(
        "INFO  outgoing HTTP allowed to {} (from config field lark_host)",
        mock.url()
    );
    assert!(run.stderr.contains(&logged), "{}", run.stderr);
    let pattern = format!("http://127.0.0.1:{}", mock.addr().port());
    let run = read(&mock, 100, &["--no-config-hosts", "--allow-host", &pattern]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, 3);
    assert!(
        run.stderr.contains(&format!(
            "outgoing HTTP allowed to {pattern} (from --allow-host)"
        )),
        "{}",
        run.stderr
    );
    let run = read(
        &mock,
        100,
        &["--no-config-hosts", "--allow-host", "http://127.0.0.1:*"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn a_default_host_in_the_spec_is_not_a_grant() {
    let mock = mock(MockConfig::with_records(3));
    let mut config = mock.connector_config(100);
    config.as_object_mut().unwrap().remove("lark_host");
    let run = read_with(&config, &[]);
    run.assert_failed(
        "config_error",
        "sandbox refused a request to https://open.feishu.cn (the connector's default for `lark_host`, which the config leaves out)",
    );
    let message = run.trace_error()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("--allow-host https://open.feishu.cn"),
        "{message}"
    );
    assert!(
        run.stderr.contains("outgoing HTTP allowed to: nothing"),
        "{}",
        run.stderr
    );
}

/// feishu.wasm with its spec and default host rewritten in place: the field `lark_host` becomes
/// `lark_hosz` and its default (https://open.feishu.cn) becomes `url`, as a hostile component
/// would propose a host of its choosing.
fn hostile_component(files: &Files, url: &str) -> String {
    let mut bytes = std::fs::read(component()).expect("read feishu.wasm");
    for (from, to) in [
        (b"https://open.feishu.cn".as_slice(), url.as_bytes()),
        (b"lark_host".as_slice(), b"lark_hosz".as_slice()),
    ] {
        assert_eq!(from.len(), to.len(), "a patch must keep the length");
        let mut at = 0;
        while let Some(i) = bytes[at..].windows(from.len()).position(|w| w == from) {
            bytes[at + i..at + i + from.len()].copy_from_slice(to);
            at += i + from.len();
        }
    }
    let path = std::path::Path::new(&files.text("unused", "")).with_file_name("hostile.wasm");
    std::fs::write(&path, bytes).expect("write hostile.wasm");
    path.to_string_lossy().into_owned()
}

#[test]
fn a_component_cannot_grant_itself_a_host() {
    let mock = mock(MockConfig::with_records(3));
    let url = mock.url();
    assert_eq!(
        url.len(),
        "https://open.feishu.cn".len(),
        "needs a 5-digit port"
    );
    let files = Files::new();
    let hostile = hostile_component(&files, &url);
    let mut config = mock.connector_config(100);
    config.as_object_mut().unwrap().remove("lark_host");
    let config = files.json("config.json", &config);
    let cache = workspace().join("target/e2e-wasm-cache");
    let spec = run_command(runner(hostile.as_ref(), &cache).arg("spec"));
    let proposed =
        &spec.of_type("SPEC")[0]["spec"]["connectionSpecification"]["properties"]["lark_hosz"];
    assert_eq!(proposed["default"], url.as_str(), "the patch took");
    assert_eq!(proposed["x-outbound-host"], true);
    let run = run_command(runner(hostile.as_ref(), &cache).args(["read", "--config", &config]));
    run.assert_failed(
        "config_error",
        &format!("sandbox refused a request to {url} (the connector's default for `lark_hosz`"),
    );
    assert!(
        mock.requests().is_empty(),
        "the secret must not reach the proposed host"
    );
}

#[test]
fn a_wildcard_never_reaches_loopback_through_a_name() {
    let mock = mock(MockConfig::with_records(3));
    let port = mock.addr().port();
    let mut config = mock.connector_config(100);
    config["lark_host"] = format!("http://localhost:{port}").into();
    let wildcard = format!("http://*:{port}");
    let run = read_with(&config, &["--no-config-hosts", "--allow-host", &wildcard]);
    run.assert_failed("config_error", "loopback or private address");
    assert!(
        run.stderr
            .contains("sandbox refused a connection to localhost: 127.0.0.1 is a loopback"),
        "{}",
        run.stderr
    );
    assert!(mock.requests().is_empty());
    // A grant that names the host literally may reach it.
    let run = read_with(&config, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, 3);
}

#[test]
fn link_local_addresses_are_never_dialled() {
    let mut config = mock(MockConfig::with_records(1)).connector_config(100);
    config["lark_host"] = "http://169.254.169.254".into();
    let run = read_with(&config, &[]);
    run.assert_failed("config_error", "never allowed");
    assert!(
        run.stderr.contains("169.254.169.254 is a link-local"),
        "{}",
        run.stderr
    );
}

#[test]
fn plain_http_off_this_machine_is_warned_about() {
    let mock = mock(MockConfig::with_records(1));
    let run = read(&mock, 100, &["--allow-host", "http://*.example.com"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("WARN  http://*.example.com allows plain http://")
            && run.stderr.contains("unencrypted"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&format!("WARN  {} allows", mock.url())));
}

#[test]
fn an_ipv6_literal_host_reads() {
    let addr: SocketAddr = "[::1]:0".parse().unwrap();
    let mock = MockFeishu::start_on(addr, MockConfig::with_records(250)).expect("mock on ::1");
    assert!(mock.url().starts_with("http://[::1]:"), "{}", mock.url());
    let run = read(&mock, 100, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, 250);
}

#[test]
fn a_pooled_connection_the_server_closed_is_resent_transparently() {
    let mock = mock(MockConfig::with_records(250).fault(2, Fault::CloseConnection));
    let run = read(&mock, 100, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, 250);
    let warnings: Vec<_> = run
        .of_type("LOG")
        .into_iter()
        .filter(|m| m["log"]["level"] != "INFO")
        .collect();
    assert!(warnings.is_empty(), "no WARN, no guest retry: {warnings:?}");
    assert!(!run.stderr.contains("WARN"), "{}", run.stderr);
    assert_eq!(searches(&mock), 4, "3 pages, one of them sent twice");
    let ports: Vec<u16> = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/records/search"))
        .map(|r| r.peer_port)
        .collect();
    assert_eq!(
        ports[0], ports[1],
        "the second page went out on the pooled connection"
    );
    assert_ne!(ports[1], ports[2], "and was sent again on a fresh one");
}

#[test]
fn memory_cap_stops_a_component_that_needs_more() {
    let mock = mock(MockConfig::with_records(3));
    let run = read(&mock, 100, &["--max-memory-mib", "1"]);
    run.assert_failed(
        "system_error",
        "the connector exceeded the memory limit of 1 MiB",
    );
    let message = run.trace_error()["message"].as_str().unwrap().to_string();
    assert!(message.contains("raise --max-memory-mib"), "{message}");
    assert!(
        run.stderr
            .contains("ERROR the connector exceeded the memory limit of 1 MiB"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn a_large_read_fits_in_a_small_memory_cap() {
    let mock = mock(MockConfig::with_records(2345));
    let run = read(&mock, 500, &["--max-memory-mib", "16"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, 2345);
}

#[test]
fn server_text_reaches_the_terminal_escaped() {
    let msg = "no access\u{1b}[2J\nINFO  forged runner line".to_string();
    let mock = mock(MockConfig::with_records(3).fault(
        1,
        Fault::Code {
            status: 200,
            code: 91402,
            msg,
        },
    ));
    let run = read(&mock, 100, &[]);
    assert_eq!(run.code, 4, "not found: a config error");
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("INFO  forged")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no access\\u{1b}[2J\\nINFO  forged"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_runners_environment_does_not_reach_the_component() {
    let mock = mock(MockConfig::with_records(600).fault(2, Fault::DropConnection));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(500));
    let cache = workspace().join("target/e2e-wasm-cache");
    let run = run_command(
        runner(component(), &cache)
            .args(["read", "--config", &config])
            .env("RUST_BACKTRACE", "1"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let logs = run.logs().join("\n");
    assert!(logs.contains("retrying"), "{logs}");
    for leak in ["stack backtrace", "backtrace", ".rs:", "/rustc/"] {
        assert!(!logs.contains(leak), "{leak:?} in {logs}");
        assert!(!run.stderr.contains(leak), "{leak:?} in {}", run.stderr);
    }
}

#[test]
fn wall_clock_cap_ends_a_read_waiting_on_the_network() {
    let mock = mock(MockConfig::with_records(1200).fault(2, Fault::Stall { secs: 30 }));
    let run = read(&mock, 500, &["--timeout-secs", "2"]);
    run.assert_failed("system_error", "did not finish within 2 s");
    assert_eq!(
        run.statuses(),
        vec!["records:STARTED", "records:INCOMPLETE"]
    );
    assert_eq!(run.records().len(), 500);
}
