//! Plain values (`values: plain`): each field of a record as the value an analyst expects, and
//! the JSON schema that says its exact type.
//!
//! A table's fields list gives each field a [`Shape`] (from its type code; formulas and lookups
//! from the result type in `property.type.data_type`). [`PlainRecords::render`] rewrites one
//! record's `fields` by those shapes: text segments joined, dates as ISO-8601 UTC, people as
//! `{id, name, email}`, links as record ids, formulas and lookups unwrapped, unticked checkboxes
//! `false`. Fields of unknown types pass through unchanged; a formula's error value becomes
//! null and is counted.

use crate::scan::{ScanError, each_item, each_member, skip_ws, value_span};
use crate::schema::FieldInfo;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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
    let mut out = Vec::with_capacity(24);
    write_utc(&mut out, ms);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 0 to 9999; others as
/// their digits). Past the one 64-bit division into days, the arithmetic is 32-bit: wasm has
/// no 64-bit multiply-high, so 64-bit divisions by constants stay divisions there.
fn write_utc(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000) as u32;
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(year.to_string().as_bytes());
        out.extend_from_slice(&utc_text(0, month, day, ms_of_day)[4..]);
    } else {
        out.extend_from_slice(&utc_text(year as u32, month, day, ms_of_day));
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a year (0 to 9999), month, day and millisecond of the day.
fn utc_text(year: u32, month: u32, day: u32, ms_of_day: u32) -> [u8; 24] {
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, ms_of_day / 3_600_000);
    put(14, 2, ms_of_day / 60_000 % 60);
    put(17, 2, ms_of_day / 1000 % 60);
    put(20, 3, ms_of_day % 1000);
    text
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's `civil_from_days`), in 32-bit
/// arithmetic from the year 0 on (64-bit before it).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let (era, doe) = match u32::try_from(z) {
        Ok(z) => (i64::from(z / 146_097), z % 146_097),
        Err(_) => (z.div_euclid(146_097), z.rem_euclid(146_097) as u32),
    };
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = i64::from(yoe) + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A table's fields by name with their shapes, rendering records as plain values.
#[derive(Debug)]
pub struct PlainRecords {
    /// Each field's name and shape, in the fields list's order.
    fields: Vec<(String, Shape)>,
    /// Index into `fields` by the name's bytes (as a record's key writes it, unescaped).
    by_name: HashMap<Vec<u8>, usize>,
    /// Indices into `fields` of the checkbox fields: an empty cell is `false`.
    checkboxes: Vec<usize>,
    /// The fields in the order records list them (learned from the records): records of a
    /// table list their fields in one order, leaving out empty ones, so a key is mostly found
    /// a step or two after the last one without hashing.
    order: Vec<usize>,
    /// Formula and lookup error values made null so far, by field.
    error_values: BTreeMap<String, u64>,
    /// The length of the last record rendered.
    last_len: usize,
}

impl PlainRecords {
    /// The shapes of `fields`; `unknown` hears of each field whose type is not known.
    pub fn new(fields: &[FieldInfo], mut unknown: impl FnMut(&FieldInfo)) -> Self {
        let mut plain = Self {
            fields: Vec::new(),
            by_name: HashMap::default(),
            checkboxes: Vec::new(),
            order: Vec::new(),
            error_values: BTreeMap::new(),
            last_len: 0,
        };
        for field in fields {
            let shape = Shape::of_field(field);
            if shape == Shape::Unknown {
                unknown(field);
            }
            let index = match plain.by_name.get(field.field_name.as_bytes()) {
                Some(&index) => index,
                None => {
                    plain
                        .fields
                        .push((field.field_name.clone(), Shape::Unknown));
                    plain.fields.len() - 1
                }
            };
            if shape == Shape::Checkbox && !plain.checkboxes.contains(&index) {
                plain.checkboxes.push(index);
            }
            plain.fields[index].1 = shape;
            plain
                .by_name
                .insert(field.field_name.as_bytes().to_vec(), index);
        }
        plain
    }

    /// One record (a JSON object from the search answer) with plain `fields`. Fields the
    /// fields list did not name (added since it was read) pass through unchanged. The record
    /// is walked once with the structural scanner: values that are already plain (numbers,
    /// strings, booleans, and every column but `fields`, `created_by` and `last_modified_by`)
    /// are copied as they are; values in their usual form (text segments, people, attachments,
    /// links) are rewritten as they are read, strings copied without unescaping
    /// ([`write_fast`]); only values in another form are parsed, one at a time, by the
    /// tolerant general path ([`plain`]). The two agree (a unit test holds them to it).
    pub fn render(&mut self, record: &[u8]) -> Result<Vec<u8>, String> {
        self.render_at(record, 0)
            .map(|(out, _)| out)
            .map_err(|e| e.to_string())
    }

