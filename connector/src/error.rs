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

/// A failure with a category and a user-facing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorError {
    pub category: Category,
    pub message: String,
}

impl ConnectorError {
    pub fn new(category: Category, message: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
        }
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
