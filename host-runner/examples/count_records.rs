//! Embedding the runner: load a component once, read with a sink of our own, and count the
//! records of each stream instead of printing protocol lines.
//!
//! ```sh
//! cargo run -p host-runner --example count_records -- feishu.wasm config.json
//! ```

use host_runner::{CompileCache, Connector, Input, Message, Operation, Settings, Sink, Stop};
use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

/// Records per stream, shared with the caller (the runner owns the sink while it runs).
#[derive(Clone, Default)]
struct Counts(Arc<Mutex<BTreeMap<String, u64>>>);

impl Sink for Counts {
    fn send(&mut self, message: Message<'_>) -> io::Result<()> {
        match message {
            Message::Records {
                stream, records, ..
            } => {
                let mut counts = self.0.lock().map_err(|_| io::Error::other("poisoned"))?;
                *counts.entry(stream.to_string()).or_default() += records.len() as u64;
            }
            Message::Error { report, .. } => eprintln!("error: {}", report.message),
            _ => {}
        }
        Ok(())
    }
}

/// Reads every stream `config` offers and returns the record count of each.
fn count_records(component: &str, config: &str) -> anyhow::Result<BTreeMap<String, u64>> {
    let connector = Connector::load(component.as_ref(), &CompileCache::Default)?;
    let counts = Counts::default();
    let read = Operation::Read {
        config: Input::File(config.into()),
        catalog: None,
        state: None,
    };
    let outcome = connector.run(
        read,
        &Settings::default(),
        Box::new(counts.clone()),
        &Stop::new(),
    );
    anyhow::ensure!(
        outcome.is_success(),
        "the read did not complete: {outcome:?}"
    );
    let counts = counts.0.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(counts.clone())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [component, config] = args.as_slice() else {
        anyhow::bail!("usage: count_records COMPONENT CONFIG");
    };
    for (stream, count) in count_records(component, config)? {
        println!("{stream}\t{count}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_mock_tables_records() {
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = workspace.join("target/e2e-guest");
        let built = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "connector",
                "--target",
                "wasm32-wasip2",
                "--profile",
                "guest",
                "--quiet",
            ])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(&workspace)
            .status()
            .expect("cargo");
        assert!(built.success());
        let component = target.join("wasm32-wasip2/guest/feishu.wasm");
        let mock = mock_feishu::MockFeishu::start(mock_feishu::MockConfig::with_records(42))
            .expect("mock");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.json");
        std::fs::write(&config, mock.connector_config(10).to_string()).expect("config");
        let counts =
            count_records(component.to_str().unwrap(), config.to_str().unwrap()).expect("read");
        assert_eq!(counts, BTreeMap::from([("records".to_string(), 42)]));
    }
}
