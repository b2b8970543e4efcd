//! One rate limiter for a whole run, for every request: requests to each destination
//! are spaced so that no sliding second holds more than `max_rps` of them, and an answer that
//! says "too many requests, wait N s" pauses every request to that destination until then.

use crate::sandbox::grants::schema_member;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Slack added to the one-second window: requests do not reach the server after the same
/// delay, so a window measured at the server may start later than ours.
const MARGIN: Duration = Duration::from_millis(50);
const WINDOW: Duration = Duration::from_secs(1);

/// The rate limit a component's spec declares (`connectionSpecification."x-rate-limit"`:
/// `{"requests_per_second": N, "reset_header": "..."}`): what its upstream allows, and the
/// header by which the upstream says how long to wait. No declaration: no limit, and a
/// rate-limit answer pauses its destination one second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredLimit {
    pub max_rps: usize,
    pub reset_header: Option<String>,
}

impl DeclaredLimit {
    pub fn of_spec(spec: &Value) -> Self {
        let declared = schema_member(spec, "x-rate-limit");
        let field = |key: &str| declared.and_then(|d| d.get(key));
        Self {
            max_rps: field("requests_per_second")
                .and_then(Value::as_u64)
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            reset_header: field("reset_header")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// The limit a run applies: the operator's requests per second when set (0: none),
    /// else the declared ones.
    pub fn limiter(&self, operator_rps: Option<usize>) -> Arc<RateLimiter> {
        RateLimiter::new(
            operator_rps.unwrap_or(self.max_rps),
            self.reset_header.clone(),
        )
    }
}

/// Path prefixes of requests the upstream does not count against its quota, as the spec
/// declares them (`connectionSpecification."x-uncounted-paths"`, e.g. token requests).
pub fn uncounted_paths(spec: &Value) -> Vec<String> {
    schema_member(spec, "x-uncounted-paths")
        .and_then(Value::as_array)
        .map(|paths| {
            paths
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Send slots per destination (`scheme://host:port`).
#[derive(Debug)]
pub struct RateLimiter {
    /// 0: no limit (pauses still apply).
    max_rps: usize,
    /// The response header whose seconds a rate-limit answer asks every request to wait.
    reset_header: Option<String>,
    destinations: Mutex<HashMap<String, Destination>>,
}

#[derive(Debug, Default)]
struct Destination {
    /// Send times reserved within the last second (and ahead), in order.
    slots: VecDeque<Instant>,
    /// No request goes out before this (a rate-limit answer's reset).
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// A limiter allowing `max_rps` requests per second to each destination (0: unlimited),
    /// pausing a destination for the seconds its `reset_header` gives on a rate-limit answer.
    pub fn new(max_rps: usize, reset_header: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            max_rps,
            reset_header,
            destinations: Mutex::new(HashMap::new()),
        })
    }

    /// The header a rate-limit answer's wait is read from, if the upstream has one.
    pub fn reset_header(&self) -> Option<&str> {
        self.reset_header.as_deref()
    }

    /// Reserves the earliest moment a request to `destination` may go out, from `now`.
    pub fn reserve(&self, destination: &str, now: Instant) -> Instant {
        let mut all = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
        let d = all.entry(destination.to_string()).or_default();
        while d
            .slots
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW)
        {
            d.slots.pop_front();
        }
        let mut at = now.max(d.paused_until.unwrap_or(now));
        if self.max_rps == 0 {
            return at;
        }
        if d.slots.len() >= self.max_rps {
            at = at.max(d.slots[d.slots.len() - self.max_rps] + WINDOW + MARGIN);
        }
        if let Some(&last) = d.slots.back() {
            at = at.max(last);
        }
        d.slots.push_back(at);
        at
    }

    /// An answer asked to wait `reset`: holds every request to `destination` until then.
    pub fn pause(&self, destination: &str, reset: Duration, now: Instant) {
        let mut all = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
        let d = all.entry(destination.to_string()).or_default();
        let until = now + reset;
        d.paused_until = Some(d.paused_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_declares_the_limit_and_the_operator_may_set_another() {
        let spec = serde_json::json!({"connectionSpecification": {
            "x-rate-limit": {"requests_per_second": 20, "reset_header": "x-reset"},
            "x-uncounted-paths": ["/auth/"]
        }});
        let declared = DeclaredLimit::of_spec(&spec);
        assert_eq!(declared.max_rps, 20);
        assert_eq!(declared.limiter(None).max_rps, 20);
        assert_eq!(declared.limiter(Some(5)).max_rps, 5);
        assert_eq!(
            declared.limiter(Some(0)).max_rps,
            0,
            "the operator's no limit"
        );
        assert_eq!(declared.limiter(None).reset_header(), Some("x-reset"));
        assert_eq!(uncounted_paths(&spec), ["/auth/"]);
        let silent = DeclaredLimit::of_spec(&serde_json::json!({"connectionSpecification": {}}));
        assert_eq!(silent, DeclaredLimit::default());
        assert!(uncounted_paths(&serde_json::json!({})).is_empty());
    }

    /// The most slots any one-second window holds.
    fn busiest_second(slots: &[Instant]) -> usize {
        slots
            .iter()
            .map(|&start| {
                slots
                    .iter()
                    .filter(|&&t| t >= start && t < start + WINDOW)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn no_second_holds_more_than_the_quota() {
        let limiter = RateLimiter::new(20, None);
        let now = Instant::now();
        let slots: Vec<Instant> = (0..100).map(|_| limiter.reserve("h", now)).collect();
        assert_eq!(busiest_second(&slots), 20);
        assert_eq!(slots[19], now, "a burst up to the quota goes at once");
        assert!(slots[20] >= now + WINDOW);
        assert!(
            slots[99] < now + Duration::from_secs(5),
            "and no slower than the quota"
        );
        let other = limiter.reserve("other", now);
        assert_eq!(other, now, "destinations are counted apart");
    }

    #[test]
    fn a_pause_holds_every_request_until_the_reset() {
        let limiter = RateLimiter::new(0, None);
        let now = Instant::now();
        assert_eq!(limiter.reserve("h", now), now);
        limiter.pause("h", Duration::from_secs(3), now);
        assert_eq!(limiter.reserve("h", now), now + Duration::from_secs(3));
        assert_eq!(
            limiter.reserve("h", now + Duration::from_secs(4)),
            now + Duration::from_secs(4)
        );
    }
}
