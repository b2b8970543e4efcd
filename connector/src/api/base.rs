//! The Base: resolving wiki links, listing tables and fields, and naming streams.

use crate::api::client::FeishuClient;
use crate::api::link::BaseRef;
use crate::api::paginator::PageCursor;
use crate::error::ConnectorError;
use crate::host::{LogLevel, Transport, encode_component, shown_path};
use crate::values::fields::FieldInfo;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Name of the stream when the config names one table (kept for existing configs).
pub const SINGLE_TABLE_STREAM: &str = "records";

/// A table of the Base.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TableInfo {
    pub table_id: String,
    #[serde(default)]
    pub name: String,
    /// Feishu's version of the table: it grows with each change to the table.
    #[serde(default)]
    pub revision: Option<i64>,
}

/// Stream name of a table: its name made safe (letters and digits of any script, other runs
/// as `_`) and its table_id (made safe by [`safe_table_id`]), which keeps every name unique,
/// stable and with ASCII in it.
pub fn stream_name(table: &TableInfo) -> String {
    let mut safe = String::new();
    for c in table.name.chars() {
        if c.is_alphanumeric() {
            safe.push(c);
        } else if !safe.ends_with('_') {
            safe.push('_');
        }
    }
    let safe = safe.trim_matches('_');
    let id = safe_table_id(&table.table_id);
    if safe.is_empty() {
        id
    } else {
        format!("{safe}_{id}")
    }
}

/// A table_id as it may stand in a stream name: itself when it is ASCII letters and digits
/// (as Feishu's are); otherwise those letters and digits and a hash of the whole id, so no
/// path, query or control character gets through and two odd ids stay apart.
pub fn safe_table_id(table_id: &str) -> String {
    if !table_id.is_empty() && table_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return table_id.to_string();
    }
    let kept: String = table_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!(
        "{kept}x{:08x}",
        crate::state::record_ids::hash64(table_id.as_bytes()) as u32
    )
}

/// The (safe) table_id a stream name ends with (`..._<table_id>` or the bare table_id).
pub fn table_id_of(stream: &str) -> &str {
    stream.rsplit('_').next().unwrap_or(stream)
}

#[derive(Deserialize)]
struct ListEnvelope<T> {
    data: Option<ListData<T>>,
}

#[derive(Deserialize)]
struct ListData<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    has_more: bool,
    page_token: Option<String>,
}

/// Every item of a paged list endpoint (`path` without query).
fn list_all<T: DeserializeOwned, H: Transport>(
    client: &mut FeishuClient<H>,
    path: &str,
) -> Result<Vec<T>, ConnectorError> {
    let mut cursor = PageCursor::default();
    let mut all = Vec::new();
    loop {
        let mut path_and_query = format!("{path}?page_size=100");
        if let Some(token) = cursor.token() {
            path_and_query.push_str(&format!("&page_token={}", encode_component(token)));
        }
        let response = client.get(path, &path_and_query)?;
        let page: ListEnvelope<T> = serde_json::from_slice(&response.body).map_err(|e| {
            ConnectorError::bad_response(format!("GET {}: malformed answer: {e}", shown_path(path)))
        })?;
        let data = page.data.ok_or_else(|| {
            ConnectorError::bad_response(format!("GET {}: no `data`", shown_path(path)))
        })?;
        let items = data.items.len();
        all.extend(data.items);
        if !cursor
            .advance(data.has_more, data.page_token.as_deref(), items)
            .map_err(|e| e.context(format!("GET {}", shown_path(path))))?
        {
            return Ok(all);
        }
    }
}

