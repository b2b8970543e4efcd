//! `read` emits every record exactly once, in order, whatever the table size and page size.

use crate::harness::{assert_exact_records, mock, read, searches};
use mock_feishu::MockConfig;

fn read_table(n: usize, page_size: u32) {
    let mock = mock(MockConfig::with_records(n));
    let run = read(&mock, page_size, &[]);
    assert_eq!(run.code, 0, "n={n} page_size={page_size}: {}", run.stderr);
    assert_exact_records(&run, n);
    let pages = n.div_ceil(page_size as usize).max(1);
    assert_eq!(searches(&mock), pages, "n={n} page_size={page_size}");
    assert_eq!(run.statuses(), vec!["records:STARTED", "records:COMPLETE"]);
    let states = run.of_type("STATE");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0]["state"]["sourceStats"]["recordCount"], n as f64);
    assert!(
        mock.requests()
            .iter()
            .filter(|r| r.path.ends_with("/search"))
            .all(|r| r.query["page_size"] == page_size.to_string())
    );
}

#[test]
fn empty_table_reads_no_records() {
    for page_size in [1, 100, 500] {
        read_table(0, page_size);
    }
}

#[test]
fn one_record_table() {
    for page_size in [1, 100, 500] {
        read_table(1, page_size);
    }
}

#[test]
fn tables_around_the_page_limit() {
    for n in [499, 500, 501] {
        for page_size in [100, 500] {
            read_table(n, page_size);
        }
    }
}

#[test]
fn page_size_one_walks_every_page() {
    for n in [499, 500, 501] {
        read_table(n, 1);
    }
}

#[test]
fn larger_table_at_every_page_size() {
    for page_size in [1, 100, 500] {
        read_table(2345, page_size);
    }
}

#[test]
fn records_come_with_automatic_fields_and_one_token() {
    let mock = mock(MockConfig::with_records(3));
    let run = read(&mock, 2, &[]);
    assert_eq!(run.code, 0);
    for record in run.records() {
        assert!(record["created_time"].is_i64() && record["last_modified_time"].is_i64());
    }
    let requests = mock.requests();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.ends_with("tenant_access_token/internal"))
            .count(),
        1
    );
    for search in requests.iter().filter(|r| r.path.ends_with("/search")) {
        assert_eq!(search.authorization.as_deref(), Some("Bearer t-mock000001"));
        assert_eq!(search.body, r#"{"automatic_fields":true}"#);
    }
}

#[test]
fn connections_are_kept_alive_across_pages() {
    let mock = mock(MockConfig::with_records(2345));
    let run = read(&mock, 100, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = mock.requests();
    let mut ports: Vec<u16> = requests.iter().map(|r| r.peer_port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(requests.len(), 25);
    assert!(
        ports.len() <= 2,
        "{} connections for {} requests",
        ports.len(),
        requests.len()
    );
}
