//! The run's clock: waits for the worker thread, stops it at the wall-clock cap (counted from
//! the export call) or when a [`Stop`] is requested, and takes the output back from it.

use super::failure::Failure;
use crate::run::output::{Output, SharedOutput};
use crate::{ErrorKind, Stop};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the worker thread reports.
pub enum WorkerEvent {
    /// The component is instantiated and its export is being called: the clock starts.
    Running,
    Done(Result<(), Failure>),
}

/// How often the watchdog looks at the stop request.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Waits for the worker; the wall-clock cap counts from the export call (compiling the
/// component is not the connector's time).
pub fn watch(
    progress: &mpsc::Receiver<WorkerEvent>,
    timeout: Duration,
    timeout_setting: &str,
    stop: &Stop,
) -> Result<(), Failure> {
    let mut deadline: Option<Instant> = None;
    loop {
        if let Some(reason) = stop.requested() {
            return Err(Failure::Stopped(reason));
        }
        let wait = deadline.map_or(STOP_POLL, |d| {
            d.saturating_duration_since(Instant::now()).min(STOP_POLL)
        });
        match progress.recv_timeout(wait) {
            Ok(WorkerEvent::Running) => deadline = Some(Instant::now() + timeout),
            Ok(WorkerEvent::Done(result)) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Failure::Host(
                        anyhow::anyhow!(
                            "the connector did not finish within {} s ({timeout_setting})",
                            timeout.as_secs()
                        ),
                        ErrorKind::Limit,
                    ));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::Host(
                    anyhow::anyhow!("the connector thread stopped unexpectedly"),
                    ErrorKind::Internal,
                ));
            }
        }
    }
}

/// The output, unless another thread holds it for longer than `wait`.
pub fn lock_within(
    output: &SharedOutput,
    wait: Duration,
) -> Option<std::sync::MutexGuard<'_, Output>> {
    let deadline = Instant::now() + wait;
    loop {
        match output.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}
