//! Base links: `https://<tenant>.feishu.cn/base/<app_token>?table=<table_id>&view=<view_id>`
//! (Lark and larkoffice hosts too) and wiki links `https://<tenant>.feishu.cn/wiki/<token>`,
//! whose token names a wiki node to resolve to its Base.

use crate::api::url::HttpUrl;

/// Which Base a config points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    /// A Base's app_token.
    App(String),
    /// A wiki node token, resolved through the wiki node API.
    Wiki(String),
}

/// What a link names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseLink {
    pub base: BaseRef,
    pub table_id: Option<String>,
    pub view_id: Option<String>,
    /// Which brand's site the link is on.
    pub brand: Brand,
}

/// Feishu (China) or Lark (international): their Open API hosts differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Brand {
    Feishu,
    Lark,
}

impl Brand {
    /// The brand of a host name, when it is one of theirs.
    pub fn of_host(host: &str) -> Option<Self> {
        let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
        if under("larksuite.com") {
            Some(Self::Lark)
        } else if under("feishu.cn") || under("larkoffice.com") || under("feishu-pre.cn") {
            Some(Self::Feishu)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Feishu => "Feishu",
            Self::Lark => "Lark",
        }
    }

    /// The brand's Open API host.
    pub fn open_api(self) -> &'static str {
        match self {
            Self::Feishu => "https://open.feishu.cn",
            Self::Lark => "https://open.larksuite.com",
        }
    }
}

/// What a good link looks like, for error messages.
pub const LINK_FORMS: &str = "https://<tenant>.feishu.cn/base/<app_token>?table=<table_id>&view=<view_id> \
     (or a larksuite.com / larkoffice.com link, or a wiki link https://<tenant>.feishu.cn/wiki/<token>)";

/// Whether `text` looks like a link rather than an id.
pub fn is_link(text: &str) -> bool {
    HttpUrl::parse(text).is_some()
}

/// Parses a Base or wiki link; the error says what is wrong.
pub fn parse(link: &str) -> Result<BaseLink, String> {
    let url = HttpUrl::parse(link).ok_or("it is not an http(s) link")?;
    let path_and_query = url.rest.strip_prefix('/').ok_or("it has no path")?;
    let host = url.host();
    let known = [
        "feishu.cn",
        "larksuite.com",
        "larkoffice.com",
        "feishu-pre.cn",
    ];
    if !known
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
    {
        return Err(format!("host {host} is not a Feishu or Lark host"));
    }
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = path.split('#').next().unwrap_or_default();
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let kind = segments.next().unwrap_or_default();
    let token = segments
        .next()
        .filter(|t| valid_id(t))
        .ok_or("it has no token after /base/ or /wiki/")?;
    let base = match kind {
        "base" => BaseRef::App(token.to_string()),
        "wiki" => BaseRef::Wiki(token.to_string()),
        other => {
            return Err(format!(
                "its path starts with /{other}/, not /base/ or /wiki/"
            ));
        }
    };
    let param = |name: &str| {
        query
            .split(['&', '#'])
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, v)| *k == name && valid_id(v))
            .map(|(_, v)| v.to_string())
    };
    Ok(BaseLink {
        base,
        table_id: param("table"),
        view_id: param("view"),
        brand: Brand::of_host(&host).unwrap_or(Brand::Feishu),
    })
}

fn valid_id(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_links_fill_the_ids() {
        let l = parse("https://acme.feishu.cn/base/bascnAbC123?table=tblX1&view=vewY2").unwrap();
        assert_eq!(
            l,
            BaseLink {
                base: BaseRef::App("bascnAbC123".into()),
                table_id: Some("tblX1".into()),
                view_id: Some("vewY2".into()),
                brand: Brand::Feishu,
            }
        );
        let l = parse("https://acme.sg.larksuite.com/base/Abc?from=share#anchor").unwrap();
        assert_eq!(l.brand, Brand::Lark);
        assert_eq!(
            (l.base, l.table_id, l.view_id),
            (BaseRef::App("Abc".into()), None, None)
        );
        let l = parse("https://x.larkoffice.com/base/Abc/?view=vew1&table=tbl2").unwrap();
        assert_eq!(
            (l.table_id.as_deref(), l.view_id.as_deref()),
            (Some("tbl2"), Some("vew1"))
        );
    }

    #[test]
    fn wiki_links_name_a_node() {
        let l = parse("https://acme.feishu.cn/wiki/wikcnNode42?table=tbl9").unwrap();
        assert_eq!(l.base, BaseRef::Wiki("wikcnNode42".into()));
        assert_eq!(l.table_id.as_deref(), Some("tbl9"));
    }

    #[test]
    fn bad_links_say_why() {
        for (link, why) in [
            ("acme.feishu.cn/base/x", "not an http(s) link"),
            ("https://example.com/base/x", "not a Feishu or Lark host"),
            ("https://evilfeishu.cn/base/x", "not a Feishu or Lark host"),
            ("https://acme.feishu.cn/docx/abc", "/docx/"),
            ("https://acme.feishu.cn/base/", "no token"),
            ("https://acme.feishu.cn/base/a%2Fb", "no token"),
            ("https://acme.feishu.cn", "no path"),
        ] {
            let e = parse(link).unwrap_err();
            assert!(e.contains(why), "{link}: {e}");
        }
    }
}
