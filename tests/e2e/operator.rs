//! Operating the runner by hand: `--output FILE` written atomically, and `--log-level`.

use crate::harness::{Files, expected_records, mock, read, run};
use mock_feishu::{Fault, MockConfig};
use serde_json::Value;

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn output_is_written_to_a_file_only_when_the_read_succeeds() {
    let mock = mock(MockConfig::with_records(1200));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(500));
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("out.jsonl");
    let out_arg = out.to_string_lossy().into_owned();
    let ok = run(&["read", "--config", &config, "--output", &out_arg]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.is_empty(), "stdout stays empty: {}", ok.stdout);
    let written: Vec<Value> = std::fs::read_to_string(&out)
        .expect("the output file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .filter(|m: &Value| m["type"] == "RECORD")
        .map(|m| m["record"]["data"].clone())
        .collect();
    assert_eq!(written, expected_records(1200));
    assert_eq!(
        entries(out_dir.path()),
        ["out.jsonl"],
        "no temporary file left"
    );

    let broken = mock_feishu::MockFeishu::start(
        MockConfig::with_records(1200).fault(2, Fault::BrokenRecord),
    )
    .expect("mock");
    let config = files.json("broken.json", &broken.connector_config(500));
    let failed_out = out_dir.path().join("failed.jsonl");
    let failed_arg = failed_out.to_string_lossy().into_owned();
    let failed = run(&["read", "--config", &config, "--output", &failed_arg]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        !failed_out.exists(),
        "a failed read leaves no file that looks complete"
    );
    assert_eq!(
        entries(out_dir.path()),
        ["out.jsonl"],
        "no temporary file left"
    );
    assert!(
        failed.stderr.contains("was not written"),
        "{}",
        failed.stderr
    );
}

#[test]
fn log_level_filters_logs_but_never_errors() {
    let mock = mock(MockConfig::with_records(1200).fault(2, Fault::GatewayTimeout));
    let info = read(&mock, 500, &[]);
    assert!(
        info.logs().iter().any(|l| l.contains("retrying")),
        "{:?}",
        info.logs()
    );
    assert!(info.logs().iter().any(|l| l.contains("read 1200 records")));
    assert!(info.stderr.contains("INFO "));

    // A fresh mock: the fault is on the second search it sees.
    let fresh =
        crate::harness::mock(MockConfig::with_records(1200).fault(2, Fault::GatewayTimeout));
    let warn = read(&fresh, 500, &["--log-level", "warn"]);
    assert_eq!(warn.code, 0, "{}", warn.stderr);
    assert!(
        warn.logs().iter().any(|l| l.contains("retrying")),
        "{:?}",
        warn.logs()
    );
    assert!(!warn.logs().iter().any(|l| l.contains("read 1200 records")));
    assert!(!warn.stderr.contains("INFO "), "{}", warn.stderr);

    let broken =
        mock_feishu::MockFeishu::start(MockConfig::with_records(600).fault(1, Fault::BrokenRecord))
            .expect("mock");
    let error = read(&broken, 500, &["--log-level", "error"]);
    assert_eq!(error.code, 1);
    assert!(error.logs().is_empty(), "{:?}", error.logs());
    assert!(error.stderr.contains("ERROR "), "{}", error.stderr);
    error.trace_error();
}

#[test]
fn exit_codes_tell_failures_apart() {
    let files = Files::new();
    let code_of = |config: &Value, extra: &[&str]| {
        let path = files.json("config.json", config);
        let mut args = vec!["read", "--config", path.as_str()];
        args.extend_from_slice(extra);
        run(&args).code
    };
    let fine = mock(MockConfig::with_records(3));
    let good = fine.connector_config(100);
    assert_eq!(code_of(&good, &[]), 0);
    let mut bad_page = good.clone();
    bad_page["page_size"] = 0.into();
    assert_eq!(code_of(&bad_page, &[]), 4, "config error");
    let mut bad_secret = good.clone();
    bad_secret["app_secret"] = "wrong".into();
    assert_eq!(code_of(&bad_secret, &[]), 5, "auth error");
    assert_eq!(code_of(&good, &["--no-config-hosts"]), 7, "sandbox refusal");
    let down = mock(MockConfig {
        faults: (1..=10).map(|n| (n, Fault::GatewayTimeout)).collect(),
        ..MockConfig::with_records(3)
    });
    assert_eq!(
        code_of(&down.connector_config(100), &[]),
        6,
        "transient, retries exhausted"
    );
    let broken = mock(MockConfig::with_records(3).fault(1, Fault::BrokenRecord));
    assert_eq!(
        code_of(&broken.connector_config(100), &[]),
        1,
        "a bad answer"
    );
}

