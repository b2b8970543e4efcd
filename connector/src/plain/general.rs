//! The general path: a value parsed into JSON and made plain by its shape. It takes every form
//! Feishu may send (and the older ones); the fast paths in `fast` handle the usual forms
//! without parsing and must agree with it.

use super::shape::Shape;
use super::time::format_utc;
use serde_json::{Value, json};

/// How a value came out: plain, or a formula's error value (null instead).
pub(super) enum Plain {
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
pub(super) fn plain(shape: &Shape, value: Value) -> Plain {
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
pub(super) fn listed(value: Value) -> Vec<Value> {
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
pub(super) fn person(value: Value) -> Value {
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

pub(super) fn attachment(value: Value) -> Value {
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
