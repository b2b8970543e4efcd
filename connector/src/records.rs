//! Record pages: the records search answer, with each item kept as the raw JSON Feishu sent.

use crate::error::ConnectorError;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Path of the records search endpoint under the Open API host.
pub fn search_path(app_token: &str, table_id: &str) -> String {
    use crate::host::encode_component as enc;
    format!(
        "/open-apis/bitable/v1/apps/{}/tables/{}/records/search",
        enc(app_token),
        enc(table_id)
    )
}

/// Request body of every search: automatic fields bring created/modified time and user.
pub const SEARCH_BODY: &str = r#"{"automatic_fields":true}"#;

/// One page of records, borrowing the response body.
#[derive(Debug)]
pub struct RecordsPage<'a> {
    pub items: Vec<&'a RawValue>,
    pub has_more: bool,
    pub page_token: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Option<Data<'a>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
    has_more: Option<bool>,
    page_token: Option<String>,
}

impl<'a> RecordsPage<'a> {
    /// Parses a successful search response; errors name the JSON location that is wrong.
    pub fn parse(body: &'a [u8]) -> Result<Self, ConnectorError> {
        let text = std::str::from_utf8(body)
            .map_err(|e| ConnectorError::bad_response(format!("response is not UTF-8: {e}")))?;
        let mut de = serde_json::Deserializer::from_str(text);
        let envelope: Envelope<'a> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            ConnectorError::bad_response(format!("malformed JSON at `{}`: {}", e.path(), e.inner()))
        })?;
        de.end().map_err(|e| {
            ConnectorError::bad_response(format!("trailing data after the JSON: {e}"))
        })?;
        let data = envelope
            .data
            .ok_or_else(|| ConnectorError::bad_response("response has no `data`"))?;
        let has_more = data
            .has_more
            .ok_or_else(|| ConnectorError::bad_response("response has no `data.has_more`"))?;
        let items = data.items.unwrap_or_default();
        if let Some(i) = items.iter().position(|r| !r.get().starts_with('{')) {
            return Err(ConnectorError::bad_response(format!(
                "`data.items[{i}]` is not a JSON object"
            )));
        }
        Ok(Self {
            items,
            has_more,
            page_token: data.page_token,
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
            page.items[0].get(),
            r#"{"record_id":"rec1","fields":{"名字":"张三","n":0.66}}"#
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
        let e = RecordsPage::parse(br#"{"code":0,"data":{"has_more":"yes"}}"#).unwrap_err();
        assert!(e.message.contains("`data.has_more`"), "{}", e.message);
        let e =
            RecordsPage::parse(br#"{"code":0,"data":{"has_more":false,"items":[1]}}"#).unwrap_err();
        assert_eq!(e.message, "`data.items[0]` is not a JSON object");
        assert!(RecordsPage::parse(br#"{"code":0}"#).is_err());
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(
            search_path("app/1", "tbl 2"),
            "/open-apis/bitable/v1/apps/app%2F1/tables/tbl%202/records/search"
        );
    }
}
