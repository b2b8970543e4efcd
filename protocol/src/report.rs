//! The failure table every host follows: a connector's error category, or a failure of the
//! runner, becomes a [`Report`] with its [`ErrorKind`], Airbyte [`FailureType`], exit code and
//! internal text. host-runner, the edge build and the Python package use this code; the Node
//! host's copy is checked against [`contract`] by a test.

use crate::FailureType;
use serde_json::{Value, json};

/// Exit codes of a run, one per kind of failure a script may want to tell apart.
pub mod exit {
    /// Complete: every message was written (a failed `check` too: its status says so).
    pub const OK: u8 = 0;
    /// A fault in the component or the runner (also a cap or a stop by the caller).
    pub const INTERNAL: u8 = 1;
    /// The command line is wrong.
    pub const FLAGS: u8 = 2;
    /// The output could not be written.
    pub const OUTPUT: u8 = 3;
    /// The config (or an input file) is wrong.
    pub const CONFIG: u8 = 4;
    /// Credentials rejected or lacking access.
    pub const AUTH: u8 = 5;
    /// May pass if run again later.
    pub const TRANSIENT: u8 = 6;
    /// The sandbox refused a request.
    pub const SANDBOX: u8 = 7;
}

/// What kind of failure a TRACE ERROR reports, finer than [`FailureType`]: what an embedding
/// language maps to its exception classes and the CLI to its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input: an unreadable file, JSON that does not parse.
    Input,
    /// The connector's config is wrong (a field, an id).
    Config,
    /// The upstream rejected the credentials.
    Auth,
    /// The credentials lack access to a resource.
    Permission,
    /// A resource does not exist.
    NotFound,
    /// The upstream kept rate-limiting past the retries.
    RateLimited,
    /// A failure that may pass later (timeouts, 5xx, dropped connections).
    Transient,
    /// The upstream answered something the connector cannot understand.
    BadResponse,
    /// The sandbox refused a request (host not granted, or an address it never dials).
    Sandbox,
    /// The component hit the memory cap or the wall-clock cap.
    Limit,
    /// The run was stopped from outside.
    Stopped,
    /// A fault in the component or the runner.
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of the table.
    pub const ALL: [ErrorKind; 12] = [
        Self::Input,
        Self::Config,
        Self::Auth,
        Self::Permission,
        Self::NotFound,
        Self::RateLimited,
        Self::Transient,
        Self::BadResponse,
        Self::Sandbox,
        Self::Limit,
        Self::Stopped,
        Self::Internal,
    ];

    /// The kind's name in snake case, as embedding languages spell it (`not_found`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Config => "config",
            Self::Auth => "auth",
            Self::Permission => "permission",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Transient => "transient",
            Self::BadResponse => "bad_response",
            Self::Sandbox => "sandbox",
            Self::Limit => "limit",
            Self::Stopped => "stopped",
            Self::Internal => "internal",
        }
    }

    /// The exit code a run failing with this kind ends with.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Input | Self::Config | Self::NotFound => exit::CONFIG,
            Self::Auth | Self::Permission => exit::AUTH,
            Self::Transient | Self::RateLimited => exit::TRANSIENT,
            Self::Sandbox => exit::SANDBOX,
            Self::BadResponse | Self::Limit | Self::Stopped | Self::Internal => exit::INTERNAL,
        }
    }
}

/// A connector's error category, as the WIT `error-category` has it (hosts convert their
/// bindings' type into this one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    Config,
    Auth,
    Permission,
    NotFound,
    /// Milliseconds the upstream asked to wait, when it said.
    RateLimited(Option<u64>),
    Transient,
    BadResponse,
    Internal,
}

impl ErrorCategory {
    /// One of each category (a rate limit without a wait), in the WIT's order.
    pub const ALL: [ErrorCategory; 8] = [
        Self::Config,
        Self::Auth,
        Self::Permission,
        Self::NotFound,
        Self::RateLimited(None),
        Self::Transient,
        Self::BadResponse,
        Self::Internal,
    ];