/// The number before `what` in `text` ("12 requests" → 12).
fn figure(text: &str, what: &str) -> u64 {
    let at = text
        .find(what)
        .unwrap_or_else(|| panic!("{what:?} not in {text}"));
    text[..at]
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure before {what:?} in {text}"))
}

#[test]
fn the_summary_matches_what_the_server_saw() {
    let mock = mock(
        MockConfig::with_records(1200)
            .fault(2, Fault::RateLimited { reset_secs: 1 })
            .fault(3, Fault::ExpireTokens),
    );
    let run = read(&mock, 500, &["--max-rps", "20"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = run
        .logs()
        .into_iter()
        .find(|l| l.starts_with("summary: read 1200 records of 1 streams"))
        .unwrap_or_else(|| panic!("no summary in {:?}", run.logs()))
        .to_string();
    let seen = mock.requests();
    assert_eq!(
        figure(&summary, " requests,"),
        seen.len() as u64,
        "{summary}"
    );
    assert_eq!(
        figure(&summary, " of them counted by the upstream's quota"),
        (seen.len() - crate::harness::token_requests(&mock)) as u64,
        "token requests are declared uncounted by the spec: {summary}"
    );
    assert_eq!(figure(&summary, " answers retried"), 1, "the 429");
    // The refused instance waits for the reset itself; the limiter holds only the others.
    assert_eq!(
        figure(&summary, " requests held by the rate limiter"),
        0,
        "{summary}"
    );
    // The stream's: everything but the run's first token (the refreshed one, the retry and
    // the pages were sent while reading it).
    assert!(
        summary.contains(&format!(
            "stream `records`: 1200 records with {} requests in",
            seen.len() - 1
        )),
        "{summary}"
    );
    assert!(
        run.stderr.contains("INFO  summary: read 1200 records"),
        "{}",
        run.stderr
    );
}

/// Runs host-runner under a pseudo-terminal (util-linux `script`), stdout to a file; returns
/// what the terminal showed and what stdout held.
fn under_a_terminal(args: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let stdout = dir.path().join("stdout.jsonl");
    let typescript = dir.path().join("typescript");
    let command = format!(
        "{} {} --cache-dir {} {} > {}",
        env!("CARGO_BIN_EXE_host-runner"),
        crate::harness::component().display(),
        crate::harness::workspace()
            .join("target/e2e-wasm-cache")
            .display(),
        args.join(" "),
        stdout.display()
    );
    let status = std::process::Command::new("script")
        .args(["-qfec", &command])
        .arg(&typescript)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run `script` (util-linux) for a pseudo-terminal");
    assert!(status.success(), "{command}");
    (
        String::from_utf8_lossy(&std::fs::read(&typescript).expect("typescript")).into_owned(),
        std::fs::read_to_string(&stdout).expect("stdout file"),
    )
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let mock = mock(MockConfig::with_records(3000));
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(500));
    let (terminal, stdout) = under_a_terminal(&["read", "--config", &config, "--max-rps", "0"]);
    assert!(terminal.contains("records/s"), "{terminal}");
    assert!(
        terminal.contains("\r\x1b[2K"),
        "redrawn in place: {terminal:?}"
    );
    assert!(
        terminal.contains("records: 3000 records, 6 pages, COMPLETE"),
        "{terminal}"
    );
    assert!(!stdout.contains("records/s"));
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("\"type\":\"RECORD\""))
            .count(),
        3000
    );

    let (quiet, _) = under_a_terminal(&["read", "--config", &config, "--max-rps", "0", "--quiet"]);
    assert!(!quiet.contains("records/s"), "{quiet}");
    let piped = read(&mock, 500, &[]);
    assert!(!piped.stderr.contains("records/s"), "{}", piped.stderr);
}

#[test]
fn debug_logs_show_each_request_without_secrets() {
    let mock = mock(MockConfig::with_records(1200));
    let run = read(&mock, 500, &["--log-level", "debug"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let searches: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("DEBUG POST") && l.contains("/records/search"))
        .collect();
    assert_eq!(searches.len(), 3, "{}", run.stderr);
    assert!(
        searches[0].contains("/apps/**********/tables/"),
        "{}",
        searches[0]
    );
    assert!(searches[0].contains("→ 200, ") && searches[0].contains(" bytes, first byte after "));
    assert!(!run.stderr.contains("page_token="), "no query strings");
    // (Every run is also checked for the app secret, the token and the app_token.)
}
