//! Schema changes since discover: discover marks each field with its Feishu field id, and a
//! read whose table renamed a field since says so once, naming the field and the fix, and
//! still completes with the records under the field's new name.

use crate::harness::{Files, Run, mock, run};
use mock_feishu::{MockConfig, MockFeishu};
use serde_json::{Value, json};

/// The configured catalog a user saves from discover: every stream, full refresh.
fn discovered_catalog(mock: &MockFeishu, files: &Files) -> Value {
    let config = files.json("config.json", &mock.connector_config(100));
    let discover = run(&["discover", "--config", &config]);
    assert_eq!(discover.code, 0, "{}", discover.stderr);
    let streams: Vec<Value> = discover.of_type("CATALOG")[0]["catalog"]["streams"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|stream| json!({"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}))
        .collect();
    json!({ "streams": streams })
}

fn read(mock: &MockFeishu, files: &Files, catalog: &Value) -> Run {
    let config = files.json("config.json", &mock.connector_config(100));
    let catalog = files.json("catalog.json", catalog);
    let run = run(&["read", "--config", &config, "--catalog", &catalog]);
    assert_eq!(
        run.code, 0,
        "a schema change never fails a read: {}",
        run.stderr
    );
    run
}

fn schema_warnings(run: &Run) -> Vec<String> {
    run.logs()
        .into_iter()
        .filter(|l| l.contains("fields changed since discover"))
        .map(str::to_string)
        .collect()
}

#[test]
fn discover_marks_each_field_with_its_id_and_type() {
    let mock = mock(MockConfig::with_records(3));
    let catalog = discovered_catalog(&mock, &Files::new());
    let status = &catalog["streams"][0]["stream"]["json_schema"]["properties"]["fields"]["properties"]
        ["状态"];
    assert_eq!(status["x-feishu-field-id"], "fld0000004");
    assert_eq!(status["x-feishu-field-type"], 3);
}

#[test]
fn a_renamed_field_is_named_once_and_the_read_completes() {
    let mock = mock(MockConfig::with_records(250));
    let files = Files::new();
    let catalog = discovered_catalog(&mock, &files);
    let unchanged = read(&mock, &files, &catalog);
    assert!(schema_warnings(&unchanged).is_empty());

    mock.rename_field("状态", "阶段");
    let renamed = read(&mock, &files, &catalog);
    assert_eq!(
        schema_warnings(&renamed),
        [
            "stream `records`: the table's fields changed since discover: \"状态\" (fld0000004) \
             was renamed to \"阶段\". Records carry each field under its current name; run \
             discover again and update the catalog to take the change in"
        ]
    );
    assert_eq!(renamed.records().len(), 250);
    assert!(
        renamed
            .records()
            .iter()
            .all(|r| r["fields"].get("阶段").is_some() && r["fields"].get("状态").is_none())
    );
}
