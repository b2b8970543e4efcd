//! Page cursors: decide the next `page_token`, refusing answers that would loop forever.

use crate::error::ConnectorError;
use std::collections::HashSet;

/// Where paging stands: the token for the next request and every token seen so far.
#[derive(Debug, Default)]
pub struct PageCursor {
    next: Option<String>,
    seen: HashSet<String>,
    pages: u64,
}

impl PageCursor {
    /// The `page_token` to send with the next request (`None` for the first page).
    pub fn token(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// Number of pages accepted so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Takes a page's `has_more` and `page_token`; returns whether another page follows.
    /// Stops on `has_more == false` even when a token is present.
    pub fn advance(
        &mut self,
        has_more: bool,
        page_token: Option<&str>,
    ) -> Result<bool, ConnectorError> {
        self.pages += 1;
        if !has_more {
            self.next = None;
            return Ok(false);
        }
        let token = page_token.filter(|t| !t.is_empty()).ok_or_else(|| {
            ConnectorError::bad_response(format!(
                "page {} says has_more but carries no page_token",
                self.pages
            ))
        })?;
        if !self.seen.insert(token.to_string()) {
            return Err(ConnectorError::bad_response(format!(
                "page {} repeats an earlier page_token; stopping instead of looping",
                self.pages
            )));
        }
        self.next = Some(token.to_string());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_tokens_until_has_more_is_false() {
        let mut c = PageCursor::default();
        assert_eq!(c.token(), None);
        assert!(c.advance(true, Some("a")).unwrap());
        assert_eq!(c.token(), Some("a"));
        assert!(c.advance(true, Some("b")).unwrap());
        assert!(!c.advance(false, Some("c")).unwrap());
        assert_eq!(c.pages(), 3);
    }

    #[test]
    fn repeated_or_missing_tokens_fail() {
        let mut c = PageCursor::default();
        c.advance(true, Some("a")).unwrap();
        assert!(
            c.advance(true, Some("a"))
                .unwrap_err()
                .message
                .contains("repeats")
        );
        let mut c = PageCursor::default();
        assert!(
            c.advance(true, None)
                .unwrap_err()
                .message
                .contains("no page_token")
        );
        assert!(PageCursor::default().advance(true, Some("")).is_err());
    }
}