    /// The record whose object opens at `at` of `record` rendered as [`PlainRecords::render`]
    /// does, and where it ends.
    pub fn render_at(&mut self, record: &[u8], at: usize) -> Result<(Vec<u8>, usize), ScanError> {
        // Records of a table are much alike: room for the last one and a quarter more.
        let mut out = Vec::with_capacity(self.last_len + self.last_len / 4 + 64);
        out.push(b'{');
        let mut first = true;
        let mut fields_seen = false;
        let end = each_member(record, at, |key, at| {
            separate(&mut out, &mut first);
            write_key(&mut out, key);
            match key {
                b"fields" => {
                    fields_seen = true;
                    self.render_fields(record, at, &mut out)
                }
                b"created_by" | b"last_modified_by" => {
                    if let Some(end) = fast(&mut out, |out| write_person(record, at, out)) {
                        return Ok(end);
                    }
                    let (start, end) = value_span(record, at)?;
                    let first = listed(parse(&record[start..end])?).into_iter().next();
                    write_value(&mut out, &first.map_or(Value::Null, person));
                    Ok(end)
                }
                _ => {
                    let (start, end) = value_span(record, at)?;
                    out.extend_from_slice(&record[start..end]);
                    Ok(end)
                }
            }
        })?;
        if !fields_seen {
            separate(&mut out, &mut first);
            out.extend_from_slice(b"\"fields\":");
            self.render_fields(b"{}", 0, &mut out)?;
        }
        out.push(b'}');
        self.last_len = out.len();
        Ok((out, end))
    }

    /// The `fields` object at `at` of `b`, written with plain values, unticked checkboxes
    /// added; returns where it ends.
    fn render_fields(
        &mut self,
        b: &[u8],
        at: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, ScanError> {
        out.push(b'{');
        let mut first = true;
        // Which of `self.checkboxes` the record has.
        let mut checkboxes_seen = vec![false; self.checkboxes.len()];
        let mut next = 0;
        let end = each_member(b, at, |key, at| {
            separate(out, &mut first);
            write_key(out, key);
            let index = self.field_at(&mut next, key)?;
            let Some(index) = index else {
                let (start, end) = value_span(b, at)?;
                out.extend_from_slice(&b[start..end]);
                return Ok(end);
            };
            if let Some(i) = self.checkboxes.iter().position(|&c| c == index) {
                checkboxes_seen[i] = true;
            }
            let shape = &self.fields[index].1;
            if let Some(end) = fast(out, |out| write_fast(shape, b, at, out)) {
                return Ok(end);
            }
            let (start, end) = value_span(b, at)?;
            let value = &b[start..end];
            if let Some(time) = already_plain(shape, value) {
                time.write(out, value);
                return Ok(end);
            }
            match plain(shape, parse(value)?) {
                Plain::Value(v) => write_value(out, &v),
                Plain::ErrorValue => {
                    let name = self.fields[index].0.clone();
                    *self.error_values.entry(name).or_default() += 1;
                    out.extend_from_slice(b"null");
                }
            }
            Ok(end)
        })?;
        let unseen = self.checkboxes.iter().zip(&checkboxes_seen);
        for (&index, _) in unseen.filter(|(_, seen)| !**seen) {
            separate(out, &mut first);
            write_value(out, &Value::String(self.fields[index].0.clone()));
            out.extend_from_slice(b":false");
        }
        out.push(b'}');
        Ok(end)
    }

    /// Records as a stream hands them over: each rendered with plain values when `plain` is
    /// given, else as Feishu sent it.
    pub fn hand_over(
        plain: Option<&mut PlainRecords>,
        records: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, String> {
        match plain {
            None => Ok(records.iter().map(|r| r.to_vec()).collect()),
            Some(plain) => records.iter().map(|r| plain.render(r)).collect(),
        }
    }

    /// The field whose raw key is `key`, the next key of a record's `fields` after the one
    /// found at `order[*next - 1]`; moves `next` past it in `order`.
    fn field_at(&mut self, next: &mut usize, key: &[u8]) -> Result<Option<usize>, ScanError> {
        // Up to three fields left out (empty cells) between two keys are stepped over.
        let ahead = self.order.iter().enumerate().skip(*next).take(4);
        for (at, &index) in ahead {
            if self.fields[index].0.as_bytes() == key {
                *next = at + 1;
                return Ok(Some(index));
            }
        }
        let index = if key.contains(&b'\\') {
            self.by_name.get(field_name(key)?.as_bytes()).copied()
        } else {
            self.by_name.get(key).copied()
        };
        if let Some(index) = index {
            match self.order.iter().position(|&i| i == index) {
                Some(at) => *next = at + 1,
                None => {
                    self.order.insert(*next, index);
                    *next += 1;
                }
            }
        }
        Ok(index)
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
                write_utc(out, ms);
                out.push(b'"');
            }
        }
    }
}

