//! Each field's [`Shape`] (from its type code, formulas and lookups by their result type) and
//! the JSON schema of its plain values.

use crate::values::fields::FieldInfo;
use serde_json::{Map, Value, json};

/// What a field's plain value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Rich-text segments joined into one string (Text, Barcode, Email).
    Text,
    /// A number (Number, Currency, Progress, Rating); numeric strings are read as numbers.
    Number,
    /// A string as Feishu sends it (SingleSelect, Phone, AutoNumber).
    String,
    /// The link of a Url field.
    Url,
    /// Strings (MultiSelect).
    Strings,
    /// Epoch milliseconds as an ISO-8601 UTC time (DateTime, CreatedTime, ModifiedTime).
    Time,
    /// A boolean; an empty cell is `false` (Feishu leaves unticked boxes out).
    Checkbox,
    /// `[{id, name, email}]` (User, CreatedUser, ModifiedUser, GroupChat).
    People,
    /// Linked record ids (SingleLink, DuplexLink).
    Links,
    /// `[{file_token, name, size, mime_type, url}]`.
    Attachments,
    /// `{address, lng, lat}`.
    Location,
    /// A formula's single result, by its result type.
    Formula(Box<Shape>),
    /// A lookup's results (a string for text, else an array), by their result type.
    Lookup(Box<Shape>),
    /// A formula or lookup whose result type the fields list does not give: unwrapped, untyped.
    Unwrapped,
    /// Passed on unchanged: a read-only type of undocumented shape (Stage, Button).
    Opaque,
    /// A type code this connector does not know: passed on unchanged, with a log line.
    Unknown,
}

impl Shape {
    /// The shape of values of type `code`; formulas and lookups of result type `result`.
    pub fn of(code: i64, result: Option<i64>) -> Shape {
        match code {
            1 => Shape::Text,
            2 => Shape::Number,
            3 | 13 | 1005 => Shape::String,
            4 => Shape::Strings,
            5 | 1001 | 1002 => Shape::Time,
            7 => Shape::Checkbox,
            11 | 23 | 1003 | 1004 => Shape::People,
            15 => Shape::Url,
            17 => Shape::Attachments,
            18 | 21 => Shape::Links,
            22 => Shape::Location,
            19 | 20 => match result.map(|r| Shape::of(r, None)) {
                Some(Shape::Unknown | Shape::Opaque) | None => Shape::Unwrapped,
                Some(inner) if code == 20 => Shape::Formula(Box::new(inner)),
                Some(inner) => Shape::Lookup(Box::new(inner)),
            },
            24 | 3001 => Shape::Opaque,
            _ => Shape::Unknown,
        }
    }

    /// The shape of a field of the fields list.
    pub fn of_field(field: &FieldInfo) -> Shape {
        let result = field
            .property
            .as_ref()
            .and_then(|p| p.pointer("/type/data_type"))
            .and_then(Value::as_i64);
        Shape::of(field.type_code, result)
    }

    /// The JSON schema of this shape's values (every one nullable: a value that does not fit
    /// its type is null).
    pub fn schema(&self) -> Value {
        let nullable = |kind: &str| json!({"type": ["null", kind]});
        let array_of = |items: Value| json!({"type": ["null", "array"], "items": items});
        let string_or_null = json!({"type": ["null", "string"]});
        match self {
            Shape::Text | Shape::String | Shape::Url => nullable("string"),
            Shape::Number => nullable("number"),
            Shape::Strings | Shape::Links => array_of(json!({"type": "string"})),
            Shape::Time => json!({
                "type": ["null", "string"],
                "format": "date-time",
                "airbyte_type": "timestamp_with_timezone"
            }),
            // An empty cell is false; a value that is no boolean is null.
            Shape::Checkbox => json!({"type": ["null", "boolean"]}),
            Shape::People => array_of(json!({
                "type": "object",
                "properties": {"id": string_or_null, "name": string_or_null, "email": string_or_null}
            })),
            Shape::Attachments => array_of(json!({
                "type": "object",
                "properties": {
                    "file_token": string_or_null, "name": string_or_null,
                    "size": {"type": ["null", "integer"]}, "mime_type": string_or_null,
                    "url": string_or_null
                }
            })),
            Shape::Location => json!({
                "type": ["null", "object"],
                "properties": {
                    "address": string_or_null,
                    "lng": {"type": ["null", "number"]},
                    "lat": {"type": ["null", "number"]}
                }
            }),
            Shape::Formula(inner) => inner.schema(),
            Shape::Lookup(inner) if **inner == Shape::Text => nullable("string"),
            Shape::Lookup(inner) => array_of(inner.item_schema()),
            Shape::Unwrapped | Shape::Opaque | Shape::Unknown => json!({}),
        }
    }

    /// The schema of one result of a lookup: the shape's, or its items' for lists.
    fn item_schema(&self) -> Value {
        let schema = self.schema();
        match schema.get("items") {
            Some(items) if self.is_list() => items.clone(),
            _ => schema,
        }
    }

    pub(super) fn is_list(&self) -> bool {
        matches!(
            self,
            Shape::Strings | Shape::People | Shape::Links | Shape::Attachments
        )
    }
}

/// The schema of a record's `created_by` / `last_modified_by` as plain values.
pub fn person_schema() -> Value {
    let string_or_null = json!({"type": ["null", "string"]});
    json!({
        "type": ["null", "object"],
        "properties": {"id": string_or_null, "name": string_or_null, "email": string_or_null}
    })
}

/// The plain schema of each field, by name; `unknown` hears of fields of unknown type.
pub fn fields_schema(
    fields: &[FieldInfo],
    mut unknown: impl FnMut(&FieldInfo),
) -> Map<String, Value> {
    fields
        .iter()
        .map(|field| {
            let shape = Shape::of_field(field);
            if shape == Shape::Unknown {
                unknown(field);
            }
            (field.field_name.clone(), shape.schema())
        })
        .collect()
}
