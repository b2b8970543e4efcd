//! One builder of settings for every front end (`Settings::chosen`): the CLI and the Python
//! package check and apply what their users choose alike, naming each setting in their own
//! words.

use host_runner::{Choices, SettingNames, Settings};
use std::time::Duration;

fn names() -> SettingNames {
    SettingNames {
        allow_hosts: "--allow-host".into(),
        max_memory: "--max-memory-mib".into(),
        timeout: "--timeout-secs".into(),
        files_dir: "--files-dir".into(),
    }
}

#[test]
fn choices_become_settings_over_the_defaults() {
    let settings = Settings::chosen(
        Choices {
            allow_hosts: vec!["https://*.larksuite.com".into()],
            max_memory_mib: Some(64),
            timeout_secs: Some(30),
            request_timeout_secs: Some(0),
            concurrency: Some(500),
            max_rps: Some(0),
            files_dir: Some("out/files".into()),
        },
        names(),
    )
    .expect("valid choices");
    assert_eq!(settings.allow_hosts.len(), 1);
    assert_eq!(settings.limits.max_memory_bytes, 64 << 20);
    assert_eq!(settings.timeout, Duration::from_secs(30));
    assert_eq!(
        settings.limits.request_timeout,
        Duration::from_secs(1),
        "at least a second"
    );
    assert_eq!(settings.concurrency, 64, "at most 64 streams at once");
    assert_eq!(settings.max_rps, Some(0));
    assert_eq!(settings.files_dir, Some("out/files".into()));
    let defaults = Settings::chosen(Choices::default(), names()).expect("no choices");
    assert_eq!(defaults.concurrency, Settings::default().concurrency);
    assert_eq!(defaults.limits.max_memory_bytes, 256 << 20);
}

#[test]
fn bad_choices_are_refused_in_the_front_end_s_words() {
    let bad = |choices: Choices| Settings::chosen(choices, names()).expect_err("refused");
    assert_eq!(
        bad(Choices {
            max_memory_mib: Some(0),
            ..Choices::default()
        }),
        "--max-memory-mib must be from 1 to 65536, got 0"
    );
    assert!(
        bad(Choices {
            allow_hosts: vec!["open.feishu.cn".into()],
            ..Choices::default()
        })
        .starts_with("invalid --allow-host \"open.feishu.cn\": "),
    );
}
