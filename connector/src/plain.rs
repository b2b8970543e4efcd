//! Plain values (`values: plain`): each field of a record as the value an analyst expects, and
//! the JSON schema that says its exact type.
//!
//! A table's fields list gives each field a [`Shape`] (from its type code; formulas and lookups
//! from the result type in `property.type.data_type`). [`PlainRecords::render`] rewrites one
//! record's `fields` by those shapes: text segments joined, dates as ISO-8601 UTC, people as
//! `{id, name, email}`, links as record ids, formulas and lookups unwrapped, unticked checkboxes
//! `false`. Fields of unknown types pass through unchanged; a formula's error value becomes
//! null and is counted.

use crate::schema::FieldInfo;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

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

    /// The JSON schema of this shape's values (every one nullable but checkboxes).
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
            Shape::Checkbox => json!({"type": "boolean"}),
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
            Shape::Formula(inner) => inner.nullable_schema(),
            Shape::Lookup(inner) if **inner == Shape::Text => nullable("string"),
            Shape::Lookup(inner) => array_of(inner.item_schema()),
            Shape::Unwrapped | Shape::Opaque | Shape::Unknown => json!({}),
        }
    }

    /// This shape's schema, null allowed (a formula's error value is null).
    fn nullable_schema(&self) -> Value {
        match self {
            Shape::Checkbox => json!({"type": ["null", "boolean"]}),
            other => other.schema(),
        }
    }

    /// The schema of one result of a lookup: the shape's, or its items' for lists.
    fn item_schema(&self) -> Value {
        let schema = self.nullable_schema();
        match schema.get("items") {
            Some(items) if self.is_list() => items.clone(),
            _ => schema,
        }
    }

    fn is_list(&self) -> bool {
        matches!(
            self,
            Shape::Strings | Shape::People | Shape::Links | Shape::Attachments
        )
    }
}

/// How a value came out: plain, or a formula's error value (null instead).
enum Plain {
    Value(Value),
    ErrorValue,
}

/// Spreadsheet error values a formula may carry instead of a result.
const ERROR_VALUES: [&str; 9] = [
    "#ERROR", "#ERROR!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#N/A", "#NUM!", "NaN",
];

fn is_error_value(value: &Value) -> bool {
    value.as_str().is_some_and(|s| ERROR_VALUES.contains(&s))
}

/// The plain value of `value` of shape `shape`.
fn plain(shape: &Shape, value: Value) -> Plain {
    let v = match shape {
        Shape::Text => joined_text(&value),
        Shape::Number => number(value),
        Shape::String | Shape::Opaque | Shape::Unknown => value,
        Shape::Url => match value {
            Value::Object(mut o) => o.remove("link").unwrap_or(Value::Null),
            other => other,
        },
        Shape::Strings => Value::Array(listed(value).into_iter().map(string_of).collect()),
        Shape::Time => iso_time(&value),
        Shape::Checkbox => Value::Bool(value.as_bool().unwrap_or(false)),
        Shape::People => Value::Array(listed(value).into_iter().map(person).collect()),
        Shape::Links => link_ids(value),
        Shape::Attachments => Value::Array(listed(value).into_iter().map(attachment).collect()),
        Shape::Location => location(&value),
        Shape::Formula(inner) => return formula(inner, value),
        Shape::Lookup(inner) => return lookup(inner, value),
        Shape::Unwrapped => results(value),
    };
    Plain::Value(v)
}

/// A formula's result: its first (only) result, by the result type.
fn formula(inner: &Shape, value: Value) -> Plain {
    let results = results(value);
    if let Shape::Text = inner {
        return Plain::Value(joined_text(&results));
    }
    match listed(results).into_iter().next() {
        None => Plain::Value(Value::Null),
        Some(result) if is_error_value(&result) => Plain::ErrorValue,
        Some(result) => match plain(inner, result) {
            Plain::Value(Value::Null) if !matches!(inner, Shape::String) => Plain::ErrorValue,
            other => other,
        },
    }
}

