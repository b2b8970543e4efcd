//! The sandbox's rules, free of I/O so they test natively:
//!
//! - [`HostPattern`]: one allowed destination in the grammar of Spin's `allowed_outbound_hosts`
//!   (`scheme://host[:port]`; scheme `http`, `https` or `*`; host a name, an IP literal, `*` or
//!   `*.suffix`; port a number or `*`, none meaning the scheme's default).
//! - [`AllowList`]: the operator's grants, each with where it came from ([`GrantSource`]).
//! - [`Origin`]: the one parser of a request's scheme, host and port.
//! - [`check_address`]: the dial-time policy on resolved addresses (never link-local,
//!   multicast, broadcast or unspecified; loopback and private ranges only when the grant names
//!   the host literally).

use anyhow::{Context, Result, bail};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    /// A name or an IP literal (IPv6 without brackets), lowercase.
    Exact(String),
    /// `*.example.com`: any subdomain of the suffix (not the suffix itself); holds `.example.com`.
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

/// The scheme, host and port of an absolute http(s) URI: what the allowlist, the dialer and
/// every message agree a destination is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// Lowercase; an IPv6 literal without its brackets.
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of `uri`, if it is an absolute `http` or `https` URI with a host.
    pub fn of(uri: &http::Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let port = uri.port_u16().or_else(|| default_port(&scheme))?;
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return None;
        }
        Some(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The origin of a URL written as text (such as a config field).
    pub fn parse(url: &str) -> Option<Self> {
        let uri: http::Uri = url.trim().parse().ok()?;
        if uri.authority()?.as_str().contains('@') {
            return None;
        }
        Self::of(&uri)
    }

    /// The host as written in a URL (IPv6 literals in brackets).
    pub fn url_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The host as an IP address, if it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for Origin {
    /// `scheme://host[:port]`, the port left out when it is the scheme's default: the form an
    /// `--allow-host` pattern for exactly this origin takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.url_host())?;
        if default_port(&self.scheme) != Some(self.port) {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
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

    /// The pattern that allows exactly `origin`.
    pub fn exact(origin: &Origin) -> Self {
        Self {
            scheme: Some(origin.scheme.clone()),
            host: HostMatch::Exact(origin.host.clone()),
            port: if default_port(&origin.scheme) == Some(origin.port) {
                PortMatch::Default
            } else {
                PortMatch::Exact(origin.port)
            },
        }
    }

    /// Whether a request to `origin` matches.
    pub fn allows(&self, origin: &Origin) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == origin.scheme);
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(h) => *h == origin.host,
            HostMatch::Subdomain(suffix) => origin.host.ends_with(suffix.as_str()),
        };
        let port_ok = match self.port {
            PortMatch::Any => true,
            PortMatch::Default => default_port(&origin.scheme) == Some(origin.port),
            PortMatch::Exact(p) => p == origin.port,
        };
        scheme_ok && host_ok && port_ok
    }

    /// Whether the pattern names its host literally: an IP address or `localhost`. Only such a
    /// grant may reach loopback and private addresses.
    pub fn names_host_literally(&self) -> bool {
        match &self.host {
            HostMatch::Exact(h) => h == "localhost" || h.parse::<IpAddr>().is_ok(),
            _ => false,
        }
    }

    /// Whether requests under this pattern may travel in clear text to a host that is not
    /// loopback (the app secret would cross the network unencrypted).
    pub fn allows_cleartext_off_host(&self) -> bool {
        if self.scheme.as_deref() == Some("https") {
            return false;
        }
        match &self.host {
            HostMatch::Exact(h) if h == "localhost" => false,
            HostMatch::Exact(h) => !h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
            _ => true,
        }
    }
}

/// Splits `host[:port]`; a bracketed IPv6 literal comes back without its brackets.
fn split_host_port(rest: &str) -> Result<(&str, Option<&str>)> {
    if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner.split_once(']').context("unclosed [")?;
        host.parse::<Ipv6Addr>()
            .ok()
            .context("[...] must hold an IPv6 address")?;
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
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
            HostMatch::Exact(h) if h.contains(':') => format!("[{h}]"),
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

/// Who granted a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantSource {
    /// The value of this config field (marked `x-outbound-host` in the spec).
    ConfigField(String),
    /// An `--allow-host` flag.
    AllowHostFlag,
}

impl fmt::Display for GrantSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConfigField(name) => write!(f, "config field {name}"),
            Self::AllowHostFlag => f.write_str("--allow-host"),
        }
    }
}

/// One pattern the operator granted, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub pattern: HostPattern,
    pub source: GrantSource,
}

/// What a request may reach once the allowlist let it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// A matching grant names the host literally, so loopback and private addresses are fine.
    pub private_ok: bool,
}

/// The set of granted destinations.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    grants: Vec<Grant>,
}

impl AllowList {
    pub fn push(&mut self, pattern: HostPattern, source: GrantSource) {
        self.grants.push(Grant { pattern, source });
    }

    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Whether any grant allows `origin`, and on what terms.
    pub fn allows(&self, origin: &Origin) -> Option<Access> {
        let mut matching = self.grants.iter().filter(|g| g.pattern.allows(origin));
        let first = matching.next()?;
        let private_ok = first.pattern.names_host_literally()
            || matching.any(|g| g.pattern.names_host_literally());
        Some(Access { private_ok })
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.grants.is_empty() {
            return f.write_str("(none)");
        }
        let list: Vec<String> = self.grants.iter().map(|g| g.pattern.to_string()).collect();
        f.write_str(&list.join(", "))
    }
}