/// The app_token of the configured Base, resolving a wiki node when needed.
pub fn app_token<H: Transport>(client: &mut FeishuClient<H>) -> Result<String, ConnectorError> {
    let node = match &client.config().base {
        BaseRef::App(token) => return Ok(token.clone()),
        BaseRef::Wiki(node) => node.clone(),
    };
    let path = "/open-apis/wiki/v2/spaces/get_node";
    let response = client.get(path, &format!("{path}?token={}", encode_component(&node)))?;
    #[derive(Deserialize)]
    struct Answer {
        data: Option<NodeData>,
    }
    #[derive(Deserialize)]
    struct NodeData {
        node: Option<Node>,
    }
    #[derive(Deserialize)]
    struct Node {
        obj_token: Option<String>,
        obj_type: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(&response.body).map_err(|e| {
        ConnectorError::bad_response(format!("GET {}: malformed answer: {e}", shown_path(path)))
    })?;
    let node_info = answer.data.and_then(|d| d.node).ok_or_else(|| {
        ConnectorError::bad_response(format!("GET {}: no `data.node`", shown_path(path)))
    })?;
    match (node_info.obj_type.as_deref(), node_info.obj_token) {
        (Some("bitable"), Some(token)) if !token.is_empty() => Ok(token),
        (kind, _) => Err(ConnectorError::config(format!(
            "the wiki link's node {node} is a {} document, not a Base (bitable)",
            kind.unwrap_or("unknown")
        ))),
    }
}

/// The Base's tables; items that are not tables (embedded documents, `ldx...`) are skipped
/// with a log line.
pub fn tables<H: Transport>(
    client: &mut FeishuClient<H>,
    app_token: &str,
) -> Result<Vec<TableInfo>, ConnectorError> {
    let path = format!(
        "/open-apis/bitable/v1/apps/{}/tables",
        encode_component(app_token)
    );
    let mut all: Vec<TableInfo> = list_all(client, &path)?;
    let mut seen = std::collections::HashSet::new();
    all.retain(|t| {
        let first = seen.insert(t.table_id.clone());
        if !first {
            let message = format!(
                "the tables list names table {:?} more than once; it is offered once",
                t.table_id
            );
            client.transport().log(LogLevel::Warn, &message);
        }
        first
    });
    let (tables, others): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|t| !t.table_id.starts_with("ldx"));
    for other in others {
        client.transport().log(
            LogLevel::Info,
            &format!(
                "skipping {} ({:?}): an embedded document, not a table",
                other.table_id, other.name
            ),
        );
    }
    Ok(tables)
}

/// A table's fields.
pub fn fields<H: Transport>(
    client: &mut FeishuClient<H>,
    app_token: &str,
    table_id: &str,
) -> Result<Vec<FieldInfo>, ConnectorError> {
    let path = format!(
        "/open-apis/bitable/v1/apps/{}/tables/{}/fields",
        encode_component(app_token),
        encode_component(table_id)
    );
    list_all(client, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(id: &str, name: &str) -> TableInfo {
        TableInfo {
            table_id: id.into(),
            name: name.into(),
            revision: None,
        }
    }

    #[test]
    fn stream_names_are_readable_unique_and_carry_ascii() {
        assert_eq!(
            stream_name(&table("tblA1", "项目任务 Tasks")),
            "项目任务_Tasks_tblA1"
        );
        assert_eq!(
            stream_name(&table("tblA2", "🚀 Launch plan! 🚀")),
            "Launch_plan_tblA2"
        );
        assert_eq!(stream_name(&table("tblA3", "🧪")), "tblA3");
        assert_eq!(stream_name(&table("tblA4", "重复")), "重复_tblA4");
        assert_ne!(
            stream_name(&table("tblA4", "重复")),
            stream_name(&table("tblA5", "重复"))
        );
        for name in ["项目任务_Tasks_tblA1", "tblA3", "Launch_plan_tblA2"] {
            assert!(name.chars().any(|c| c.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn hostile_table_ids_give_safe_distinct_names() {
        let names: Vec<String> = ["tbl/../x", "tbl?x", "tbl\u{7}x", "tbl x", ""]
            .iter()
            .map(|id| stream_name(&table(id, "名/字")))
            .collect();
        for name in &names {
            assert!(
                name.chars().all(|c| c.is_alphanumeric() || c == '_'),
                "{name:?}"
            );
            assert!(name.starts_with("名_字_"), "{name:?}");
        }
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(table_id_of(&names[0]), safe_table_id("tbl/../x"));
    }

    #[test]
    fn table_ids_come_back_from_stream_names() {
        assert_eq!(table_id_of("项目任务_Tasks_tblA1"), "tblA1");
        assert_eq!(table_id_of("tblA3"), "tblA3");
    }
}
