//! Upstream faults: retryable ones still yield the exact full record set; the others end the
//! read with the right TRACE ERROR, an INCOMPLETE stream and a non-zero exit.

use crate::harness::{Run, assert_exact_records, mock, read, searches, token_requests};
use mock_feishu::{Fault, MockConfig};

const N: usize = 1200;
const PAGE: u32 = 500;

/// Reads N records with `fault` on the second page request.
fn read_with(fault: Fault) -> (Run, mock_feishu::MockFeishu) {
    let mock = mock(MockConfig::with_records(N).fault(2, fault));
    let run = read(&mock, PAGE, &[]);
    (run, mock)
}

fn assert_recovered(fault: Fault) -> Run {
    let (run, mock) = read_with(fault.clone());
    assert_eq!(run.code, 0, "{fault:?}: {}", run.stderr);
    assert_exact_records(&run, N);
    assert_eq!(searches(&mock), 4, "{fault:?}: three pages and one retry");
    assert_eq!(run.statuses(), vec!["records:STARTED", "records:COMPLETE"]);
    run
}

/// Asserts the read failed; `pages` pages arrived before it did, once each.
fn assert_failed(fault: Fault, failure_type: &str, needle: &str, pages: usize) -> Run {
    let (run, _mock) = read_with(fault.clone());
    run.assert_failed(failure_type, needle);
    assert_eq!(
        run.statuses(),
        vec!["records:STARTED", "records:INCOMPLETE"]
    );
    assert!(
        run.of_type("STATE").is_empty(),
        "no state after a failed full refresh"
    );
    assert_exact_records(&run, pages * PAGE as usize);
    run
}

#[test]
fn rate_limit_429_waits_for_reset_then_continues() {
    let run = assert_recovered(Fault::RateLimited { reset_secs: 1 });
    assert!(
        run.stderr.contains("99991400") && run.stderr.contains("retrying in 1000 ms"),
        "{}",
        run.stderr
    );
}

#[test]
fn bitable_too_many_requests_backs_off_then_continues() {
    assert_recovered(Fault::TooManyRequests);
}

#[test]
fn token_expiring_mid_read_is_refreshed() {
    let (run, mock) = read_with(Fault::ExpireTokens);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, N);
    assert_eq!(token_requests(&mock), 2);
    assert_eq!(searches(&mock), 4);
}

#[test]
fn data_not_ready_is_retried() {
    let run = assert_recovered(Fault::DataNotReady);
    assert!(run.stderr.contains("1254607"), "{}", run.stderr);
}

#[test]
fn gateway_timeout_is_retried() {
    assert_recovered(Fault::GatewayTimeout);
}

#[test]
fn server_error_with_html_body_is_retried() {
    assert_recovered(Fault::ServerErrorHtml);
}

#[test]
fn dropped_connection_is_retried() {
    assert_recovered(Fault::DropConnection);
}

#[test]
fn stalled_response_times_out_and_is_retried() {
    let mock = mock(MockConfig::with_records(N).fault(2, Fault::Stall { secs: 5 }));
    let run = read(&mock, PAGE, &["--request-timeout-secs", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, N);
    assert_eq!(searches(&mock), 4);
}

#[test]
fn a_body_cut_short_is_retried_like_a_dropped_connection() {
    let run = assert_recovered(Fault::MalformedJson);
    assert!(run.stderr.contains("was cut short"), "{}", run.stderr);
}

#[test]
fn a_page_too_large_is_read_in_smaller_pages() {
    let too_large = Fault::Code {
        status: 200,
        code: 1254030,
        msg: "ResponseTooLarge".into(),
    };
    let mock = mock(MockConfig::with_records(N).fault(2, too_large));
    let run = read(&mock, PAGE, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_exact_records(&run, N);
    let sizes: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/records/search"))
        .filter_map(|r| r.query.get("page_size").cloned())
        .collect();
    assert_eq!(
        sizes,
        ["500", "500", "250", "250", "250"],
        "halved once, then kept"
    );
    let warnings: Vec<&str> = run
        .logs()
        .into_iter()
        .filter(|l| l.contains("too large"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn invalid_json_inside_a_record_fails_without_a_partial_page() {
    let run = assert_failed(
        Fault::BrokenRecord,
        "system_error",
        "item 1 of the page is not valid JSON",
        1,
    );
    assert!(
        run.trace_error()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("records page 2")
    );
}

#[test]
fn repeating_page_token_stops_instead_of_looping() {
    // The second page's records are new; only its next-page token is bad.
    assert_failed(
        Fault::RepeatPageToken,
        "system_error",
        "repeats an earlier page_token",
        2,
    );
}

#[test]
fn has_more_without_page_token_fails() {
    assert_failed(
        Fault::MissingPageToken,
        "system_error",
        "has_more but carries no page_token",
        2,
    );
}

#[test]
fn feishu_error_code_with_http_200_fails_with_code_and_log_id() {
    let fault = Fault::Code {
        status: 200,
        code: 1254302,
        msg: "RolePermNotAllow".into(),
    };
    let run = assert_failed(
        fault,
        "config_error",
        "code 1254302 (RolePermNotAllow), log_id mocklog1254302",
        1,
    );
    assert!(
        run.trace_error()["internal_message"]
            .as_str()
            .unwrap_or_default()
            .contains("Permission")
    );
}

#[test]
fn persistent_server_errors_give_up_as_transient() {
    let mut config = MockConfig::with_records(N);
    for n in 2..=7 {
        config = config.fault(n, Fault::GatewayTimeout);
    }
    let mock = mock(config);
    let run = read(&mock, PAGE, &[]);
    run.assert_failed("transient_error", "gave up after 5 retries");
    assert_eq!(searches(&mock), 7);
    assert_eq!(run.records().len(), PAGE as usize);
}