    /// The category's WIT name (`not-found`).
    pub fn wit_name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Auth => "auth",
            Self::Permission => "permission",
            Self::NotFound => "not-found",
            Self::RateLimited(_) => "rate-limited",
            Self::Transient => "transient",
            Self::BadResponse => "bad-response",
            Self::Internal => "internal",
        }
    }

    /// Who can fix a failure of this category.
    pub fn failure_type(self) -> FailureType {
        match self {
            Self::Config | Self::Auth | Self::Permission | Self::NotFound => FailureType::Config,
            Self::RateLimited(_) | Self::Transient => FailureType::Transient,
            Self::BadResponse | Self::Internal => FailureType::System,
        }
    }

    /// The kind of a failure of this category (unless the sandbox refused a request).
    pub fn kind(self) -> ErrorKind {
        match self {
            Self::Config => ErrorKind::Config,
            Self::Auth => ErrorKind::Auth,
            Self::Permission => ErrorKind::Permission,
            Self::NotFound => ErrorKind::NotFound,
            Self::RateLimited(_) => ErrorKind::RateLimited,
            Self::Transient => ErrorKind::Transient,
            Self::BadResponse => ErrorKind::BadResponse,
            Self::Internal => ErrorKind::Internal,
        }
    }

    /// The category as the TRACE's `internal_message` names it:
    /// `ErrorCategory::RateLimited(Some(1500))`, `ErrorCategory::NotFound`.
    pub fn internal_name(self) -> String {
        let name = match self {
            Self::Config => "Config",
            Self::Auth => "Auth",
            Self::Permission => "Permission",
            Self::NotFound => "NotFound",
            Self::RateLimited(Some(ms)) => {
                return format!("ErrorCategory::RateLimited(Some({ms}))");
            }
            Self::RateLimited(None) => "RateLimited(None)",
            Self::Transient => "Transient",
            Self::BadResponse => "BadResponse",
            Self::Internal => "Internal",
        };
        format!("ErrorCategory::{name}")
    }
}

/// An error a connector returned, as the WIT `connector-error` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorFailure {
    pub category: ErrorCategory,
    /// For people; never a secret.
    pub message: String,
    /// The upstream's own error code, when an answer carried one.
    pub upstream_code: Option<i64>,
    /// The upstream's id of the failed request, to quote to its support.
    pub request_id: Option<String>,
}

/// Whose failure a report is: in a `check`, only the runner's own failures add a TRACE ERROR
/// beside the FAILED status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The caller's input (config, catalog or state) could not be used.
    Input,
    /// The connector reported it.
    Connector,
    /// The runner, the sandbox's caps or a stop: the component could not finish.
    Runner,
}

/// A failure as a TRACE ERROR reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// For people: what went wrong and what to do.
    pub message: String,
    /// For operators.
    pub internal: String,
    pub failure_type: FailureType,
    pub kind: ErrorKind,
    pub blame: Blame,
    /// The upstream's error code, when the connector reported one.
    pub upstream_code: Option<i64>,
    /// The upstream's request id, when the connector reported one.
    pub request_id: Option<String>,
}

impl Report {
    /// A connector's error; `refusal` is the sandbox's reason when it refused a request
    /// meanwhile (the failure is then the sandbox's kind, its reason appended).
    pub fn connector(error: ConnectorFailure, refusal: Option<String>) -> Self {
        let mut internal = format!(
            "connector error category: {}",
            error.category.internal_name()
        );
        if let Some(code) = error.upstream_code {
            internal.push_str(&format!("; upstream code {code}"));
        }
        if let Some(id) = &error.request_id {
            internal.push_str(&format!("; request id {id}"));
        }
        let kind = match refusal {
            Some(_) => ErrorKind::Sandbox,
            None => error.category.kind(),
        };
        Self {
            message: match refusal {
                Some(refusal) => format!("{}. {refusal}", error.message),
                None => error.message,
            },
            internal,
            failure_type: error.category.failure_type(),
            kind,
            blame: Blame::Connector,
            upstream_code: error.upstream_code,
            request_id: error.request_id,
        }
    }

    /// The caller's input cannot be used.
    pub fn input(message: impl Into<String>) -> Self {
        Self::of(message.into(), "invalid input".into(), FailureType::Config)
            .with(ErrorKind::Input, Blame::Input)
    }

    /// The runner's own failure (a trap, a cap, a connector that broke the contract).
    pub fn runner(
        message: impl Into<String>,
        internal: impl Into<String>,
        kind: ErrorKind,
    ) -> Self {
        Self::of(message.into(), internal.into(), FailureType::System).with(kind, Blame::Runner)
    }

