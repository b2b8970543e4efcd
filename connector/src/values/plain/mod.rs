//! Plain values (`values: plain`): each field of a record as the value an analyst expects, and
//! the JSON schema that says its exact type.
//!
//! A table's fields list gives each field a [`Shape`] (from its type code; formulas and lookups
//! from the result type in `property.type.data_type`). [`PlainRecords::render`] rewrites one
//! record's `fields` by those shapes: text segments joined, dates as ISO-8601 UTC, people as
//! `{id, name, email}`, links as record ids, formulas and lookups unwrapped, unticked checkboxes
//! `false`. Fields of unknown types pass through unchanged; a formula's error value, and a
//! value that does not fit its field's type (a number cell holding `"abc"`, a time past year
//! 9999), become null and are counted.
//!
//! `shape` gives each field its shape and schema; [`PlainRecords`] walks a record once and
//! writes each value through `fast` (the usual forms, written as they are read) or, for any
//! other form, `general` (the value parsed and made plain); `time` writes ISO-8601 times.

mod fast;
mod general;
mod shape;
mod time;

pub use shape::{Shape, fields_schema, person_schema};
pub use time::format_utc;

use crate::read::scan::{ScanError, each_member, value_span};
use crate::values::fields::FieldInfo;
use fast::{already_plain, fast, write_fast, write_person};
use general::{Plain, listed, person, plain};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

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
    /// Values that did not fit their field's type, made null so far, by field.
    misfits: BTreeMap<String, u64>,
    /// The length of the last record rendered.
    last_len: usize,
    /// Where the last record rendered has its `record_id` (a non-empty string) in its input.
    record_id_span: Option<(usize, usize)>,
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
            misfits: BTreeMap::new(),
            last_len: 0,
            record_id_span: None,
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
        self.record_id_span = None;
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
                    // A person that cannot be parsed (nested past serde's depth) is null.
                    let parsed = parse(&record[start..end]).unwrap_or(Value::Null);
                    let first = listed(parsed).into_iter().next();
                    write_value(&mut out, &first.and_then(person).unwrap_or(Value::Null));
                    Ok(end)
                }
                _ => {
                    let (start, end) = value_span(record, at)?;
                    if key == b"record_id" {
                        self.record_id_span =
                            (record[start] == b'"' && end - start > 2).then_some((start, end));
                    }
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

    /// Where the record [`PlainRecords::render_at`] rendered last has its `record_id` (a
    /// non-empty string) in its input, if it has one.
    pub fn record_id_span(&self) -> Option<(usize, usize)> {
        self.record_id_span
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
            // A value the scanner took but serde cannot (nested past its depth) fits nothing.
            let outcome = parse(value).map_or(Plain::Misfit, |v| plain(shape, v));
            let counts = match outcome {
                Plain::Value(v) => {
                    write_value(out, &v);
                    return Ok(end);
                }
                Plain::ErrorValue => &mut self.error_values,
                Plain::Misfit => &mut self.misfits,
            };
            let name = &self.fields[index].0;
            match counts.get_mut(name) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(name.clone(), 1);
                }
            }
            out.extend_from_slice(b"null");
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

    /// The values that did not fit their field's type (made null) so far: each field's name
    /// and count.
    pub fn misfits(&self) -> impl Iterator<Item = (&str, u64)> {
        self.misfits.iter().map(|(name, n)| (name.as_str(), *n))
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

#[cfg(test)]
mod tests {
    use super::fast::write_fast;
    use super::general::{Plain, plain};
    use super::*;
    use serde_json::json;

    fn field(name: &str, code: i64, data_type: Option<i64>) -> FieldInfo {
        FieldInfo {
            field_id: None,
            field_name: name.into(),
            type_code: code,
            ui_type: None,
            property: data_type.map(|t| json!({"type": {"data_type": t}})),
            is_primary: false,
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

    /// Whether `value` fits `schema` (the subset our schemas use: `type`, `items`,
    /// `properties`).
    fn fits(schema: &Value, value: &Value) -> bool {
        let kind = |t: &str| match t {
            "null" => value.is_null(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        let typed = match &schema["type"] {
            Value::String(t) => kind(t),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(kind),
            _ => true,
        };
        let items = match (value, schema.get("items")) {
            (Value::Array(items), Some(s)) => items.iter().all(|i| fits(s, i)),
            _ => true,
        };
        let properties = match (value, schema.get("properties").and_then(Value::as_object)) {
            (Value::Object(o), Some(ps)) => {
                ps.iter().all(|(k, s)| o.get(k).is_none_or(|v| fits(s, v)))
            }
            _ => true,
        };
        typed && items && properties
    }

    #[test]
    fn values_that_do_not_fit_their_type_are_null_counted_and_fit_the_schema() {
        let cases = [
            (field("n", 2, None), json!("abc")),
            (field("n", 2, None), json!(true)),
            (field("check", 7, None), json!("true")),
            (field("check", 7, None), json!(1)),
            (field("link", 18, None), json!([1, 2])),
            (field("select", 3, None), json!(5)),
            (field("when", 5, None), json!(1e20)),
            (field("when", 5, None), json!(300_000_000_000_000i64)),
            (field("when", 5, None), json!("soon")),
            (field("tags", 4, None), json!([1, "a"])),
            (field("who", 11, None), json!([5])),
            (field("files", 17, None), json!([{"size": "big"}])),
            (field("place", 22, None), json!("here")),
            (field("url", 15, None), json!({"link": 5})),
            (field("f", 20, Some(2)), json!({"type": 2, "value": ["x"]})),
        ];
        for (f, value) in cases {
            let shape = Shape::of_field(&f);
            let name = f.field_name.clone();
            let mut plain = PlainRecords::new(std::slice::from_ref(&f), |_| {});
            let record = json!({"record_id": "r", "fields": {name.clone(): value.clone()}});
            let bytes = plain.render(record.to_string().as_bytes()).unwrap();
            let out: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(out["fields"][&name], Value::Null, "{name} {value}");
            let counted: Vec<_> = plain.misfits().collect();
            let errors = plain.error_values();
            assert!(
                counted == [(name.as_str(), 1)] || errors.is_some(),
                "{name} {value}: {counted:?}"
            );
            assert!(fits(&shape.schema(), &Value::Null), "{name}: null fits");
        }
    }

    #[test]
    fn a_value_nested_past_the_parsers_depth_is_a_misfit_not_a_failure() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let record = format!(r#"{{"record_id":"r","fields":{{"n":{deep},"t":"ok"}}}}"#);
        let fields = [field("n", 2, None), field("t", 1, None)];
        let mut plain = PlainRecords::new(&fields, |_| {});
        let bytes = plain.render(record.as_bytes()).unwrap();
        let out: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(out["fields"], json!({"n": null, "t": "ok"}));
        assert_eq!(plain.misfits().collect::<Vec<_>>(), [("n", 1)]);
    }

    #[test]
    fn every_plain_value_fits_its_schema() {
        let fields = [
            field("text", 1, None),
            field("n", 2, None),
            field("select", 3, None),
            field("tags", 4, None),
            field("when", 5, None),
            field("check", 7, None),
            field("who", 11, None),
            field("url", 15, None),
            field("files", 17, None),
            field("link", 18, None),
            field("lookup", 19, Some(1)),
            field("formula", 20, Some(2)),
            field("place", 22, None),
            field("auto", 1005, None),
        ];
        let values = [
            json!(null),
            json!("7"),
            json!(7),
            json!(true),
            json!([{"type": "text", "text": "a"}]),
            json!(["a", "b"]),
            json!({"link": "https://x", "text": "x"}),
            json!({"link_record_ids": ["recA"]}),
            json!([{"id": "ou_1", "name": "n"}]),
            json!([{"file_token": "f", "size": 3}]),
            json!({"location": "1,2", "full_address": "x"}),
            json!({"type": 2, "value": [1.5]}),
            json!({"type": 1, "value": [{"type": "text", "text": "t"}]}),
            json!(1735689600000i64),
            json!([1, 2]),
            json!({"odd": [1]}),
        ];
        for f in &fields {
            let schema = Shape::of_field(f).schema();
            for value in &values {
                let mut plain = PlainRecords::new(std::slice::from_ref(f), |_| {});
                let record = json!({"record_id": "r", "fields": {f.field_name.clone(): value}});
                let bytes = plain.render(record.to_string().as_bytes()).unwrap();
                let out: Value = serde_json::from_slice(&bytes).unwrap();
                let cell = &out["fields"][&f.field_name];
                assert!(
                    fits(&schema, cell),
                    "{}: {value} became {cell}, not {schema}",
                    f.field_name
                );
            }
        }
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
