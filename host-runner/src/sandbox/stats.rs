//! What a run cost on the network, counted by the sandbox hook: requests, those the upstream
//! counts against its quota (all but the paths the component's spec declares uncounted),
//! answers that asked for a retry (429 and 5xx), and rate-limit waits.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Counters of a run.
#[derive(Debug, Default)]
pub struct RunStats {
    requests: AtomicU64,
    retried_answers: AtomicU64,
    uncounted_requests: AtomicU64,
    /// Path prefixes the upstream does not count, as the component declares them.
    uncounted_paths: OnceLock<Vec<String>>,
    waits: AtomicU64,
    waited_ms: AtomicU64,
}

/// What a run cost on the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests sent (retries included).
    pub requests: u64,
    /// Answers that asked for a retry (429 or 5xx).
    pub retried_answers: u64,
    /// Requests to paths the upstream does not count (token requests, say).
    pub uncounted_requests: u64,
    /// Requests the rate limiter held.
    pub waits: u64,
    /// How long it held them in all.
    pub waited: Duration,
    /// Each stream of a read, by name (empty for other operations).
    pub streams: std::collections::BTreeMap<String, StreamFigures>,
}

/// What one stream of a read came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFigures {
    /// Records emitted.
    pub records: u64,
    /// Requests the connector reports reading it took, when it reported them.
    pub requests: Option<u64>,
}

impl Totals {
    /// Requests the upstream counts against its quota.
    pub fn counted(&self) -> u64 {
        self.requests.saturating_sub(self.uncounted_requests)
    }

    /// The figures as the summary gives them after its total.
    pub fn describe(&self) -> String {
        format!(
            ": {} requests, {} of them counted by the upstream's quota, {} answers retried (429 \
             or 5xx), {} requests held by the rate limiter ({:.1} s)",
            self.requests,
            self.counted(),
            self.retried_answers,
            self.waits,
            self.waited.as_secs_f64(),
        )
    }
}

impl RunStats {
    /// The path prefixes the upstream does not count (from the component's spec; once).
    pub fn uncounted(&self, paths: Vec<String>) {
        let _ = self.uncounted_paths.set(paths);
    }

    /// A request went out to `path`.
    pub fn request(&self, path: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let paths = self
            .uncounted_paths
            .get()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if paths.iter().any(|prefix| path.starts_with(prefix.as_str())) {
            self.uncounted_requests.fetch_add(1, Ordering::Relaxed);
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
            uncounted_requests: self.uncounted_requests.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            waited: Duration::from_millis(self.waited_ms.load(Ordering::Relaxed)),
            streams: Default::default(),
        }
    }
}
