//! Where each stream of a read stands, kept the same way by every host: its status (a stream
//! starts with its first records and takes none once it has ended), the records since its
//! last STATE (the count each STATE carries), its total, and when it started and how long it
//! took.

use crate::Status;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One stream's standing.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamProgress {
    pub since_state: u64,
    pub total: u64,
    pub status: Option<Status>,
    /// When the stream started, and how long it took once it ended.
    pub started: Option<Instant>,
    pub took: Option<Duration>,
    /// Requests to the upstream the stream took, when the connector reported them.
    pub requests: Option<u64>,
}

/// Every stream of a read, by name.
#[derive(Debug, Default)]
pub struct StreamLedger {
    streams: BTreeMap<String, StreamProgress>,
}

impl StreamLedger {
    /// Whether `stream` may take records: `Ok(true)` when it must first be marked STARTED,
    /// `Ok(false)` when it is under way, and why not once it has ended.
    pub fn admit(&self, stream: &str) -> Result<bool, String> {
        match self.streams.get(stream).and_then(|p| p.status) {
            None => Ok(true),
            Some(Status::Started) => Ok(false),
            Some(done) => Err(format!(
                "stream `{stream}` is already {}; no more records are accepted",
                done.name()
            )),
        }
    }

    /// Counts a page of `records` records of `stream`.
    pub fn count(&mut self, stream: &str, records: u64) {
        let progress = self.entry(stream);
        progress.since_state += records;
        progress.total += records;
    }

    /// The records of `stream` since its last STATE; the count starts again from zero.
    pub fn checkpoint(&mut self, stream: &str) -> u64 {
        std::mem::take(&mut self.entry(stream).since_state)
    }

    /// Records `status` of `stream`, with when it started or how long it took; returns its
    /// total of records.
    pub fn set_status(&mut self, stream: &str, status: Status) -> u64 {
        let progress = self.entry(stream);
        progress.status = Some(status);
        match status {
            Status::Started => progress.started = Some(Instant::now()),
            _ => progress.took = progress.started.map(|t| t.elapsed()),
        }
        progress.total
    }

    /// Notes the requests the connector reports `stream` took; a stream the run never saw
    /// (no records, no status) is not added for it.
    pub fn set_requests(&mut self, stream: &str, requests: u64) {
        if let Some(progress) = self.streams.get_mut(stream) {
            progress.requests = Some(requests);
        }
    }

    /// The streams that started and did not end.
    pub fn open(&self) -> Vec<String> {
        self.streams
            .iter()
            .filter(|(_, p)| p.status == Some(Status::Started))
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn get(&self, stream: &str) -> Option<&StreamProgress> {
        self.streams.get(stream)
    }

    /// Every stream, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &StreamProgress)> {
        self.streams.iter()
    }

    /// How many streams there are.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream has been seen.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Records of every stream.
    pub fn total(&self) -> u64 {
        self.streams.values().map(|p| p.total).sum()
    }

    fn entry(&mut self, stream: &str) -> &mut StreamProgress {
        self.streams.entry(stream.to_string()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_start_count_and_end() {
        let mut ledger = StreamLedger::default();
        assert_eq!(ledger.admit("a"), Ok(true));
        ledger.set_status("a", Status::Started);
        assert_eq!(ledger.admit("a"), Ok(false));
        ledger.count("a", 3);
        ledger.count("a", 2);
        assert_eq!(ledger.checkpoint("a"), 5);
        ledger.count("a", 1);
        assert_eq!(ledger.checkpoint("a"), 1);
        assert_eq!(ledger.checkpoint("b"), 0);
        assert_eq!(ledger.open(), ["a"]);
        assert_eq!(ledger.set_status("a", Status::Complete), 6);
        assert!(ledger.get("a").and_then(|p| p.took).is_some());
        assert!(ledger.open().is_empty());
        assert_eq!(
            ledger.admit("a"),
            Err("stream `a` is already COMPLETE; no more records are accepted".into())
        );
        assert_eq!(ledger.total(), 6);
    }
}
