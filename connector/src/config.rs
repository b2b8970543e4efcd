//! The connector's config: parsed from JSON and validated before any request is made.

use crate::api::link::{self, BaseRef, Brand, LINK_FORMS};
use crate::api::url::HttpUrl;
use crate::error::ConnectorError;
use serde_json::{Map, Value};
use std::fmt;

/// Default Open API host (Feishu, China); Lark users set `https://open.larksuite.com`.
pub const DEFAULT_HOST: &str = "https://open.feishu.cn";
/// Default and bounds of `page_size` (the records search endpoint allows at most 500).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 500;
/// Default and most of `table_ranges`: ranges of creation time read at once from one big table
/// (off by default: it relies on how Feishu filters CreatedTime fields, see `ranges`).
pub const DEFAULT_TABLE_RANGES: u32 = 1;
pub const MAX_TABLE_RANGES: u32 = 8;

/// How record values are handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// As Feishu sends them (Airbyte's Feishu source does the same).
    Raw,
    /// Each field as the plain value an analyst expects ([`crate::values::plain`]).
    Plain,
}

/// The `values` choices, as the spec lists them.
pub const VALUES: [&str; 2] = ["raw", "plain"];
/// The `attachments` choices, as the spec lists them.
pub const ATTACHMENTS: [&str; 2] = ["links", "files"];
/// Downloads a run may start by default: Feishu's daily allowance for an app.
pub const DEFAULT_MAX_DOWNLOADS: u32 = 10_000;

/// The `user_id_type` choices Feishu's search takes.
pub const USER_ID_TYPES: [&str; 3] = ["open_id", "union_id", "user_id"];

/// A string that must never be printed; `Debug` shows a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for building request bodies and headers only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A validated config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub app_id: String,
    pub app_secret: Secret,
    /// The Base: an app_token, or a wiki node to resolve.
    pub base: BaseRef,
    /// One table (stream `records`), or every table of the Base when absent.
    pub table_id: Option<String>,
    /// Only this view's records, in its order (needs `table_id`).
    pub view_id: Option<String>,
    /// Scheme and authority only, no trailing slash (e.g. `https://open.feishu.cn`).
    pub lark_host: String,
    pub page_size: u32,
    /// How many ranges of creation time a big table is read in at once (1: page after page).
    pub table_ranges: u32,
    /// Raw or plain values.
    pub values: Values,
    /// Which id people fields carry (Feishu's default, open_id, when not set).
    pub user_id_type: Option<String>,
    /// Incremental streams also report records deleted since the last read.
    pub detect_deletes: bool,
    /// Most requests one run may send (token and retries included); no limit when absent.
    pub max_api_calls: Option<u64>,
    /// An incremental stream whose table's revision has not changed is skipped only when it
    /// was last read for real less than this many hours ago; 0 never skips.
    pub revision_recheck_hours: u64,
    /// How often the operator means to sync, in minutes (for the quota plan `check` logs).
    pub sync_every_minutes: Option<u64>,
    /// Attachments also as files: an attachments stream for each table that has them.
    pub attachment_files: bool,
    /// Most files one run downloads.
    pub max_downloads: u32,
}

/// Hours after which a table skipped as unchanged is read for real again, by default.
pub const DEFAULT_REVISION_RECHECK_HOURS: u64 = 24;

