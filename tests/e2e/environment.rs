//! Settings from the environment, for where the caller passes no flags (the Airbyte platform
//! runs an image as `IMAGE spec`, `IMAGE check --config F`, ...): `HOST_RUNNER_COMPONENT` names
//! the component, `HOST_RUNNER_MAX_RPS` the request rate. Flags still win.

use crate::harness::{component, run_command};
use serde_json::Value;
use std::process::Command;

fn runner() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_host-runner"));
    command.env("HOST_RUNNER_COMPONENT", component());
    command
}

#[test]
fn the_component_may_come_from_the_environment() {
    let spec = run_command(runner().arg("spec"));
    assert_eq!(spec.code, 0, "{}", spec.stderr);
    assert_eq!(spec.of_type("SPEC").len(), 1);
    // An explicit component still comes first.
    let explicit = run_command(runner().arg(component()).arg("spec"));
    assert_eq!(explicit.stdout, spec.stdout);
}

#[test]
fn the_rate_limit_may_come_from_the_environment() {
    let max_rps = |extra: &[&str]| {
        let out = runner()
            .env("HOST_RUNNER_MAX_RPS", "7")
            .args(["inspect", "--json"])
            .args(extra)
            .output()
            .expect("run host-runner");
        let view: Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
        view["max_rps"].as_u64()
    };
    assert_eq!(max_rps(&[]), Some(7));
    assert_eq!(max_rps(&["--max-rps", "3"]), Some(3));
}
