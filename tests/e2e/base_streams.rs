//! A whole Base: one stream per table with readable, stable names and typed schemas; catalog
//! selection; views; Base and wiki links.

use crate::harness::{Files, Run, expected_records, mock, run};
use mock_feishu::data::{
    self, ALL_TYPES_TABLE_ID, DUP_TABLE_IDS, EMPTY_TABLE_ID, ODD_DESC_VIEW, TABLE_ID,
    WIKI_DOC_NODE, WIKI_NODE,
};
use mock_feishu::{Fault, MockConfig, MockFeishu};
use serde_json::{Value, json};

const MAIN: &str = "项目任务_Tasks_tblMockTable0001";
const ALL_TYPES: &str = "全部字段_All_types_tblAllTypes00001";
const DUP_A: &str = "重复_tblDupName000001";
const DUP_B: &str = "重复_tblDupName000002";

/// A config for the whole Base (no table_id).
pub fn base_config(mock: &MockFeishu) -> Value {
    let mut config = mock.connector_config(100);
    config.as_object_mut().map(|o| o.remove("table_id"));
    config
}

fn with_config(config: &Value, args: &[&str]) -> Run {
    let files = Files::new();
    let path = files.json("config.json", config);
    let mut all = vec![args[0], "--config", &path];
    let catalog;
    if let Some(cat) = args.get(1) {
        catalog = files.text("catalog.json", cat);
        all.extend(["--catalog", &catalog]);
    }
    all.extend(args.iter().skip(2));
    run(&all)
}

fn stream_names(catalog: &Value) -> Vec<String> {
    catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The records of `stream`, in order.
fn records_of<'a>(run: &'a Run, stream: &str) -> Vec<&'a Value> {
    run.of_type("RECORD")
        .into_iter()
        .filter(|m| m["record"]["stream"] == stream)
        .map(|m| &m["record"]["data"])
        .collect()
}

