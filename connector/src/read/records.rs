//! Record pages: the records search answer, with each item kept as the raw JSON Feishu sent.
//! Items are located with the structural scanner, not parsed; the host validates each one.

use crate::error::ConnectorError;
use crate::read::scan::{ScanError, each_item, each_member, skip_ws, value_span};
use crate::values::plain::PlainRecords;

/// The records a stream reads: a table, optionally through one of its views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    pub app_token: String,
    pub table_id: String,
    pub view_id: Option<String>,
}

impl TableRef {
    /// Path of the records search endpoint for this table.
    pub fn search_path(&self) -> String {
        search_path(&self.app_token, &self.table_id)
    }

    /// Path of the records `batch_get` endpoint for this table.
    pub fn batch_get_path(&self) -> String {
        format!(
            "{}/batch_get",
            records_path(&self.app_token, &self.table_id)
        )
    }

    /// Search request body: automatic fields bring created/modified time and user; a view
    /// limits the records to the view's, in its order.
    pub fn search_body(&self) -> String {
        match &self.view_id {
            None => r#"{"automatic_fields":true}"#.to_string(),
            Some(view) => {
                serde_json::json!({"automatic_fields": true, "view_id": view}).to_string()
            }
        }
    }
}

/// Path of the records search endpoint under the Open API host.
pub fn search_path(app_token: &str, table_id: &str) -> String {
    format!("{}/search", records_path(app_token, table_id))
}

/// Path of a table's records under the Open API host.
fn records_path(app_token: &str, table_id: &str) -> String {
    use crate::host::encode_component as enc;
    format!(
        "/open-apis/bitable/v1/apps/{}/tables/{}/records",
        enc(app_token),
        enc(table_id)
    )
}

/// The `record_id` of a record's JSON text, if it has one.
pub fn record_id(record: &[u8]) -> Option<String> {
    let mut found = None;
    each_member(record, 0, |key, at| {
        let (start, end) = value_span(record, at)?;
        if key == b"record_id" {
            found = serde_json::from_slice::<String>(&record[start..end]).ok();
        }
        Ok(end)
    })
    .ok()?;
    found
}

/// Where the record object at `at` ends, and the span of its `record_id` when that is a
/// non-empty string (one walk over its members, as finding its end takes anyway).
fn with_record_id(b: &[u8], at: usize) -> Result<(usize, Option<(usize, usize)>), ScanError> {
    let mut id = None;
    let end = each_member(b, at, |key, at| {
        let (start, end) = value_span(b, at)?;
        if key == b"record_id" {
            id = (b[start] == b'"' && end - start > 2).then_some((start, end));
        }
        Ok(end)
    })?;
    Ok((end, id))
}

/// A record id as its JSON string spells it (quotes included), as text.
pub fn id_text(raw: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        return serde_json::from_slice::<String>(raw).ok().map(Into::into);
    }
    std::str::from_utf8(inner).ok().map(Into::into)
}

/// One page of records, borrowing the response body.
#[derive(Debug)]
pub struct RecordsPage<'a> {
    /// Each item's JSON text, exactly as Feishu sent it (the host checks it is valid UTF-8 JSON).
    pub items: Vec<&'a [u8]>,
    /// Each item's `record_id` as its JSON string (quotes included), found by the scan.
    pub ids: Vec<&'a [u8]>,
    pub has_more: bool,
    pub page_token: Option<String>,
    /// `data.total`: how many records the search matches, when Feishu says.
    pub total: Option<u64>,
    /// Each item with plain values, when the page was read with [`RecordsPage::parse_plain`].
    rendered: Option<Vec<Vec<u8>>>,
}

fn malformed(path: &str, error: ScanError) -> ConnectorError {
    let at = if path.is_empty() {
        "the top level"
    } else {
        path
    };
    ConnectorError::bad_response(format!("malformed JSON at `{at}`: {error}"))
}

impl<'a> RecordsPage<'a> {
    /// Scans a successful search response: the envelope's `data.has_more`,
    /// `data.page_token` and each `data.items[i]` span, without building the items. Errors
    /// name the JSON location that is wrong.
    pub fn parse(body: &'a [u8]) -> Result<Self, ConnectorError> {
        Self::parse_plain(body, None)
    }

