//! Plain values (`values: plain`): each field of a record as the value an analyst expects, and
//! the JSON schema that says its exact type.
//!
//! A table's fields list gives each field a [`Shape`] (from its type code; formulas and lookups
//! from the result type in `property.type.data_type`). [`PlainRecords::render`] rewrites one
//! record's `fields` by those shapes: text segments joined, dates as ISO-8601 UTC, people as
//! `{id, name, email}`, links as record ids, formulas and lookups unwrapped, unticked checkboxes
//! `false`. Fields of unknown types pass through unchanged; a formula's error value becomes
//! null and is counted.

use crate::scan::{ScanError, each_element, each_member, value_span};
use crate::schema::FieldInfo;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
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

/// The schema of a record's `created_by` / `last_modified_by` as plain values.
pub fn person_schema() -> Value {
    let string_or_null = json!({"type": ["null", "string"]});
    json!({
        "type": ["null", "object"],
        "properties": {"id": string_or_null, "name": string_or_null, "email": string_or_null}
    })
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
    /// fields list did not name (added since it was read) pass through unchanged. The record
    /// is walked with the structural scanner: values that are already plain (numbers, strings,
    /// booleans, and every column but `fields`, `created_by` and `last_modified_by`) are copied
    /// as they are; only the others are parsed, one value at a time.
    pub fn render(&mut self, record: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(record.len());
        out.push(b'{');
        let mut first = true;
        let mut fields_seen = false;
        each_member(record, 0, |key, at| {
            let (start, end) = value_span(record, at)?;
            separate(&mut out, &mut first);
            write_key(&mut out, key);
            let raw = &record[start..end];
            match key {
                b"fields" => {
                    fields_seen = true;
                    self.render_fields(raw, &mut out)?;
                }
                b"created_by" | b"last_modified_by" => {
                    if !one_person_fast(raw, &mut out) {
                        let first = listed(parse(raw)?).into_iter().next();
                        write_value(&mut out, &first.map_or(Value::Null, person));
                    }
                }
                _ => out.extend_from_slice(raw),
            }
            Ok(end)
        })
        .map_err(|e| e.to_string())?;
        if !fields_seen {
            separate(&mut out, &mut first);
            out.extend_from_slice(b"\"fields\":");
            self.render_fields(b"{}", &mut out)
                .map_err(|e| e.to_string())?;
        }
        out.push(b'}');
        Ok(out)
    }

    /// The `fields` object `raw`, written with plain values, unticked checkboxes added.
    fn render_fields(&mut self, raw: &[u8], out: &mut Vec<u8>) -> Result<(), ScanError> {
        out.push(b'{');
        let mut first = true;
        // Which of `self.checkboxes` the record has.
        let mut checkboxes_seen = vec![false; self.checkboxes.len()];
        each_member(raw, 0, |key, at| {
            let (start, end) = value_span(raw, at)?;
            let value = &raw[start..end];
            separate(out, &mut first);
            write_key(out, key);
            let name = field_name(key)?;
            match self.shapes.get(name.as_ref()) {
                None => out.extend_from_slice(value),
                Some(shape) => {
                    if *shape == Shape::Checkbox
                        && let Some(i) = self.checkboxes.iter().position(|c| *c == name)
                    {
                        checkboxes_seen[i] = true;
                    }
                    if let Some(time) = already_plain(shape, value) {
                        time.write(out, value);
                    } else if !typed_fast(shape, value, out) {
                        match plain(shape, parse(value)?) {
                            Plain::Value(v) => write_value(out, &v),
                            Plain::ErrorValue => {
                                *self.error_values.entry(name.into_owned()).or_default() += 1;
                                out.extend_from_slice(b"null");
                            }
                        }
                    }
                }
            }
            Ok(end)
        })?;
        let unseen = self.checkboxes.iter().zip(&checkboxes_seen);
        for (name, _) in unseen.filter(|(_, seen)| !**seen) {
            separate(out, &mut first);
            write_value(out, &Value::String(name.clone()));
            out.extend_from_slice(b":false");
        }
        out.push(b'}');
        Ok(())
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

/// How a value already in its plain form is written.
enum AsIs {
    /// Copied byte for byte.
    Copy,
    /// Epoch milliseconds written as an ISO-8601 UTC string.
    Time(i64),
}

impl AsIs {
    fn write(self, out: &mut Vec<u8>, raw: &[u8]) {
        match self {
            AsIs::Copy => out.extend_from_slice(raw),
            AsIs::Time(ms) => {
                out.push(b'"');
                out.extend_from_slice(format_utc(ms).as_bytes());
                out.push(b'"');
            }
        }
    }
}

/// A rich-text segment, only its text read.
#[derive(serde::Deserialize)]
struct Segment<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

/// A person or group as Feishu sends one, only the parts kept read.
#[derive(serde::Deserialize)]
struct Who<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    email: Option<Cow<'a, str>>,
}

/// `{id, name, email}`, empty parts null: what [`person`] makes of a person object.
#[derive(serde::Serialize)]
struct Person<'a> {
    id: Option<&'a str>,
    name: Option<&'a str>,
    email: Option<&'a str>,
}

