//! Files a component hands over (the WIT `files` interface): written under the run's files
//! directory at the relative path the component names, through a temporary file beside it that
//! is renamed into place only when it holds exactly the bytes promised, its SHA-256 computed on
//! the way. A path that could leave the directory is refused; a file never finished (aborted,
//! cut, or open when the run ends) leaves nothing behind.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// A file stored whole: its size, digest and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub size: u64,
    pub sha256: String,
    pub location: PathBuf,
}

/// A file being written.
struct OpenFile {
    target: PathBuf,
    temp: BufWriter<NamedTempFile>,
    hasher: Sha256,
    written: u64,
}

/// The run's files: where they go and those being written.
pub struct FileStore {
    dir: Option<PathBuf>,
    setting: String,
    open: HashMap<u32, OpenFile>,
    next: u32,
    /// Files stored whole, and their bytes, for the summary.
    pub stored: u64,
    pub stored_bytes: u64,
}

/// Most files open at once (a component that forgets to finish them is refused more).
const MAX_OPEN: usize = 64;

impl FileStore {
    /// Files go under `dir` (None: the run has no place for files; `setting` names the
    /// setting that gives one, for the refusal).
    pub fn new(dir: Option<PathBuf>, setting: &str) -> Self {
        Self {
            dir,
            setting: setting.to_string(),
            open: HashMap::new(),
            next: 1,
            stored: 0,
            stored_bytes: 0,
        }
    }

    /// Starts a file at `path` under the directory.
    pub fn open(&mut self, path: &str) -> Result<u32, String> {
        let Some(dir) = &self.dir else {
            return Err(format!(
                "this run has no place for files: set {} to receive them",
                self.setting
            ));
        };
        let relative = safe_relative(path)?;
        if self.open.len() >= MAX_OPEN {
            return Err(format!(
                "{MAX_OPEN} files are open already; finish one first"
            ));
        }
        let target = dir.join(relative);
        let parent = target.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let temp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(parent)
            .map_err(|e| format!("cannot create a file in {}: {e}", parent.display()))?;
        let handle = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        self.open.insert(
            handle,
            OpenFile {
                target,
                temp: BufWriter::with_capacity(256 << 10, temp),
                hasher: Sha256::new(),
                written: 0,
            },
        );
        Ok(handle)
    }

    /// Appends `chunk` to file `handle`.
    pub fn write(&mut self, handle: u32, chunk: &[u8]) -> Result<(), String> {
        let file = self.open.get_mut(&handle).ok_or_else(|| unknown(handle))?;
        file.hasher.update(chunk);
        file.written += chunk.len() as u64;
        if let Err(e) = file.temp.write_all(chunk) {
            let why = format!("writing {} failed: {e}", file.target.display());
            self.open.remove(&handle);
            return Err(why);
        }
        Ok(())
    }

    /// Ends file `handle`: in place when it holds `size` bytes, removed otherwise.
    pub fn finish(&mut self, handle: u32, size: u64) -> Result<StoredFile, String> {
        let file = self.open.remove(&handle).ok_or_else(|| unknown(handle))?;
        let shown = file.target.display().to_string();
        if file.written != size {
            return Err(format!(
                "{shown}: got {} bytes, expected {size}; the file was not kept",
                file.written
            ));
        }
        let temp = file
            .temp
            .into_inner()
            .map_err(|e| format!("writing {shown} failed: {}", e.error()))?;
        temp.as_file()
            .sync_data()
            .map_err(|e| format!("writing {shown} failed: {e}"))?;
        temp.persist(&file.target)
            .map_err(|e| format!("cannot move {shown} into place: {}", e.error))?;
        self.stored += 1;
        self.stored_bytes += size;
        Ok(StoredFile {
            size,
            sha256: hex(&file.hasher.finalize()),
            location: absolute(&file.target),
        })
    }

    /// What the run stored, as a log line; None when it stored no file.
    pub fn describe(&self) -> Option<String> {
        let dir = self.dir.as_ref().filter(|_| self.stored > 0)?;
        Some(format!(
            "stored {} files ({:.1} MB) under {}",
            self.stored,
            self.stored_bytes as f64 / 1e6,
            absolute(dir).display()
        ))
    }

    /// Drops file `handle` and what was written to it (its temporary file is removed).
    pub fn abort(&mut self, handle: u32) {
        self.open.remove(&handle);
    }
}

fn unknown(handle: u32) -> String {
    format!("file handle {handle} is not open")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `path` made absolute against the working directory (as it is when that cannot be read).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path` as a relative path that stays under the directory: `/`-separated segments, none
/// empty, `.` or `..`, no backslash, colon or control character, at most 1024 bytes.
pub fn safe_relative(path: &str) -> Result<PathBuf, String> {
    let refuse = |why: &str| Err(format!("file path {path:?} refused: {why}"));
    if path.is_empty() || path.len() > 1024 {
        return refuse("it must be 1 to 1024 bytes long");
    }
    if path.starts_with('/') {
        return refuse("it must be relative");
    }
    if path
        .chars()
        .any(|c| c.is_control() || c == '\\' || c == ':')
    {
        return refuse("it holds a control character, a backslash or a colon");
    }
    let mut relative = PathBuf::new();
    for segment in path.split('/') {
        if matches!(segment, "" | "." | "..") {
            return refuse("it has an empty, `.` or `..` segment");
        }
        if segment.len() > 255 {
            return refuse("a segment is longer than 255 bytes");
        }
        relative.push(segment);
    }
    Ok(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(Some(dir.path().to_path_buf()), "--files-dir");
        (dir, store)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut all = Vec::new();
        for entry in walk(dir) {
            all.push(entry.strip_prefix(dir).unwrap().display().to_string());
        }
        all.sort();
        all
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }

    #[test]
    fn a_file_lands_whole_with_its_digest() {
        let (dir, mut files) = store();
        let h = files.open("s/tok/a b.txt").unwrap();
        files.write(h, b"hello ").unwrap();
        files.write(h, b"world").unwrap();
        let stored = files.finish(h, 11).unwrap();
        assert_eq!(
            stored.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(stored.location, dir.path().join("s/tok/a b.txt"));
        assert_eq!(std::fs::read(&stored.location).unwrap(), b"hello world");
        assert_eq!(listing(dir.path()), ["s/tok/a b.txt"]);
    }

    #[test]
    fn a_short_or_aborted_file_leaves_nothing() {
        let (dir, mut files) = store();
        let h = files.open("s/x").unwrap();
        files.write(h, b"abc").unwrap();
        let error = files.finish(h, 4).unwrap_err();
        assert!(error.contains("got 3 bytes, expected 4"), "{error}");
        let h = files.open("s/y").unwrap();
        files.write(h, b"abc").unwrap();
        files.abort(h);
        let h = files.open("s/z").unwrap();
        files.write(h, b"abc").unwrap();
        drop(files);
        assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
        let _ = h;
    }

    #[test]
    fn paths_that_could_leave_the_directory_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "C:x",
            "a\nb",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?}");
        }
        assert!(safe_relative("流/文件 1.pdf").is_ok());
        let mut none = FileStore::new(None, "--files-dir");
        let error = none.open("a").unwrap_err();
        assert!(error.contains("set --files-dir"), "{error}");
    }
}
