//! Shared test machinery: builds feishu.wasm once, runs host-runner, parses its output, and
//! checks on every run that no secret leaks.

use mock_feishu::{APP_SECRET, MockConfig, MockFeishu};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// feishu.wasm, built once per test run into its own target directory.
pub fn component() -> &'static Path {
    static COMPONENT: OnceLock<PathBuf> = OnceLock::new();
    COMPONENT.get_or_init(|| guest_component("connector", "feishu", "target/e2e-guest"))
}

/// Builds package `package` for wasm32-wasip2 (guest profile) into `target_dir` (relative to
/// the workspace) and returns the path of `artifact`.wasm.
pub fn guest_component(package: &str, artifact: &str, target_dir: &str) -> PathBuf {
    let target_dir = workspace().join(target_dir);
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            package,
            "--target",
            "wasm32-wasip2",
            "--profile",
            "guest",
            "--quiet",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace())
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "building {package} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    target_dir.join(format!("wasm32-wasip2/guest/{artifact}.wasm"))
}

/// Output of one host-runner run, parsed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub messages: Vec<Value>,
}

impl Run {
    /// Messages of one `type`.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.messages.iter().filter(|m| m["type"] == kind).collect()
    }

    /// The messages of every LOG, in order.
    pub fn logs(&self) -> Vec<&str> {
        self.of_type("LOG")
            .into_iter()
            .filter_map(|m| m["log"]["message"].as_str())
            .collect()
    }

    /// The `data` of every RECORD, in order.
    pub fn records(&self) -> Vec<&Value> {
        self.of_type("RECORD")
            .into_iter()
            .map(|m| &m["record"]["data"])
            .collect()
    }

    /// STREAM_STATUS values in order, as `stream:STATUS`.
    pub fn statuses(&self) -> Vec<String> {
        self.of_type("TRACE")
            .into_iter()
            .filter(|m| m["trace"]["type"] == "STREAM_STATUS")
            .map(|m| {
                let s = &m["trace"]["stream_status"];
                format!(
                    "{}:{}",
                    s["stream_descriptor"]["name"].as_str().unwrap_or("?"),
                    s["status"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// Asserts the run failed with one TRACE ERROR of `failure_type` whose message contains
    /// `needle`, and an exit code of that class (README: 4 config, 5 auth or permission and
    /// 7 sandbox are config errors; 6 transient; 1 the rest).
    pub fn assert_failed(&self, failure_type: &str, needle: &str) {
        let codes: &[i32] = match failure_type {
            "config_error" => &[4, 5, 7],
            "transient_error" => &[6],
            _ => &[1],
        };
        assert!(
            codes.contains(&self.code),
            "exit code {} for a {failure_type}; stdout:\n{}",
            self.code,
            self.stdout
        );
        let error = self.trace_error();
        assert_eq!(error["failure_type"], failure_type, "{error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }

    /// The single TRACE ERROR's `error` object.
    pub fn trace_error(&self) -> &Value {
        let errors: Vec<&Value> = self
            .of_type("TRACE")
            .into_iter()
            .filter(|m| m["trace"]["type"] == "ERROR")
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "expected one TRACE ERROR in:\n{}",
            self.stdout
        );
        &errors[0]["trace"]["error"]
    }
}

/// Runs host-runner with `args` (component path and cache dir added).
pub fn run(args: &[&str]) -> Run {
    run_cached_in(&workspace().join("target/e2e-wasm-cache"), args)
}

/// Runs host-runner with `args`, caching compiled components in `cache_dir`.
pub fn run_cached_in(cache_dir: &Path, args: &[&str]) -> Run {
    run_command(runner(component(), cache_dir).args(args))
}

/// A host-runner command for `component` (flags to follow), with its compile cache.
pub fn runner(component: &Path, cache_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host-runner"));
    command
        .arg(component)
        .arg("--cache-dir")
        .arg(cache_dir)
        // Loopback tests read many pages fast; the rate limiter has tests of its own.
        .args(["--max-rps", "0"])
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    command
}

/// Runs a host-runner command, parses its output and checks that no secret leaked.
pub fn run_command(command: &mut Command) -> Run {
    let output = command.output().expect("run host-runner");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8(output.stderr).expect("utf-8 stderr");
    let messages = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
        })
        .collect();
    for secret in [APP_SECRET, "t-mock", mock_feishu::data::APP_TOKEN] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "secret {secret:?} leaked:\n{stdout}\n{stderr}"
        );
    }
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout,
        stderr,
        messages,
    }
}

