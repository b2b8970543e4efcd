//! `feishu-bench`: measures host-runner + feishu.wasm against the mock Feishu on loopback and
//! prints one table: read throughput and peak RSS at two page sizes, output to /dev/null and to
//! a file, a scaling line at a larger table, cold start of `spec` / `check` with and without
//! the compilation cache, and the component's size. Optionally runs a peer command against the
//! same mock and prints the ratio.

use anyhow::{Context, Result, bail};
use clap::Parser;
use mock_feishu::{MockConfig, MockFeishu};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// host-runner binary (build with `cargo build --release -p host-runner`).
    #[arg(long, default_value = "target/release/host-runner")]
    runner: PathBuf,
    /// The component (build with `cargo build -p connector --target wasm32-wasip2 --profile guest`).
    #[arg(long, default_value = "target/wasm32-wasip2/guest/feishu.wasm")]
    component: PathBuf,
    /// Records in the main benchmark table.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Records for the scaling line (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    scale_records: usize,
    /// Runs per cold-start figure (the median is shown).
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// A peer command to compare, run with `sh -c` against the same mock at page_size 500;
    /// `{config}` is replaced by the path of a config file in Airbyte's Feishu source format.
    #[arg(long)]
    peer: Option<String>,
}

/// What one process run cost.
struct Measured {
    wall: Duration,
    peak_rss_kib: i64,
}

/// Runs `command` to completion, returning wall time and peak RSS (from wait4).
fn measure(mut command: Command) -> Result<Measured> {
    let started = Instant::now();
    let child = command.spawn().context("spawn")?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    std::mem::forget(child);
    if waited != pid {
        bail!("wait4 failed");
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("command failed with status {status}");
    }
    Ok(Measured { wall, peak_rss_kib: usage.ru_maxrss })
}

struct Bench {
    args: Args,
    dir: tempfile::TempDir,
    cache: PathBuf,
}

impl Bench {
    fn runner(&self, cached: bool) -> Command {
        let mut c = Command::new(&self.args.runner);
        c.arg(&self.args.component);
        if cached {
            c.arg("--cache-dir").arg(&self.cache);
        } else {
            c.arg("--no-cache");
        }
        c.stderr(Stdio::null());
        c
    }

    fn config(&self, mock: &MockFeishu, page_size: u32) -> Result<PathBuf> {
        let path = self.dir.path().join(format!("config-{}-{page_size}.json", mock.addr().port()));
        std::fs::write(&path, mock.connector_config(page_size).to_string())?;
        Ok(path)
    }

    /// One read; returns the measurement and the output size when written to a file.
    fn read(&self, table: &Table, page_size: u32, to_file: bool) -> Result<(Measured, Option<u64>)> {
        let mut c = self.runner(true);
        c.arg("read").arg("--config").arg(self.config(&table.mock, page_size)?);
        let out = self.dir.path().join("out.jsonl");
        c.stdout(if to_file { Stdio::from(File::create(&out)?) } else { Stdio::null() });
        let m = measure(c)?;
        let size = to_file.then(|| std::fs::metadata(&out).map(|m| m.len())).transpose()?;
        if to_file {
            let records = count_records(&out)?;
            if records != table.records {
                bail!("read wrote {records} records, expected {}", table.records);
            }
        }
        Ok((m, size))
    }

    fn median_start(&self, cached: bool, args: &[String]) -> Result<Duration> {
        let mut times = Vec::new();
        for _ in 0..self.args.runs {
            let mut c = self.runner(cached);
            c.args(args).stdout(Stdio::null());
            times.push(measure(c)?.wall);
        }
        times.sort();
        Ok(times[times.len() / 2])
    }
}

/// A mock serving a table of known size.
struct Table {
    mock: MockFeishu,
    records: usize,
}

fn start_mock(records: usize) -> Result<Table> {
    let mock = MockFeishu::start(MockConfig::with_records(records))?;
    mock.prerender();
    Ok(Table { mock, records })
}

fn count_records(path: &Path) -> Result<usize> {
    let text = std::fs::read(path)?;
    Ok(text.split(|b| *b == b'\n').filter(|l| l.starts_with(b"{\"type\":\"RECORD\"")).count())
}

