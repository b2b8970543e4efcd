//! The connection specification (`spec`) and the discovered catalog (`discover`).

use crate::config::ATTACHMENTS;
use crate::config::{
    DEFAULT_HOST, DEFAULT_PAGE_SIZE, DEFAULT_TABLE_RANGES, MAX_PAGE_SIZE, MAX_TABLE_RANGES,
    USER_ID_TYPES, VALUES,
};
use crate::state::incremental::CURSOR_FIELD;
use serde_json::{Value, json};

/// The connector specification, with field names as in Airbyte's Feishu source.
pub fn specification() -> Value {
    json!({
        "documentationUrl": "https://open.feishu.cn/document/server-docs/docs/bitable-v1/bitable-overview",
        "connectionSpecification": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Feishu / Lark Bitable Source Spec",
            "type": "object",
            "required": ["app_id", "app_secret"],
            // What Feishu allows (Bitable reads per app) and how it says to wait; hosts apply
            // it unless their operator sets another rate. Token requests do not count
            // against the tenant's monthly quota.
            "x-rate-limit": {"requests_per_second": 20, "reset_header": "x-ogw-ratelimit-reset"},
            "x-uncounted-paths": ["/open-apis/auth/"],
            "anyOf": [
                {"title": "By ids", "required": ["app_token"]},
                {"title": "By link", "required": ["base_url"]}
            ],
            "additionalProperties": true,
            "properties": {
                "app_id": {
                    "type": "string", "order": 0, "title": "App ID", "airbyte_secret": true,
                    "description": "App ID of the self-built app (cli_...), from the Feishu / Lark developer console."
                },
                "app_secret": {
                    "type": "string", "order": 1, "title": "App Secret", "airbyte_secret": true,
                    "x-host-secret": true,
                    "description": "App secret of the self-built app. The app needs the bitable:app:readonly scope and must be added to the Base."
                },
                "app_token": {
                    "type": "string", "order": 2, "title": "App Token", "airbyte_secret": true,
                    "description": "Token of the Base: the part after /base/ in its URL. Required unless base_url is given."
                },
                "table_id": {
                    "type": "string", "order": 3, "title": "Table ID",
                    "description": "One table to read as the stream `records` (tbl...: the `table` parameter of the Base URL). Leave empty to offer every table of the Base as a stream."
                },
                "view_id": {
                    "type": "string", "order": 4, "title": "View ID",
                    "description": "Read only this view's records, in its order (vew...: the `view` parameter of the Base URL). Needs table_id."
                },
                "base_url": {
                    "type": "string", "order": 5, "title": "Base Link", "airbyte_secret": true,
                    "description": "A link to the Base instead of the ids: https://<tenant>.feishu.cn/base/<app_token>?table=<table_id>&view=<view_id> (Lark links too), or a wiki link https://<tenant>.feishu.cn/wiki/<token>.",
                    "examples": ["https://example.feishu.cn/base/bascnXXXX?table=tblXXXX&view=vewXXXX"]
                },
                "lark_host": {
                    "type": "string", "order": 6, "title": "Open API Host",
                    "default": DEFAULT_HOST,
                    "examples": [DEFAULT_HOST, "https://open.larksuite.com"],
                    "pattern": "^https?://[^/?#@]+/?$",
                    "x-outbound-host": true,
                    "description": "Open API host: https://open.feishu.cn for Feishu, https://open.larksuite.com for Lark."
                },
                "page_size": {
                    "type": "integer", "order": 7, "title": "Page Size",
                    "default": DEFAULT_PAGE_SIZE, "minimum": 1, "maximum": MAX_PAGE_SIZE,
                    "description": "Records fetched per request (1 to 500)."
                },
                "table_ranges": {
                    "type": "integer", "order": 8, "title": "Ranges Read At Once From A Big Table",
                    "default": DEFAULT_TABLE_RANGES, "minimum": 1, "maximum": MAX_TABLE_RANGES,
                    "description": "Set 2 to 8 to read a big table faster over a slow network: a full refresh of a table with a Created time field, many pages and records created over weeks reads this many ranges of creation time at once (each record exactly once; records come in range order, not table order). 1 (default) reads every table page after page."
                },
                "values": {
                    "type": "string", "order": 9, "title": "Field Values",
                    "enum": VALUES, "default": "raw",
                    "description": "raw (default): each field as Feishu sends it (text as rich-text segments, people as objects, formulas wrapped). plain: each field as a plain typed value (text as a string, dates as ISO-8601 UTC, checkboxes as booleans, people as {id, name, email}, links as record ids, formulas unwrapped), and the schema says that type."
                },
                "user_id_type": {
                    "type": "string", "order": 10, "title": "User ID Type",
                    "enum": USER_ID_TYPES, "default": "open_id",
                    "description": "Which id people fields carry: open_id (Feishu's default), union_id, or user_id (needs the contact:user.employee_id:readonly scope)."
                },
                "detect_deletes": {
                    "type": "boolean", "order": 11, "title": "Detect Deleted Records",
                    "default": false,
                    "description": "Incremental streams also report records deleted in Feishu since the last read, each once, as {record_id, _ab_cdc_deleted_at} (dedup destinations and dlt merge remove them). Each read then lists every record id (one request per 500 records) and the state remembers them (about 0.9 MB per 100k records)."
                },
                "revision_recheck_hours": {
                    "type": "integer", "order": 13, "title": "Re-check Unchanged Tables After (hours)",
                    "minimum": 0, "default": 24,
                    "description": "An incremental stream whose table's revision has not changed since its last read is skipped (no search), but only until this many hours have passed since it was last read for real: Feishu does not document that every cell edit changes the revision. 0 never skips."
                },
                "sync_every": {
                    "type": "string", "order": 14, "title": "Sync Every (for the quota plan)",
                    "pattern": "^[0-9]+[mhd]$", "examples": ["15m", "1h", "1d"],
                    "description": "How often you mean to sync. `check` then logs what that schedule costs a month in calls Feishu counts (the free plan gives a tenant 10,000); without it, it logs hourly and daily syncs. Reads do not use it."
                },
                "max_api_calls": {
                    "type": "integer", "order": 12, "title": "Most API Calls Per Run",
                    "minimum": 1,
                    "description": "Stop a run cleanly after this many requests to Feishu (token and retries included), saving the state up to the last complete page, so a free tenant's monthly quota is not eaten by one sync. No limit when empty."
                },
                "attachments": {
                    "type": "string", "order": 15, "title": "Attachments",
                    "enum": ATTACHMENTS, "default": "links",
                    "description": "links (default): attachment cells as Feishu sends them (metadata and links that need the app's token or expire in 24 h). files: also an attachments stream for each table with attachment fields, one record per file (record_id, field, file_token, name, size, mime_type, sha256, path); reading it downloads each file once, a chunk at a time, into the host's files directory at `path`. Incremental reads download only files not downloaded before."
                },
                "max_downloads": {
                    "type": "integer", "order": 16, "title": "Most Downloads Per Run",
                    "minimum": 1, "default": 10000,
                    "description": "Stop the attachments streams cleanly after this many file downloads in one run (Feishu allows an app 10,000 a day), saving which files are done so the next run goes on. Downloads also count in max_api_calls."
                }
            }
        }
    })
}

/// A catalog entry: a stream keyed by `record_id`, read in full or incrementally by
/// `last_modified_time`.
pub fn catalog_entry(name: &str, json_schema: Value) -> Value {
    json!({
        "name": name,
        "json_schema": json_schema,
        "supported_sync_modes": ["full_refresh", "incremental"],
        "source_defined_cursor": true,
        "default_cursor_field": [CURSOR_FIELD],
        "source_defined_primary_key": [["record_id"]],
        "is_resumable": false
    })
}
