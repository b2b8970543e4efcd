//! What a run cost on the network, counted by the sandbox hook of every instance: requests,
//! answers that asked for a retry (429 and 5xx), rate-limit waits, and token requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of a run.
#[derive(Debug, Default)]
pub struct RunStats {
    requests: AtomicU64,
    retried_answers: AtomicU64,
    token_requests: AtomicU64,
    waits: AtomicU64,
    waited_ms: AtomicU64,
}

/// A snapshot of [`RunStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub retried_answers: u64,
    pub token_requests: u64,
    pub waits: u64,
    pub waited: Duration,
}

impl Totals {
    /// The figures as the summary gives them after its total.
    pub fn describe(&self) -> String {
        format!(
            ": {} requests, {} answers retried (429 or 5xx), {} requests held by the rate \
             limiter ({:.1} s), {} token requests",
            self.requests,
            self.retried_answers,
            self.waits,
            self.waited.as_secs_f64(),
            self.token_requests
        )
    }
}

impl RunStats {
    /// A request went out to `path`.
    pub fn request(&self, path: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if path.contains("access_token") {
            self.token_requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An answer with `status` came back.
    pub fn answer(&self, status: u16) {
        if status == 429 || status >= 500 {
            self.retried_answers.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request waited `wait` for the rate limit.
    pub fn waited(&self, wait: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.waited_ms.fetch_add(
            wait.as_millis().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }

    pub fn totals(&self) -> Totals {
        Totals {
            requests: self.requests.load(Ordering::Relaxed),
            retried_answers: self.retried_answers.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            waited: Duration::from_millis(self.waited_ms.load(Ordering::Relaxed)),
        }
    }
}