/// A lookup's results: text joined into one string, anything else an array of results.
fn lookup(inner: &Shape, value: Value) -> Plain {
    let results = results(value);
    if let Shape::Text = inner {
        return Plain::Value(joined_text(&results));
    }
    let mut out = Vec::new();
    for result in listed(results) {
        if is_error_value(&result) {
            return Plain::ErrorValue;
        }
        match plain(inner, result) {
            Plain::Value(Value::Array(items)) if inner.is_list() => out.extend(items),
            Plain::Value(v) => out.push(v),
            Plain::ErrorValue => return Plain::ErrorValue,
        }
    }
    Plain::Value(Value::Array(out))
}

/// The `value` list of a formula or lookup (`{"type": t, "value": [...]}`), or the value
/// itself when it is not wrapped.
fn results(value: Value) -> Value {
    match value {
        Value::Object(mut o) if o.contains_key("value") => o.remove("value").unwrap_or_default(),
        other => other,
    }
}

/// A value as a list (a single value as a list of one).
fn listed(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn string_of(value: Value) -> Value {
    match value {
        Value::String(_) | Value::Null => value,
        other => Value::String(other.to_string()),
    }
}

/// Rich-text segments joined by their `text` (mentions and links as they show); a string as
/// it is.
fn joined_text(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(_) => value.clone(),
        Value::Array(segments) => {
            let mut text = String::new();
            for segment in segments {
                match segment {
                    Value::String(s) => text.push_str(s),
                    Value::Object(o) => {
                        if let Some(s) = o.get("text").and_then(Value::as_str) {
                            text.push_str(s);
                        }
                    }
                    other => text.push_str(&other.to_string()),
                }
            }
            Value::String(text)
        }
        Value::Object(o) => o.get("text").cloned().unwrap_or(Value::Null),
        other => Value::String(other.to_string()),
    }
}

fn number(value: Value) -> Value {
    match value {
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Number(_) => value,
        _ => Value::Null,
    }
}

/// `{id, name, email}` of a person or group (a bare name as the name).
fn person(value: Value) -> Value {
    match value {
        Value::Object(mut o) => {
            let mut take = |key: &str| match o.remove(key) {
                Some(Value::String(s)) if !s.is_empty() => Value::String(s),
                _ => Value::Null,
            };
            json!({"id": take("id"), "name": take("name"), "email": take("email")})
        }
        Value::String(name) => json!({"id": null, "name": name, "email": null}),
        _ => json!({"id": null, "name": null, "email": null}),
    }
}

/// Record ids of a link cell: `{"link_record_ids": [...]}`, or the older
/// `[{"record_ids": [...]}]` form.
fn link_ids(value: Value) -> Value {
    let mut ids = Vec::new();
    for item in listed(value) {
        if let Value::Object(mut o) = item {
            let list = o
                .remove("link_record_ids")
                .or_else(|| o.remove("record_ids"));
            ids.extend(list.map(listed).unwrap_or_default());
        }
    }
    Value::Array(ids)
}

fn attachment(value: Value) -> Value {
    let field = |key: &str| value.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "file_token": field("file_token"),
        "name": field("name"),
        "size": field("size"),
        "mime_type": field("type"),
        "url": field("url"),
    })
}

