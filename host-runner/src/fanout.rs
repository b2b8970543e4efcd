//! A read of several catalog streams at once: each stream in a sandboxed instance of its own
//! (its own store, memory cap and token), `concurrency` at a time, all under the run's grants,
//! rate limiter and clock. A stream whose instance fails is that stream's failure.

use crate::Settings;
use crate::egress::RunGrants;
use crate::engine::Runtime;
use crate::output::{SharedOutput, lock};
use crate::run::{Failure, connector_result, describe, internal};
use serde_json::{Value, json};
use std::sync::Mutex;

/// The entries of a configured catalog worth splitting over several instances. None without
/// a catalog (the connector then reads every stream it offers in one instance), with one
/// stream or fewer, or when the catalog is not one the connector would take as it is (the
/// sequential read then reports why).
pub fn stream_entries(catalog: Option<&str>) -> Option<Vec<Value>> {
    let catalog: Value = serde_json::from_str(catalog?).ok()?;
    let entries = catalog.get("streams")?.as_array()?.clone();
    let mut names = std::collections::HashSet::new();
    let distinct = entries.iter().all(|e| {
        e.pointer("/stream/name")
            .and_then(Value::as_str)
            .is_some_and(|name| names.insert(name.to_string()))
    });
    (distinct && entries.len() > 1).then_some(entries)
}

/// What every instance of a concurrent read shares.
pub struct Shared<'a> {
    pub runtime: &'a Runtime,
    pub settings: &'a Settings,
    pub output: &'a SharedOutput,
    pub grants: &'a RunGrants,
    pub config: &'a str,
    pub state: Option<&'a str>,
}

/// Reads each catalog entry in an instance of its own, `settings.concurrency` at a time. A
/// stream whose instance fails is that stream's failure; the others go on.
pub fn read_concurrently(shared: &Shared<'_>, entries: Vec<Value>) {
    let workers = shared.settings.concurrency.min(entries.len()).max(1);
    let queue = Mutex::new(
        entries
            .into_iter()
            .collect::<std::collections::VecDeque<_>>(),
    );
    let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(entry) = next() {
                    let name = entry
                        .pointer("/stream/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if let Err(failure) = read_one(shared, entry) {
                        lock(shared.output).fail_stream(&name, &describe(&failure));
                    }
                }
            });
        }
    });
}

/// One stream's read in a fresh instance.
fn read_one(shared: &Shared<'_>, entry: Value) -> Result<(), Failure> {
    let (mut store, source) = shared
        .runtime
        .instantiate(
            shared.output.clone(),
            shared.settings.limits,
            &shared.settings.names,
        )
        .map_err(internal)?;
    store.data_mut().hooks.grant(shared.grants);
    let catalog = json!({ "streams": [entry] }).to_string();
    let call = source.call_read(&mut store, shared.config, Some(&catalog), shared.state);
    connector_result(call, &store)
}
