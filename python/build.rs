//! Builds feishu.wasm (the connector component) and puts it in OUT_DIR, where the extension
//! embeds it. Set FEISHU_WASM_COMPONENT to a prebuilt component to skip the build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    println!("cargo:rerun-if-env-changed=FEISHU_WASM_COMPONENT");
    for dir in ["connector/src", "connector/Cargo.toml", "wit"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    let component = match std::env::var_os("FEISHU_WASM_COMPONENT") {
        Some(prebuilt) => PathBuf::from(prebuilt),
        None => build_component(&workspace),
    };
    std::fs::copy(&component, out.join("feishu.wasm"))
        .unwrap_or_else(|e| panic!("cannot copy {} into the build: {e}", component.display()));
}

/// `cargo build -p connector --target wasm32-wasip2 --profile guest`, in a target directory
/// of its own (the outer build holds the workspace's).
fn build_component(workspace: &Path) -> PathBuf {
    let target_dir = workspace.join("target/python-guest");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "-p",
            "connector",
            "--target",
            "wasm32-wasip2",
        ])
        .args(["--profile", "guest", "--target-dir"])
        .arg(&target_dir)
        .current_dir(workspace)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("run cargo to build feishu.wasm");
    assert!(
        status.success(),
        "building feishu.wasm failed; is the wasm target installed? (rustup target add wasm32-wasip2)"
    );
    target_dir.join("wasm32-wasip2/guest/feishu.wasm")
}