impl Config {
    /// Parses and validates a config document; errors name the offending field.
    pub fn parse(json: &str) -> Result<Self, ConnectorError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| ConnectorError::config(format!("config is not valid JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(ConnectorError::config("config must be a JSON object"));
        };
        let (base, table_id, view_id, brand) = base_and_table(&fields)?;
        let lark_host = lark_host(&fields)?;
        if let Some(brand) = brand {
            same_brand(brand, &lark_host, fields.contains_key("lark_host"))?;
        }
        Ok(Self {
            app_id: required_string(&fields, "app_id")?,
            app_secret: Secret::new(required_string(&fields, "app_secret")?),
            base,
            table_id,
            view_id,
            lark_host,
            page_size: bounded(&fields, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
            table_ranges: bounded(
                &fields,
                "table_ranges",
                DEFAULT_TABLE_RANGES,
                MAX_TABLE_RANGES,
            )?,
            values: match one_of(&fields, "values", &VALUES)? {
                Some("plain") => Values::Plain,
                _ => Values::Raw,
            },
            user_id_type: one_of(&fields, "user_id_type", &USER_ID_TYPES)?.map(str::to_string),
            detect_deletes: optional_bool(&fields, "detect_deletes")?.unwrap_or(false),
            max_api_calls: positive(&fields, "max_api_calls")?,
            revision_recheck_hours: whole(&fields, "revision_recheck_hours")?
                .unwrap_or(DEFAULT_REVISION_RECHECK_HOURS),
            sync_every_minutes: interval(&fields, "sync_every")?,
            attachment_files: one_of(&fields, "attachments", &ATTACHMENTS)? == Some("files"),
            max_downloads: bounded(&fields, "max_downloads", DEFAULT_MAX_DOWNLOADS, u32::MAX)?,
        })
    }
}

/// The Base, table and view, from ids and/or a link (`base_url`, or a link pasted into
/// `app_token`); ids given beside a link must agree with it.
/// Why a Base link of `brand` cannot be read through `lark_host`, if it cannot: a Lark Base
/// is served by the Lark host, a Feishu one by the Feishu host (custom hosts are not judged).
fn same_brand(brand: Brand, lark_host: &str, given: bool) -> Result<(), ConnectorError> {
    let host_brand = HttpUrl::parse(lark_host).and_then(|u| Brand::of_host(&u.host()));
    match host_brand {
        Some(host_brand) if host_brand != brand => Err(ConnectorError::config(format!(
            "config field `base_url` is a {} link, but `lark_host` is {lark_host}{}, a {} host: \
             set `lark_host` to {}",
            brand.name(),
            if given { "" } else { " (the default)" },
            host_brand.name(),
            brand.open_api()
        ))),
        _ => Ok(()),
    }
}

/// The Base, table and view, and the brand of the link they came from (if one did).
type BaseAndTable = (BaseRef, Option<String>, Option<String>, Option<Brand>);

fn base_and_table(fields: &Map<String, Value>) -> Result<BaseAndTable, ConnectorError> {
    let non_empty = |name| -> Result<Option<String>, ConnectorError> {
        Ok(optional_string(fields, name)?
            .filter(|s| !s.is_empty())
            .map(str::to_string))
    };
    let mut app_token = non_empty("app_token")?;
    let mut link_field = "base_url";
    let mut link_text = non_empty("base_url")?;
    if app_token.as_deref().is_some_and(link::is_link) {
        if link_text.is_some() {
            return Err(ConnectorError::config(
                "give the Base link in `base_url` or in `app_token`, not both",
            ));
        }
        link_field = "app_token";
        link_text = app_token.take();
    }
    let mut table_id = non_empty("table_id")?;
    let mut view_id = non_empty("view_id")?;
    let mut brand = None;
    let base = match link_text {
        None => BaseRef::App(app_token.ok_or_else(|| {
            ConnectorError::config(
                "config field `app_token` is required (or `base_url`, a link to the Base)",
            )
        })?),
        Some(text) => {
            let parsed = link::parse(&text).map_err(|why| {
                ConnectorError::config(format!("config field `{link_field}` is not a usable link ({why}); expected {LINK_FORMS}"))
            })?;
            if let (Some(token), BaseRef::App(linked)) = (&app_token, &parsed.base) {
                agree("app_token", token, linked)?;
            }
            merge(&mut table_id, parsed.table_id, "table_id")?;
            merge(&mut view_id, parsed.view_id, "view_id")?;
            brand = Some(parsed.brand);
            parsed.base
        }
    };
    if view_id.is_some() && table_id.is_none() {
        return Err(ConnectorError::config(
            "config field `view_id` needs `table_id` (a view belongs to one table)",
        ));
    }
    Ok((base, table_id, view_id, brand))
}

fn agree(name: &str, given: &str, linked: &str) -> Result<(), ConnectorError> {
    if given == linked {
        Ok(())
    } else {
        Err(ConnectorError::config(format!(
            "config field `{name}` is {given:?} but the Base link names {linked:?}; drop one of them"
        )))
    }
}

/// Fills `field` from the link, or checks that both agree.
fn merge(
    field: &mut Option<String>,
    linked: Option<String>,
    name: &str,
) -> Result<(), ConnectorError> {
    match (field.as_deref(), linked) {
        (Some(given), Some(linked)) => agree(name, given, &linked),
        (None, linked) => {
            *field = linked;
            Ok(())
        }
        (Some(_), None) => Ok(()),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn optional_string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ConnectorError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(other) => Err(ConnectorError::config(format!(
            "config field `{name}` must be a string, got {}",
            type_name(other)
        ))),
    }
}

fn required_string(fields: &Map<String, Value>, name: &str) -> Result<String, ConnectorError> {
    match optional_string(fields, name)? {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        Some(_) => Err(ConnectorError::config(format!(
            "config field `{name}` must not be empty"
        ))),
        None => Err(ConnectorError::config(format!(
            "config field `{name}` is required"
        ))),
    }
}

fn lark_host(fields: &Map<String, Value>) -> Result<String, ConnectorError> {
    let Some(raw) = optional_string(fields, "lark_host")? else {
        return Ok(DEFAULT_HOST.to_string());
    };
    normalize_host(raw).ok_or_else(|| {
        ConnectorError::config(format!(
            "config field `lark_host` must be an http(s) URL with a host and nothing after it, \
             such as {DEFAULT_HOST} or https://open.larksuite.com; got {raw:?}"
        ))
    })
}

/// `scheme://authority` of an http(s) URL with no path, query or credentials.
fn normalize_host(raw: &str) -> Option<String> {
    let url = HttpUrl::parse(raw)?;
    matches!(url.rest, "" | "/").then(|| url.origin())
}

/// The integer config field `name`, from 1 to `max`; `default` when absent or null.
fn bounded(
    fields: &Map<String, Value>,
    name: &str,
    default: u32,
    max: u32,
) -> Result<u32, ConnectorError> {
    let expected = format!("config field `{name}` must be an integer from 1 to {max}");
    match fields.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if (1..=u64::from(max)).contains(&v) => Ok(v as u32),
            _ => Err(ConnectorError::config(expected)),
        },
        Some(other) => Err(ConnectorError::config(format!(
            "{expected}, got {}",
            type_name(other)
        ))),
    }
}

