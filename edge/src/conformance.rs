//! The host contract's conformance cases (`protocol/conformance/cases.json`) run through the
//! edge build's own [`Lines`], the connector's `Output` as the edge writes it: each case's
//! lines and refusals must come out. Cases that end in a runner failure (a trap) have no
//! counterpart here: the edge runs the connector's code in its own component, and its exit
//! codes are HTTP statuses, so those are checked by the hosts that have them.

use crate::lines::Lines;
use feishu::error::{Category, ConnectorError, Upstream};
use feishu::host::{LogLevel, Output, StreamStatus};
use protocol::conformance::{cases, comparable};
use serde_json::Value;
use std::time::Duration;

/// A case's error as the connector's own.
fn connector_error(error: &Value) -> ConnectorError {
    let category = match error["category"].as_str() {
        Some("config") => Category::Config,
        Some("auth") => Category::Auth,
        Some("permission") => Category::Permission,
        Some("not-found") => Category::NotFound,
        Some("rate-limited") => Category::RateLimited(None),
        Some("transient") => Category::Transient,
        Some("bad-response") => Category::BadResponse,
        Some(_) => Category::Internal,
        None => Category::RateLimited(
            error["category"]["rate-limited"]
                .as_u64()
                .map(Duration::from_millis),
        ),
    };
    ConnectorError::new(category, error["message"].as_str().unwrap_or_default()).with_upstream(
        Upstream {
            code: error["upstream_code"].as_i64(),
            request_id: error["request_id"].as_str().map(str::to_string),
        },
    )
}

/// One call of a case; the refusal as cases spell it, if the call was refused.
fn apply(lines: &mut Lines<&mut Vec<u8>>, call: &Value) -> Option<String> {
    let (name, args) = call
        .as_object()?
        .iter()
        .find(|(key, _)| *key != "refused")?;
    let text = |i: usize| args[i].as_str().unwrap_or_default().to_string();
    let refused = match name.as_str() {
        "status" => {
            let status = match args[1].as_str() {
                Some("started") => StreamStatus::Started,
                Some("complete") => StreamStatus::Complete,
                _ => StreamStatus::Incomplete,
            };
            lines.stream_status(&text(0), status);
            Ok(())
        }
        "records" => {
            let records = args[1].as_array().into_iter().flatten();
            let records = records.map(|r| r.as_str().unwrap_or_default().as_bytes().to_vec());
            lines.emit_records(&text(0), records.collect())
        }
        "state" => lines.emit_state(&text(0), &text(1)),
        "fail" => {
            lines.fail_stream(&text(0), &connector_error(&args[1]));
            Ok(())
        }
        "log" => {
            let level = match args[0].as_str() {
                Some("error") => LogLevel::Error,
                Some("warn") => LogLevel::Warn,
                Some("info") => LogLevel::Info,
                _ => LogLevel::Debug,
            };
            lines.log(level, &text(1));
            Ok(())
        }
        "requests" => {
            lines.stream_requests(&text(0), args[1].as_u64().unwrap_or(0));
            Ok(())
        }
        _ => Ok(()),
    };
    refused.err().map(|error| error.message)
}

#[test]
fn the_edge_gives_every_conformance_case_its_lines() {
    for case in cases() {
        let name = case["name"].as_str().unwrap_or_default();
        if case["end"].get("runner").is_some() {
            continue;
        }
        let mut buffer = Vec::new();
        let mut refusals = Vec::new();
        {
            let mut lines = Lines::new(&mut buffer);
            for call in case["calls"].as_array().into_iter().flatten() {
                refusals.push(apply(&mut lines, call));
            }
            let result = match case["end"].get("error") {
                Some(error) => Err(connector_error(error)),
                None => Ok(()),
            };
            match case["operation"].as_str() {
                Some("check") => lines.connection_status(result),
                _ => lines.finish_read(result),
            }
            lines.flush();
        }
        let got: Vec<Value> = String::from_utf8_lossy(&buffer)
            .lines()
            .map(|l| comparable(serde_json::from_str(l).expect("a JSON line")))
            .collect();
        assert_eq!(Value::from(got), case["lines"], "lines of case `{name}`");
        let calls = case["calls"].as_array().cloned().unwrap_or_default();
        for (call, refusal) in calls.iter().zip(refusals) {
            // The edge sees a refusal as the connector's error: the stream-ended refusal's
            // message after "the host stopped taking output: "; an invalid item as "item N of
            // the page ...".
            match call.get("refused") {
                Some(Value::String(message)) => {
                    let refusal = refusal.unwrap_or_default();
                    assert!(refusal.ends_with(message.as_str()), "{refusal}");
                }
                Some(invalid) => {
                    let index = invalid["invalid"].as_u64().unwrap_or_default();
                    let message = refusal.unwrap_or_default();
                    assert!(
                        message.starts_with(&format!("item {index} of the page")),
                        "{message}"
                    );
                }
                None => assert_eq!(refusal, None, "{call} in case `{name}`"),
            }
        }
    }
}
