//! A table's fields as Feishu's fields list describes them.

use serde::Deserialize;

/// One field of a table, as the fields list describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldInfo {
    /// Feishu's id of the field: it stays when the field is renamed.
    #[serde(default)]
    pub field_id: Option<String>,
    pub field_name: String,
    #[serde(rename = "type")]
    pub type_code: i64,
    #[serde(default)]
    pub ui_type: Option<String>,
    /// Type-specific settings (options, formatters, linked table...), when given.
    #[serde(default)]
    pub property: Option<serde_json::Value>,
    /// Whether this is the table's primary (first) field.
    #[serde(default)]
    pub is_primary: bool,
}