/// An optional boolean field.
fn optional_bool(fields: &Map<String, Value>, name: &str) -> Result<Option<bool>, ConnectorError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ConnectorError::config(format!(
            "config field `{name}` must be true or false, got {}",
            type_name(other)
        ))),
    }
}

/// An optional integer field of at least 1.
fn positive(fields: &Map<String, Value>, name: &str) -> Result<Option<u64>, ConnectorError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v >= 1) => Ok(n.as_u64()),
        Some(other) => Err(ConnectorError::config(format!(
            "config field `{name}` must be a whole number of at least 1, got {other}"
        ))),
    }
}

/// An optional whole number (0 allowed).
fn whole(fields: &Map<String, Value>, name: &str) -> Result<Option<u64>, ConnectorError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(other) => Err(ConnectorError::config(format!(
            "config field `{name}` must be a whole number (0 or more), got {other}"
        ))),
    }
}

/// An optional interval such as `15m`, `1h` or `1d`, in minutes (at least one).
fn interval(fields: &Map<String, Value>, name: &str) -> Result<Option<u64>, ConnectorError> {
    let Some(text) = optional_string(fields, name)? else {
        return Ok(None);
    };
    let unit = |suffix: char| match suffix {
        'm' => Some(1),
        'h' => Some(60),
        'd' => Some(1440),
        _ => None,
    };
    let minutes = text
        .char_indices()
        .last()
        .and_then(|(at, suffix)| Some((text[..at].parse::<u64>().ok()?, unit(suffix)?)))
        .and_then(|(count, unit)| count.checked_mul(unit))
        .filter(|&minutes| minutes > 0);
    match minutes {
        Some(minutes) => Ok(Some(minutes)),
        None => Err(ConnectorError::config(format!(
            "config field `{name}` must be a number and a unit, m, h or d (such as 15m, 1h, \
             1d), got {text:?}"
        ))),
    }
}

