//! `values: plain`: every field type of the mock's all-types table as the plain value an
//! analyst expects, with the schema that says its type; `raw` stays Feishu's shapes;
//! `user_id_type` reaches the search.

use crate::harness::{Files, Run, mock, run};
use mock_feishu::data::ALL_TYPES_TABLE_ID;
use mock_feishu::{MockConfig, MockFeishu};
use serde_json::{Value, json};

fn all_types_config(mock: &MockFeishu, values: &str) -> Value {
    let mut config = mock.connector_config(100);
    config["table_id"] = json!(ALL_TYPES_TABLE_ID);
    config["values"] = json!(values);
    config
}

fn with(config: &Value, command: &str) -> Run {
    let files = Files::new();
    let path = files.json("config.json", config);
    let run = run(&[command, "--config", &path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

fn fields_of(run: &Run) -> Vec<Value> {
    run.records()
        .iter()
        .map(|data| data["fields"].clone())
        .collect()
}

#[test]
fn every_field_type_reads_as_its_plain_value() {
    let mock = mock(MockConfig::with_records(1));
    let run = with(&all_types_config(&mock, "plain"), "read");
    let fields = fields_of(&run);
    assert_eq!(fields.len(), 4);
    assert_eq!(
        fields[0],
        json!({
            "文本": "你好 @张三链接",
            "条码": "6901234567890",
            "邮箱": "a@b.c",
            "数字": 0.66,
            "货币": 1999.99,
            "评分": 4,
            "单选": "进行中",
            "多选": ["前端", "🚀 launch"],
            "日期": "2025-01-01T00:00:00.000Z",
            "复选框": true,
            "人员": [{"id": "ou_00000000000000000000000000000001", "name": "张三", "email": "zhang.san@example.com"}],
            "电话": "+8613800000000",
            "超链接": "https://example.com",
            "附件": [{"file_token": "boxcnAll", "name": "图.png", "size": 2048, "mime_type": "image/png", "url": "https://example.com/a"}],
            "单向关联": ["recAllType0001"],
            "查找引用": "引用",
            "公式": 7,
            "双向关联": [],
            "地理位置": {"address": "北京市东城区天安门", "lng": 116.397755, "lat": 39.903179},
            "群组": [{"id": "oc_123", "name": "项目群", "email": null}],
            "流程": {"stage": "待开始"},
            "按钮": {"label": "提交"},
            "创建时间": "2025-01-01T00:00:00.000Z",
            "修改时间": "2025-01-01T00:00:01.000Z",
            "创建人": [{"id": "ou_00000000000000000000000000000001", "name": "张三", "email": "zhang.san@example.com"}],
            "修改人": [{"id": "ou_00000000000000000000000000000001", "name": "张三", "email": "zhang.san@example.com"}],
            "自动编号": "1",
            "未来字段": {"anything": [1, "two"]}
        })
    );
    // A modifier given as one person object still comes as a list; a cell left out stays out,
    // but an unticked checkbox is false.
    assert_eq!(fields[2]["修改人"][0]["name"], "Ōzora Ümit");
    assert_eq!(fields[1]["复选框"], false);
    assert_eq!(
        fields[3],
        json!({"文本": "只有文本", "自动编号": "4", "复选框": false})
    );
    // Record 2's formula is an error value: null, and one WARN for the stream.
    assert_eq!(fields[2]["公式"], Value::Null);
    assert_eq!(fields[1]["公式"], 42.5);
    let warnings: Vec<&str> = run
        .logs()
        .into_iter()
        .filter(|l| l.contains("error values"))
        .collect();
    assert_eq!(
        warnings,
        ["stream `records`: formula or lookup error values were made null (\"公式\": 1)"]
    );
    assert!(
        run.logs()
            .iter()
            .any(|l| l.contains("pass through unchanged: \"未来字段\" (type 9999)")),
        "{:?}",
        run.logs()
    );
    // The record's own columns are unchanged.
    let first = run.records()[0];
    assert_eq!(first["record_id"], "recAllTyp0000");
    assert!(first["last_modified_time"].is_i64());
    assert_eq!(
        first["created_by"],
        json!({"id": "ou_00000000000000000000000000000001", "name": "张三", "email": "zhang.san@example.com"})
    );
}

#[test]
fn discover_says_each_plain_type() {
    let mock = mock(MockConfig::with_records(1));
    let run = with(&all_types_config(&mock, "plain"), "discover");
    let schema = &run.of_type("CATALOG")[0]["catalog"]["streams"][0]["json_schema"];
    // Each property without the field's id and type marks (tests/e2e/schema_changes.rs).
    let ty = |name: &str| {
        let mut property = schema["properties"]["fields"]["properties"][name].clone();
        let marks = property.as_object_mut().map(|p| {
            let id = p.remove("x-feishu-field-id");
            (id.is_some(), p.remove("x-feishu-field-type").is_some())
        });
        assert_eq!(marks, Some((true, true)), "{name}");
        property
    };
    assert_eq!(ty("文本"), json!({"type": ["null", "string"]}));
    assert_eq!(ty("数字"), json!({"type": ["null", "number"]}));
    assert_eq!(ty("复选框"), json!({"type": ["null", "boolean"]}));
    assert_eq!(
        ty("日期"),
        json!({"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone"})
    );
    assert_eq!(ty("公式"), json!({"type": ["null", "number"]}));
    assert_eq!(ty("查找引用"), json!({"type": ["null", "string"]}));
    assert_eq!(
        ty("单向关联"),
        json!({"type": ["null", "array"], "items": {"type": "string"}})
    );
    assert_eq!(ty("未来字段"), json!({}));
}

#[test]
fn raw_values_stay_feishus_shapes_and_are_the_default() {
    let mock = mock(MockConfig::with_records(1));
    let raw = fields_of(&with(&all_types_config(&mock, "raw"), "read"));
    let mut default = all_types_config(&mock, "raw");
    default.as_object_mut().map(|c| c.remove("values"));
    assert_eq!(fields_of(&with(&default, "read")), raw);
    assert_eq!(raw[0]["公式"], json!({"type": 2, "value": [7]}));
    assert_eq!(raw[0]["日期"], json!(1_735_689_600_000i64));
    assert!(raw[1].get("复选框").is_some() && raw[3].get("复选框").is_none());
}

#[test]
fn user_id_type_reaches_the_search() {
    let mock = mock(MockConfig::with_records(1));
    let mut config = all_types_config(&mock, "plain");
    config["user_id_type"] = json!("union_id");
    with(&config, "read");
    let searches: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/records/search"))
        .collect();
    assert!(!searches.is_empty());
    for search in searches {
        assert_eq!(
            search.query.get("user_id_type").map(String::as_str),
            Some("union_id")
        );
    }
    config["user_id_type"] = json!("email");
    let files = Files::new();
    let path = files.json("config.json", &config);
    let bad = run(&["check", "--config", &path]);
    assert!(
        bad.stdout
            .contains("config field `user_id_type` must be one of open_id, union_id, user_id"),
        "{}",
        bad.stdout
    );
}

#[test]
fn raw_records_are_the_bytes_feishu_sent() {
    let mock = mock(MockConfig::with_records(120));
    let run = crate::harness::read(&mock, 50, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with(r#"{"type":"RECORD""#))
        .collect();
    assert_eq!(lines.len(), 120);
    for (index, line) in lines.iter().enumerate() {
        // The mock writes each record as serde_json's compact text; every protocol line
        // escapes U+2028 and U+2029 (JSON allows them raw, JavaScript line readers do not).
        let sent = serde_json::to_string(&mock.current_record(index))
            .unwrap()
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        let data = format!(r#","data":{sent},"emitted_at":"#);
        assert!(line.contains(&data), "record {index}:\n{line}\nnot\n{data}");
    }
}

#[test]
fn values_that_contradict_their_type_become_null_with_one_warning_per_field() {
    let page = json!({"code": 0, "msg": "success", "data": {"has_more": false, "total": 2, "items": [
        {"record_id": "recOdd1", "fields": {"数量": "abc", "完成": "true", "关联任务": [1, 2],
                                            "状态": 5, "截止日期": 1e20, "任务名称": "fine"}},
        {"record_id": "recOdd2", "fields": {"数量": "12.5", "完成": 1, "截止日期": -1e15}}
    ]}});
    let mock =
        mock(MockConfig::with_records(2).fault(1, mock_feishu::Fault::Answer(page.to_string())));
    let mut config = mock.connector_config(100);
    config["values"] = json!("plain");
    let run = with(&config, "read");
    let fields = fields_of(&run);
    assert_eq!(
        fields[0],
        json!({"数量": null, "完成": null, "关联任务": null, "状态": null, "截止日期": null,
               "任务名称": "fine"})
    );
    assert_eq!(
        fields[1],
        json!({"数量": 12.5, "完成": null, "截止日期": null})
    );
    let warnings: Vec<&str> = run
        .logs()
        .into_iter()
        .filter(|l| l.contains("did not fit its type"))
        .collect();
    assert_eq!(
        warnings,
        [
            "stream `records`: 1 values of field \"关联任务\" did not fit its type and were made null",
            "stream `records`: 2 values of field \"完成\" did not fit its type and were made null",
            "stream `records`: 2 values of field \"截止日期\" did not fit its type and were made null",
            "stream `records`: 1 values of field \"数量\" did not fit its type and were made null",
            "stream `records`: 1 values of field \"状态\" did not fit its type and were made null",
        ]
    );
}
