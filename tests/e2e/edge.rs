//! The edge build (edge/, a wasi:http/proxy component) served by a standard proxy-world runtime
//! (`scripts/edge-serve.sh`: jco serve) answers the same protocol lines as host-runner's stdout,
//! apart from `emitted_at` and the summary's figures, streamed over chunked HTTP.

use crate::harness::{Files, Run, assert_same_lines, mock, run, workspace};
use mock_feishu::{APP_SECRET, MockConfig};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// `scripts/edge-serve.sh` in a process group of its own, stopped (with jco) when dropped.
struct EdgeServer {
    child: Child,
    address: String,
}

impl EdgeServer {
    fn start() -> Self {
        let mut child = Command::new(workspace().join("scripts/edge-serve.sh"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("run scripts/edge-serve.sh");
        let mut url = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut url)
            .expect("read the URL");
        let address = url
            .trim()
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("edge-serve.sh printed no URL: {url:?}"))
            .to_string();
        Self { child, address }
    }

    /// One request; the status and the body (chunked transfer decoded).
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).expect("connect to the edge server");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .expect("send");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).expect("read the answer");
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP answer");
        let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
        let body = &answer[split + 4..];
        let status = head[9..12].parse().expect("a status code");
        // Chunks may cut a character in two: decode once they are joined.
        let body = match head.contains("transfer-encoding: chunked") {
            true => unchunk(body),
            false => body.to_vec(),
        };
        (status, String::from_utf8(body).expect("a UTF-8 body"))
    }
}

impl Drop for EdgeServer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn unchunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..end]).expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
    out
}

fn assert_same(edge: &str, reference: &Run) {
    assert_same_lines(&reference.stdout, edge);
}

#[test]
fn the_edge_build_serves_what_host_runner_prints() {
    let mock = mock(MockConfig {
        records: 230,
        copies: 2,
        ..MockConfig::default()
    });
    let mut config = mock.connector_config(50);
    config.as_object_mut().map(|c| c.remove("table_id"));
    let files = Files::new();
    let config_file = files.json("config.json", &config);
    let server = EdgeServer::start();
    let body = json!({ "config": config }).to_string();

    let (status, spec) = server.request("GET", "/spec", "");
    assert_eq!(status, 200);
    assert_same(&spec, &run(&["spec"]));

    let (status, check) = server.request("POST", "/check", &body);
    assert_eq!(status, 200);
    assert_same(&check, &run(&["check", "--config", &config_file]));

    let (status, discover) = server.request("POST", "/discover", &body);
    assert_eq!(status, 200);
    assert_same(&discover, &run(&["discover", "--config", &config_file]));

    let (status, read) = server.request("POST", "/read", &body);
    assert_eq!(status, 200);
    let reference = run(&["read", "--config", &config_file, "--concurrency", "1"]);
    assert_eq!(reference.code, 0, "{}", reference.stderr);
    assert!(reference.records().len() > 690);
    assert_same(&read, &reference);
}

#[test]
fn bad_requests_get_a_trace_error_and_a_4xx() {
    let server = EdgeServer::start();
    let secret_body = format!(r#"{{"config": {{"app_secret": "{APP_SECRET}""#);
    for (method, path, body, status, needle) in [
        (
            "POST",
            "/read",
            secret_body.as_str(),
            400,
            "the request body is not JSON",
        ),
        (
            "POST",
            "/check",
            r#"{"catalog": {}}"#,
            400,
            "lacks `config`",
        ),
        ("GET", "/read", "", 405, "/read takes POST"),
        ("GET", "/sync", "", 404, "routes: GET /spec"),
    ] {
        let (got, text) = server.request(method, path, body);
        assert_eq!(got, status, "{method} {path}: {text}");
        assert!(!text.contains(APP_SECRET), "the secret was echoed: {text}");
        let trace: Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(trace["trace"]["error"]["failure_type"], "config_error");
        let message = trace["trace"]["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(needle), "{message}");
    }
}

#[test]
fn the_edge_build_masks_a_secret_the_server_echoes() {
    let echo = mock_feishu::Fault::Code {
        status: 400,
        code: 1254000,
        msg: format!("WrongRequestBody: app_secret={APP_SECRET}"),
    };
    let mock = mock(MockConfig::with_records(5).fault(1, echo));
    let server = EdgeServer::start();
    let body = json!({ "config": mock.connector_config(50) }).to_string();
    let (status, check) = server.request("POST", "/check", &body);
    assert_eq!(status, 200);
    assert!(
        !check.contains(APP_SECRET),
        "the secret was echoed: {check}"
    );
    assert!(check.contains("app_secret=**********"), "{check}");
}