fn row(label: &str, records: usize, m: &Measured, bytes: Option<u64>, mock_busy: Duration) {
    let secs = m.wall.as_secs_f64();
    let mbps = bytes.map_or("–".to_string(), |b| format!("{:.0}", b as f64 / 1e6 / secs));
    println!(
        "| {label} | {records} | {:.3} | {:.0} | {mbps} | {:.1} | {:.0} % |",
        secs,
        records as f64 / secs,
        m.peak_rss_kib as f64 / 1024.0,
        100.0 * mock_busy.as_secs_f64() / secs
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    for path in [&args.runner, &args.component] {
        if !path.exists() {
            bail!("{} not found; run scripts/bench.sh, which builds it", path.display());
        }
    }
    let dir = tempfile::tempdir()?;
    let cache = dir.path().join("cache");
    let bench = Bench { args, dir, cache };
    let n = bench.args.records;

    let table = start_mock(n)?;
    let mock = &table.mock;
    bench.read(&table, 500, false)?; // fills the compilation cache and warms the mock
    println!("| read | records | wall s | records/s | output MB/s | peak RSS MiB | mock busy |");
    println!("|---|---|---|---|---|---|---|");
    let mut output_bytes = std::collections::HashMap::new();
    let mut ours_500 = None;
    for page_size in [500u32, 100] {
        for to_file in [true, false] {
            let before = mock.busy_time();
            let (m, bytes) = bench.read(&table, page_size, to_file)?;
            if let Some(b) = bytes {
                output_bytes.insert(page_size, b);
            }
            let target = if to_file { "file" } else { "/dev/null" };
            row(&format!("page_size {page_size} → {target}"), n, &m, output_bytes.get(&page_size).copied(), mock.busy_time() - before);
            if page_size == 500 && !to_file {
                ours_500 = Some(m);
            }
        }
    }
    if bench.args.scale_records > 0 {
        let big = start_mock(bench.args.scale_records)?;
        let before = big.mock.busy_time();
        let (m, bytes) = bench.read(&big, 500, true)?;
        row("page_size 500 → file (scaling)", big.records, &m, bytes, big.mock.busy_time() - before);
    }

    println!();
    println!("| start-up (median of {}) | cached | not cached |", bench.args.runs);
    println!("|---|---|---|");
    let spec = vec!["spec".to_string()];
    let small = start_mock(10)?;
    let check = vec!["check".into(), "--config".into(), bench.config(&small.mock, 100)?.to_string_lossy().into_owned()];
    for (label, args) in [("spec", &spec), ("check", &check)] {
        let cached = bench.median_start(true, args)?;
        let cold = bench.median_start(false, args)?;
        println!("| {label} | {:.1} ms | {:.1} ms |", cached.as_secs_f64() * 1e3, cold.as_secs_f64() * 1e3);
    }
    let size = std::fs::metadata(&bench.args.component)?.len();
    println!();
    println!("component: {} ({:.0} KiB)", bench.args.component.display(), size as f64 / 1024.0);

    if let Some(peer) = &bench.args.peer {
        let config = bench.config(mock, 500)?;
        let mut c = Command::new("sh");
        c.arg("-c").arg(peer.replace("{config}", &config.to_string_lossy())).stdout(Stdio::null()).stderr(Stdio::null());
        let before = mock.busy_time();
        let m = measure(c).context("peer command")?;
        println!();
        println!("| peer | records | wall s | records/s | peak RSS MiB | mock busy |");
        println!("|---|---|---|---|---|---|");
        let secs = m.wall.as_secs_f64();
        println!("| {peer} | {n} | {secs:.3} | {:.0} | {:.1} | {:.0} % |", n as f64 / secs, m.peak_rss_kib as f64 / 1024.0, 100.0 * (mock.busy_time() - before).as_secs_f64() / secs);
        if let Some(ours) = ours_500 {
            println!("\nhost-runner is {:.1}× faster than the peer (page_size 500, /dev/null)", secs / ours.wall.as_secs_f64());
        }
    }
    Ok(())
}