/// Every file under `dir`, at any depth (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Files handed to host-runner, removed when dropped.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `value` as JSON and returns the path as a string.
    pub fn json(&self, name: &str, value: &Value) -> String {
        self.text(name, &value.to_string())
    }

    pub fn text(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write temp file");
        path.to_string_lossy().into_owned()
    }
}

/// A mock with `records` records and the given faults.
pub fn mock(config: MockConfig) -> MockFeishu {
    MockFeishu::start(config).expect("start mock")
}

/// `read` of the whole table at `page_size`, returning the run.
pub fn read(mock: &MockFeishu, page_size: u32, extra: &[&str]) -> Run {
    let files = Files::new();
    let config = files.json("config.json", &mock.connector_config(page_size));
    let mut args = vec!["read", "--config", &config];
    args.extend_from_slice(extra);
    run(&args)
}

/// The records the mock holds, as the connector must emit them.
pub fn expected_records(n: usize) -> Vec<Value> {
    (0..n).map(|i| mock_feishu::data::record(i, true)).collect()
}

/// Asserts the run emitted exactly records 0..n, in order, once each.
pub fn assert_exact_records(run: &Run, n: usize) {
    let got = run.records();
    assert_eq!(got.len(), n, "record count; stderr:\n{}", run.stderr);
    for (i, (got, want)) in got.iter().zip(expected_records(n)).enumerate() {
        assert_eq!(**got, want, "record {i}");
    }
}

/// Records-search requests the mock saw.
pub fn searches(mock: &MockFeishu) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.path.ends_with("/records/search"))
        .count()
}

/// Token requests the mock saw.
pub fn token_requests(mock: &MockFeishu) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.path.ends_with("/tenant_access_token/internal"))
        .count()
}

/// The python of a venv under target/ holding `packages` (pinned), made on first use; `probe`
/// is an import that succeeds once they are installed.
pub fn venv_python(name: &str, packages: &[&str], probe: &str) -> PathBuf {
    let venv = workspace().join("target").join(name);
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args(["-c", probe])
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
            .expect("python3 -m venv");
        assert!(made.success(), "creating the venv {name} failed");
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(packages)
            .status()
            .expect("pip");
        assert!(installed.success(), "installing {packages:?} failed");
    }
    python
}

/// A run's stdout as another host of the same component must print it: every `emitted_at`
/// and state `read_at` value blanked, and the end-of-read summary LOG with its times and the
/// host's own figures masked as the conformance cases mask them (its counts stay).
pub fn comparable_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| {
            if line.starts_with(r#"{"type":"LOG","log":{"level":"INFO","message":"summary: "#)
                && let Ok(summary) = serde_json::from_str(line)
            {
                return protocol::conformance::comparable(summary).to_string();
            }
            // When a message was written, and when a state's stream was read: the clock's.
            let line = zero_number_after(line, r#""emitted_at":"#);
            zero_number_after(&line, r#""read_at":"#)
        })
        .collect()
}

/// `line` with the number after `key` written as 0.
fn zero_number_after(line: &str, key: &str) -> String {
    match line.find(key) {
        Some(at) => {
            let start = at + key.len();
            let end = start
                + line[start..]
                    .find(|c: char| !c.is_ascii_digit() && c != '.')
                    .unwrap_or(0);
            format!("{}0{}", &line[..start], &line[end..])
        }
        None => line.to_string(),
    }
}

/// Asserts that `other` (another host's output) equals host-runner's `reference` stdout, line
/// by line, apart from what [`comparable_lines`] leaves out; `other` must not hold the secret.
pub fn assert_same_lines(reference: &str, other: &str) {
    assert!(!other.contains(APP_SECRET), "the secret was printed");
    let (a, b) = (comparable_lines(reference), comparable_lines(other));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "line {i} differs");
    }
    assert_eq!(
        a.len(),
        b.len(),
        "line counts differ:\n{reference}\n---\n{other}"
    );
}
