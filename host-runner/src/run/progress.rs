//! Live progress of a read on stderr, drawn only when stderr is a terminal: a line per stream
//! (records, pages, records/s), redrawn in place at most ten times a second. Log lines go
//! above the bars.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::time::Instant;

/// The bars of a run.
pub struct Progress {
    multi: MultiProgress,
    streams: HashMap<String, StreamBar>,
}

struct StreamBar {
    bar: ProgressBar,
    started: Instant,
    records: u64,
    pages: u64,
}

impl Progress {
    /// Progress on stderr, if stderr is a terminal.
    pub fn on_terminal() -> Option<Self> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        Some(Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            streams: HashMap::new(),
        })
    }

    /// A page of `count` records of `stream` was written.
    pub fn page(&mut self, stream: &str, count: u64) {
        let entry = self.streams.entry(stream.to_string()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(stream.to_string());
            StreamBar {
                bar,
                started: Instant::now(),
                records: 0,
                pages: 0,
            }
        });
        entry.records += count;
        entry.pages += 1;
        let secs = entry.started.elapsed().as_secs_f64().max(1e-3);
        entry.bar.set_message(format!(
            "{} records, {} pages, {:.0} records/s",
            entry.records,
            entry.pages,
            entry.records as f64 / secs
        ));
        entry.bar.tick();
    }

    /// The stream ended: its line stays, with the final figures.
    pub fn finish(&mut self, stream: &str, status: &str) {
        if let Some(entry) = self.streams.get(stream) {
            entry.bar.finish_with_message(format!(
                "{} records, {} pages, {status}",
                entry.records, entry.pages
            ));
        }
    }

    /// Prints `line` above the bars.
    pub fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }
}