/// A value in a form the fast paths do not take: the general path handles it.
fn unusual() -> ScanError {
    ScanError::Unexpected {
        offset: 0,
        found: ' ',
        expected: "the usual form",
    }
}

/// Runs a fast path writing into `out`: where its value ends, or None (and nothing written)
/// when the value is not in the form it takes.
fn fast(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<usize, ScanError>,
) -> Option<usize> {
    let mark = out.len();
    let written = write(out);
    if written.is_err() {
        out.truncate(mark);
    }
    written.ok()
}

/// The raw values of some members of an object (None for a member it lacks).
type Members<'a, const N: usize> = [Option<&'a [u8]>; N];

/// A fast path writing the value at a position and returning where it ends.
type WriteAt = fn(&[u8], usize, &mut Vec<u8>) -> Result<usize, ScanError>;

/// The raw values of the members `keys` of the object at `at` (None for a key it lacks), and
/// where the object ends.
fn members<'a, const N: usize>(
    b: &'a [u8],
    at: usize,
    keys: [&[u8]; N],
) -> Result<(Members<'a, N>, usize), ScanError> {
    let mut found = [None; N];
    let end = each_member(b, at, |key, at| {
        let (start, end) = value_span(b, at)?;
        if let Some(i) = keys.iter().position(|k| *k == key) {
            found[i] = Some(&b[start..end]);
        }
        Ok(end)
    })?;
    Ok((found, end))
}

/// Writes a string member as it is, null when absent or null; `empty_null` makes `""` null.
fn write_string(
    out: &mut Vec<u8>,
    value: Option<&[u8]>,
    empty_null: bool,
) -> Result<(), ScanError> {
    match value {
        None | Some(b"null") => out.extend_from_slice(b"null"),
        Some(b"\"\"") if empty_null => out.extend_from_slice(b"null"),
        Some(s) if s.first() == Some(&b'"') => out.extend_from_slice(s),
        Some(_) => return Err(unusual()),
    }
    Ok(())
}

/// Writes each element of the array at `at` through `element`, as a JSON array; returns
/// where the array ends.
fn write_each(
    b: &[u8],
    at: usize,
    out: &mut Vec<u8>,
    element: WriteAt,
) -> Result<usize, ScanError> {
    out.push(b'[');
    let end = each_item(b, at, |i, at| {
        if i > 0 {
            out.push(b',');
        }
        element(b, at, out)
    })?;
    out.push(b']');
    Ok(end)
}

/// `{id, name, email}` of the person object at `at`, empty parts null: what [`person`]
/// makes of one.
fn write_person(b: &[u8], at: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
    let ([id, name, email], end) = members(b, at, [b"id", b"name", b"email"])?;
    out.extend_from_slice(b"{\"id\":");
    write_string(out, id, true)?;
    out.extend_from_slice(b",\"name\":");
    write_string(out, name, true)?;
    out.extend_from_slice(b",\"email\":");
    write_string(out, email, true)?;
    out.push(b'}');
    Ok(end)
}

/// `{file_token, name, size, mime_type, url}` of the attachment at `at` (Feishu's `type` as
/// `mime_type`): what [`attachment`] makes of one.
fn write_attachment(b: &[u8], at: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
    let keys = [&b"file_token"[..], b"name", b"size", b"type", b"url"];
    let ([token, name, size, kind, url], end) = members(b, at, keys)?;
    out.extend_from_slice(b"{\"file_token\":");
    write_string(out, token, false)?;
    out.extend_from_slice(b",\"name\":");
    write_string(out, name, false)?;
    out.extend_from_slice(b",\"size\":");
    match size {
        None => out.extend_from_slice(b"null"),
        Some(n) if n == b"null" || n.iter().all(u8::is_ascii_digit) => out.extend_from_slice(n),
        Some(_) => return Err(unusual()),
    }
    out.extend_from_slice(b",\"mime_type\":");
    write_string(out, kind, false)?;
    out.extend_from_slice(b",\"url\":");
    write_string(out, url, false)?;
    out.push(b'}');
    Ok(end)
}

/// Writes the plain value of the common shapes as it reads the raw JSON at `at`, copying
/// strings as they are (text segments, people, attachments, links, URLs, multi-selects);
/// returns where the value ends, or Err when it is not in the usual form (the general path
/// then handles it).
fn write_fast(shape: &Shape, b: &[u8], at: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
    match shape {
        Shape::Text => write_text(b, at, out),
        Shape::People => write_each(b, at, out, write_person),
        Shape::Attachments => write_each(b, at, out, write_attachment),
        Shape::Links => {
            let ([ids], end) = members(b, at, [b"link_record_ids"])?;
            let ids = ids.ok_or_else(unusual)?;
            strings_only(ids, 0)?;
            out.extend_from_slice(ids);
            Ok(end)
        }
        Shape::Url => {
            let ([link], end) = members(b, at, [b"link"])?;
            out.extend_from_slice(link.unwrap_or(b"null"));
            Ok(end)
        }
        Shape::Strings => {
            let start = skip_ws(b, at);
            let end = strings_only(b, start)?;
            out.extend_from_slice(&b[start..end]);
            Ok(end)
        }
        _ => Err(unusual()),
    }
}