#[test]
fn discover_offers_every_table_with_readable_unique_names() {
    let mock = mock(MockConfig::with_records(3));
    let run = with_config(&base_config(&mock), &["discover"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let catalog = &run.of_type("CATALOG")[0]["catalog"];
    assert_eq!(
        stream_names(catalog),
        [MAIN, ALL_TYPES, EMPTY_TABLE_ID, DUP_A, DUP_B]
    );
    let logs = run.logs();
    assert!(
        logs.iter().any(|l| l.contains("skipping ldxEmbeddedDoc01")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.contains("\"未来字段\" (type 9999)")),
        "{logs:?}"
    );
    let table_pages = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/tables"))
        .count();
    assert_eq!(table_pages, 3, "the tables list comes in three pages");
    for stream in catalog["streams"].as_array().expect("streams") {
        assert_eq!(stream["source_defined_primary_key"], json!([["record_id"]]));
        assert_eq!(
            stream["supported_sync_modes"],
            json!(["full_refresh", "incremental"])
        );
    }
}

#[test]
fn schemas_are_typed_from_the_fields() {
    let mock = mock(MockConfig::with_records(3));
    let run = with_config(&base_config(&mock), &["discover"]);
    let catalog = &run.of_type("CATALOG")[0]["catalog"];
    let all_types = catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["name"] == ALL_TYPES)
        .expect("all types");
    let props = &all_types["json_schema"]["properties"];
    let fields = &props["fields"]["properties"];
    let ty = |name: &str| fields[name]["type"].clone();
    assert_eq!(props["record_id"]["type"], "string");
    assert_eq!(props["created_time"]["type"], json!(["null", "integer"]));
    assert_eq!(ty("数字"), json!(["null", "number"]));
    assert_eq!(ty("复选框"), json!(["null", "boolean"]));
    assert_eq!(ty("多选"), json!(["null", "array"]));
    assert_eq!(ty("日期"), json!(["null", "integer"]));
    assert_eq!(ty("单选"), json!(["null", "string"]));
    assert_eq!(ty("公式"), json!(["null", "object"]));
    assert_eq!(ty("修改人"), json!(["null", "array", "object"]));
    assert_eq!(
        fields["未来字段"],
        json!({"x-feishu-field-id": "fld0000028", "x-feishu-field-type": 9999}),
        "an unknown type: any value, and the field's marks"
    );
    assert_eq!(
        fields.as_object().map(|o| o.len()),
        Some(data::table_fields(ALL_TYPES_TABLE_ID).len())
    );
}

#[test]
fn read_without_catalog_reads_every_table() {
    let mock = mock(MockConfig::with_records(7));
    let run = with_config(&base_config(&mock), &["read"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let main: Vec<Value> = records_of(&run, MAIN).into_iter().cloned().collect();
    assert_eq!(main, expected_records(7));
    assert_eq!(records_of(&run, ALL_TYPES).len(), data::ALL_TYPES_RECORDS);
    assert_eq!(records_of(&run, EMPTY_TABLE_ID).len(), 0);
    let empty = format!(
        "stream `{EMPTY_TABLE_ID}`: the table read no records. If the Base has advanced permissions on"
    );
    assert!(
        run.logs().iter().any(|l| l.starts_with(&empty)),
        "{:?}",
        run.logs()
    );
    assert_eq!(
        run.logs()
            .iter()
            .filter(|l| l.contains("read no records"))
            .count(),
        1,
        "only the empty table"
    );
    assert_eq!(records_of(&run, DUP_A).len(), 1);
    assert_eq!(records_of(&run, DUP_B).len(), 2);
    let statuses = run.statuses();
    for stream in [MAIN, ALL_TYPES, EMPTY_TABLE_ID, DUP_A, DUP_B] {
        assert!(
            statuses.contains(&format!("{stream}:STARTED"))
                && statuses.contains(&format!("{stream}:COMPLETE")),
            "{stream}"
        );
    }
    let counts: Vec<(String, f64)> = run
        .of_type("STATE")
        .iter()
        .map(|m| {
            (
                m["state"]["stream"]["stream_descriptor"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                m["state"]["sourceStats"]["recordCount"]
                    .as_f64()
                    .unwrap_or(-1.0),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            (MAIN.into(), 7.0),
            (ALL_TYPES.into(), 4.0),
            (EMPTY_TABLE_ID.into(), 0.0),
            (DUP_A.into(), 1.0),
            (DUP_B.into(), 2.0)
        ]
    );
}

fn catalog_of(names: &[&str]) -> String {
    let streams: Vec<Value> = names
        .iter()
        .map(|n| json!({"stream": {"name": n, "json_schema": {}, "supported_sync_modes": ["full_refresh"]}, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}))
        .collect();
    json!({"streams": streams}).to_string()
}

#[test]
fn the_catalog_selects_streams_and_survives_renames() {
    let mock = mock(MockConfig::with_records(7));
    let renamed = "旧名字_tblDupName000001";
    let run = with_config(
        &base_config(&mock),
        &["read", &catalog_of(&[DUP_B, renamed]), "--concurrency", "1"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.statuses(),
        [
            format!("{DUP_B}:STARTED"),
            format!("{DUP_B}:COMPLETE"),
            format!("{renamed}:STARTED"),
            format!("{renamed}:COMPLETE")
        ]
    );
    assert_eq!(records_of(&run, renamed).len(), 1);
    let searched: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/search"))
        .map(|r| r.path.clone())
        .collect();
    assert!(
        searched
            .iter()
            .all(|p| p.contains(DUP_TABLE_IDS[0]) || p.contains(DUP_TABLE_IDS[1])),
        "{searched:?}"
    );
}

#[test]
fn a_stream_whose_table_is_gone_fails_alone() {
    let mock = mock(MockConfig::with_records(7));
    let run = with_config(
        &base_config(&mock),
        &[
            "read",
            &catalog_of(&["gone_tblNoSuchTable1", MAIN]),
            "--concurrency",
            "1",
        ],
    );
    run.assert_failed(
        "config_error",
        "stream `gone_tblNoSuchTable1`: its table tblNoSuchTable1 is no longer in the Base",
    );
    assert_eq!(
        run.trace_error()["stream_descriptor"]["name"],
        "gone_tblNoSuchTable1"
    );
    assert_eq!(
        run.statuses(),
        vec![
            "gone_tblNoSuchTable1:INCOMPLETE".to_string(),
            format!("{MAIN}:STARTED"),
            format!("{MAIN}:COMPLETE")
        ]
    );
    assert_eq!(run.records().len(), 7, "the other stream is read in full");
}

#[test]
fn a_view_reads_its_records_in_its_order() {
    let mock = mock(MockConfig::with_records(9));
    let mut config = mock.connector_config(3);
    config["view_id"] = json!(ODD_DESC_VIEW);
    let run = with_config(&config, &["read"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let want: Vec<Value> = [7, 5, 3, 1]
        .iter()
        .map(|&i| data::record(i, true))
        .collect();
    let got: Vec<Value> = run.records().into_iter().cloned().collect();
    assert_eq!(got, want);
    let bodies: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/search"))
        .map(|r| r.body.clone())
        .collect();
    assert!(
        bodies.iter().all(|b| b.contains(ODD_DESC_VIEW)),
        "{bodies:?}"
    );
}

#[test]
fn a_base_link_fills_app_table_and_view() {
    let mock = mock(MockConfig::with_records(9));
    let mut config = base_config(&mock);
    config.as_object_mut().map(|o| o.remove("app_token"));
    config["base_url"] = json!(format!(
        "https://acme.feishu.cn/base/{}?table={TABLE_ID}&view={ODD_DESC_VIEW}",
        data::APP_TOKEN
    ));
    let run = with_config(&config, &["read"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records().len(), 4);
    assert_eq!(run.statuses(), ["records:STARTED", "records:COMPLETE"]);
}

#[test]
fn a_wiki_link_is_resolved_to_its_base() {
    let mock = mock(MockConfig::with_records(2));
    let mut config = base_config(&mock);
    config["app_token"] = json!(format!("https://acme.feishu.cn/wiki/{WIKI_NODE}"));
    let run = with_config(&config, &["discover"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(stream_names(&run.of_type("CATALOG")[0]["catalog"]).len(), 5);
    assert!(
        mock.requests().iter().any(
            |r| r.path == "/open-apis/wiki/v2/spaces/get_node" && r.query["token"] == WIKI_NODE
        )
    );

    config["app_token"] = json!(format!("https://acme.larksuite.com/wiki/{WIKI_DOC_NODE}"));
    let run = with_config(&config, &["read"]);
    run.assert_failed("config_error", "is a docx document, not a Base");
}

#[test]
fn bad_links_say_what_was_expected() {
    let mock = mock(MockConfig::with_records(2));
    for link in [
        "https://acme.feishu.cn/docx/AbC",
        "https://example.com/base/AbC",
        "acme.feishu.cn/base/AbC",
    ] {
        let mut config = base_config(&mock);
        config["base_url"] = json!(link);
        config.as_object_mut().map(|o| o.remove("app_token"));
        let run = with_config(&config, &["read"]);
        assert_eq!(run.code, 4, "{link}");
        let message = run.trace_error()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            message.starts_with("config field `base_url` is not a usable link")
                && message.contains("https://<tenant>.feishu.cn/base/<app_token>"),
            "{link}: {message}"
        );
    }
    assert!(mock.requests().is_empty());
}

#[test]
fn a_stream_refused_by_feishu_does_not_lose_the_others() {
    let forbidden = Fault::Code {
        status: 403,
        code: 91403,
        msg: "Forbidden".into(),
    };
    let mock = mock(MockConfig::with_records(7).fault(1, forbidden));
    let run = with_config(
        &base_config(&mock),
        &[
            "read",
            &catalog_of(&[MAIN, ALL_TYPES, DUP_B]),
            "--concurrency",
            "1",
        ],
    );
    run.assert_failed("config_error", "91403");
    assert_eq!(run.trace_error()["stream_descriptor"]["name"], MAIN);
    assert!(records_of(&run, MAIN).is_empty());
    assert_eq!(records_of(&run, ALL_TYPES).len(), data::ALL_TYPES_RECORDS);
    assert_eq!(records_of(&run, DUP_B).len(), 2);
    let statuses = run.statuses();
    assert!(
        statuses.contains(&format!("{MAIN}:INCOMPLETE")),
        "{statuses:?}"
    );
    for stream in [ALL_TYPES, DUP_B] {
        assert!(
            statuses.contains(&format!("{stream}:COMPLETE")),
            "{stream}: {statuses:?}"
        );
    }
}

#[test]
fn hostile_table_ids_give_safe_unique_stream_names() {
    let extra = [
        ("tbl/../etc", "坏/表"),
        ("tbl?x=1", "坏/表"),
        ("tbl\u{7}\u{1b}[31m", "坏/表"),
        (TABLE_ID, "again"),
    ];
    let mock = mock(MockConfig {
        extra_tables: extra
            .iter()
            .map(|(id, name)| (id.to_string(), name.to_string()))
            .collect(),
        ..MockConfig::with_records(3)
    });
    let config = base_config(&mock);
    let run = with_config(&config, &["discover"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let catalog = &run.of_type("CATALOG")[0]["catalog"];
    let names = stream_names(catalog);
    let odd: Vec<&String> = names.iter().filter(|n| n.starts_with("坏_表_")).collect();
    assert_eq!(odd.len(), 3, "{names:?}");
    for name in &names {
        assert!(
            name.chars().all(|c| c.is_alphanumeric() || c == '_'),
            "{name:?}"
        );
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(names.iter().filter(|n| n.ends_with(TABLE_ID)).count(), 1);
    assert!(
        run.logs()
            .iter()
            .any(|l| l.contains("names table \"tblMockTable0001\" more than once")),
        "{:?}",
        run.logs()
    );
    // The discovered catalog is taken back by read.
    let streams: Vec<Value> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stream| {
            json!({"stream": stream, "sync_mode": "full_refresh",
                   "destination_sync_mode": "overwrite"})
        })
        .collect();
    let catalog = json!({ "streams": streams });
    let read = with_config(&config, &["read", &catalog.to_string()]);
    assert!(
        !read.stderr.contains("configured catalog selects"),
        "{}",
        read.stderr
    );
    assert_eq!(records_of(&read, MAIN).len(), 3, "{}", read.stderr);
}
