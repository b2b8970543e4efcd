//! Which streams a read covers: the configured catalog's selection (names and sync modes,
//! checked strictly) and how a selected name finds the stream the source offers now.

use crate::api::base::{SINGLE_TABLE_STREAM, safe_table_id, table_id_of};
use crate::error::{Category, ConnectorError};
use crate::read::records::TableRef;
use serde_json::Value;

/// A stream the config offers: its name and the records behind it.
#[derive(Debug, Clone)]
pub struct StreamDef {
    pub name: String,
    pub table: TableRef,
    /// The table's revision in the tables list, when it was read.
    pub revision: Option<i64>,
}

/// How a stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    FullRefresh,
    Incremental,
}

/// Stream names and sync modes a configured catalog selects, in order. A stream listed twice,
/// a missing name or a sync mode that is not one of the two strings is a config error.
pub fn selected_streams(text: &str) -> Result<Vec<(String, SyncMode)>, ConnectorError> {
    let bad = |why: &str| ConnectorError::config(format!("configured catalog {why}"));
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("is not valid JSON: {e}")))?;
    let streams = value
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("has no `streams` array"))?;
    let mut selected: Vec<(String, SyncMode)> = Vec::new();
    for (i, entry) in streams.iter().enumerate() {
        let name = entry
            .pointer("/stream/name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("entry `streams[{i}]` has no `stream.name`")))?;
        let mode = match entry.get("sync_mode") {
            None | Some(Value::Null) => SyncMode::FullRefresh,
            Some(Value::String(mode)) if mode == "full_refresh" => SyncMode::FullRefresh,
            Some(Value::String(mode)) if mode == "incremental" => SyncMode::Incremental,
            Some(other) => {
                return Err(bad(&format!(
                    "entry `streams[{i}]` has sync_mode {other}; use \"full_refresh\" or \"incremental\""
                )));
            }
        };
        if selected.iter().any(|(s, _)| s == name) {
            return Err(bad(&format!(
                "lists stream `{name}` twice (again at `streams[{i}]`); list each stream once"
            )));
        }
        selected.push((name.to_string(), mode));
    }
    Ok(selected)
}

/// The streams a configured catalog asks files of (`include_files: true`, Airbyte's file
/// transfer).
pub fn streams_with_files(text: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(text).unwrap_or_default();
    let streams = value.get("streams").and_then(Value::as_array);
    streams
        .into_iter()
        .flatten()
        .filter(|entry| entry.get("include_files").and_then(Value::as_bool) == Some(true))
        .filter_map(|entry| entry.pointer("/stream/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The offered stream a catalog name means: the same name, or the same table under an older
/// name (the table was renamed since discover; its records keep the catalog's name). When
/// there is none, the error says whether the table is gone or the name was never offered.
pub fn match_stream(name: &str, offered: &[StreamDef]) -> Result<StreamDef, ConnectorError> {
    if let Some(stream) = find_stream(name, offered) {
        return Ok(stream);
    }
    let table_id = table_id_of(name);
    if name != SINGLE_TABLE_STREAM && table_id.starts_with("tbl") {
        return Err(ConnectorError::new(
            Category::NotFound,
            format!(
                "stream `{name}`: its table {table_id} is no longer in the Base (deleted since \
                 discover, or the app lost access to it); run discover again"
            ),
        ));
    }
    let names: Vec<&str> = offered.iter().map(|s| s.name.as_str()).collect();
    Err(ConnectorError::config(format!(
        "configured catalog selects stream `{name}`, which this source does not offer (streams: {}); run discover again",
        names.join(", ")
    )))
}

/// The offered stream `name` means, if any.
pub fn find_stream(name: &str, offered: &[StreamDef]) -> Option<StreamDef> {
    let found = offered.iter().find(|s| s.name == name).or_else(|| {
        offered.iter().find(|s| {
            s.name != SINGLE_TABLE_STREAM && safe_table_id(&s.table.table_id) == table_id_of(name)
        })
    })?;
    Some(StreamDef {
        name: name.to_string(),
        table: found.table.clone(),
        revision: found.revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(names: &[(&str, &str)]) -> Vec<StreamDef> {
        names
            .iter()
            .map(|(name, table_id)| StreamDef {
                name: name.to_string(),
                table: TableRef {
                    app_token: "app".into(),
                    table_id: table_id.to_string(),
                    view_id: None,
                },
                revision: None,
            })
            .collect()
    }

    #[test]
    fn selections_keep_order_and_modes() {
        let text = r#"{"streams":[{"stream":{"name":"b"},"sync_mode":"incremental"},{"stream":{"name":"a"}}]}"#;
        assert_eq!(
            selected_streams(text).unwrap(),
            vec![
                ("b".to_string(), SyncMode::Incremental),
                ("a".to_string(), SyncMode::FullRefresh)
            ]
        );
    }

    #[test]
    fn doubtful_catalogs_are_config_errors() {
        for (text, needle) in [
            (
                r#"{"streams":[{"stream":{"name":"a"}},{"stream":{"name":"a"},"sync_mode":"incremental"}]}"#,
                "lists stream `a` twice",
            ),
            (
                r#"{"streams":[{"stream":{"name":"a"},"sync_mode":1}]}"#,
                "has sync_mode 1",
            ),
            (
                r#"{"streams":[{"stream":{"name":"a"},"sync_mode":"append"}]}"#,
                "has sync_mode \"append\"",
            ),
            (r#"{"streams":[{"stream":{}}]}"#, "has no `stream.name`"),
            (r#"{"nope":1}"#, "has no `streams` array"),
        ] {
            let e = selected_streams(text).unwrap_err();
            assert_eq!(e.category, Category::Config);
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }

    #[test]
    fn names_match_by_name_or_table_id() {
        let offered = offered(&[("Tasks_tblA", "tblA"), ("Bugs_tblB", "tblB")]);
        assert_eq!(
            match_stream("Tasks_tblA", &offered).unwrap().table.table_id,
            "tblA"
        );
        let renamed = match_stream("Old_name_tblB", &offered).unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.table.table_id.as_str()),
            ("Old_name_tblB", "tblB")
        );
        let gone = match_stream("Gone_tblC", &offered).unwrap_err();
        assert_eq!(gone.category, Category::NotFound);
        assert!(
            gone.message.contains("table tblC is no longer in the Base"),
            "{}",
            gone.message
        );
        let never = match_stream("orders", &offered).unwrap_err();
        assert_eq!(never.category, Category::Config);
        assert!(
            never.message.contains("does not offer"),
            "{}",
            never.message
        );
    }
}