impl<'a> Who<'a> {
    fn plain(&'a self) -> Person<'a> {
        let part = |s: &'a Option<Cow<'a, str>>| s.as_deref().filter(|s| !s.is_empty());
        Person {
            id: part(&self.id),
            name: part(&self.name),
            email: part(&self.email),
        }
    }
}

/// An attachment: read with only the parts kept (Feishu's `type` as `mime_type`), written as
/// `{file_token, name, size, mime_type, url}`, what [`attachment`] makes of one.
#[derive(serde::Deserialize, serde::Serialize)]
struct File<'a> {
    #[serde(borrow)]
    file_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    size: Option<i64>,
    #[serde(borrow, rename(deserialize = "type"))]
    mime_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
}

/// A link cell as the search endpoint sends it.
#[derive(serde::Deserialize)]
struct LinkIds<'a> {
    #[serde(borrow)]
    link_record_ids: Vec<Cow<'a, str>>,
}

/// Writes the plain value of the common shapes straight from typed parses (text segments,
/// people), without building JSON values; false when `raw` is not in the usual form (the
/// general path then handles it).
fn typed_fast(shape: &Shape, raw: &[u8], out: &mut Vec<u8>) -> bool {
    match shape {
        Shape::Text => match serde_json::from_slice::<Vec<Segment<'_>>>(raw) {
            Ok(segments) => {
                let text: String = segments.iter().filter_map(|s| s.text.as_deref()).collect();
                let _ = serde_json::to_writer(&mut *out, &text);
                true
            }
            Err(_) => false,
        },
        Shape::People => match serde_json::from_slice::<Vec<Who<'_>>>(raw) {
            Ok(people) => {
                let people: Vec<Person<'_>> = people.iter().map(Who::plain).collect();
                let _ = serde_json::to_writer(&mut *out, &people);
                true
            }
            Err(_) => false,
        },
        Shape::Attachments => match serde_json::from_slice::<Vec<File<'_>>>(raw) {
            Ok(files) => {
                let _ = serde_json::to_writer(&mut *out, &files);
                true
            }
            Err(_) => false,
        },
        Shape::Links => match serde_json::from_slice::<LinkIds<'_>>(raw) {
            Ok(links) => {
                let _ = serde_json::to_writer(&mut *out, &links.link_record_ids);
                true
            }
            Err(_) => false,
        },
        Shape::Strings => {
            let all_strings = each_element(raw, 0, |_, start, _| match raw[start] {
                b'"' => Ok(()),
                found => Err(ScanError::Unexpected {
                    offset: start,
                    found: char::from(found),
                    expected: "a string",
                }),
            });
            if all_strings.is_ok() {
                out.extend_from_slice(raw);
            }
            all_strings.is_ok()
        }
        _ => false,
    }
}

/// Writes a record's `created_by` / `last_modified_by` (one person object) as `{id, name,
/// email}`; false when it is in another form.
fn one_person_fast(raw: &[u8], out: &mut Vec<u8>) -> bool {
    match serde_json::from_slice::<Who<'_>>(raw) {
        Ok(who) => {
            let _ = serde_json::to_writer(&mut *out, &who.plain());
            true
        }
        Err(_) => false,
    }
}

/// Whether `raw` (a value of shape `shape`) can be written without parsing it, and how.
fn already_plain(shape: &Shape, raw: &[u8]) -> Option<AsIs> {
    let first = *raw.first()?;
    let is_number = first == b'-' || first.is_ascii_digit();
    let plain = match shape {
        Shape::Opaque | Shape::Unknown => true,
        Shape::String => first == b'"',
        Shape::Number => is_number,
        Shape::Checkbox => first == b't' || first == b'f',
        Shape::Time if is_number => {
            // Integers only: a fraction or exponent goes the parsed way.
            let ms = std::str::from_utf8(raw).ok()?.parse::<i64>().ok()?;
            return Some(AsIs::Time(ms));
        }
        _ => false,
    };
    plain.then_some(AsIs::Copy)
}

fn separate(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

/// Writes a key as it was in the input (raw bytes between the quotes) and the colon.
fn write_key(out: &mut Vec<u8>, key: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":");
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn parse(raw: &[u8]) -> Result<Value, ScanError> {
    serde_json::from_slice(raw).map_err(|e| ScanError::Unexpected {
        offset: e.column().saturating_sub(1),
        found: char::from(
            raw.get(e.column().saturating_sub(1))
                .copied()
                .unwrap_or(b' '),
        ),
        expected: "a JSON value",
    })
}

/// A field's name from its raw key: as it is, or unescaped when it has escapes.
fn field_name(key: &[u8]) -> Result<Cow<'_, str>, ScanError> {
    let unexpected = || ScanError::Unexpected {
        offset: 0,
        found: '"',
        expected: "a UTF-8 key",
    };
    if !key.contains(&b'\\') {
        return std::str::from_utf8(key)
            .map(Cow::Borrowed)
            .map_err(|_| unexpected());
    }
    let mut quoted = Vec::with_capacity(key.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(key);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted)
        .map(Cow::Owned)
        .map_err(|_| unexpected())
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
            field_id: None,
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
        let (record, _) = render(
            &fields,
            json!({"record_id": "r", "fields": {}, "created_by": {"id": "ou_1", "name": "张三", "en_name": "Z"}, "last_modified_by": [{"id": "ou_2"}]}),
        );
        assert_eq!(
            record["created_by"],
            json!({"id": "ou_1", "name": "张三", "email": null})
        );
        assert_eq!(
            record["last_modified_by"],
            json!({"id": "ou_2", "name": null, "email": null})
        );
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
