//! The connection specification (`spec`) and the discovered catalog (`discover`).

use crate::config::{DEFAULT_HOST, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use serde_json::{Value, json};

/// Name of the single stream: the configured table's records.
pub const RECORDS_STREAM: &str = "records";

/// The connector specification, with field names as in Airbyte's Feishu source.
pub fn specification() -> Value {
    json!({
        "documentationUrl": "https://open.feishu.cn/document/server-docs/docs/bitable-v1/bitable-overview",
        "connectionSpecification": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Feishu / Lark Bitable Source Spec",
            "type": "object",
            "required": ["app_id", "app_secret", "app_token", "table_id"],
            "additionalProperties": true,
            "properties": {
                "app_id": {
                    "type": "string", "order": 0, "title": "App ID", "airbyte_secret": true,
                    "description": "App ID of the self-built app (cli_...), from the Feishu / Lark developer console."
                },
                "app_secret": {
                    "type": "string", "order": 1, "title": "App Secret", "airbyte_secret": true,
                    "description": "App secret of the self-built app. The app needs the bitable:app:readonly scope and must be added to the Base."
                },
                "app_token": {
                    "type": "string", "order": 2, "title": "App Token",
                    "description": "Token of the Base: the part after /base/ in its URL."
                },
                "table_id": {
                    "type": "string", "order": 3, "title": "Table ID",
                    "description": "ID of the table to read (tbl...): the `table` parameter of the Base URL."
                },
                "lark_host": {
                    "type": "string", "order": 4, "title": "Open API Host",
                    "default": DEFAULT_HOST,
                    "examples": [DEFAULT_HOST, "https://open.larksuite.com"],
                    "pattern": "^https?://[^/?#@]+/?$",
                    "x-outbound-host": true,
                    "description": "Open API host: https://open.feishu.cn for Feishu, https://open.larksuite.com for Lark."
                },
                "page_size": {
                    "type": "integer", "order": 5, "title": "Page Size",
                    "default": DEFAULT_PAGE_SIZE, "minimum": 1, "maximum": MAX_PAGE_SIZE,
                    "description": "Records fetched per request (1 to 500)."
                }
            }
        }
    })
}

/// The catalog: one `records` stream keyed by `record_id`.
pub fn catalog() -> Value {
    let nullable = |t: &str| json!({"type": ["null", t]});
    let person = json!({"type": ["null", "object"], "additionalProperties": true});
    json!({
        "streams": [{
            "name": RECORDS_STREAM,
            "json_schema": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "additionalProperties": true,
                "required": ["record_id"],
                "properties": {
                    "record_id": {"type": "string"},
                    "fields": {"type": ["null", "object"], "additionalProperties": true},
                    "created_time": nullable("integer"),
                    "last_modified_time": nullable("integer"),
                    "created_by": person.clone(),
                    "last_modified_by": person,
                    "shared_url": nullable("string"),
                    "record_url": nullable("string")
                }
            },
            "supported_sync_modes": ["full_refresh"],
            "source_defined_primary_key": [["record_id"]],
            "is_resumable": false
        }]
    })
}
