//! One big table read as ranges of creation time at once (`table_ranges`, full refresh): the
//! same records as a page-after-page read, each exactly once, also when records are added
//! during the read; small tables pay nothing for it.

use crate::harness::{Files, Run, mock, run};
use mock_feishu::data::CREATED_FIELD;
use mock_feishu::{Fault, MockConfig, MockFeishu};
use serde_json::Value;
use std::collections::BTreeMap;

/// A read of the main table with `table_ranges` set.
fn read_in_ranges(mock: &MockFeishu, page_size: u32, ranges: u32) -> Run {
    let files = Files::new();
    let mut config = mock.connector_config(page_size);
    config["table_ranges"] = ranges.into();
    let config = files.json("config.json", &config);
    run(&["read", "--config", &config])
}

/// Each record's JSON by record_id, and the ids emitted more than once.
fn by_id(run: &Run) -> (BTreeMap<String, Value>, Vec<String>) {
    let mut records = BTreeMap::new();
    let mut twice = Vec::new();
    for record in run.records() {
        let id = record["record_id"].as_str().unwrap_or_default().to_string();
        if records.insert(id.clone(), record.clone()).is_some() {
            twice.push(id);
        }
    }
    (records, twice)
}

/// The search bodies the mock saw that filter on the CreatedTime field.
fn ranged_searches(mock: &MockFeishu) -> usize {
    mock.requests()
        .iter()
        .filter(|r| {
            r.path.ends_with("/search")
                && r.body.contains(CREATED_FIELD)
                && r.body.contains("filter")
        })
        .count()
}

#[test]
fn ranges_read_the_same_records_as_one_pass_each_once() {
    // 3,000 records created half an hour apart span two months: three ranges of 16+ days.
    let mock = mock(MockConfig::with_records(3000));
    let split = read_in_ranges(&mock, 50, 4);
    assert_eq!(split.code, 0, "{}", split.stderr);
    assert!(
        split
            .logs()
            .iter()
            .any(|l| l.contains("reading 3 ranges of creation time at once")),
        "{:?}",
        split.logs()
    );
    assert!(
        ranged_searches(&mock) >= 3 * 20,
        "each range pages through its part"
    );
    let whole = read_in_ranges(&mock, 50, 1);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let (split_records, twice) = by_id(&split);
    assert!(twice.is_empty(), "emitted twice: {twice:?}");
    let (whole_records, _) = by_id(&whole);
    assert_eq!(split_records.len(), 3000);
    assert!(
        split_records == whole_records,
        "the ranges read other records than one pass"
    );
    let states = split.of_type("STATE");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0]["state"]["sourceStats"]["recordCount"], 3000.0);
}

#[test]
fn records_added_during_a_ranged_read_come_at_most_once() {
    let mock = mock(MockConfig::with_records(3000).fault(20, Fault::AddRecords { count: 7 }));
    let split = read_in_ranges(&mock, 50, 4);
    assert_eq!(split.code, 0, "{}", split.stderr);
    let (records, twice) = by_id(&split);
    assert!(twice.is_empty(), "emitted twice: {twice:?}");
    let original: Vec<String> = (0..3000).map(mock_feishu::data::record_id).collect();
    let missing: Vec<&String> = original
        .iter()
        .filter(|id| !records.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert!(records.len() <= 3007, "{}", records.len());
}

#[test]
fn small_or_short_lived_tables_are_read_in_one_pass_at_no_cost() {
    // 25 records: fewer pages than a split needs. The read costs the token and one search,
    // as without ranges: no fields list, no planning searches.
    let small = mock(MockConfig::with_records(25));
    let run = read_in_ranges(&small, 50, 4);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let paths: Vec<String> = small.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert_eq!(run.records().len(), 25);
    // 1,000 records over 21 days: many pages, but too short a span for two 16-day ranges.
    let young = mock(MockConfig::with_records(1000));
    let run = read_in_ranges(&young, 50, 4);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(ranged_searches(&young), 0);
    assert_eq!(by_id(&run).0.len(), 1000);
}

#[test]
fn ranges_fall_back_to_one_at_a_time_when_feishu_says_the_table_is_busy() {
    let mock = mock(
        MockConfig::with_records(3000)
            .fault(8, Fault::DataNotReady)
            .fault(9, Fault::DataNotReady),
    );
    let split = read_in_ranges(&mock, 50, 4);
    assert_eq!(split.code, 0, "{}", split.stderr);
    let (records, twice) = by_id(&split);
    assert!(twice.is_empty(), "emitted twice: {twice:?}");
    assert_eq!(records.len(), 3000);
    assert!(
        split.stderr.contains(
            "said the table was busy (code 1254607) more than once while 3 ranges were read at \
             once; reading one range at a time from here"
        ),
        "{}",
        split.stderr
    );
    // After the fallback (and the pages already in flight), each range is read to its end
    // before the next: the search bodies change at most once per range left.
    let bodies: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/search"))
        .skip(14)
        .map(|r| r.body.clone())
        .collect();
    let switches = bodies.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches <= 3, "{switches} switches between ranges");
}

#[test]
fn a_range_that_comes_back_short_is_read_once_more() {
    // The answer to one range's first page: nothing, though Feishu counts a thousand.
    let short = Fault::Answer(
        r#"{"code":0,"msg":"success","data":{"has_more":false,"total":1000,"items":[]}}"#.into(),
    );
    let mock = mock(MockConfig::with_records(3000).fault(5, short));
    let split = read_in_ranges(&mock, 50, 4);
    assert_eq!(split.code, 0, "{}", split.stderr);
    let (records, twice) = by_id(&split);
    assert!(twice.is_empty(), "emitted twice: {twice:?}");
    assert_eq!(records.len(), 3000, "the short range was read again");
    assert!(
        split.logs().iter().any(|l| l.contains(
            "a range of creation time gave 0 records where Feishu counted 1000; reading it once more"
        )),
        "{:?}",
        split.logs()
    );
}
