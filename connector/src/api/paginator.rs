//! Page cursors: decide the next `page_token`, refusing answers that would loop forever
//! (a repeated token, or page after page with nothing in it).

use crate::error::ConnectorError;
use std::collections::HashSet;

/// Where paging stands: the token for the next request and every token seen so far.
#[derive(Debug, Default)]
pub struct PageCursor {
    next: Option<String>,
    seen: HashSet<String>,
    pages: u64,
    /// Pages in a row, up to the last one, that held no items but promised more.
    empty_run: u32,
}

/// Empty pages in a row, each promising more, after which paging stops as a bad answer: a
/// page can come back empty now and then (records filtered out on the server's side), but
/// never for long.
pub const MAX_EMPTY_PAGES: u32 = 5;

impl PageCursor {
    /// A cursor whose next request asks for the page of `token` (a read going on where an
    /// earlier one stopped).
    pub fn resuming(token: Option<String>) -> Self {
        let mut cursor = Self::default();
        cursor.seen.extend(token.clone());
        cursor.next = token;
        cursor
    }

    /// The `page_token` to send with the next request (`None` for the first page).
    pub fn token(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// Number of pages accepted so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Takes a page's `has_more`, `page_token` and number of items (not counting items sent
    /// before); returns whether another page follows. Stops on `has_more == false` even when
    /// a token is present.
    pub fn advance(
        &mut self,
        has_more: bool,
        page_token: Option<&str>,
        items: usize,
    ) -> Result<bool, ConnectorError> {
        self.pages += 1;
        if !has_more {
            self.next = None;
            return Ok(false);
        }
        self.empty_run = if items == 0 { self.empty_run + 1 } else { 0 };
        if self.empty_run >= MAX_EMPTY_PAGES {
            return Err(ConnectorError::bad_response(format!(
                "{} pages in a row (up to page {}) held no records not sent before yet said \
                 has_more; stopping instead of paging on without end",
                self.empty_run, self.pages
            )));
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
        assert!(c.advance(true, Some("a"), 1).unwrap());
        assert_eq!(c.token(), Some("a"));
        assert!(c.advance(true, Some("b"), 1).unwrap());
        assert!(!c.advance(false, Some("c"), 1).unwrap());
        assert_eq!(c.pages(), 3);
    }

    #[test]
    fn repeated_or_missing_tokens_fail() {
        let mut c = PageCursor::default();
        c.advance(true, Some("a"), 1).unwrap();
        assert!(
            c.advance(true, Some("a"), 1)
                .unwrap_err()
                .message
                .contains("repeats")
        );
        let mut c = PageCursor::default();
        assert!(
            c.advance(true, None, 1)
                .unwrap_err()
                .message
                .contains("no page_token")
        );
        assert!(PageCursor::default().advance(true, Some(""), 1).is_err());
    }

    #[test]
    fn a_run_of_empty_pages_that_promise_more_fails() {
        let mut c = PageCursor::default();
        for i in 0..MAX_EMPTY_PAGES - 1 {
            assert!(c.advance(true, Some(&format!("e{i}")), 0).unwrap());
        }
        assert!(
            c.advance(true, Some("full"), 3).unwrap(),
            "a full page resets the run"
        );
        for i in 0..MAX_EMPTY_PAGES - 1 {
            assert!(c.advance(true, Some(&format!("f{i}")), 0).unwrap());
        }
        let e = c.advance(true, Some("last"), 0).unwrap_err();
        assert!(e.message.contains("5 pages in a row"), "{}", e.message);
        assert!(!PageCursor::default().advance(false, None, 0).unwrap());
    }
}
