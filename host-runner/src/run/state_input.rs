//! The `--state` file in every shape a user or a platform hands back: a JSON array of
//! AirbyteStateMessage, a single one, AirbyteMessage wrappers (`{"type":"STATE","state":...}`),
//! or newline-delimited lines of either (such as the whole stdout of the previous read, whose
//! other messages are skipped). What reaches the connector is one JSON document: an array of
//! state messages, the latest per stream, or a single object that is not a message (a bare
//! `{stream: state}` map or a LEGACY `data` map), unchanged.

use serde_json::Value;

/// The state text for the connector, or why the file cannot be a state.
pub fn normalize(text: &str) -> Result<String, String> {
    let documents = documents(text)?;
    if let [single] = documents.as_slice()
        && single.is_object()
        && !is_wrapper(single)
        && !is_state_message(single)
    {
        return Ok(single.to_string());
    }
    let mut messages: Vec<Value> = Vec::new();
    for (i, item) in documents
        .into_iter()
        .flat_map(|d| match d {
            Value::Array(items) => items,
            other => vec![other],
        })
        .enumerate()
    {
        let message = match item {
            wrapper if is_wrapper(&wrapper) => wrapper["state"].clone(),
            message if is_state_message(&message) => message,
            // Other protocol lines of a saved read (RECORD, LOG, TRACE...) carry no state.
            other if other.get("type").and_then(Value::as_str).is_some() => continue,
            other => {
                return Err(format!(
                    "entry {i} is not a state message: the state must be a JSON array of state \
                     messages ({{\"type\":\"STREAM\",\"stream\":...}}), one such message, or \
                     the STATE lines of a previous read; got {}",
                    preview(&other)
                ));
            }
        };
        let key = stream_key(&message);
        match messages
            .iter_mut()
            .find(|m| key.is_some() && stream_key(m) == key)
        {
            Some(earlier) => *earlier = message,
            None => messages.push(message),
        }
    }
    Ok(Value::Array(messages).to_string())
}

/// The JSON documents of the file: one, or one per non-empty line.
fn documents(text: &str) -> Result<Vec<Value>, String> {
    if text.trim().is_empty() {
        return Ok(vec![Value::Array(Vec::new())]);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Ok(vec![value]),
        Err(whole) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line).map_err(|e| {
                    if n == 0 {
                        format!("is not valid JSON: {whole}")
                    } else {
                        format!("line {} is not valid JSON: {e}", n + 1)
                    }
                })
            })
            .collect(),
    }
}

/// `{"type":"STATE","state":{...}}`: an AirbyteMessage carrying a state.
fn is_wrapper(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("STATE")
        && value.get("state").is_some_and(Value::is_object)
}

/// An AirbyteStateMessage (`type` STREAM, GLOBAL or LEGACY, or a `stream` entry).
fn is_state_message(value: &Value) -> bool {
    let kind = value.get("type").and_then(Value::as_str);
    matches!(kind, Some("STREAM" | "GLOBAL" | "LEGACY"))
        || (kind.is_none() && value.get("stream").is_some())
}

/// The stream (name and namespace) a state message is for.
fn stream_key(message: &Value) -> Option<(Value, Value)> {
    let descriptor = message.pointer("/stream/stream_descriptor")?;
    Some((
        descriptor.get("name").cloned().unwrap_or(Value::Null),
        descriptor.get("namespace").cloned().unwrap_or(Value::Null),
    ))
}

fn preview(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(stream: &str, cursor: i64) -> Value {
        json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": stream},
               "stream_state": {"last_modified_time": cursor}}, "sourceStats": {"recordCount": 1.0}})
    }

    fn normalized(text: &str) -> Value {
        serde_json::from_str(&normalize(text).unwrap()).unwrap()
    }

    #[test]
    fn every_shape_becomes_an_array_of_state_messages() {
        let a = state("a", 1);
        let b = state("b", 2);
        let want = json!([a, b]);
        let wrap = |s: &Value| json!({"type": "STATE", "state": s});
        for text in [
            json!([a, b]).to_string(),
            json!([wrap(&a), wrap(&b)]).to_string(),
            format!("{}\n{}\n", wrap(&a), wrap(&b)),
            format!("{a}\n\n{b}"),
            format!(
                "{}\n{}\n{}\n{}",
                json!({"type": "RECORD", "record": {"stream": "a", "data": {}, "emitted_at": 1}}),
                wrap(&a),
                json!({"type": "LOG", "log": {"level": "INFO", "message": "x"}}),
                wrap(&b)
            ),
        ] {
            assert_eq!(normalized(&text), want, "{text}");
        }
        assert_eq!(normalized(&a.to_string()), json!([a]));
        assert_eq!(normalized(&wrap(&a).to_string()), json!([a]));
        assert_eq!(normalized(""), json!([]));
        assert_eq!(normalized("[]"), json!([]));
    }

    #[test]
    fn the_latest_state_of_a_stream_wins() {
        let text = format!("{}\n{}\n{}", state("a", 1), state("b", 5), state("a", 3));
        assert_eq!(normalized(&text), json!([state("a", 3), state("b", 5)]));
    }

    #[test]
    fn maps_that_are_not_messages_pass_unchanged() {
        let bare = json!({"records": {"last_modified_time": 7}});
        assert_eq!(normalized(&bare.to_string()), bare);
        let legacy = json!({"data": {"records": {}}});
        assert_eq!(normalized(&legacy.to_string()), legacy);
    }

    #[test]
    fn bad_files_are_explained() {
        assert!(
            normalize("{nope")
                .unwrap_err()
                .contains("is not valid JSON")
        );
        let e = normalize(&format!("{}\n{{nope", state("a", 1))).unwrap_err();
        assert!(e.contains("line 2 is not valid JSON"), "{e}");
        let e = normalize("[1, 2]").unwrap_err();
        assert!(e.contains("entry 0 is not a state message"), "{e}");
    }
}
