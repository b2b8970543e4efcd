//! `arrow_records`: Arrow record batches from the records of any stream and its JSON schema,
//! for consumers in the same process (the Python package hands them to pyarrow, DuckDB,
//! Polars and dlt through the Arrow C data interface). Nothing here knows a source.
//!
//! Flow: [`BatchDecoder::new`] maps the stream's JSON schema to an Arrow schema — strings,
//! numbers, integers, booleans, `date-time` strings as UTC timestamps, arrays as lists, objects
//! with properties as structs, anything untyped as its JSON text — and chosen top-level
//! objects are flattened into one column per property. [`BatchDecoder::decode`] turns one page
//! of records (JSON objects) into one [`RecordBatch`] with arrow-json's decoder; records are
//! only re-written first when the schema has untyped parts, whose values become JSON text.

use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_json::ReaderBuilder;
use arrow_json::reader::Decoder;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Rows a decoder takes before it must be flushed: more than any page holds.
const MAX_ROWS: usize = 1 << 20;

/// Why records could not be made into a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrowError(pub String);

impl std::fmt::Display for ArrowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArrowError {}

impl From<arrow_schema::ArrowError> for ArrowError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Self(e.to_string())
    }
}

/// The Arrow type of a JSON schema, and whether its values must be handed over as JSON text.
enum Mapped {
    Typed(DataType),
    JsonText,
}

/// The set of JSON types a schema allows, null left out.
fn json_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|t| *t != "null")
    .collect()
}

/// The Arrow type of values of `schema`.
fn mapped(schema: &Value) -> Mapped {
    let types = json_types(schema);
    let [single] = types.as_slice() else {
        return Mapped::JsonText;
    };
    let data_type = match *single {
        "string" if schema.get("format").and_then(Value::as_str) == Some("date-time") => {
            DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()))
        }
        "string" => DataType::Utf8,
        "number" => DataType::Float64,
        "integer" => DataType::Int64,
        "boolean" => DataType::Boolean,
        "array" => match schema.get("items").map(mapped) {
            Some(Mapped::Typed(item)) => DataType::List(Arc::new(Field::new("item", item, true))),
            _ => return Mapped::JsonText,
        },
        "object" => match schema.get("properties").and_then(Value::as_object) {
            Some(properties) if !properties.is_empty() => match struct_fields(properties) {
                Some(fields) => DataType::Struct(fields),
                None => return Mapped::JsonText,
            },
            _ => return Mapped::JsonText,
        },
        _ => return Mapped::JsonText,
    };
    Mapped::Typed(data_type)
}

