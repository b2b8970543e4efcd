//! Attachments as files (`attachments: files`): every file downloaded once, byte-identical,
//! under `--files-dir`; incremental runs download only new files; cut downloads leave nothing
//! and are tried again; advanced-permission tables; Feishu's 5 downloads a second; redirects
//! to hosts nobody granted; `max_downloads`.

use crate::harness::{Files, Run, files_under, mock, run};
use mock_feishu::files::{FILES_TABLE_ID, file_bytes, file_token};
use mock_feishu::{DownloadFault, MockConfig, MockFeishu};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

const STREAM: &str = "records_attachments";

/// The connector config for the files table, attachments as files.
fn config(mock: &MockFeishu) -> Value {
    let mut config = mock.connector_config(100);
    config["table_id"] = json!(FILES_TABLE_ID);
    config["attachments"] = json!("files");
    config
}

/// A catalog of the attachments stream alone, incremental.
fn catalog() -> Value {
    json!({"streams": [{"stream": {"name": STREAM, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
                        "sync_mode": "incremental", "destination_sync_mode": "append_dedup"}]})
}

/// Reads the attachments stream into `dir`, from `state` when given.
fn read_files(config: &Value, dir: &Path, state: Option<&Value>) -> Run {
    read_files_with(config, dir, state, &[])
}

/// [`read_files`] with `extra` flags.
fn read_files_with(config: &Value, dir: &Path, state: Option<&Value>, extra: &[&str]) -> Run {
    read_into(config, &catalog(), dir, state, extra)
}

/// Reads the streams `catalog` selects with files going into `dir`.
fn read_into(
    config: &Value,
    catalog: &Value,
    dir: &Path,
    state: Option<&Value>,
    extra: &[&str],
) -> Run {
    let files = Files::new();
    let config = files.json("config.json", config);
    let catalog = files.json("catalog.json", catalog);
    let dir = dir.to_string_lossy().into_owned();
    let mut args = vec![
        "read",
        "--config",
        &config,
        "--catalog",
        &catalog,
        "--files-dir",
        &dir,
    ];
    let state = state.map(|s| files.json("state.json", s));
    if let Some(state) = &state {
        args.extend(["--state", state]);
    }
    args.extend(extra);
    run(&args)
}

/// The STATE messages of a run, as `--state` takes them.
fn states(run: &Run) -> Value {
    Value::Array(
        run.of_type("STATE")
            .into_iter()
            .map(|m| m["state"].clone())
            .collect(),
    )
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut all: Vec<String> = files_under(dir)
        .iter()
        .map(|path| path.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    all.sort();
    all
}

/// Asserts `record` names file `i` of the files table, stored whole under `dir`.
fn assert_stored(record: &Value, dir: &Path, i: usize, size: u64) {
    let token = file_token(i);
    assert_eq!(record["file_token"], token.as_str(), "{record}");
    assert_eq!(record["record_id"], format!("recFile{i:06}"));
    assert_eq!(record["field_name"], "附件");
    assert_eq!(record["name"], format!("文件 {i}.bin"));
    assert_eq!(record["size"], size);
    assert_eq!(record["mime_type"], "application/octet-stream");
    let path = record["path"].as_str().expect("path");
    assert_eq!(path, format!("{STREAM}/{token}/文件 {i}.bin"));
    let bytes = std::fs::read(dir.join(path)).expect("the file is there");
    let want = file_bytes(&token, 0, size);
    assert!(bytes == want, "file {i} differs from the mock's");
    assert_eq!(record["sha256"], hex_sha256(&want));
}

fn download_times(mock: &MockFeishu) -> Vec<std::time::Instant> {
    mock.requests()
        .iter()
        .filter(|r| r.path.contains("/drive/v1/medias/"))
        .map(|r| r.at)
        .collect()
}

#[test]
fn files_arrive_byte_identical_once_and_then_only_new_ones() {
    let sizes = [0u64, 1000, 5 << 20, 300_000];
    let mock = mock(MockConfig {
        files: sizes.to_vec(),
        download_qps: Some(5),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = config(&mock);
    let first = read_files(&config, dir.path(), None);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let records = first.records();
    assert_eq!(records.len(), sizes.len());
    for (i, (record, size)) in records.iter().zip(sizes).enumerate() {
        assert_stored(record, dir.path(), i, size);
    }
    assert_eq!(
        listing(dir.path()).len(),
        sizes.len(),
        "no partial file is left"
    );
    assert_eq!(
        first.statuses().last().unwrap(),
        &format!("{STREAM}:COMPLETE")
    );
    let stored = format!("stored 4 files (5.5 MB) under {}", dir.path().display());
    assert!(first.stderr.contains(&stored), "{}", first.stderr);
    // Feishu's 5 downloads a second: the mock answered none 429, and the four downloads
    // took at least three spacings (a loaded machine only makes it longer).
    assert_eq!(mock.downloads(), (4, 0));
    let times = download_times(&mock);
    let span = times[times.len() - 1] - times[0];
    assert!(span >= std::time::Duration::from_millis(600), "{span:?}");

    // The table's revision is unchanged: no scan, no download, no WARN of a stale state.
    let searched = crate::harness::searches(&mock);
    let second = read_files(&config, dir.path(), Some(&states(&first)));
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.records().is_empty(), "{:?}", second.records());
    assert_eq!(mock.downloads().0, 4, "nothing downloaded again");
    assert_eq!(
        crate::harness::searches(&mock),
        searched,
        "nothing scanned again"
    );
    assert!(!second.stderr.contains("WARN"), "{}", second.stderr);

    let token = mock.add_file(2048);
    let third = read_files(&config, dir.path(), Some(&states(&second)));
    assert_eq!(third.code, 0, "{}", third.stderr);
    let records = third.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["file_token"], token.as_str());
    assert_stored(records[0], dir.path(), sizes.len(), 2048);
    assert_eq!(mock.downloads().0, 5, "only the new file");

    // A record holding a file another record holds (a copied record) gets its row too.
    let copied = mock.add_file_copy(1);
    let fourth = read_files(&config, dir.path(), Some(&states(&third)));
    assert_eq!(fourth.code, 0, "{}", fourth.stderr);
    let records = fourth.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["record_id"], "recFile000005");
    assert_eq!(records[0]["file_token"], copied.as_str());
    assert_eq!(
        records[0]["sha256"],
        hex_sha256(&file_bytes(&copied, 0, 1000))
    );
    assert_eq!(mock.downloads().0, 6);
}

#[test]
fn a_table_with_advanced_permissions_downloads_with_its_extra() {
    let mock = mock(MockConfig {
        files: vec![10, 20],
        files_advanced: true,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let run = read_files(&config(&mock), dir.path(), None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (i, record) in run.records().iter().enumerate() {
        assert_stored(record, dir.path(), i, [10, 20][i]);
    }
    let extras: Vec<Option<String>> = mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("/drive/v1/medias/"))
        .map(|r| r.query.get("extra").cloned())
        .collect();
    let want = Some(mock_feishu::files::advanced_extra());
    assert_eq!(extras, vec![want.clone(), want]);
}

#[test]
fn a_cut_download_goes_on_from_the_byte_it_stopped_at() {
    let faults = [(1, DownloadFault::Cut), (2, DownloadFault::ServerError)];
    let mock = mock(MockConfig {
        files: vec![200_000],
        download_faults: faults.into_iter().collect(),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let run = read_files(&config(&mock), dir.path(), None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_stored(run.records()[0], dir.path(), 0, 200_000);
    assert_eq!(listing(dir.path()).len(), 1);
    assert_eq!(mock.downloads().0, 3);
    assert!(
        run.stderr.contains("download 1 of 3 failed"),
        "{}",
        run.stderr
    );
    // The cut file was continued from the byte it stopped at, not downloaded again.
    let ranges: Vec<Option<String>> = mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("/drive/v1/medias/"))
        .map(|r| r.range.clone())
        .collect();
    assert_eq!(ranges[0], None);
    let from = |range: &Option<String>| -> u64 {
        let range = range.as_deref().expect("a Range header");
        range["bytes=".len()..range.len() - 1].parse().unwrap()
    };
    assert!((1..=100_000).contains(&from(&ranges[1])), "{ranges:?}");
    assert_eq!(
        ranges[1], ranges[2],
        "the retry after the 500 asks the same"
    );
}

#[test]
fn a_file_that_keeps_failing_ends_its_stream_naming_it() {
    let faults = (1..=3).map(|n| (n, DownloadFault::Cut));
    let mock = mock(MockConfig {
        files: vec![100, 200_000],
        download_faults: faults.collect(),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let run = read_files(&config(&mock), dir.path(), None);
    assert_ne!(run.code, 0);
    run.assert_failed(
        "transient_error",
        "file boxcnFile000000 (\"文件 0.bin\") of record recFile000000",
    );
    assert!(run.records().is_empty());
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    assert_eq!(
        run.statuses().last().unwrap(),
        &format!("{STREAM}:INCOMPLETE")
    );
}

#[test]
fn max_downloads_stops_cleanly_and_the_next_run_goes_on() {
    let mock = mock(MockConfig {
        files: vec![1, 2, 3],
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&mock);
    config["max_downloads"] = json!(2);
    let first = read_files(&config, dir.path(), None);
    assert_ne!(first.code, 0);
    first.assert_failed("config_error", "`max_downloads` allows 2 downloads");
    assert_eq!(first.records().len(), 2);
    let second = read_files(&config, dir.path(), Some(&states(&first)));
    assert_eq!(second.code, 0, "{}", second.stderr);
    let records = second.records();
    assert_eq!(records.len(), 1);
    assert_stored(records[0], dir.path(), 2, 3);
    assert_eq!(mock.downloads().0, 3);
}

#[test]
fn a_redirect_to_a_host_nobody_granted_is_refused() {
    let to = "https://files-cdn.example.net/blob/1";
    let mock = mock(MockConfig {
        files: vec![100],
        download_faults: [(1, DownloadFault::Redirect(to.into()))].into(),
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let run = read_files(&config(&mock), dir.path(), None);
    assert_ne!(run.code, 0);
    let error = run.trace_error();
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("redirected the download to https://files-cdn.example.net"),
        "{error}"
    );
    let internal = error.to_string();
    assert!(internal.contains("--allow-host"), "{error}");
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn discover_offers_an_attachments_stream_only_when_asked() {
    let mock = mock(MockConfig {
        files: vec![1],
        ..MockConfig::default()
    });
    let files = Files::new();
    let streams = |config: &Value| {
        let path = files.json("config.json", config);
        let run = run(&["discover", "--config", &path]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.of_type("CATALOG")[0]["catalog"]["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mut links = config(&mock);
    links["attachments"] = json!("links");
    assert_eq!(streams(&links), ["records"]);
    assert_eq!(streams(&config(&mock)), ["records", STREAM]);
}

#[test]
fn airbytes_file_transfer_gets_a_file_reference_in_the_staging_directory() {
    let mock = mock(MockConfig {
        files: vec![4096],
        ..MockConfig::default()
    });
    let staging = tempfile::tempdir().unwrap();
    let files = Files::new();
    let config = files.json("config.json", &config(&mock));
    let mut catalog = catalog();
    catalog["streams"][0]["include_files"] = json!(true);
    let catalog = files.json("catalog.json", &catalog);
    let run = crate::harness::run_command(
        crate::harness::runner(
            crate::harness::component(),
            &crate::harness::workspace().join("target/e2e-wasm-cache"),
        )
        .args(["read", "--config", &config, "--catalog", &catalog])
        .env("AIRBYTE_STAGING_DIRECTORY", staging.path()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let message = &run.of_type("RECORD")[0]["record"];
    let path = format!("{STREAM}/{}/文件 0.bin", file_token(0));
    let location = staging.path().join(&path);
    assert_eq!(
        message["file_reference"],
        json!({"staging_file_url": location.display().to_string(),
               "source_file_relative_path": path, "file_size_bytes": 4096})
    );
    assert!(message["data"].get("file_reference").is_none());
    assert_stored(&message["data"], staging.path(), 0, 4096);
}

#[test]
fn a_redirect_to_a_granted_host_is_followed_without_the_tenant_token() {
    let mock = mock(MockConfig {
        files: vec![30_000],
        download_faults: [(1, DownloadFault::RedirectToCdn("localhost".into()))].into(),
        ..MockConfig::default()
    });
    let cdn = mock.url().replace("127.0.0.1", "localhost");
    let dir = tempfile::tempdir().unwrap();
    let run = read_files_with(&config(&mock), dir.path(), None, &["--allow-host", &cdn]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_stored(run.records()[0], dir.path(), 0, 30_000);
    let followed: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/__mock/cdn/"))
        .collect();
    assert_eq!(followed.len(), 1);
    assert_eq!(
        followed[0].authorization, None,
        "the tenant token stays with lark_host"
    );
}

#[test]
fn check_plans_what_attachments_as_files_cost() {
    let mock = mock(MockConfig {
        files: vec![1; 501],
        ..MockConfig::default()
    });
    let files = Files::new();
    let path = files.json("config.json", &config(&mock));
    let check = run(&["check", "--config", &path]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stderr.contains(
            "attachments as files: 1 tables have attachment fields; a run scans each whose table \
             changed (2 searches for all) and spends one call per file not downloaded before, at \
             most 5 a second (a first read of N files takes N/5 s or more); Feishu allows an app \
             10,000 downloads a day, and `max_downloads` stops a run after 10000"
        ),
        "{}",
        check.stderr
    );
}

#[test]
fn a_cut_download_starts_over_when_the_server_ignores_the_range() {
    let mock = mock(MockConfig {
        files: vec![300_000],
        download_faults: [(1, DownloadFault::Cut)].into(),
        downloads_ignore_range: true,
        ..MockConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let run = read_files(&config(&mock), dir.path(), None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_stored(run.records()[0], dir.path(), 0, 300_000);
    assert_eq!(listing(dir.path()).len(), 1, "no partial file is left");
    assert_eq!(mock.downloads().0, 2);
}

#[test]
fn downloads_take_turns_with_the_record_streams() {
    let mock = mock(MockConfig {
        files: vec![1000; 6],
        ..MockConfig::default()
    });
    let mut config = config(&mock);
    config["page_size"] = json!(1);
    let both = json!({"streams": [
        {"stream": {"name": "records"}, "sync_mode": "full_refresh"},
        {"stream": {"name": STREAM}, "sync_mode": "full_refresh"}]});
    let dir = tempfile::tempdir().unwrap();
    let run = read_into(&config, &both, dir.path(), None, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let count = |stream: &str| {
        run.of_type("RECORD")
            .iter()
            .filter(|m| m["record"]["stream"] == stream)
            .count()
    };
    assert_eq!((count("records"), count(STREAM)), (6, 6));
    // The record stream's pages (page_size 1) go on between downloads, not after them all.
    let seen = mock.requests();
    let first_download = seen
        .iter()
        .position(|r| r.path.contains("/drive/v1/medias/"))
        .expect("a download");
    let record_pages_after = seen[first_download..]
        .iter()
        .filter(|r| r.path.ends_with("/records/search"))
        .filter(|r| r.query.get("page_size").map(String::as_str) == Some("1"))
        .count();
    assert!(record_pages_after > 0, "{seen:?}");
}