    /// Like [`RecordsPage::parse`], with each item also rendered with plain values by `plain`
    /// as it is scanned (one pass over the page instead of two).
    pub fn parse_plain(
        body: &'a [u8],
        plain: Option<&mut PlainRecords>,
    ) -> Result<Self, ConnectorError> {
        let b = body;
        let mut fields = DataFields {
            rendered: plain.map(|plain| (plain, Vec::new())),
            ..DataFields::default()
        };
        let mut path = String::new();
        let mut duplicate = None;
        let end = each_member(b, 0, |key, at| {
            path = String::from_utf8_lossy(key).into_owned();
            if key == b"data" && b.get(skip_ws(b, at)) == Some(&b'{') {
                if fields.present {
                    duplicate.get_or_insert("data");
                }
                fields.present = true;
                return fields.scan(body, at, &mut path);
            }
            value_span(b, at).map(|(_, end)| end)
        })
        .map_err(|e| malformed(&path, e))?;
        if let Some(key) = duplicate.or(fields.duplicate) {
            return Err(ConnectorError::bad_response(format!(
                "the answer has `{key}` twice; which one holds the page is ambiguous"
            )));
        }
        if skip_ws(b, end) != b.len() {
            return Err(ConnectorError::bad_response(
                "trailing data after the JSON body",
            ));
        }
        fields.into_page()
    }

    /// The items `keep` keeps (asked with each item and its `record_id` JSON string): their
    /// ids, and the records as they are handed over (rendered with plain values when the page
    /// was read so, else copied).
    pub fn kept(self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) -> (Vec<&'a [u8]>, Vec<Vec<u8>>) {
        let mut ids = Vec::with_capacity(self.items.len());
        let mut records = Vec::with_capacity(self.items.len());
        let mut rendered = self.rendered.into_iter().flatten();
        for (item, id) in self.items.into_iter().zip(self.ids) {
            let plain = rendered.next();
            if keep(item, id) {
                records.push(plain.unwrap_or_else(|| item.to_vec()));
                ids.push(id);
            }
        }
        (ids, records)
    }
}

/// What the scan of `data` collects.
#[derive(Default)]
struct DataFields<'a, 'p> {
    present: bool,
    /// The first key of `data` seen twice.
    duplicate: Option<&'static str>,
    /// `data.items` was present but neither an array nor null.
    items_not_array: bool,
    items_seen: bool,
    /// The first item (0-based) without a string `record_id`.
    without_id: Option<usize>,
    /// Each item's `record_id` JSON string.
    ids: Vec<&'a [u8]>,
    has_more: Option<&'a [u8]>,
    page_token: Option<&'a [u8]>,
    total: Option<u64>,
    items: Vec<&'a [u8]>,
    /// The renderer of plain values and each item it rendered, when asked for.
    rendered: Option<(&'p mut PlainRecords, Vec<Vec<u8>>)>,
}

impl<'a> DataFields<'a, '_> {
    /// Scans the `data` object at `at`, keeping `path` on the member being read.
    fn scan(&mut self, b: &'a [u8], at: usize, path: &mut String) -> Result<usize, ScanError> {
        each_member(b, at, |key, at| {
            *path = format!("data.{}", String::from_utf8_lossy(key));
            let seen = match key {
                b"items" => Some(("data.items", self.items_seen)),
                b"has_more" => Some(("data.has_more", self.has_more.is_some())),
                b"page_token" => Some(("data.page_token", self.page_token.is_some())),
                _ => None,
            };
            if let Some((name, true)) = seen {
                self.duplicate.get_or_insert(name);
            }
            if key == b"items" {
                self.items_seen = true;
            }
            if key == b"items" && b.get(skip_ws(b, at)) == Some(&b'[') {
                // The number of the item being read, named in the path only on failure.
                let mut number = 0;
                return each_item(b, at, |i, at| {
                    number = i + 1;
                    let start = skip_ws(b, at);
                    let is_object = b.get(start) == Some(&b'{');
                    let (end, id) = match &mut self.rendered {
                        Some((plain, rendered)) if is_object => {
                            let (record, end) = plain.render_at(b, start)?;
                            rendered.push(record);
                            (end, plain.record_id_span())
                        }
                        Some((_, rendered)) => {
                            rendered.push(Vec::new());
                            (value_span(b, start)?.1, None)
                        }
                        None if is_object => with_record_id(b, start)?,
                        None => (value_span(b, start)?.1, None),
                    };
                    match id {
                        Some((id_start, id_end)) => self.ids.push(&b[id_start..id_end]),
                        None if is_object && self.without_id.is_none() => self.without_id = Some(i),
                        None => {}
                    }
                    self.items.push(&b[start..end]);
                    Ok(end)
                })
                .inspect_err(|_| *path = format!("data.items[{number}]"));
            }
            let (start, end) = value_span(b, at)?;
            match key {
                b"items" => self.items_not_array |= &b[start..end] != b"null",
                b"has_more" => self.has_more = Some(&b[start..end]),
                b"page_token" => self.page_token = Some(&b[start..end]),
                b"total" => {
                    self.total = std::str::from_utf8(&b[start..end])
                        .ok()
                        .and_then(|t| t.parse().ok())
                }
                _ => {}
            }
            Ok(end)
        })
    }