/// Struct fields of an object's properties inside a list (where no value is rewritten as JSON
/// text): None when one of them is untyped.
fn struct_fields(properties: &Map<String, Value>) -> Option<Fields> {
    properties
        .iter()
        .map(|(name, schema)| match mapped(schema) {
            Mapped::Typed(t) => Some(Field::new(name, t, true)),
            Mapped::JsonText => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(Fields::from)
}

/// A column of the decoded schema, with the paths below it whose values are JSON text.
fn column(
    name: &str,
    schema: &Value,
    path: &mut Vec<String>,
    text: &mut Vec<Vec<String>>,
) -> Field {
    path.push(name.to_string());
    let field = match schema.get("properties").and_then(Value::as_object) {
        // Objects outside lists keep their untyped properties as JSON text (a value there can
        // be rewritten before decoding); inside a list an untyped part makes the list JSON text.
        Some(properties) if json_types(schema) == ["object"] && !properties.is_empty() => {
            let children: Vec<Field> = properties
                .iter()
                .map(|(child, s)| column(child, s, path, text))
                .collect();
            Field::new(name, DataType::Struct(Fields::from(children)), true)
        }
        _ => match mapped(schema) {
            Mapped::Typed(t) => Field::new(name, t, true),
            Mapped::JsonText => {
                text.push(path.clone());
                Field::new(name, DataType::Utf8, true)
            }
        },
    };
    path.pop();
    field
}

/// Decodes pages of one stream's records into record batches.
pub struct BatchDecoder {
    decoder: Decoder,
    /// The schema decoded (before flattening), to start a decoder afresh.
    decoded: SchemaRef,
    /// Cells made null so far because they did not fit their column.
    nulled: u64,
    /// The schema of the batches handed out (after flattening).
    schema: SchemaRef,
    /// Paths of values handed over as their JSON text.
    json_text: Vec<Vec<String>>,
    /// Top-level struct columns flattened into their children.
    flatten: Vec<String>,
}

impl BatchDecoder {
    /// A decoder for records of `json_schema` (an object schema with `properties`); the
    /// top-level object columns named in `flatten` become one column per property (named by
    /// the property, or `column.property` when another column has that name).
    pub fn new(json_schema: &Value, flatten: &[&str]) -> Result<Self, ArrowError> {
        let properties = json_schema
            .get("properties")
            .and_then(Value::as_object)
            .ok_or_else(|| ArrowError("the stream's JSON schema has no `properties`".into()))?;
        let mut json_text = Vec::new();
        let columns: Vec<Field> = properties
            .iter()
            .map(|(name, schema)| column(name, schema, &mut Vec::new(), &mut json_text))
            .collect();
        let decoded = Arc::new(Schema::new(columns));
        let flatten: Vec<String> = flatten
            .iter()
            .filter(|name| {
                decoded
                    .field_with_name(name)
                    .is_ok_and(|f| matches!(f.data_type(), DataType::Struct(_)))
            })
            .map(|name| name.to_string())
            .collect();
        let schema = Arc::new(flat_schema(&decoded, &flatten));
        let decoder = fresh_decoder(&decoded)?;
        Ok(Self {
            decoder,
            decoded,
            nulled: 0,
            schema,
            json_text,
            flatten,
        })
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// One batch of `records` (each a JSON object). A value that does not fit its column (a
    /// string in a number column, say) becomes null there, and is counted
    /// ([`BatchDecoder::take_nulled`]); only a record that is no JSON object fails the page.
    pub fn decode(&mut self, records: &[Vec<u8>]) -> Result<RecordBatch, ArrowError> {
        let records: Vec<Vec<u8>> = records
            .iter()
            .map(|r| self.rewritten(r))
            .collect::<Result<_, _>>()?;
        match decode_into(&mut self.decoder, &records) {
            Ok(Some(batch)) => return self.flattened(batch),
            Ok(None) => return Ok(RecordBatch::new_empty(self.schema.clone())),
            Err(_) => self.decoder = fresh_decoder(&self.decoded)?,
        }
        let mut fitted = Vec::with_capacity(records.len());
        for record in &records {
            let (record, nulled) = self.fitted(record)?;
            self.nulled += nulled;
            fitted.push(record);
        }
        match decode_into(&mut self.decoder, &fitted)? {
            Some(batch) => self.flattened(batch),
            None => Ok(RecordBatch::new_empty(self.schema.clone())),
        }
    }

    /// The cells made null since the last call because they did not fit their column.
    pub fn take_nulled(&mut self) -> u64 {
        std::mem::take(&mut self.nulled)
    }

    /// `record` as the decoder takes it (untyped values as their JSON text).
    fn rewritten(&self, record: &[u8]) -> Result<Vec<u8>, ArrowError> {
        if self.json_text.is_empty() {
            Ok(record.to_vec())
        } else {
            self.with_json_text(record)
        }
    }

    /// Whether `record` alone decodes.
    fn fits(&self, record: &Value) -> bool {
        let Ok(mut decoder) = fresh_decoder(&self.decoded) else {
            return false;
        };
        let bytes = record.to_string().into_bytes();
        decode_into(&mut decoder, &[bytes]).is_ok()
    }

    /// `record` with each cell that does not fit its column made null (a top-level member,
    /// or a member of a top-level object such as `fields`), and how many were.
    fn fitted(&self, record: &[u8]) -> Result<(Vec<u8>, u64), ArrowError> {
        let mut value: Value =
            serde_json::from_slice(record).map_err(|e| ArrowError(e.to_string()))?;
        let Some(members) = value.as_object_mut() else {
            return Err(ArrowError("a record is not a JSON object".into()));
        };
        let mut nulled = 0;
        for (key, member) in members.iter_mut() {
            let alone = |v: &Value| serde_json::json!({ key.clone(): v });
            if self.fits(&alone(member)) {
                continue;
            }
            if let Value::Object(children) = member {
                let keys: Vec<String> = children.keys().cloned().collect();
                for child in keys {
                    let cell = serde_json::json!({ child.clone(): children[&child] });
                    if !self.fits(&alone(&cell)) {
                        children.insert(child, Value::Null);
                        nulled += 1;
                    }
                }
                if self.fits(&alone(member)) {
                    continue;
                }
            }
            *member = Value::Null;
            nulled += 1;
        }
        let bytes = serde_json::to_vec(&value).map_err(|e| ArrowError(e.to_string()))?;
        Ok((bytes, nulled))
    }

    /// `record` with every untyped value at the JSON text paths replaced by its JSON text.
    fn with_json_text(&self, record: &[u8]) -> Result<Vec<u8>, ArrowError> {
        let mut value: Value =
            serde_json::from_slice(record).map_err(|e| ArrowError(e.to_string()))?;
        for path in &self.json_text {
            let at = path.iter().try_fold(&mut value, |at, key| at.get_mut(key));
            // A string stays as it is (its text is the value); null stays null.
            if let Some(at) = at.filter(|v| !v.is_null() && !v.is_string()) {
                *at = Value::String(at.to_string());
            }
        }
        serde_json::to_vec(&value).map_err(|e| ArrowError(e.to_string()))
    }

    /// `batch` with the flattened struct columns replaced by their children.
    fn flattened(&self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            if self.flatten.contains(field.name()) {
                let nested = array
                    .as_any()
                    .downcast_ref::<StructArray>()
                    .ok_or_else(|| ArrowError(format!("`{}` is not a struct", field.name())))?;
                columns.extend(nested.columns().iter().cloned());
            } else {
                columns.push(array.clone());
            }
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// A decoder of records of `decoded` that takes any page.
fn fresh_decoder(decoded: &SchemaRef) -> Result<Decoder, ArrowError> {
    Ok(ReaderBuilder::new(decoded.clone())
        .with_batch_size(MAX_ROWS)
        .build_decoder()?)
}

/// Feeds `records` to `decoder` and flushes it: the batch, None for no rows.
fn decode_into(
    decoder: &mut Decoder,
    records: &[Vec<u8>],
) -> Result<Option<RecordBatch>, ArrowError> {
    for record in records {
        // Each record is fed as it is (the decoder takes one JSON value after another).
        if decoder.decode(record)? != record.len() {
            return Err(ArrowError(format!(
                "a page of {} records does not fit in one batch",
                records.len()
            )));
        }
    }
    Ok(decoder.flush()?)
}

/// `decoded` with the struct columns in `flatten` replaced by their children, each named by
/// its property unless another column has that name.
fn flat_schema(decoded: &Schema, flatten: &[String]) -> Schema {
    let top: Vec<&str> = decoded
        .fields()
        .iter()
        .filter(|f| !flatten.contains(f.name()))
        .map(|f| f.name().as_str())
        .collect();
    let mut fields = Vec::new();
    for field in decoded.fields() {
        match field.data_type() {
            DataType::Struct(children) if flatten.contains(field.name()) => {
                for child in children {
                    let name = if top.contains(&child.name().as_str()) {
                        format!("{}.{}", field.name(), child.name())
                    } else {
                        child.name().clone()
                    };
                    fields.push(child.as_ref().clone().with_name(name));
                }
            }
            _ => fields.push(field.as_ref().clone()),
        }
    }
    Schema::new(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "record_id": {"type": "string"},
                "created_time": {"type": ["null", "integer"]},
                "created_by": {"type": ["null", "object"], "properties": {"id": {"type": ["null", "string"]}}},
                "fields": {"type": "object", "additionalProperties": true, "properties": {
                    "名称": {"type": ["null", "string"]},
                    "数字": {"type": ["null", "number"]},
                    "日期": {"type": ["null", "string"], "format": "date-time"},
                    "完成": {"type": "boolean"},
                    "标签": {"type": ["null", "array"], "items": {"type": "string"}},
                    "record_id": {"type": ["null", "string"]},
                    "其他": {}
                }}
            }
        })
    }

    #[test]
    fn the_schema_maps_to_typed_flat_columns() {
        let decoder = BatchDecoder::new(&schema(), &["fields"]).unwrap();
        let schema = decoder.schema();
        let columns: Vec<(String, String)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect();
        let expected = [
            ("created_by", "Struct(\"id\": Utf8)"),
            ("created_time", "Int64"),
            ("fields.record_id", "Utf8"),
            ("其他", "Utf8"),
            ("名称", "Utf8"),
            ("完成", "Boolean"),
            ("数字", "Float64"),
            ("日期", "Timestamp(ms, \"+00:00\")"),
            ("标签", "List(Utf8)"),
            ("record_id", "Utf8"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(columns, expected);
    }

    #[test]
    fn a_page_decodes_to_one_batch_with_exact_values() {
        let mut decoder = BatchDecoder::new(&schema(), &["fields"]).unwrap();
        let records = [
            json!({"record_id": "r1", "created_time": 5, "created_by": {"id": "ou_1", "x": 1},
                   "fields": {"名称": "甲", "数字": 1.5, "日期": "2025-01-01T00:00:00.000Z",
                              "完成": true, "标签": ["a"], "其他": {"k": [1]}, "新": 1}}),
            json!({"record_id": "r2", "fields": {"其他": "s"}}),
        ]
        .map(|r| r.to_string().into_bytes());
        let batch = decoder.decode(&records).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let column = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
        assert_eq!(column("名称").as_string::<i32>().value(0), "甲");
        assert!(column("名称").is_null(1));
        assert_eq!(column("数字").as_primitive::<Float64Type>().value(0), 1.5);
        assert_eq!(
            column("日期")
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            1_735_689_600_000
        );
        assert_eq!(
            column("created_time").as_primitive::<Int64Type>().value(0),
            5
        );
        assert_eq!(column("其他").as_string::<i32>().value(0), r#"{"k":[1]}"#);
        assert_eq!(column("其他").as_string::<i32>().value(1), "s");
        assert!(column("完成").as_boolean().value(0));
    }

    #[test]
    fn a_cell_that_does_not_fit_becomes_null_and_is_counted() {
        let mut decoder = BatchDecoder::new(&schema(), &["fields"]).unwrap();
        let records = [
            json!({"record_id": "r1", "fields": {"数字": "many", "名称": "甲", "完成": "yes"}}),
            json!({"record_id": "r2", "created_time": "soon", "fields": {"数字": 2.0}}),
        ]
        .map(|r| r.to_string().into_bytes());
        let batch = decoder.decode(&records).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let column = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
        assert!(column("数字").is_null(0));
        assert!(column("完成").is_null(0));
        assert_eq!(column("名称").as_string::<i32>().value(0), "甲");
        assert!(column("created_time").is_null(1));
        assert_eq!(column("数字").as_primitive::<Float64Type>().value(1), 2.0);
        assert_eq!(decoder.take_nulled(), 3);
        assert_eq!(decoder.take_nulled(), 0);
        let next = [json!({"record_id": "r3", "fields": {"数字": 3}})
            .to_string()
            .into_bytes()];
        assert_eq!(
            decoder.decode(&next).unwrap().num_rows(),
            1,
            "the decoder goes on"
        );
        assert!(decoder.decode(&[b"[1]".to_vec()]).is_err(), "no object");
    }
}
