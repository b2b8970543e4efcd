//! The sandbox: outgoing HTTP only to allowed hosts, a memory cap and a wall-clock cap.

use crate::harness::{assert_exact_records, mock, read};
use mock_feishu::{Fault, MockConfig};

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
        assert!(run.records().is_empty());
    }
    assert!(
        mock.requests().is_empty(),
        "no request may reach the server"
    );
}

#[test]
fn allow_host_patterns_grant_access() {
    let mock = mock(MockConfig::with_records(3));
    let pattern = format!("http://127.0.0.1:{}", mock.addr().port());
    let run = read(&mock, 100, &["--no-config-hosts", "--allow-host", &pattern]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, 3);
    let run = read(
        &mock,
        100,
        &["--no-config-hosts", "--allow-host", "http://127.0.0.1:*"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn memory_cap_stops_a_component_that_needs_more() {
    let mock = mock(MockConfig::with_records(3));
    let run = read(&mock, 100, &["--max-memory-mib", "1"]);
    assert_eq!(run.code, 1);
    let error = run.trace_error();
    assert_eq!(error["failure_type"], "system_error");
    let internal = error["internal_message"].as_str().unwrap_or_default();
    assert!(
        internal.contains("memory limit of 1 MiB") && internal.contains("--max-memory-mib"),
        "{error}"
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
