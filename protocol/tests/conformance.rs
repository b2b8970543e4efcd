//! The conformance cases (`conformance/cases.json`) run through the contract's own
//! `RunReport`: each gives exactly the lines, refusals and exit code the case holds.
//! `CONFORMANCE_BLESS=1 cargo test -p protocol --test conformance` writes what this
//! implementation gives into the file instead (review the diff: every host must then follow).

use protocol::conformance::{cases, run_case};
use protocol::contract;
use serde_json::Value;

#[test]
fn every_case_gives_its_lines_refusals_and_exit_code() {
    let bless = std::env::var_os("CONFORMANCE_BLESS").is_some();
    let mut blessed = Vec::new();
    for mut case in cases() {
        let run = run_case(&case);
        let name = case["name"].as_str().unwrap_or_default().to_string();
        if bless {
            case["lines"] = Value::from(run.lines.clone());
            case["exit"] = Value::from(run.exit);
            blessed.push(case);
            continue;
        }
        assert_eq!(
            Value::from(run.lines),
            case["lines"],
            "lines of case `{name}`"
        );
        assert_eq!(
            Value::from(run.exit),
            case["exit"],
            "exit code of case `{name}`"
        );
        let calls = case["calls"].as_array().cloned().unwrap_or_default();
        for (call, refusal) in calls.iter().zip(&run.refusals) {
            assert_eq!(
                refusal.as_ref(),
                call.get("refused"),
                "refusal of {call} in case `{name}`"
            );
        }
    }
    if bless {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/cases.json");
        let text = serde_json::to_string_pretty(&blessed).expect("JSON");
        std::fs::write(path, text + "\n").expect("write the cases");
    }
}

/// The contract's table as data, where hosts in other languages read it (the Node host's copy
/// ships with it): each must equal `contract()`. Blessed with the cases.
#[test]
fn the_contract_tables_other_hosts_read_equal_the_contract() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let table = contract();
    for path in [
        "protocol/conformance/contract.json",
        "hosts/node/src/contract.json",
    ] {
        let file = format!("{root}/{path}");
        if std::env::var_os("CONFORMANCE_BLESS").is_some() {
            let text = serde_json::to_string_pretty(&table).expect("JSON");
            std::fs::write(&file, text + "\n").expect("write the table");
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{path}: {e}"));
        let written: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            written, table,
            "{path} differs from protocol::contract(): bless it"
        );
    }
}