/// `{address, lng, lat}` from `{"location": "lng,lat", "full_address", "address", ...}`.
fn location(value: &Value) -> Value {
    if value.is_null() {
        return Value::Null;
    }
    let mut coordinates = value
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(',')
        .map(|part| number(Value::String(part.to_string())));
    let address = value
        .get("full_address")
        .or_else(|| value.get("address"))
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "address": address,
        "lng": coordinates.next().unwrap_or(Value::Null),
        "lat": coordinates.next().unwrap_or(Value::Null),
    })
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`; anything else as null.
fn iso_time(value: &Value) -> Value {
    let ms = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    ms.map_or(Value::Null, |ms| Value::String(format_utc(ms)))
}

/// Epoch milliseconds as an ISO-8601 UTC time (days to civil date after Howard Hinnant's
/// `civil_from_days`).
pub fn format_utc(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// A table's fields by name with their shapes, rendering records as plain values.
#[derive(Debug)]
pub struct PlainRecords {
    shapes: BTreeMap<String, Shape>,
    /// Checkbox fields: an empty cell is `false`.
    checkboxes: Vec<String>,
    /// Formula and lookup error values made null, by field.
    error_values: BTreeMap<String, u64>,
}

impl PlainRecords {
    /// The shapes of `fields`; `unknown` hears of each field whose type is not known.
    pub fn new(fields: &[FieldInfo], mut unknown: impl FnMut(&FieldInfo)) -> Self {
        let mut shapes = BTreeMap::new();
        let mut checkboxes = Vec::new();
        for field in fields {
            let shape = Shape::of_field(field);
            if shape == Shape::Unknown {
                unknown(field);
            }
            if shape == Shape::Checkbox {
                checkboxes.push(field.field_name.clone());
            }
            shapes.insert(field.field_name.clone(), shape);
        }
        Self {
            shapes,
            checkboxes,
            error_values: BTreeMap::new(),
        }
    }

    /// One record (a JSON object from the search answer) with plain `fields`. Fields the
    /// fields list did not name (added since it was read) pass through unchanged.
    pub fn render(&mut self, record: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
        let mut record: Map<String, Value> = serde_json::from_slice(record)?;
        let fields = match record.remove("fields") {
            Some(Value::Object(fields)) => fields,
            _ => Map::new(),
        };
        let mut plain_fields = Map::new();
        for (name, value) in fields {
            let value = match self.shapes.get(&name) {
                Some(shape) => match plain(shape, value) {
                    Plain::Value(v) => v,
                    Plain::ErrorValue => {
                        *self.error_values.entry(name.clone()).or_default() += 1;
                        Value::Null
                    }
                },
                None => value,
            };
            plain_fields.insert(name, value);
        }
        for name in &self.checkboxes {
            plain_fields
                .entry(name.clone())
                .or_insert(Value::Bool(false));
        }
        record.insert("fields".into(), Value::Object(plain_fields));
        serde_json::to_vec(&record)
    }

    /// The formula and lookup error values made null so far, by field, as one sentence; None
    /// when there were none.
    pub fn error_values(&self) -> Option<String> {
        if self.error_values.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .error_values
            .iter()
            .map(|(name, n)| format!("{name:?}: {n}"))
            .collect();
        Some(parts.join(", "))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, code: i64, data_type: Option<i64>) -> FieldInfo {
        FieldInfo {
            field_name: name.into(),
            type_code: code,
            ui_type: None,
            property: data_type.map(|t| json!({"type": {"data_type": t}})),
        }
    }

    fn render(fields: &[FieldInfo], record: Value) -> (Value, Option<String>) {
        let mut plain = PlainRecords::new(fields, |_| {});
        let bytes = plain.render(record.to_string().as_bytes()).unwrap();
        (
            serde_json::from_slice(&bytes).unwrap(),
            plain.error_values(),
        )
    }

    #[test]
    fn times_are_iso_8601_utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(1_735_689_600_000), "2025-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_utc(4_102_444_799_000), "2099-12-31T23:59:59.000Z");
    }

    #[test]
    fn each_type_becomes_its_plain_value() {
        let fields = [
            field("text", 1, None),
            field("n", 2, None),
            field("ns", 2, None),
            field("tags", 4, None),
            field("when", 5, None),
            field("who", 11, None),
            field("url", 15, None),
            field("files", 17, None),
            field("link", 18, None),
            field("place", 22, None),
            field("by", 1004, None),
        ];
        let (record, errors) = render(
            &fields,
            json!({"record_id": "rec1", "fields": {
                "text": [{"type": "text", "text": "你好 "}, {"type": "mention", "text": "@张三"}],
                "n": 1.5, "ns": "0.66", "tags": ["a", "b"], "when": 1_735_689_600_000i64,
                "who": [{"id": "ou_1", "name": "张三", "en_name": "Zhang", "email": ""}],
                "url": {"link": "https://x.y", "text": "x"},
                "files": [{"file_token": "f", "name": "a.png", "size": 3, "type": "image/png", "url": "u", "tmp_url": "t"}],
                "link": {"link_record_ids": ["recA", "recB"]},
                "place": {"location": "116.39,39.90", "full_address": "北京"},
                "by": {"id": "ou_2", "name": "李四", "email": "l@x.y"},
                "new": {"kept": true}
            }}),
        );
        assert_eq!(errors, None);
        assert_eq!(
            record["fields"],
            json!({
                "text": "你好 @张三", "n": 1.5, "ns": 0.66, "tags": ["a", "b"],
                "when": "2025-01-01T00:00:00.000Z",
                "who": [{"id": "ou_1", "name": "张三", "email": null}],
                "url": "https://x.y",
                "files": [{"file_token": "f", "name": "a.png", "size": 3, "mime_type": "image/png", "url": "u"}],
                "link": ["recA", "recB"],
                "place": {"address": "北京", "lng": 116.39, "lat": 39.9},
                "by": [{"id": "ou_2", "name": "李四", "email": "l@x.y"}],
                "new": {"kept": true}
            })
        );
        assert_eq!(record["record_id"], "rec1");
    }

    #[test]
    fn an_unticked_checkbox_is_false() {
        let fields = [field("done", 7, None)];
        let (record, _) = render(&fields, json!({"record_id": "r", "fields": {}}));
        assert_eq!(record["fields"]["done"], false);
        let (record, _) = render(&fields, json!({"record_id": "r", "fields": {"done": true}}));
        assert_eq!(record["fields"]["done"], true);
    }

    #[test]
    fn formulas_and_lookups_unwrap_by_their_result_type() {
        let fields = [
            field("sum", 20, Some(2)),
            field("label", 20, Some(1)),
            field("due", 20, Some(5)),
            field("names", 19, Some(1)),
            field("prices", 19, Some(2)),
            field("raw", 20, None),
        ];
        let (record, errors) = render(
            &fields,
            json!({"record_id": "r", "fields": {
                "sum": {"type": 2, "value": [42.5]},
                "label": {"type": 1, "value": [{"type": "text", "text": "公式"}]},
                "due": {"type": 5, "value": [0]},
                "names": {"type": 1, "value": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                "prices": {"type": 2, "value": [1, 2.5]},
                "raw": {"type": 3, "value": ["x"]}
            }}),
        );
        assert_eq!(errors, None);
        assert_eq!(
            record["fields"],
            json!({"sum": 42.5, "label": "公式", "due": "1970-01-01T00:00:00.000Z",
                   "names": "ab", "prices": [1, 2.5], "raw": ["x"]})
        );
        assert_eq!(
            Shape::of(20, Some(2)).schema(),
            json!({"type": ["null", "number"]})
        );
        assert_eq!(
            Shape::of(19, Some(2)).schema(),
            json!({"type": ["null", "array"], "items": {"type": ["null", "number"]}})
        );
        assert_eq!(Shape::of(20, None).schema(), json!({}));
    }

    #[test]
    fn a_formula_error_value_is_null_and_counted() {
        let fields = [field("sum", 20, Some(2))];
        let (record, errors) = render(
            &fields,
            json!({"record_id": "r", "fields": {"sum": {"type": 2, "value": ["#DIV/0!"]}}}),
        );
        assert_eq!(record["fields"]["sum"], Value::Null);
        assert_eq!(errors.as_deref(), Some("\"sum\": 1"));
    }

    #[test]
    fn unknown_types_pass_through_and_are_reported() {
        let fields = [field("future", 9999, None), field("stage", 24, None)];
        let mut seen = Vec::new();
        let mut plain = PlainRecords::new(&fields, |f| seen.push(f.field_name.clone()));
        assert_eq!(seen, ["future"]);
        let out = plain
            .render(br#"{"record_id":"r","fields":{"future":{"a":[1]},"stage":{"s":1}}}"#)
            .unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out["fields"],
            json!({"future": {"a": [1]}, "stage": {"s": 1}})
        );
    }
}
