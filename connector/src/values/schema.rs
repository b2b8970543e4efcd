//! JSON schemas of streams, typed from a table's fields list.
//!
//! Every field is nullable (Feishu leaves empty cells out). Types follow the shapes the records
//! search endpoint returns; an unknown type code gets a permissive schema.

use crate::config::Values;
use crate::values::fields::FieldInfo;
use serde_json::{Value, json};

fn nullable(kind: &str) -> Value {
    json!({"type": ["null", kind]})
}

fn array_of(items: Value) -> Value {
    json!({"type": ["null", "array"], "items": items})
}

fn object() -> Value {
    json!({"type": ["null", "object"], "additionalProperties": true})
}

fn any_object() -> Value {
    json!({"type": "object", "additionalProperties": true})
}

/// The schema of a field's values by type code; `None` for codes this connector does not know.
pub fn field_schema(type_code: i64) -> Option<Value> {
    Some(match type_code {
        // Text, Barcode, Email: rich-text segments `[{"type":"text","text":...}]`.
        1 => array_of(any_object()),
        // Number, Currency, Progress, Rating.
        2 => nullable("number"),
        // SingleSelect, Phone, AutoNumber (a string such as "17").
        3 | 13 | 1005 => nullable("string"),
        // MultiSelect.
        4 => array_of(json!({"type": "string"})),
        // DateTime, CreatedTime, ModifiedTime: ms since the epoch.
        5 | 1001 | 1002 => nullable("integer"),
        7 => nullable("boolean"),
        // User, Attachment, GroupChat: lists of objects.
        11 | 17 | 23 => array_of(any_object()),
        // Url `{link, text}`, Location.
        15 | 22 => object(),
        // SingleLink / DuplexLink: `{"link_record_ids": [...]}`.
        18 | 21 => json!({
            "type": ["null", "object"],
            "additionalProperties": true,
            "properties": {"link_record_ids": {"type": "array", "items": {"type": "string"}}}
        }),
        // Lookup / Formula: `{"type": <result type code>, "value": [...]}`; the value's shape
        // follows the result type, so only its list form is declared.
        19 | 20 => json!({
            "type": ["null", "object"],
            "additionalProperties": true,
            "properties": {"type": {"type": "integer"}, "value": {"type": ["null", "array"]}}
        }),
        // CreatedUser / ModifiedUser: a list of people (a single person in some answers).
        1003 | 1004 => {
            json!({"type": ["null", "array", "object"], "items": any_object(), "additionalProperties": true})
        }
        // Stage, Button: read-only, shape undocumented.
        24 | 3001 => json!({}),
        _ => return None,
    })
}

/// How log lines name a field of a type this connector does not know.
pub fn unknown_field(field: &FieldInfo) -> String {
    format!("{:?} (type {})", field.field_name, field.type_code)
}

/// Annotation naming the Feishu field behind a property: it stays when the field is renamed.
pub const FIELD_ID: &str = "x-feishu-field-id";
/// Annotation giving the Feishu type code of the field behind a property.
pub const FIELD_TYPE: &str = "x-feishu-field-type";

/// Marks each field's property with its field id and type code, so that a read can tell a
/// renamed, added, removed or retyped field from the catalog's ([`crate::read::schema_drift`]).
fn annotate(properties: &mut serde_json::Map<String, Value>, fields: &[FieldInfo]) {
    for field in fields {
        let Some(Value::Object(property)) = properties.get_mut(&field.field_name) else {
            continue;
        };
        if let Some(id) = &field.field_id {
            property.insert(FIELD_ID.into(), json!(id));
        }
        property.insert(FIELD_TYPE.into(), json!(field.type_code));
    }
}

/// The schema of a table's records with `values` raw or plain; `unknown` hears of each field
/// whose type is not known.
pub fn records_schema(
    fields: &[FieldInfo],
    values: Values,
    mut unknown: impl FnMut(&FieldInfo),
) -> Value {
    let (mut properties, person) = match values {
        Values::Plain => (
            crate::values::plain::fields_schema(fields, unknown),
            crate::values::plain::person_schema(),
        ),
        Values::Raw => {
            let properties = fields
                .iter()
                .map(|field| {
                    let schema = field_schema(field.type_code).unwrap_or_else(|| {
                        unknown(field);
                        json!({})
                    });
                    (field.field_name.clone(), schema)
                })
                .collect();
            (properties, object())
        }
    };
    annotate(&mut properties, fields);
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": true,
        "required": ["record_id"],
        "properties": {
            "record_id": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": true, "properties": properties},
            "created_time": nullable("integer"),
            "last_modified_time": nullable("integer"),
            "created_by": person.clone(),
            "last_modified_by": person,
            "shared_url": nullable("string"),
            "record_url": nullable("string")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_type_has_a_nullable_schema() {
        for code in [
            1, 2, 3, 4, 5, 7, 11, 13, 15, 17, 18, 19, 20, 21, 22, 23, 1001, 1002, 1003, 1004, 1005,
        ] {
            let schema = field_schema(code).unwrap();
            let types = schema["type"]
                .as_array()
                .unwrap_or_else(|| panic!("{code}: {schema}"));
            assert!(types.contains(&json!("null")), "{code}");
        }
        assert_eq!(field_schema(24), Some(json!({})));
        assert_eq!(field_schema(99), None);
    }

    #[test]
    fn unknown_types_are_permissive_and_reported() {
        let fields = vec![
            FieldInfo {
                field_id: None,
                field_name: "名字".into(),
                type_code: 1,
                ui_type: Some("Text".into()),
                property: None,
                is_primary: false,
            },
            FieldInfo {
                field_id: None,
                field_name: "新".into(),
                type_code: 4242,
                ui_type: None,
                property: None,
                is_primary: false,
            },
        ];
        let mut seen = Vec::new();
        let schema = records_schema(&fields, Values::Raw, |f| seen.push(f.field_name.clone()));
        assert_eq!(seen, ["新"]);
        assert_eq!(
            schema["properties"]["fields"]["properties"]["新"],
            json!({FIELD_TYPE: 4242}),
            "permissive: annotations only"
        );
        assert_eq!(
            schema["properties"]["fields"]["properties"]["名字"]["type"],
            json!(["null", "array"])
        );
    }
}
