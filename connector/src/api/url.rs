//! The one place an http(s) URL is split into scheme, authority and the rest: the config's
//! `lark_host`, Base links and outgoing requests all agree on what a host is.

/// An absolute `http://` or `https://` URL, borrowed from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpUrl<'a> {
    pub tls: bool,
    /// `host[:port]`, as written (an IPv6 literal keeps its brackets).
    pub authority: &'a str,
    /// Everything after the authority: `/path?query#fragment`, or empty.
    pub rest: &'a str,
}

impl<'a> HttpUrl<'a> {
    /// Splits `text`, if it is an absolute http(s) URL with a non-empty authority that carries
    /// no credentials (`user@`).
    pub fn parse(text: &'a str) -> Option<Self> {
        let (tls, after) = if let Some(after) = strip_prefix_ignore_case(text, "https://") {
            (true, after)
        } else {
            (false, strip_prefix_ignore_case(text, "http://")?)
        };
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let valid = !authority.is_empty()
            && authority
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        valid.then_some(Self {
            tls,
            authority,
            rest,
        })
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// The host without the port, lowercase (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> String {
        let host = match self.authority.rfind(':') {
            Some(i) if !self.authority[i..].contains(']') => &self.authority[..i],
            _ => self.authority,
        };
        host.to_ascii_lowercase()
    }

    /// `scheme://authority`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme(), self.authority)
    }

    /// The path and query for a request line (`/` when empty), without a fragment.
    pub fn path_and_query(&self) -> &'a str {
        let rest = self.rest.split('#').next().unwrap_or_default();
        if rest.is_empty() { "/" } else { rest }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_scheme_authority_and_rest() {
        let u = HttpUrl::parse("https://open.feishu.cn/open-apis/x?y=1").unwrap();
        assert_eq!(
            (u.scheme(), u.authority, u.rest, u.host().as_str()),
            (
                "https",
                "open.feishu.cn",
                "/open-apis/x?y=1",
                "open.feishu.cn"
            )
        );
        let u = HttpUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.origin().as_str(), u.path_and_query(), u.host().as_str()),
            ("http://127.0.0.1:8080", "/", "127.0.0.1")
        );
        let u = HttpUrl::parse("HTTP://[::1]:9/a#frag").unwrap();
        assert_eq!((u.host().as_str(), u.path_and_query()), ("[::1]", "/a"));
        assert_eq!(HttpUrl::parse("https://[::1]").unwrap().host(), "[::1]");
        assert_eq!(HttpUrl::parse("https://A.Feishu.cn?x").unwrap().rest, "?x");
    }

    #[test]
    fn refuses_what_is_not_an_http_url() {
        for bad in [
            "ftp://x",
            "open.feishu.cn",
            "https://",
            "https:///x",
            "https://u:p@evil.com",
            "https://a b",
        ] {
            assert!(HttpUrl::parse(bad).is_none(), "{bad}");
        }
    }
}
