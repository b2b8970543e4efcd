//! Tenant access tokens: parsing the auth endpoint's answer and deciding when to fetch anew.

use crate::config::Secret;
use crate::error::ConnectorError;
use serde::Deserialize;

/// Path of the self-built app token endpoint.
pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";

/// A tenant access token and when (monotonic ms) it should be replaced.
#[derive(Debug, Clone)]
pub struct TenantToken {
    pub value: Secret,
    pub refresh_at_ms: u64,
}

#[derive(Deserialize)]
struct TokenBody {
    tenant_access_token: Option<String>,
    expire: Option<i64>,
}

impl TenantToken {
    /// Parses a successful (`code == 0`) token response received at `now_ms`.
    ///
    /// The token is replaced a margin before it expires: a quarter of its lifetime, at most
    /// five minutes, so that a request never goes out with a token about to lapse.
    pub fn from_response(body: &[u8], now_ms: u64) -> Result<Self, ConnectorError> {
        let parsed: TokenBody = serde_json::from_slice(body).map_err(|e| {
            ConnectorError::bad_response(format!("token response is not valid JSON: {e}"))
        })?;
        let value = parsed
            .tenant_access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ConnectorError::bad_response("token response has no `tenant_access_token`")
            })?;
        let expire_s = parsed.expire.filter(|e| *e > 0).ok_or_else(|| {
            ConnectorError::bad_response("token response has no positive `expire`")
        })? as u64;
        let margin_s = (expire_s / 4).min(300);
        Ok(Self {
            value: Secret::new(value),
            refresh_at_ms: now_ms
                .saturating_add(expire_s.saturating_sub(margin_s).saturating_mul(1000)),
        })
    }

    /// Whether the token is still good to use at `now_ms`.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.refresh_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_before_expiry() {
        let t = TenantToken::from_response(
            br#"{"code":0,"msg":"ok","tenant_access_token":"t-abc","expire":7200}"#,
            1_000,
        )
        .unwrap();
        assert_eq!(t.value.expose(), "t-abc");
        assert!(t.is_fresh(1_000 + 6_899_999));
        assert!(!t.is_fresh(1_000 + 6_900_000));
        let short =
            TenantToken::from_response(br#"{"tenant_access_token":"t-x","expire":8}"#, 0).unwrap();
        assert_eq!(short.refresh_at_ms, 6_000);
    }

    #[test]
    fn missing_fields_are_bad_responses() {
        assert!(TenantToken::from_response(br#"{"code":0,"expire":7200}"#, 0).is_err());
        assert!(
            TenantToken::from_response(br#"{"code":0,"tenant_access_token":"t-a"}"#, 0).is_err()
        );
        let e = TenantToken::from_response(b"<html>", 0).unwrap_err();
        assert!(e.message.starts_with("token response is not valid JSON"));
    }
}
