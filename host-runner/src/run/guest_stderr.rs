//! The component's stderr: split into lines, each logged on the runner's stderr with a prefix
//! and its control characters escaped, bounded per run.

use crate::run::output::stderr_line;
use protocol::{Level, Secrets};
use std::io;
use std::sync::{Arc, Mutex};

/// Most bytes of guest stderr shown per run; the rest is dropped with one note.
const GUEST_STDERR_LIMIT: usize = 64 << 10;
/// Longest guest stderr line shown whole; longer ones are cut.
const GUEST_LINE_LIMIT: usize = 4096;

/// The component's stderr, as the store's WASI context takes it.
#[derive(Clone, Default)]
pub struct GuestStderr {
    state: Arc<Mutex<GuestLines>>,
}

#[derive(Default)]
struct GuestLines {
    pending: Vec<u8>,
    shown: usize,
    /// Masked in every line shown.
    secrets: Secrets,
}

impl GuestStderr {
    /// The component's stderr, with the run's `secrets` masked.
    pub fn new(secrets: Secrets) -> Self {
        let lines = GuestLines {
            pending: Vec::new(),
            shown: 0,
            secrets,
        };
        Self {
            state: Arc::new(Mutex::new(lines)),
        }
    }

    fn take(&self, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for &byte in bytes {
            if byte == b'\n' || state.pending.len() >= GUEST_LINE_LIMIT {
                let line = std::mem::take(&mut state.pending);
                state.emit(&line);
            }
            if byte != b'\n' {
                state.pending.push(byte);
            }
        }
    }
}

impl GuestLines {
    fn emit(&mut self, line: &[u8]) {
        if self.shown > GUEST_STDERR_LIMIT {
            return;
        }
        self.shown += line.len() + 1;
        let text = String::from_utf8_lossy(line);
        let text = self.secrets.scrub(&text);
        if self.shown > GUEST_STDERR_LIMIT {
            stderr_line(Level::Warn, "component stderr: (more output dropped)");
        } else {
            stderr_line(Level::Warn, &format!("component stderr: {text}"));
        }
    }
}

impl Drop for GuestLines {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for GuestStderr {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for GuestStderr {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.take(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