/// Rich-text segments' `text` joined into one JSON string (the escaped contents of each
/// copied as they are: joined escaped text is the escaped joined text).
fn write_text(b: &[u8], at: usize, out: &mut Vec<u8>) -> Result<usize, ScanError> {
    out.push(b'"');
    let end = each_item(b, at, |_, at| {
        let ([text], end) = members(b, at, [b"text"])?;
        match text {
            None | Some(b"null") => {}
            Some(s) if s.first() == Some(&b'"') => out.extend_from_slice(&s[1..s.len() - 1]),
            Some(_) => return Err(unusual()),
        }
        Ok(end)
    })?;
    out.push(b'"');
    Ok(end)
}

/// Where the array of strings at `at` ends; Err when it is not one.
fn strings_only(b: &[u8], at: usize) -> Result<usize, ScanError> {
    each_item(b, at, |_, at| {
        let (start, end) = value_span(b, at)?;
        if b[start] == b'"' {
            Ok(end)
        } else {
            Err(unusual())
        }
    })
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
            return integer(raw).map(AsIs::Time);
        }
        _ => false,
    };
    plain.then_some(AsIs::Copy)
}

/// The integer `raw` spells (an optional minus and up to 18 digits), if it is one.
fn integer(raw: &[u8]) -> Option<i64> {
    let (negative, digits) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, raw),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut value = 0i64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(d - b'0');
    }
    Some(if negative { -value } else { value })
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
        assert_eq!(format_utc(-62_167_219_200_000), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_utc(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_utc(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
        assert_eq!(format_utc(-62_167_219_200_001), "-1-12-31T23:59:59.999Z");
    }

    #[test]
    fn each_day_follows_the_one_before() {
        let month_days = |year: i64, month: u32| match month {
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut date = civil_from_days(-800_000);
        for days in -799_999..3_000_000 {
            let (year, month, day) = date;
            let next = if day < month_days(year, month) {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
            date = civil_from_days(days);
            assert_eq!(date, next, "{days}");
        }
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

    #[test]
    fn fast_paths_agree_with_the_general_path() {
        let cases = [
            (
                Shape::Text,
                json!([{"type": "text", "text": "a \"b\"\n"}, {"type": "mention", "text": "@张三"}, {"type": "url"}]),
            ),
            (
                Shape::People,
                json!([{"id": "ou_1", "name": "", "email": "e@x", "avatar_url": "u"}, {"name": "n"}]),
            ),
            (
                Shape::Attachments,
                json!([{"file_token": "f", "name": "", "size": 12, "type": "image/png", "url": "u", "tmp_url": "t"}, {"file_token": "g"}]),
            ),
            (Shape::Links, json!({"link_record_ids": ["recA", "recB"]})),
            (Shape::Url, json!({"link": "https://x", "text": "x"})),
            (Shape::Url, json!({"text": "x"})),
            (Shape::Strings, json!(["a", "b \\ c"])),
        ];
        for (shape, value) in cases {
            let raw = value.to_string();
            let mut fast_out = Vec::new();
            let end = write_fast(&shape, raw.as_bytes(), 0, &mut fast_out)
                .unwrap_or_else(|e| panic!("{shape:?} {raw}: {e}"));
            assert_eq!(end, raw.len(), "{shape:?}");
            let fast: Value = serde_json::from_slice(&fast_out).unwrap();
            let Plain::Value(general) = plain(&shape, value) else {
                panic!("{shape:?}: an error value")
            };
            assert_eq!(fast, general, "{shape:?} {raw}");
        }
        for (shape, unusual) in [
            (Shape::Text, json!("plain")),
            (Shape::People, json!({"id": "ou_1"})),
            (Shape::People, json!([{"id": 7}])),
            (Shape::Attachments, json!([{"size": 1.5}])),
            (Shape::Links, json!([{"record_ids": ["recA"]}])),
            (Shape::Strings, json!(["a", 1])),
        ] {
            let mut out = Vec::new();
            let raw = unusual.to_string();
            assert!(fast(&mut out, |out| write_fast(&shape, raw.as_bytes(), 0, out)).is_none());
            assert!(out.is_empty(), "{shape:?}: nothing written");
        }
    }
}
