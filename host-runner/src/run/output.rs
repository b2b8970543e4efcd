//! The run's output in the CLI and the library: the host contract's [`RunReport`] over the
//! caller's [`Sink`], with an [`Echo`] that writes human-readable lines (and live progress)
//! on stderr when asked. Shared between the store (connector calls) and the watchdog.

use crate::run::progress::Progress;
use protocol::{Level, Observer, RunReport, Sink, Status};
use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

/// The caller's sink, as a run holds it.
pub type BoxedSink = Box<dyn Sink + Send>;

/// The run's report: messages to the sink, lines for people through [`Echo`].
pub type Output = RunReport<BoxedSink, Echo>;

/// An `Output` shared between the store (connector calls) and the watchdog.
pub type SharedOutput = Arc<Mutex<Output>>;

/// Locks a shared output, recovering it if a thread panicked while holding it.
pub fn lock(output: &SharedOutput) -> MutexGuard<'_, Output> {
    output
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A new output to `sink`, showing logs at `min_level` or more severe; `echo` also writes
/// them on stderr.
pub fn output(sink: BoxedSink, min_level: Level, echo: bool) -> Output {
    RunReport::new(
        sink,
        min_level,
        Echo {
            stderr: echo,
            progress: None,
        },
    )
}

/// What the CLI shows on stderr: the report's lines, above live progress bars when stderr is
/// a terminal.
pub struct Echo {
    stderr: bool,
    progress: Option<Progress>,
}

impl Echo {
    /// Draws live progress on stderr, if it is a terminal.
    pub fn show_progress(&mut self) {
        self.progress = Progress::on_terminal();
    }
}

impl Observer for Echo {
    fn note(&mut self, level: Level, message: &str) {
        if !self.stderr {
            return;
        }
        match &self.progress {
            Some(bar) => bar.println(&format_line(level, message)),
            None => stderr_line(level, message),
        }
    }

    fn page(&mut self, stream: &str, records: u64) {
        if let Some(bar) = &mut self.progress {
            bar.page(stream, records);
        }
    }

    fn ended(&mut self, stream: &str, status: Status) {
        if let Some(bar) = &mut self.progress {
            bar.finish(stream, status.name());
        }
    }
}

/// Writes one log line on stderr: the level, then `message` with its control characters
/// escaped, so neither a component nor a server can forge lines or drive the terminal.
pub fn stderr_line(level: Level, message: &str) {
    eprintln!("{}", format_line(level, message));
}

/// A log line as stderr shows it.
fn format_line(level: Level, message: &str) -> String {
    let level = format!("{level:?}").to_uppercase();
    format!("{level:<5} {}", escape_controls(message))
}

/// `text` with control characters (C0, DEL, C1), line and paragraph separators and bidi
/// overrides written as Rust escapes (`\n`, `\u{1b}`).
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain 文字"), "plain 文字");
        assert_eq!(
            escape_controls("a\u{1b}[2Jb\nINFO forged\r\u{2028}\u{202e}"),
            "a\\u{1b}[2Jb\\nINFO forged\\r\\u{2028}\\u{202e}"
        );
    }
}
