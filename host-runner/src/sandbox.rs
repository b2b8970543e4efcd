//! Outbound host allowlist, in the grammar of Spin's `allowed_outbound_hosts`:
//! `scheme://host[:port]`, where the scheme (`http`, `https` or `*`) is required, the host is a
//! name, `*` or `*.suffix`, and the port is a number or `*`; no port means the scheme's
//! default. An empty list denies everything.

use anyhow::{Context, Result, bail};
use std::fmt;

/// One allowed destination pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: PortMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    /// `*.example.com`: any subdomain of the suffix (not the suffix itself).
    Subdomain(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortMatch {
    Any,
    Default,
    Exact(u16),
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl HostPattern {
    /// Parses a pattern such as `https://open.feishu.cn` or `http://127.0.0.1:8080`.
    pub fn parse(raw: &str) -> Result<Self> {
        let (scheme, rest) = raw
            .split_once("://")
            .with_context(|| format!("allowed host {raw:?} needs a scheme, as in https://{raw}"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => None,
            s @ ("http" | "https") => Some(s.to_string()),
            other => bail!("allowed host {raw:?} has scheme {other:?}; use http, https or *"),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            bail!("allowed host {raw:?} must be scheme://host[:port] with nothing after it");
        }
        let (host, port) = split_host_port(rest)
            .with_context(|| format!("allowed host {raw:?} has an invalid port"))?;
        let host = host.to_ascii_lowercase();
        let host = match host.as_str() {
            "*" => HostMatch::Any,
            h if h.starts_with("*.") && h.len() > 2 => HostMatch::Subdomain(h[1..].to_string()),
            h if h.contains('*') => bail!(
                "allowed host {raw:?}: `*` may only stand for the whole host or a leading label"
            ),
            h => HostMatch::Exact(h.to_string()),
        };
        let port = match port {
            None => PortMatch::Default,
            Some("*") => PortMatch::Any,
            Some(p) => PortMatch::Exact(
                p.parse()
                    .with_context(|| format!("allowed host {raw:?} has an invalid port"))?,
            ),
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` matches.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let Some(port) = port.or_else(|| default_port(&scheme)) else {
            return false;
        };
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(h) => *h == host,
            HostMatch::Subdomain(suffix) => host.ends_with(suffix.as_str()),
        };
        let port_ok = match self.port {
            PortMatch::Any => true,
            PortMatch::Default => default_port(&scheme) == Some(port),
            PortMatch::Exact(p) => p == port,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// Splits `host[:port]`, keeping bracketed IPv6 literals whole.
fn split_host_port(rest: &str) -> Result<(&str, Option<&str>)> {
    if let Some(inner) = rest.strip_prefix('[') {
        let (_, after) = inner.split_once(']').context("unclosed [")?;
        let host_len = rest.len() - after.len();
        return match after.strip_prefix(':') {
            Some(port) => Ok((&rest[..host_len], Some(port))),
            None if after.is_empty() => Ok((rest, None)),
            None => bail!("unexpected text after ]"),
        };
    }
    Ok(match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    })
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match &self.host {
            HostMatch::Any => "*".to_string(),
            HostMatch::Exact(h) => h.clone(),
            HostMatch::Subdomain(s) => format!("*{s}"),
        };
        write!(f, "{}://{host}", self.scheme.as_deref().unwrap_or("*"))?;
        match self.port {
            PortMatch::Any => f.write_str(":*"),
            PortMatch::Default => Ok(()),
            PortMatch::Exact(p) => write!(f, ":{p}"),
        }
    }
}

/// The set of allowed destinations.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    patterns: Vec<HostPattern>,
}

impl AllowList {
    pub fn new(patterns: Vec<HostPattern>) -> Self {
        Self { patterns }
    }

    pub fn push(&mut self, pattern: HostPattern) {
        self.patterns.push(pattern);
    }

    /// Whether any pattern allows `uri`; URIs without a host are refused.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                self.patterns.iter().any(|p| {
                    let pattern_host_bracketed =
                        matches!(&p.host, HostMatch::Exact(h) if h.starts_with('['));
                    let host = if pattern_host_bracketed {
                        format!("[{host}]")
                    } else {
                        host.to_string()
                    };
                    p.allows(scheme, &host, uri.port_u16())
                })
            }
            _ => false,
        }
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patterns.is_empty() {
            return f.write_str("(none)");
        }
        let list: Vec<String> = self.patterns.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, url: &str) -> bool {
        AllowList::new(vec![HostPattern::parse(pattern).unwrap()]).allows(&url.parse().unwrap())
    }

    #[test]
    fn exact_host_with_default_port() {
        assert!(allows(
            "https://open.feishu.cn",
            "https://open.feishu.cn/open-apis/x"
        ));
        assert!(allows(
            "https://open.feishu.cn",
            "https://OPEN.feishu.cn:443/x"
        ));
        assert!(!allows("https://open.feishu.cn", "http://open.feishu.cn/x"));
        assert!(!allows(
            "https://open.feishu.cn",
            "https://open.feishu.cn:8443/x"
        ));
        assert!(!allows(
            "https://open.feishu.cn",
            "https://evil.open.feishu.cn/x"
        ));
        assert!(!allows(
            "https://open.feishu.cn",
            "https://open.feishu.cn.evil.com/x"
        ));
    }

    #[test]
    fn explicit_and_wildcard_ports() {
        assert!(allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/a"));
        assert!(!allows("http://127.0.0.1:8080", "http://127.0.0.1:8081/a"));
        assert!(!allows("http://127.0.0.1:8080", "http://127.0.0.1/a"));
        assert!(allows("http://127.0.0.1:*", "http://127.0.0.1:9/a"));
        assert!(allows("http://localhost:*", "http://localhost/a"));
    }

    #[test]
    fn wildcard_schemes_and_hosts() {
        assert!(allows("*://example.com", "http://example.com/"));
        assert!(allows("*://example.com", "https://example.com/"));
        assert!(allows(
            "https://*.larksuite.com",
            "https://open.larksuite.com/"
        ));
        assert!(!allows("https://*.larksuite.com", "https://larksuite.com/"));
        assert!(!allows(
            "https://*.larksuite.com",
            "https://evillarksuite.com/"
        ));
        assert!(allows("https://*", "https://anything.example/"));
        assert!(!allows("https://*", "http://anything.example/"));
    }

    #[test]
    fn ipv6_literals() {
        assert!(allows("http://[::1]:8080", "http://[::1]:8080/"));
        assert!(!allows("http://[::1]:8080", "http://[::2]:8080/"));
    }

    #[test]
    fn empty_list_denies_everything() {
        assert!(!AllowList::default().allows(&"https://open.feishu.cn/".parse().unwrap()));
        assert_eq!(AllowList::default().to_string(), "(none)");
    }

    #[test]
    fn bad_patterns_are_explained() {
        for (bad, needle) in [
            ("open.feishu.cn", "needs a scheme"),
            ("ftp://x", "scheme \"ftp\""),
            ("https://a/b", "nothing after it"),
            ("https://a:x", "invalid port"),
            ("https://a:70000", "invalid port"),
            ("https://a*b.com", "`*`"),
            ("https://", "nothing after it"),
        ] {
            let e = format!("{:#}", HostPattern::parse(bad).unwrap_err());
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn patterns_display_as_written() {
        for p in [
            "https://open.feishu.cn",
            "http://127.0.0.1:8080",
            "*://*.example.com:*",
        ] {
            assert_eq!(HostPattern::parse(p).unwrap().to_string(), p);
        }
    }
}
