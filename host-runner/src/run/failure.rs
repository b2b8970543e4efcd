//! How a run ended before it is reported ([`Failure`]), and the report the contract makes of
//! it ([`describe`]). Shared by the run, its inputs and its watchdog.

use crate::{ErrorKind, StopReason};
use protocol::Report;

/// How a run ended, before it is reported.
pub enum Failure {
    /// The caller's input is wrong (unreadable file, not JSON).
    Input(String),
    /// The connector reported an error, as it is reported.
    Connector(Report),
    /// The component could not run, trapped or misbehaved; `kind` is `Limit` when a cap
    /// stopped it.
    Host(anyhow::Error, ErrorKind),
    /// The caller (or a signal) stopped the run.
    Stopped(StopReason),
}

/// A failure as the contract reports it.
pub fn describe(failure: &Failure) -> Report {
    match failure {
        Failure::Input(message) => Report::input(message.clone()),
        Failure::Connector(connector) => connector.clone(),
        Failure::Host(error, kind) => {
            Report::runner(error.to_string(), format!("{error:#}"), *kind)
        }
        Failure::Stopped(reason) => Report::stopped(&reason.to_string(), &format!("{reason:?}")),
    }
}

/// The component could not run (a bug or an unexpected state, not a cap).
pub fn internal(error: anyhow::Error) -> Failure {
    Failure::Host(error, ErrorKind::Internal)
}