    /// The connector returned while `stream` was still open.
    pub fn unfinished(stream: &str) -> Self {
        let message = format!("the connector returned without finishing stream `{stream}`");
        Self::runner(message.clone(), message, ErrorKind::Internal)
    }

    /// The run was stopped by `by` (`SIGINT`, `the caller`); `detail` for operators.
    pub fn stopped(by: &str, detail: &str) -> Self {
        let message = format!(
            "the run was interrupted by {by}; streams in progress are incomplete, and the last \
             STATE written for each is where the next read resumes"
        );
        Self::of(
            message,
            format!("stopped: {detail}"),
            FailureType::Transient,
        )
        .with(ErrorKind::Stopped, Blame::Runner)
    }

    fn of(message: String, internal: String, failure_type: FailureType) -> Self {
        Self {
            message,
            internal,
            failure_type,
            kind: ErrorKind::Internal,
            blame: Blame::Runner,
            upstream_code: None,
            request_id: None,
        }
    }

    fn with(mut self, kind: ErrorKind, blame: Blame) -> Self {
        self.kind = kind;
        self.blame = blame;
        self
    }
}

/// The table as data, for hosts written in other languages to be checked against: for each
/// WIT category its kind, failure type and internal name (with a sample wait for
/// `rate-limited`), and for each kind its exit code.
pub fn contract() -> Value {
    let categories: Vec<Value> = ErrorCategory::ALL
        .into_iter()
        .chain([ErrorCategory::RateLimited(Some(1500))])
        .map(|c| {
            let wait = match c {
                ErrorCategory::RateLimited(wait) => json!(wait),
                _ => Value::Null,
            };
            json!({
                "category": c.wit_name(),
                "wait_ms": wait,
                "kind": c.kind().name(),
                "failure_type": c.failure_type(),
                "internal": format!("connector error category: {}", c.internal_name()),
            })
        })
        .collect();
    let kinds: Vec<Value> = ErrorKind::ALL
        .into_iter()
        .map(|k| json!({"kind": k.name(), "exit_code": k.exit_code()}))
        .collect();
    json!({ "categories": categories, "kinds": kinds })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(category: ErrorCategory) -> ConnectorFailure {
        ConnectorFailure {
            category,
            message: "m".into(),
            upstream_code: None,
            request_id: None,
        }
    }

    #[test]
    fn internal_text_names_the_category_explicitly() {
        let report = Report::connector(failure(ErrorCategory::RateLimited(Some(5))), None);
        assert_eq!(
            report.internal,
            "connector error category: ErrorCategory::RateLimited(Some(5))"
        );
        let report = Report::connector(failure(ErrorCategory::NotFound), None);
        assert_eq!(
            report.internal,
            "connector error category: ErrorCategory::NotFound"
        );
        assert_eq!(report.failure_type, FailureType::Config);
        assert_eq!(report.kind.exit_code(), exit::CONFIG);
    }

    #[test]
    fn upstream_code_and_request_id_are_kept_and_named() {
        let mut error = failure(ErrorCategory::Permission);
        error.upstream_code = Some(1254302);
        error.request_id = Some("L1".into());
        let report = Report::connector(error, None);
        assert_eq!(report.upstream_code, Some(1254302));
        assert_eq!(report.request_id.as_deref(), Some("L1"));
        assert_eq!(
            report.internal,
            "connector error category: ErrorCategory::Permission; upstream code 1254302; \
             request id L1"
        );
    }

    #[test]
    fn a_refusal_makes_it_the_sandboxs_failure() {
        let report = Report::connector(
            failure(ErrorCategory::Transient),
            Some("sandbox refused".into()),
        );
        assert_eq!(report.kind, ErrorKind::Sandbox);
        assert_eq!(report.kind.exit_code(), exit::SANDBOX);
        assert_eq!(report.failure_type, FailureType::Transient);
        assert_eq!(report.message, "m. sandbox refused");
    }

    #[test]
    fn the_contract_lists_every_category_and_kind() {
        let table = contract();
        assert_eq!(table["categories"].as_array().map(Vec::len), Some(9));
        assert_eq!(table["kinds"].as_array().map(Vec::len), Some(12));
        assert_eq!(table["categories"][3]["kind"], "not_found");
        assert_eq!(table["categories"][8]["wait_ms"], 1500);
    }
}
