//! The Airbyte connector image (`scripts/build-image.sh`) run the way the platform runs it:
//! `docker run IMAGE spec|check|discover|read` with the files mounted under a directory the
//! platform picks, on the default bridge (the mock listens on the bridge's gateway address).
//! Output must equal host-runner's apart from `emitted_at`; the labels, entrypoint and user are
//! checked with `docker inspect`; airbyte-cdk's own image tests must pass.
//!
//! These tests need a Docker daemon and the image: `scripts/image-tests.sh` builds it and runs
//! them with FEISHU_WASM_IMAGE set (they are ignored in a plain `cargo test`).

use crate::harness::{Files, Run, assert_same_lines, run, run_command, workspace};
use crate::standard_tests::{python, suite_root};
use mock_feishu::{MockConfig, MockFeishu};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn image() -> String {
    std::env::var("FEISHU_WASM_IMAGE").expect("FEISHU_WASM_IMAGE names the image to test")
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A mock on the bridge's gateway address, which containers on the default bridge reach. The
/// gateway is the subnet's first address when the network does not name one.
fn bridge_mock(config: MockConfig) -> MockFeishu {
    let ipam: Value = serde_json::from_str(&docker(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{json (index .IPAM.Config 0)}}",
    ]))
    .expect("IPAM JSON");
    let gateway: std::net::Ipv4Addr = match ipam["Gateway"].as_str() {
        Some(gateway) if !gateway.is_empty() => gateway.parse().expect("a gateway"),
        _ => {
            let subnet = ipam["Subnet"].as_str().expect("a subnet");
            let base: std::net::Ipv4Addr = subnet
                .split('/')
                .next()
                .unwrap_or_default()
                .parse()
                .expect("a subnet");
            (u32::from(base) + 1).into()
        }
    };
    MockFeishu::start_on((gateway, 0).into(), config).expect("start the mock on the bridge")
}

/// `docker run --rm -v DIR:/data IMAGE args...` (paths under /data).
fn in_image(dir: &Path, args: &[&str]) -> Run {
    let mount = format!("{}:/data", dir.display());
    run_command(
        Command::new("docker")
            .args(["run", "--rm", "-v", &mount, &image()])
            .args(args),
    )
}

/// A config file in `files` pointing at `mock`, readable by the image's `airbyte` user.
fn config_file(files: &Files, name: &str, config: &Value) -> String {
    let path = files.json(name, config);
    let dir = Path::new(&path).parent().expect("a directory");
    for p in [dir, Path::new(&path)] {
        let _ = Command::new("chmod").arg("a+rX").arg(p).status();
    }
    path
}

#[test]
#[ignore = "needs a Docker daemon and the image: run scripts/image-tests.sh"]
fn the_image_is_what_the_platform_expects() {
    let image = image();
    let inspect: Value =
        serde_json::from_str(&docker(&["image", "inspect", &image])).expect("docker inspect JSON");
    let config = &inspect[0]["Config"];
    let entrypoint = config["Entrypoint"].as_array().expect("an entrypoint");
    assert_eq!(entrypoint.len(), 1, "{entrypoint:?}");
    let entrypoint = entrypoint[0].as_str().unwrap_or_default();
    assert!(entrypoint.starts_with('/'), "{entrypoint}");
    let env: Vec<&str> = config["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        env.contains(&format!("AIRBYTE_ENTRYPOINT={entrypoint}").as_str()),
        "{env:?}"
    );
    assert_eq!(config["User"], "airbyte");
    assert_eq!(inspect[0]["Architecture"], "amd64");
    let metadata =
        std::fs::read_to_string(workspace().join("image/metadata.yaml")).expect("metadata");
    let field = |name: &str| {
        metadata
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        config["Labels"]["io.airbyte.name"],
        field("dockerRepository")
    );
    assert_eq!(
        config["Labels"]["io.airbyte.version"],
        field("dockerImageTag")
    );
    assert_eq!(field("connectorType"), "source");
    // /airbyte is the user's and writable: a compile cache can be written there.
    let probe = Command::new("docker")
        .args([
            "run",
            "--rm",
            &image,
            "spec",
            "--cache-dir",
            "/airbyte/probe-cache",
        ])
        .output()
        .expect("docker run");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
}

#[test]
#[ignore = "needs a Docker daemon and the image: run scripts/image-tests.sh"]
fn the_image_prints_what_host_runner_prints() {
    let mock = bridge_mock(MockConfig {
        records: 230,
        copies: 2,
        ..MockConfig::default()
    });
    let files = Files::new();
    let mut base = mock.connector_config(50);
    base.as_object_mut().map(|c| c.remove("table_id"));
    let config = config_file(&files, "config.json", &base);
    let mut bad = base.clone();
    bad["app_secret"] = "not-the-secret-1234".into();
    let bad = config_file(&files, "bad.json", &bad);
    let dir = Path::new(&config).parent().expect("dir").to_path_buf();
    let inside = |path: &str| {
        format!(
            "/data/{}",
            Path::new(path).file_name().unwrap().to_string_lossy()
        )
    };

    let cases: [&[&str]; 5] = [
        &["spec"],
        &["check", "--config", &config],
        &["check", "--config", &bad],
        &["discover", "--config", &config],
        &["read", "--config", &config, "--concurrency", "1"],
    ];
    for args in cases {
        let reference = run(args);
        let mapped: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with('/') {
                    inside(a)
                } else {
                    a.to_string()
                }
            })
            .collect();
        let mapped: Vec<&str> = mapped.iter().map(String::as_str).collect();
        let container = in_image(&dir, &mapped);
        assert_eq!(
            container.code, reference.code,
            "{args:?}: {}",
            container.stderr
        );
        assert_same_lines(&reference.stdout, &container.stdout);
    }
    assert!(run(&["read", "--config", &config]).records().len() > 690);
}

#[test]
#[ignore = "needs a Docker daemon and the image: run scripts/image-tests.sh"]
fn airbytes_image_tests_pass() {
    let mock = bridge_mock(MockConfig::with_records(25));
    let (_dir, root) = suite_root(&mock);
    std::fs::copy(
        workspace().join("image/metadata.yaml"),
        root.join("metadata.yaml"),
    )
    .expect("copy metadata.yaml");
    let out = Command::new(python())
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-rA"])
        // The backward-compatibility test compares with a published version: there is none.
        .args(["-k", "docker and not backward_compatibility"])
        .args(["--connector-image", &image()])
        .args([
            "--read-from-streams=all",
            "--read-scenarios=config,config_base",
        ])
        .current_dir(&root)
        .output()
        .expect("run pytest");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "image tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for test in [
        "test_docker_image_build_and_spec",
        "test_docker_image_build_and_check['config' ",
        "test_docker_image_build_and_check['config_bad_secret' ",
        "test_docker_image_build_and_discover['config_base' ",
        "test_docker_image_build_and_read['config' ",
        "test_docker_image_build_and_read['config_base' ",
    ] {
        assert!(
            report.contains(&format!("PASSED test_standard.py::TestFeishuWasm::{test}")),
            "{test} did not pass:\n{report}"
        );
    }
    assert!(!report.contains("FAILED"), "{report}");
}
