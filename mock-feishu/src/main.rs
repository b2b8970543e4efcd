//! `mock-feishu`: serves the mock Feishu Open API for demos and benchmarks until stopped.

use clap::Parser;
use mock_feishu::{MockConfig, MockFeishu};
use std::net::SocketAddr;

/// A local mock of the Feishu / Lark Bitable Open API.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Records in the mock table.
    #[arg(long, default_value_t = 2345)]
    records: usize,
    /// Write a connector config pointing at the mock to this file.
    #[arg(long, value_name = "FILE")]
    write_config: Option<std::path::PathBuf>,
    /// page_size in the written config.
    #[arg(long, default_value_t = 100)]
    page_size: u32,
    /// Render every record before serving (for benchmarks).
    #[arg(long)]
    prerender: bool,
    /// Copies of the main table in the Base (0 to 8), same records.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=8))]
    copies: u64,
    /// WAN mode: delay every Open API answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// WAN mode: Bitable requests allowed per sliding second (Feishu's quota is 20); over it
    /// the mock answers 429 with code 99991400 and counts a violation.
    #[arg(long)]
    qps: Option<usize>,
    /// A files table with files of these sizes in bytes, `COUNTxSIZE` for many alike
    /// (`1000x100000,200000000`); the written config then reads it with `attachments: files`.
    #[arg(long, value_name = "SIZES", value_delimiter = ',', value_parser = file_sizes)]
    files: Vec<Vec<u64>>,
    /// Downloads allowed per sliding second (Feishu's is 5); over it the mock answers 429.
    #[arg(long)]
    download_qps: Option<usize>,
}

/// `SIZE` or `COUNTxSIZE`.
fn file_sizes(text: &str) -> Result<Vec<u64>, String> {
    let (count, size) = text.split_once('x').unwrap_or(("1", text));
    let count: usize = count.parse().map_err(|e| format!("{count:?}: {e}"))?;
    let size: u64 = size.parse().map_err(|e| format!("{size:?}: {e}"))?;
    Ok(vec![size; count])
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = MockConfig {
        copies: args.copies as usize,
        latency: std::time::Duration::from_millis(args.latency_ms),
        qps: args.qps,
        files: args.files.concat(),
        download_qps: args.download_qps,
        ..MockConfig::with_records(args.records)
    };
    let mock = MockFeishu::start_on(args.listen, config)?;
    if args.prerender {
        mock.prerender();
    }
    if let Some(path) = &args.write_config {
        let mut config = mock.connector_config(args.page_size);
        if !args.files.is_empty() {
            config["table_id"] = mock_feishu::files::FILES_TABLE_ID.into();
            config["attachments"] = "files".into();
        }
        std::fs::write(path, serde_json::to_string_pretty(&config)?)?;
    }
    println!("{}", mock.url());
    eprintln!(
        "mock Feishu serving {} records at {} (Ctrl-C to stop)",
        args.records,
        mock.url()
    );
    loop {
        std::thread::park();
    }
}