/// Why an address may not be dialled, if it may not. `private_ok` is [`Access::private_ok`].
pub fn check_address(ip: IpAddr, private_ok: bool) -> Result<(), String> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let never = match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
        }
        IpAddr::V6(v6) => v6.is_unicast_link_local() || v6.is_unspecified() || v6.is_multicast(),
    };
    if never {
        return Err(format!(
            "{ip} is a link-local, multicast, broadcast or unspecified address, which is never allowed"
        ));
    }
    if is_internal(ip) && !private_ok {
        return Err(format!(
            "{ip} is a loopback or private address; only a grant that names the host literally \
             (its IP address or localhost) may reach it"
        ));
    }
    Ok(())
}

/// Loopback, RFC 1918, shared (100.64.0.0/10) or unique-local (fc00::/7) addresses.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || is_shared(v4),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local(),
    }
}

fn is_shared(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    a == 100 && (64..128).contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(url: &str) -> Origin {
        Origin::parse(url).unwrap()
    }

    fn list(patterns: &[&str]) -> AllowList {
        let mut list = AllowList::default();
        for p in patterns {
            list.push(HostPattern::parse(p).unwrap(), GrantSource::AllowHostFlag);
        }
        list
    }

    fn allows(pattern: &str, url: &str) -> bool {
        list(&[pattern]).allows(&origin(url)).is_some()
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
        assert_eq!(origin("http://[::1]:8080/x").host, "::1");
        assert_eq!(
            origin("http://[::1]:8080/x").to_string(),
            "http://[::1]:8080"
        );
        assert!(HostPattern::parse("http://[nope]:1").is_err());
    }

    #[test]
    fn empty_list_denies_everything() {
        assert!(
            AllowList::default()
                .allows(&origin("https://open.feishu.cn/"))
                .is_none()
        );
        assert_eq!(AllowList::default().to_string(), "(none)");
    }

    #[test]
    fn origins_parse_one_way() {
        let o = origin("HTTPS://Open.Feishu.cn/open-apis?x=1");
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.port),
            ("https", "open.feishu.cn", 443)
        );
        assert_eq!(o.to_string(), "https://open.feishu.cn");
        assert_eq!(
            origin("http://127.0.0.1:8080").to_string(),
            "http://127.0.0.1:8080"
        );
        for bad in ["ftp://x/", "not a url", "https://u:p@evil.com", "/relative"] {
            assert!(Origin::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn only_literal_grants_reach_internal_addresses() {
        let access = |patterns: &[&str], url: &str| list(patterns).allows(&origin(url));
        let literal = Some(Access { private_ok: true });
        let named = Some(Access { private_ok: false });
        assert_eq!(
            access(&["http://127.0.0.1:*"], "http://127.0.0.1:9/"),
            literal
        );
        assert_eq!(
            access(&["http://localhost:9"], "http://localhost:9/"),
            literal
        );
        assert_eq!(access(&["http://[::1]:9"], "http://[::1]:9/"), literal);
        assert_eq!(access(&["http://*:9"], "http://127.0.0.1:9/"), named);
        assert_eq!(
            access(&["https://*.feishu.cn"], "https://a.feishu.cn/"),
            named
        );
        assert_eq!(
            access(&["http://*:9", "http://localhost:9"], "http://localhost:9/"),
            literal
        );
    }

    #[test]
    fn address_policy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for never in [
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fe80::1",
            "::",
            "ff02::1",
            "::ffff:169.254.169.254",
        ] {
            let e = check_address(ip(never), true).unwrap_err();
            assert!(e.contains("never allowed"), "{never}: {e}");
        }
        for internal in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(check_address(ip(internal), true).is_ok(), "{internal}");
            let e = check_address(ip(internal), false).unwrap_err();
            assert!(e.contains("names the host literally"), "{internal}: {e}");
        }
        for public in ["93.184.216.34", "100.128.0.1", "2606:4700::1111"] {
            assert!(check_address(ip(public), false).is_ok(), "{public}");
        }
    }

    #[test]
    fn cleartext_grants_are_flagged() {
        let flagged = |p: &str| HostPattern::parse(p).unwrap().allows_cleartext_off_host();
        assert!(flagged("http://example.com"));
        assert!(flagged("*://example.com"));
        assert!(flagged("http://*:8080"));
        assert!(!flagged("https://example.com"));
        assert!(!flagged("http://127.0.0.1:8080"));
        assert!(!flagged("http://localhost:*"));
        assert!(!flagged("http://[::1]:1"));
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
            "http://[::1]:8080",
        ] {
            assert_eq!(HostPattern::parse(p).unwrap().to_string(), p);
        }
        let exact = HostPattern::exact(&origin("https://open.feishu.cn:443/x"));
        assert_eq!(exact.to_string(), "https://open.feishu.cn");
    }
}
