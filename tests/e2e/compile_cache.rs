//! The compiled-component cache: reused when valid, rebuilt (never used) when corrupt.

use crate::harness::{files_under, run_cached_in};
use std::path::PathBuf;

#[test]
fn a_corrupt_cache_entry_is_rebuilt_not_used() {
    let cache = tempfile::tempdir().expect("temp dir");
    let first = run_cached_in(cache.path(), &["spec"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let entries: Vec<PathBuf> = files_under(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "stats"))
        .collect();
    assert!(!entries.is_empty(), "the first run fills the cache");
    for entry in &entries {
        std::fs::write(entry, b"not a compiled component").expect("corrupt the entry");
    }
    let second = run_cached_in(cache.path(), &["spec"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.stdout, first.stdout);
    let rebuilt = entries
        .iter()
        .filter(|e| std::fs::read(e).is_ok_and(|b| b != b"not a compiled component"))
        .count();
    assert!(rebuilt > 0, "corrupt entries are written anew");
}
