//! The general path: a value parsed into JSON and made plain by its shape. It takes every form
//! Feishu may send (and the older ones); the fast paths in `fast` handle the usual forms
//! without parsing and must agree with it.

use super::shape::Shape;
use super::time::format_utc;
use serde_json::{Value, json};

/// How a value came out: plain, a formula's error value, or a value that does not fit its
/// field's type (both written as null, and counted).
#[derive(Debug, PartialEq)]
pub(super) enum Plain {
    Value(Value),
    ErrorValue,
    Misfit,
}

/// Spreadsheet error values a formula may carry instead of a result.
const ERROR_VALUES: [&str; 9] = [
    "#ERROR", "#ERROR!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#N/A", "#NUM!", "NaN",
];

fn is_error_value(value: &Value) -> bool {
    value.as_str().is_some_and(|s| ERROR_VALUES.contains(&s))
}

/// The plain value of `value` of shape `shape`; [`Plain::Misfit`] when it does not fit the
/// shape (a number cell holding `"abc"`, a checkbox holding `1`, a time past year 9999).
pub(super) fn plain(shape: &Shape, value: Value) -> Plain {
    let v = match shape {
        Shape::Text => Some(joined_text(&value)),
        Shape::Number => number(value),
        Shape::String => matches!(value, Value::String(_) | Value::Null).then_some(value),
        Shape::Opaque | Shape::Unknown => Some(value),
        Shape::Url => url(value),
        Shape::Strings => each(value, |item| item.is_string().then_some(item)),
        Shape::Time => match value {
            Value::Null => Some(Value::Null),
            other => iso_time(&other),
        },
        Shape::Checkbox => match value {
            Value::Bool(_) => Some(value),
            Value::Null => Some(Value::Bool(false)),
            _ => None,
        },
        Shape::People => each(value, person),
        Shape::Links => link_ids(value),
        Shape::Attachments => each(value, attachment),
        Shape::Location => location(&value),
        Shape::Formula(inner) => return formula(inner, value),
        Shape::Lookup(inner) => return lookup(inner, value),
        Shape::Unwrapped => Some(results(value)),
    };
    v.map_or(Plain::Misfit, Plain::Value)
}

/// A list cell (a single value as a list of one) with each item made plain by `item`; None
/// when the cell or an item does not fit.
fn each(value: Value, item: impl Fn(Value) -> Option<Value>) -> Option<Value> {
    let items = match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        Value::Object(_) | Value::String(_) => vec![value],
        _ => return None,
    };
    items
        .into_iter()
        .map(item)
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

/// The link of a Url cell (`{"link", "text"}`, or a bare string).
fn url(value: Value) -> Option<Value> {
    match value {
        Value::Object(mut o) => match o.remove("link") {
            Some(link @ Value::String(_)) => Some(link),
            None | Some(Value::Null) => Some(Value::Null),
            Some(_) => None,
        },
        Value::String(_) | Value::Null => Some(value),
        _ => None,
    }
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
            other => return other,
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

/// A number cell: a number, or a string that spells one (blank: null).
fn number(value: Value) -> Option<Value> {
    match value {
        Value::String(s) if s.trim().is_empty() => Some(Value::Null),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Value::Number(_) | Value::Null => Some(value),
        _ => None,
    }
}

/// `{id, name, email}` of a person or group (a bare name as the name).
pub(super) fn person(value: Value) -> Option<Value> {
    match value {
        Value::Object(mut o) => {
            let mut take = |key: &str| match o.remove(key) {
                Some(Value::String(s)) if !s.is_empty() => Value::String(s),
                _ => Value::Null,
            };
            Some(json!({"id": take("id"), "name": take("name"), "email": take("email")}))
        }
        Value::String(name) => Some(json!({"id": null, "name": name, "email": null})),
        _ => None,
    }
}

/// Record ids of a link cell: `{"link_record_ids": [...]}`, the older
/// `[{"record_ids": [...]}]` form, or bare id strings.
fn link_ids(value: Value) -> Option<Value> {
    let mut ids = Vec::new();
    let items = match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        Value::Object(_) => vec![value],
        _ => return None,
    };
    for item in items {
        match item {
            Value::Object(mut o) => {
                let list = o
                    .remove("link_record_ids")
                    .or_else(|| o.remove("record_ids"));
                match list {
                    Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
                        ids.extend(list)
                    }
                    None | Some(Value::Null) => {}
                    Some(_) => return None,
                }
            }
            Value::String(_) => ids.push(item),
            _ => return None,
        }
    }
    Some(Value::Array(ids))
}

pub(super) fn attachment(value: Value) -> Option<Value> {
    if !value.is_object() {
        return None;
    }
    let field = |key: &str| value.get(key).cloned().unwrap_or(Value::Null);
    let text = |key: &str| Some(field(key)).filter(|v| v.is_null() || v.is_string());
    let size = Some(field("size")).filter(|v| v.is_null() || v.is_u64())?;
    Some(json!({
        "file_token": text("file_token")?,
        "name": text("name")?,
        "size": size,
        "mime_type": text("type")?,
        "url": text("url")?,
    }))
}

/// `{address, lng, lat}` from `{"location": "lng,lat", "full_address", "address", ...}`.
fn location(value: &Value) -> Option<Value> {
    if value.is_null() {
        return Some(Value::Null);
    }
    if !value.is_object() {
        return None;
    }
    let mut coordinates = value
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(',')
        .map(|part| number(Value::String(part.to_string())).unwrap_or(Value::Null));
    let address = match value.get("full_address").or_else(|| value.get("address")) {
        Some(a @ Value::String(_)) => a.clone(),
        _ => Value::Null,
    };
    Some(json!({
        "address": address,
        "lng": coordinates.next().unwrap_or(Value::Null),
        "lat": coordinates.next().unwrap_or(Value::Null),
    }))
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`; None for anything else, and for times
/// outside the years 1 to 9999 (which RFC 3339 cannot write).
fn iso_time(value: &Value) -> Option<Value> {
    let ms = match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e17)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }?;
    super::time::in_range(ms).then(|| Value::String(format_utc(ms)))
}
