//! Connector errors: a category the host can act on, and a message safe to show (no secrets).

use std::fmt;
use std::time::Duration;

/// What kind of failure happened; mirrors the WIT `error-category`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Category {
    Config,
    Auth,
    Permission,
    NotFound,
    /// Still rate-limited after retrying; carries how long the upstream asked to wait.
    RateLimited(Option<Duration>),
    Transient,
    BadResponse,
    /// Feishu found the answer too large (code 1254030): a smaller page may pass.
    ResponseTooLarge,
    Internal,
    /// The host takes no more output (its stdout closed, say): nothing more can be done.
    OutputClosed,
}

/// What Feishu said of a failed request, when its answer said it: its `code` and log id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstream {
    pub code: Option<i64>,
    pub request_id: Option<String>,
}

/// A category as it crosses to a host: the WIT `error-category`'s cases, into which every
/// [`Category`] maps once, here, for the component and the edge build alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireCategory {
    Config,
    Auth,
    Permission,
    NotFound,
    /// The wait the upstream asked for, in milliseconds, when it said.
    RateLimited(Option<u64>),
    Transient,
    BadResponse,
    Internal,
}

impl Category {
    /// The category a host is told: a page too large is a bad answer (smaller pages were
    /// tried), and a closed output an internal failure (the host closed it).
    pub fn wire(&self) -> WireCategory {
        match self {
            Category::Config => WireCategory::Config,
            Category::Auth => WireCategory::Auth,
            Category::Permission => WireCategory::Permission,
            Category::NotFound => WireCategory::NotFound,
            Category::RateLimited(_) => WireCategory::RateLimited(self.wait_ms()),
            Category::Transient => WireCategory::Transient,
            Category::BadResponse | Category::ResponseTooLarge => WireCategory::BadResponse,
            Category::Internal | Category::OutputClosed => WireCategory::Internal,
        }
    }

    /// For `RateLimited`, the wait the upstream asked for in milliseconds (saturating).
    pub fn wait_ms(&self) -> Option<u64> {
        match self {
            Category::RateLimited(wait) => {
                wait.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            }
            _ => None,
        }
    }
}

/// A failure with a category, a user-facing message and Feishu's code and log id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorError {
    pub category: Category,
    pub message: String,
    pub upstream: Upstream,
}

impl ConnectorError {
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
            upstream: Upstream::default(),
        }
    }

    /// The same error, carrying what Feishu said of the request.
    pub fn with_upstream(mut self, upstream: Upstream) -> Self {
        self.upstream = upstream;
        self
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Category::Config, message)
    }

    pub fn bad_response(message: impl Into<String>) -> Self {
        Self::new(Category::BadResponse, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Category::Internal, message)
    }

    /// Prefixes the message with where the error happened.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectorError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_category_crosses_to_hosts_once_mapped() {
        let wait = Category::RateLimited(Some(Duration::from_millis(1500)));
        assert_eq!(wait.wire(), WireCategory::RateLimited(Some(1500)));
        assert_eq!(Category::ResponseTooLarge.wire(), WireCategory::BadResponse);
        assert_eq!(Category::OutputClosed.wire(), WireCategory::Internal);
        assert_eq!(Category::Permission.wire(), WireCategory::Permission);
    }
}
