//! The host contract as data: scripted sequences of host calls (`conformance/cases.json`) with
//! the exact lines a host must print for them and the exit code it must end with. This module
//! reads the cases, puts lines in the form they are compared in ([`comparable`]), and runs a
//! case through [`RunReport`] ([`run_case`]); every host runs the same cases through its own
//! code: protocol's tests here, the edge build's (`edge/tests/conformance.rs`) and the Node
//! host's (`hosts/node/test/conformance.js`, compared by `tests/e2e/node_host.rs`).
//!
//! A case: `name`, `operation` (`read` or `check`), `calls` (each one host call of the
//! `source` world: `{"status": [stream, "started"|"complete"|"incomplete"]}`,
//! `{"records": [stream, [record JSON text...]]}`, `{"state": [stream, state JSON text]}`,
//! `{"fail": [stream, error]}`, `{"log": [level, message]}`, `{"requests": [stream, n]}`; a
//! call the host must refuse carries `"refused"`: the refusal's message, or
//! `{"invalid": index}`), `end` (what the export returned: `"ok"`, `{"error": error}`, or
//! `{"runner": message}` for a host failure such as a trap), `lines` and `exit`. An `error` is
//! `{"category": WIT name | {"rate-limited": ms}, "message", "upstream_code", "request_id"}`.

use crate::{
    ConnectorFailure, Ending, ErrorCategory, ErrorKind, Level, ProtocolLines, Refusal, Report,
    RunReport, Sink, Status,
};
use serde_json::Value;
use std::time::Duration;

/// The cases, as data.
pub const CASES: &str = include_str!("../conformance/cases.json");

