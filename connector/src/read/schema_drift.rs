//! Schema changes since discover: the configured catalog's schema marks each field's property
//! with its Feishu field id and type ([`crate::values::schema::FIELD_ID`]); a read compares them with
//! the table's fields now and names each field renamed, added, removed or retyped, once per
//! stream, as a warning. The read goes on: records carry each field under its current name.

use crate::values::fields::FieldInfo;
use crate::values::schema::{FIELD_ID, FIELD_TYPE};
use serde_json::Value;
use std::collections::HashMap;

/// A field as the configured catalog's schema knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownField {
    pub id: String,
    pub name: String,
    pub type_code: Option<i64>,
}

/// The fields each stream's schema in a configured catalog marks with a field id, by stream
/// name; streams whose schema marks none (older catalogs, hand-written ones) are left out.
pub fn catalog_fields(catalog: &str) -> HashMap<String, Vec<KnownField>> {
    let Ok(value) = serde_json::from_str::<Value>(catalog) else {
        return HashMap::new();
    };
    let streams = value.get("streams").and_then(Value::as_array);
    streams
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry.pointer("/stream/name")?.as_str()?;
            let properties = entry
                .pointer("/stream/json_schema/properties/fields/properties")?
                .as_object()?;
            let known: Vec<KnownField> = properties
                .iter()
                .filter_map(|(field_name, schema)| {
                    Some(KnownField {
                        id: schema.get(FIELD_ID)?.as_str()?.to_string(),
                        name: field_name.clone(),
                        type_code: schema.get(FIELD_TYPE).and_then(Value::as_i64),
                    })
                })
                .collect();
            (!known.is_empty()).then(|| (name.to_string(), known))
        })
        .collect()
}

/// Each difference between the catalog's fields and the table's `now`, in words.
pub fn changes(known: &[KnownField], now: &[FieldInfo]) -> Vec<String> {
    let mut changes = Vec::new();
    let current = |id: &str| now.iter().find(|f| f.field_id.as_deref() == Some(id));
    for field in known {
        let (name, id) = (&field.name, &field.id);
        match current(id) {
            None => changes.push(format!("{name:?} ({id}) was removed")),
            Some(now) => {
                if &now.field_name != name {
                    changes.push(format!(
                        "{name:?} ({id}) was renamed to {:?}",
                        now.field_name
                    ));
                }
                if field.type_code.is_some_and(|code| code != now.type_code) {
                    changes.push(format!(
                        "{:?} ({id}) changed type from {} to {}",
                        now.field_name,
                        field.type_code.unwrap_or_default(),
                        now.type_code
                    ));
                }
            }
        }
    }
    for field in now {
        let Some(id) = &field.field_id else { continue };
        if !known.iter().any(|k| &k.id == id) {
            changes.push(format!("{:?} ({id}) was added", field.field_name));
        }
    }
    changes
}

/// The warning for a stream whose fields changed.
pub fn warning(stream: &str, changes: &[String]) -> String {
    format!(
        "stream `{stream}`: the table's fields changed since discover: {}. Records carry each \
         field under its current name; run discover again and update the catalog to take the \
         change in",
        changes.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(id: &str, name: &str, type_code: i64) -> FieldInfo {
        FieldInfo {
            field_id: Some(id.into()),
            field_name: name.into(),
            type_code,
            ui_type: None,
            property: None,
            is_primary: false,
        }
    }

    #[test]
    fn the_catalog_tells_fields_by_id() {
        let catalog = json!({"streams": [
            {"stream": {"name": "a", "json_schema": {"properties": {"fields": {"properties": {
                "状态": {"type": ["null", "string"], FIELD_ID: "fld1", FIELD_TYPE: 3},
                "旧": {"type": ["null", "string"]}
            }}}}}},
            {"stream": {"name": "b", "json_schema": {}}}
        ]});
        let known = catalog_fields(&catalog.to_string());
        assert_eq!(
            known["a"],
            [KnownField {
                id: "fld1".into(),
                name: "状态".into(),
                type_code: Some(3)
            }]
        );
        assert!(!known.contains_key("b"), "no ids: nothing to compare");
    }

    #[test]
    fn each_change_is_named() {
        let known = vec![
            KnownField {
                id: "fld1".into(),
                name: "状态".into(),
                type_code: Some(3),
            },
            KnownField {
                id: "fld2".into(),
                name: "数量".into(),
                type_code: Some(2),
            },
            KnownField {
                id: "fld3".into(),
                name: "旧".into(),
                type_code: Some(1),
            },
        ];
        let now = vec![
            field("fld1", "阶段", 3),
            field("fld2", "数量", 1),
            field("fld4", "新", 7),
        ];
        assert_eq!(
            changes(&known, &now),
            [
                r#""状态" (fld1) was renamed to "阶段""#,
                r#""数量" (fld2) changed type from 2 to 1"#,
                r#""旧" (fld3) was removed"#,
                r#""新" (fld4) was added"#,
            ]
        );
        let same = vec![
            field("fld1", "状态", 3),
            field("fld2", "数量", 2),
            field("fld3", "旧", 1),
        ];
        assert!(changes(&known, &same).is_empty());
    }
}