/// The value of an optional string field that must be one of `allowed`.
fn one_of<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, ConnectorError> {
    match optional_string(fields, name)? {
        Some(value) if !allowed.contains(&value) => Err(ConnectorError::config(format!(
            "config field `{name}` must be one of {}, got {value:?}",
            allowed.join(", ")
        ))),
        value => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_user_id_type_take_their_choices_only() {
        let config = parse_with("values", "plain".into()).unwrap();
        assert_eq!(config.values, Values::Plain);
        assert_eq!(
            Config::parse(&base().to_string()).unwrap().values,
            Values::Raw
        );
        let error = parse_with("values", "typed".into()).unwrap_err();
        assert_eq!(
            error.message,
            "config field `values` must be one of raw, plain, got \"typed\""
        );
        let config = parse_with("user_id_type", "union_id".into()).unwrap();
        assert_eq!(config.user_id_type.as_deref(), Some("union_id"));
        assert!(parse_with("user_id_type", "email".into()).is_err());
        assert!(parse_with("values", 3.into()).is_err());
    }

    #[test]
    fn deletes_and_the_call_budget_are_checked() {
        let config = Config::parse(&base().to_string()).unwrap();
        assert_eq!((config.detect_deletes, config.max_api_calls), (false, None));
        assert!(
            parse_with("detect_deletes", true.into())
                .unwrap()
                .detect_deletes
        );
        assert_eq!(
            parse_with("detect_deletes", "yes".into())
                .unwrap_err()
                .message,
            "config field `detect_deletes` must be true or false, got a string"
        );
        assert_eq!(
            parse_with("max_api_calls", 40.into())
                .unwrap()
                .max_api_calls,
            Some(40)
        );
        for bad in [0.into(), (-3).into(), 2.5.into(), "9".into()] {
            let e = parse_with("max_api_calls", bad).unwrap_err();
            assert!(
                e.message
                    .starts_with("config field `max_api_calls` must be a whole number"),
                "{}",
                e.message
            );
        }
    }

    fn base() -> Value {
        serde_json::json!({"app_id": "cli_1", "app_secret": "s3cret", "app_token": "app1", "table_id": "tbl1"})
    }

    fn parse_with(key: &str, value: Value) -> Result<Config, ConnectorError> {
        let mut v = base();
        v[key] = value;
        Config::parse(&v.to_string())
    }

    #[test]
    fn sync_every_reads_minutes_hours_and_days() {
        let with = |value: Value| parse_with("sync_every", value).map(|c| c.sync_every_minutes);
        let none = Config::parse(&base().to_string()).unwrap();
        assert_eq!(none.sync_every_minutes, None);
        assert_eq!(with("15m".into()).unwrap(), Some(15));
        assert_eq!(with("1h".into()).unwrap(), Some(60));
        assert_eq!(with("2d".into()).unwrap(), Some(2880));
        for bad in ["0h", "h", "1w", "1.5h", "-1h", ""].map(Value::from) {
            let error = with(bad.clone()).unwrap_err();
            assert!(
                error.message.contains("`sync_every`"),
                "{bad}: {}",
                error.message
            );
        }
        assert!(with(60.into()).is_err());
    }

    #[test]
    fn revision_recheck_hours_default_to_a_day_and_take_zero() {
        assert_eq!(
            Config::parse(&base().to_string())
                .unwrap()
                .revision_recheck_hours,
            24
        );
        let zero = parse_with("revision_recheck_hours", 0.into()).unwrap();
        assert_eq!(zero.revision_recheck_hours, 0);
        for bad in [Value::from(-1), Value::from(1.5), Value::from("24")] {
            let e = parse_with("revision_recheck_hours", bad).unwrap_err();
            assert!(
                e.message
                    .contains("`revision_recheck_hours` must be a whole number")
            );
        }
    }

    #[test]
    fn defaults_apply() {
        let c = Config::parse(&base().to_string()).unwrap();
        assert_eq!(c.lark_host, DEFAULT_HOST);
        assert_eq!(c.page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(c.app_secret.expose(), "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("app_secret");
        let e = Config::parse(&v.to_string()).unwrap_err();
        assert_eq!(e.message, "config field `app_secret` is required");
        let e = parse_with("app_id", serde_json::json!(5)).unwrap_err();
        assert_eq!(
            e.message,
            "config field `app_id` must be a string, got a number"
        );
        let e = parse_with("app_token", serde_json::json!("  ")).unwrap_err();
        assert!(
            e.message
                .starts_with("config field `app_token` is required"),
            "{}",
            e.message
        );
    }

    #[test]
    fn page_size_bounds() {
        for bad in [0, 501] {
            let e = parse_with("page_size", serde_json::json!(bad)).unwrap_err();
            assert!(e.message.contains("`page_size`"), "{}", e.message);
        }
        for bad in [serde_json::json!("100"), serde_json::json!(1.5)] {
            assert!(parse_with("page_size", bad).is_err());
        }
        assert_eq!(
            parse_with("page_size", serde_json::json!(500))
                .unwrap()
                .page_size,
            500
        );
        assert_eq!(
            parse_with("page_size", serde_json::json!(1))
                .unwrap()
                .page_size,
            1
        );
    }

    #[test]
    fn lark_host_forms() {
        let ok = |s: &str| {
            parse_with("lark_host", serde_json::json!(s))
                .unwrap()
                .lark_host
        };
        assert_eq!(
            ok("https://open.larksuite.com/"),
            "https://open.larksuite.com"
        );
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        for bad in [
            "open.feishu.cn",
            "ftp://x",
            "https://",
            "https://a/b",
            "https://u@h",
            "https://h?x=1",
        ] {
            let e = parse_with("lark_host", serde_json::json!(bad)).unwrap_err();
            assert!(e.message.contains("`lark_host`"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn table_and_view_are_optional() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("table_id");
        let c = Config::parse(&v.to_string()).unwrap();
        assert_eq!((c.table_id, c.view_id), (None, None));
        v["view_id"] = serde_json::json!("vew1");
        assert!(
            Config::parse(&v.to_string())
                .unwrap_err()
                .message
                .contains("`view_id` needs `table_id`")
        );
    }

    #[test]
    fn links_fill_ids_and_must_agree_with_them() {
        let v = serde_json::json!({"app_id": "a", "app_secret": "s", "base_url": "https://t.feishu.cn/base/appL?table=tblL&view=vewL"});
        let c = Config::parse(&v.to_string()).unwrap();
        assert_eq!(c.base, BaseRef::App("appL".into()));
        assert_eq!(
            (c.table_id.as_deref(), c.view_id.as_deref()),
            (Some("tblL"), Some("vewL"))
        );
        let pasted = serde_json::json!({"app_id": "a", "app_secret": "s", "app_token": "https://t.feishu.cn/wiki/wikN"});
        assert_eq!(
            Config::parse(&pasted.to_string()).unwrap().base,
            BaseRef::Wiki("wikN".into())
        );
        let mut clash = v.clone();
        clash["table_id"] = serde_json::json!("tblOther");
        assert!(
            Config::parse(&clash.to_string())
                .unwrap_err()
                .message
                .contains("`table_id` is \"tblOther\" but the Base link names \"tblL\"")
        );
        let bad = serde_json::json!({"app_id": "a", "app_secret": "s", "base_url": "https://t.feishu.cn/docx/x"});
        let e = Config::parse(&bad.to_string()).unwrap_err();
        assert!(
            e.message
                .starts_with("config field `base_url` is not a usable link")
                && e.message.contains("expected https://"),
            "{}",
            e.message
        );
    }

    #[test]
    fn non_object_config_is_rejected() {
        assert_eq!(
            Config::parse("[]").unwrap_err().message,
            "config must be a JSON object"
        );
        assert!(
            Config::parse("{")
                .unwrap_err()
                .message
                .starts_with("config is not valid JSON")
        );
    }

    #[test]
    fn a_link_of_one_brand_with_the_other_brands_host_is_named() {
        let with = |base_url: &str, host: Option<&str>| {
            let mut v =
                serde_json::json!({"app_id": "cli_1", "app_secret": "s", "base_url": base_url});
            if let Some(host) = host {
                v["lark_host"] = host.into();
            }
            Config::parse(&v.to_string())
        };
        let lark = "https://acme.sg.larksuite.com/base/bascnAbc?table=tbl1";
        let e = with(lark, None).unwrap_err();
        assert!(
            e.message
                .contains("a Lark link, but `lark_host` is https://open.feishu.cn (the default)")
                && e.message
                    .contains("set `lark_host` to https://open.larksuite.com"),
            "{}",
            e.message
        );
        let e = with(
            "https://acme.feishu.cn/base/bascnAbc",
            Some("https://open.larksuite.com"),
        )
        .unwrap_err();
        assert!(
            e.message.contains(
                "a Feishu link, but `lark_host` is https://open.larksuite.com, a Lark host"
            ),
            "{}",
            e.message
        );
        assert!(with(lark, Some("https://open.larksuite.com")).is_ok());
        assert!(with("https://x.larkoffice.com/base/bascnAbc", None).is_ok());
        assert!(
            with(lark, Some("http://127.0.0.1:8080")).is_ok(),
            "custom hosts are not judged"
        );
    }
}