/// Every case.
pub fn cases() -> Vec<Value> {
    serde_json::from_str::<Value>(CASES)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// A line as the cases compare it: `emitted_at` is 0, and the summary LOG keeps its counts
/// but not its times (`in _ s`) nor a host's figures after the total.
pub fn comparable(mut line: Value) -> Value {
    if let Some(at) = line.pointer_mut("/trace/emitted_at") {
        *at = Value::from(0);
    }
    if let Some(at) = line.pointer_mut("/record/emitted_at") {
        *at = Value::from(0);
    }
    if let Some(Value::String(message)) = line.pointer_mut("/log/message")
        && message.starts_with("summary: ")
    {
        *message = masked_summary(message);
    }
    line
}

/// A summary with each `in N.N s` as `in _ s` and the host's figures after the total dropped.
fn masked_summary(message: &str) -> String {
    let mut parts: Vec<String> = message.split("; ").map(mask_seconds).collect();
    if let Some(total) = parts.first_mut()
        && let Some(at) = total.find(" s: ")
    {
        total.truncate(at + 2);
    }
    parts.join("; ")
}

fn mask_seconds(part: &str) -> String {
    match part.rfind(" in ") {
        Some(at) => {
            let rest = &part[at + 4..];
            let end = rest.find(" s").unwrap_or(rest.len());
            format!("{} in _{}", &part[..at], &rest[end..])
        }
        None => part.to_string(),
    }
}

/// A case's error as the contract's connector failure.
pub fn failure_of(error: &Value) -> ConnectorFailure {
    let category = match &error["category"] {
        Value::String(name) => ErrorCategory::ALL
            .into_iter()
            .find(|c| c.wit_name() == name)
            .unwrap_or(ErrorCategory::Internal),
        other => ErrorCategory::RateLimited(other["rate-limited"].as_u64()),
    };
    ConnectorFailure {
        category,
        message: error["message"].as_str().unwrap_or_default().to_string(),
        upstream_code: error["upstream_code"].as_i64(),
        request_id: error["request_id"].as_str().map(str::to_string),
    }
}

/// What running a case through [`RunReport`] gave: the lines (comparable), the exit code,
/// and each call's refusal as the case spells it (None when taken).
pub struct CaseRun {
    pub lines: Vec<Value>,
    pub exit: u8,
    pub refusals: Vec<Option<Value>>,
}

/// A refusal as cases spell it.
pub fn refusal_value(refusal: &Refusal) -> Value {
    match refusal {
        Refusal::Invalid { index, .. } => serde_json::json!({ "invalid": index }),
        Refusal::Closed(why) | Refusal::StreamEnded(why) => Value::from(why.as_str()),
    }
}

/// Runs `case` through the contract's own [`RunReport`], as host-runner does, into protocol
/// lines.
pub fn run_case(case: &Value) -> CaseRun {
    let mut buffer = Vec::new();
    let (exit, refusals) = drive(case, ProtocolLines::new(&mut buffer));
    let lines = String::from_utf8_lossy(&buffer)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .map(comparable)
        .collect();
    CaseRun {
        lines,
        exit,
        refusals,
    }
}

/// Runs `case` through [`RunReport`] into `sink` (a host's own, such as the Python package's
/// channel to Python); returns the exit code and each call's refusal as the case spells it.
pub fn drive<S: Sink>(case: &Value, sink: S) -> (u8, Vec<Option<Value>>) {
    let mut refusals = Vec::new();
    let mut out = RunReport::new(sink, Level::Info, ());
    for call in case["calls"].as_array().into_iter().flatten() {
        refusals.push(apply(&mut out, call).err().map(|r| refusal_value(&r)));
    }
    let failure = match &case["end"] {
        Value::Object(end) if end.contains_key("error") => {
            Some(Report::connector(failure_of(&end["error"]), None))
        }
        Value::Object(end) => {
            let message = end["runner"].as_str().unwrap_or_default();
            Some(Report::runner(message, message, ErrorKind::Internal))
        }
        _ => None,
    };
    let check = case["operation"] == "check";
    if check && failure.is_none() {
        out.connection_status(true, None);
    }
    let ending = out.finish(failure, check);
    if !check {
        out.summary(Duration::ZERO, "");
    }
    out.flush();
    let exit = match ending {
        Ending::Succeeded | Ending::CheckFailed(_) => 0,
        Ending::Failed(kind) => kind.exit_code(),
    };
    (exit, refusals)
}

/// One host call of a case.
fn apply<S: Sink>(out: &mut RunReport<S>, call: &Value) -> Result<(), Refusal> {
    let args = |name: &str| call[name].as_array().cloned().unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(a) = call.get("status").map(|_| args("status")) {
        let status = match a[1].as_str() {
            Some("started") => Status::Started,
            Some("complete") => Status::Complete,
            _ => Status::Incomplete,
        };
        out.status(&text(&a[0]), status);
    } else if let Some(a) = call.get("records").map(|_| args("records")) {
        let records = a[1]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| text(r).into_bytes())
            .collect();
        out.records(&text(&a[0]), records)?;
    } else if let Some(a) = call.get("state").map(|_| args("state")) {
        out.state(&text(&a[0]), &text(&a[1]))?;
    } else if let Some(a) = call.get("fail").map(|_| args("fail")) {
        out.fail_stream(&text(&a[0]), &Report::connector(failure_of(&a[1]), None));
    } else if let Some(a) = call.get("log").map(|_| args("log")) {
        let level = match a[0].as_str() {
            Some("error") => Level::Error,
            Some("warn") => Level::Warn,
            Some("info") => Level::Info,
            Some("debug") => Level::Debug,
            _ => Level::Trace,
        };
        out.log(level, &text(&a[1]));
    } else if let Some(a) = call.get("requests").map(|_| args("requests")) {
        out.stream_requests(&text(&a[0]), a[1].as_u64().unwrap_or(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_keep_counts_and_drop_times_and_figures() {
        assert_eq!(
            masked_summary(
                "summary: read 3 records of 2 streams in 1.2 s: 7 requests, 5 of them counted; \
                 stream `a`: 1 records with 2 requests in 0.3 s, COMPLETE"
            ),
            "summary: read 3 records of 2 streams in _ s; stream `a`: 1 records with 2 \
             requests in _ s, COMPLETE"
        );
    }
}
