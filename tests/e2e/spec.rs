//! `spec`: the connection specification users and platforms configure the source from.

use crate::harness::run;
use serde_json::json;

#[test]
fn spec_describes_the_airbyte_feishu_fields() {
    let run = run(&["spec"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.messages.len(), 1);
    let spec = &run.of_type("SPEC")[0]["spec"];
    let conn = &spec["connectionSpecification"];
    assert_eq!(conn["type"], "object");
    assert_eq!(conn["required"], json!(["app_id", "app_secret"]));
    let props = conn["properties"].as_object().expect("properties");
    let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "app_id",
            "app_secret",
            "app_token",
            "attachments",
            "base_url",
            "detect_deletes",
            "lark_host",
            "max_api_calls",
            "max_downloads",
            "page_size",
            "revision_recheck_hours",
            "sync_every",
            "table_id",
            "table_ranges",
            "user_id_type",
            "values",
            "view_id"
        ]
    );
    assert_eq!(props["values"]["enum"], json!(["raw", "plain"]));
    assert_eq!(props["values"]["default"], "raw");
    assert_eq!(props["detect_deletes"]["default"], false);
    assert_eq!(props["attachments"]["enum"], json!(["links", "files"]));
    assert_eq!(props["attachments"]["default"], "links");
    assert_eq!(props["max_downloads"]["default"], 10000);
    assert_eq!(props["max_api_calls"]["minimum"], 1);
    assert!(
        props["max_api_calls"].get("default").is_none(),
        "no budget unless asked"
    );
    assert_eq!(
        props["user_id_type"]["enum"],
        json!(["open_id", "union_id", "user_id"])
    );
    for secret in ["app_id", "app_secret", "app_token", "base_url"] {
        assert_eq!(props[secret]["airbyte_secret"], true, "{secret}");
    }
    assert_eq!(props["page_size"]["type"], "integer");
    assert_eq!(props["page_size"]["minimum"], 1);
    assert_eq!(props["page_size"]["maximum"], 500);
    assert_eq!(props["page_size"]["default"], 100);
    assert_eq!(props["table_ranges"]["default"], 1);
    assert_eq!(props["revision_recheck_hours"]["default"], 24);
    assert_eq!(props["table_ranges"]["maximum"], 8);
    assert_eq!(props["lark_host"]["default"], "https://open.feishu.cn");
    for (name, prop) in props {
        assert!(
            prop["title"].is_string() && prop["description"].is_string(),
            "{name}"
        );
    }
    assert!(spec["documentationUrl"].is_string());
    assert_eq!(
        spec["connectionSpecification"]["anyOf"],
        serde_json::json!([
            {"title": "By ids", "required": ["app_token"]},
            {"title": "By link", "required": ["base_url"]}
        ])
    );
}