    fn into_page(self) -> Result<RecordsPage<'a>, ConnectorError> {
        let rendered = self.rendered.map(|(_, rendered)| rendered);
        if !self.present {
            return Err(ConnectorError::bad_response(
                "response has no `data` object",
            ));
        }
        let has_more = match self.has_more {
            Some(b"true") => true,
            Some(b"false") => false,
            Some(_) => {
                return Err(ConnectorError::bad_response(
                    "`data.has_more` must be true or false",
                ));
            }
            None => {
                return Err(ConnectorError::bad_response(
                    "response has no `data.has_more`",
                ));
            }
        };
        let page_token = match self.page_token {
            None => None,
            Some(raw) => serde_json::from_slice::<Option<String>>(raw).map_err(|_| {
                ConnectorError::bad_response("`data.page_token` must be a string or null")
            })?,
        };
        if self.items_not_array {
            return Err(ConnectorError::bad_response(
                "`data.items` must be an array of records",
            ));
        }
        if let Some(i) = self.items.iter().position(|r| !r.starts_with(b"{")) {
            return Err(ConnectorError::bad_response(format!(
                "`data.items[{i}]` is not a JSON object"
            )));
        }
        if let Some(i) = self.without_id {
            return Err(ConnectorError::bad_response(format!(
                "`data.items[{i}]` has no `record_id` string, the stream's primary key"
            )));
        }
        Ok(RecordsPage {
            items: self.items,
            ids: self.ids,
            has_more,
            page_token,
            total: self.total,
            rendered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_items_verbatim() {
        let body = r#"{"code":0,"data":{"has_more":true,"page_token":"p2","total":3,"items":[{"record_id":"rec1","fields":{"名字":"张三","n":0.66}},{"record_id":"rec2","fields":{}}]}}"#.as_bytes();
        let page = RecordsPage::parse(body).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(
            page.items[0],
            r#"{"record_id":"rec1","fields":{"名字":"张三","n":0.66}}"#.as_bytes()
        );
        assert!(page.has_more);
        assert_eq!(page.page_token.as_deref(), Some("p2"));
    }

    #[test]
    fn tolerates_missing_or_null_items() {
        let page =
            RecordsPage::parse(br#"{"code":0,"data":{"has_more":false,"total":0}}"#).unwrap();
        assert!(page.items.is_empty());
        let page =
            RecordsPage::parse(br#"{"code":0,"data":{"has_more":false,"items":null}}"#).unwrap();
        assert!(page.items.is_empty());
    }

    #[test]
    fn malformed_json_names_the_location() {
        let e =
            RecordsPage::parse(br#"{"code":0,"data":{"has_more":true,"items":[{"record_id":"r"#)
                .unwrap_err();
        assert!(
            e.message.starts_with("malformed JSON at `data.items"),
            "{}",
            e.message
        );
        let e = RecordsPage::parse(br#"{"code":0,"data":{"has_more":true,"items":[{"a":1},{"b":"#)
            .unwrap_err();
        assert!(
            e.message.starts_with("malformed JSON at `data.items[2]`"),
            "{}",
            e.message
        );
        let e = RecordsPage::parse(br#"{"code":0,"data":{"has_more":"yes"}}"#).unwrap_err();
        assert!(e.message.contains("`data.has_more`"), "{}", e.message);
        let e =
            RecordsPage::parse(br#"{"code":0,"data":{"has_more":false,"items":[1]}}"#).unwrap_err();
        assert_eq!(e.message, "`data.items[0]` is not a JSON object");
        assert!(RecordsPage::parse(br#"{"code":0}"#).is_err());
    }

    #[test]
    fn ambiguous_pages_are_bad_responses() {
        for (body, needle) in [
            (
                r#"{"code":0,"data":{"has_more":false,"items":{"record_id":"r"}}}"#,
                "`data.items` must be an array",
            ),
            (
                r#"{"code":0,"data":{"has_more":false,"items":"none"}}"#,
                "`data.items` must be an array",
            ),
            (
                r#"{"code":0,"data":{"has_more":false,"items":[]},"data":{"has_more":false,"items":[{"a":1}]}}"#,
                "`data` twice",
            ),
            (
                r#"{"code":0,"data":{"has_more":false,"items":[{"a":1}],"items":[]}}"#,
                "`data.items` twice",
            ),
            (
                r#"{"code":0,"data":{"has_more":true,"has_more":false,"items":[]}}"#,
                "`data.has_more` twice",
            ),
        ] {
            let e = RecordsPage::parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.category, crate::error::Category::BadResponse);
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
    }

    #[test]
    fn items_without_a_string_record_id_are_bad_responses() {
        for body in [
            r#"{"code":0,"data":{"has_more":false,"items":[{"record_id":"r1"},{"fields":{}}]}}"#,
            r#"{"code":0,"data":{"has_more":false,"items":[{"record_id":"r1"},{"record_id":7}]}}"#,
            r#"{"code":0,"data":{"has_more":false,"items":[{"record_id":"r1"},{"record_id":""}]}}"#,
        ] {
            let mut plain = PlainRecords::new(&[], |_| {});
            for e in [
                RecordsPage::parse(body.as_bytes()).unwrap_err(),
                RecordsPage::parse_plain(body.as_bytes(), Some(&mut plain)).unwrap_err(),
            ] {
                assert_eq!(e.category, crate::error::Category::BadResponse);
                assert!(
                    e.message
                        .contains("`data.items[1]` has no `record_id` string"),
                    "{body}: {}",
                    e.message
                );
            }
        }
    }

    #[test]
    fn a_plain_page_renders_each_item_as_it_is_scanned() {
        use crate::values::fields::FieldInfo;
        let field = FieldInfo {
            field_id: None,
            field_name: "名字".into(),
            type_code: 1,
            ui_type: None,
            property: None,
            is_primary: false,
        };
        let mut plain = PlainRecords::new(&[field], |_| {});
        let body = r#"{"code":0,"data":{"has_more":false,"items":[
            {"record_id":"rec1","fields":{"名字":[{"type":"text","text":"张"},{"type":"text","text":"三"}]}},
            {"record_id":"rec2","fields":{"名字":[{"type":"text","text":"李四"}]}},
            {"record_id":"rec3","fields":{}}]}}"#;
        let page = RecordsPage::parse_plain(body.as_bytes(), Some(&mut plain)).unwrap();
        let (raw, records) = page.kept(|r, id| {
            assert_eq!(
                id_text(id),
                record_id(r).map(Into::into),
                "the scan found the id"
            );
            record_id(r).as_deref() != Some("rec2")
        });
        let ids: Vec<_> = raw.iter().filter_map(|id| id_text(id)).collect();
        assert_eq!(ids, ["rec1", "rec3"]);
        let records: Vec<&str> = records
            .iter()
            .map(|r| std::str::from_utf8(r).unwrap())
            .collect();
        assert_eq!(
            records,
            [
                r#"{"record_id":"rec1","fields":{"名字":"张三"}}"#,
                r#"{"record_id":"rec3","fields":{}}"#
            ]
        );
        let page = RecordsPage::parse(body.as_bytes()).unwrap();
        let (_, records) = page.kept(|_, _| true);
        assert_eq!(records[2], br#"{"record_id":"rec3","fields":{}}"#);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(
            search_path("app/1", "tbl 2"),
            "/open-apis/bitable/v1/apps/app%2F1/tables/tbl%202/records/search"
        );
    }
}
