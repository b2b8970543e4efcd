//! A mock of the Feishu / Lark Open API for the Bitable connector's tests and demo.
//!
//! [`MockFeishu::start`] serves, on `127.0.0.1` in a thread of its own: the tenant token
//! endpoint, the tables and fields lists, and records search over a deterministic table
//! ([`data`]). It requires the Bearer token, records every request it sees, and injects the
//! [`Fault`]s it is given on chosen records-search requests. The server and its control
//! endpoints are in `server`, tokens and ids in `auth`, search semantics in `search`, injected
//! failures in `faults`; this root holds the public API and the state they share.

mod auth;
pub mod data;
mod faults;
pub mod files;
mod search;
mod server;

use auth::*;
pub use faults::Fault;
use faults::*;
pub use files::DownloadFault;
use search::*;
use server::*;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Credentials the mock accepts.
pub const APP_ID: &str = "cli_mock_app_0001";
pub const APP_SECRET: &str = "mock-secret-Zx8Kq2Lr5Tn9";

/// What the mock serves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Records in the table.
    pub records: usize,
    /// `expire` of issued tokens, in seconds.
    pub token_ttl_secs: u64,
    /// Faults by records-search request number (1-based, counting retries).
    pub faults: HashMap<usize, Fault>,
    /// Copies of the main table in the Base (same records), at most 8.
    pub copies: usize,
    /// Delay before every Open API answer, as over a real network.
    pub latency: std::time::Duration,
    /// Bitable requests allowed per sliding second (as Feishu's per-app quota); over it the
    /// mock answers HTTP 429, code 99991400, and counts a violation.
    pub qps: Option<usize>,
    /// When set, every `records/batch_get` answers this `data` object (code 0) instead of
    /// what the table holds: for answers that name ids nobody asked about, or leave some out.
    pub batch_get_answer: Option<Value>,
    /// Tables `(table_id, name)` listed after the Base's own, as a tables list may name
    /// them (odd characters, an id twice); searches of them find nothing.
    pub extra_tables: Vec<(String, String)>,
    /// A Feishu whose table `revision` does not grow when cells are edited (its docs promise
    /// it only for added and deleted records and renames): [`MockFeishu::modify`] leaves it.
    pub edits_keep_revision: bool,
    /// A Feishu that reads `field_names: []` as "all fields" (the docs are silent on an empty
    /// list; by default the mock answers no fields for it).
    pub empty_field_names_mean_all: bool,
    /// Sizes of the files in the files table ([`files::FILES_TABLE_ID`], one record each),
    /// listed after the Base's tables when not empty.
    pub files: Vec<u64>,
    /// The files table has advanced permissions: downloads of its files need the `extra`
    /// parameter its cells carry (HTTP 403 without it).
    pub files_advanced: bool,
    /// Downloads allowed per sliding second (Feishu's 5); over it the mock answers 429.
    pub download_qps: Option<usize>,
    /// Faults by download request number (1-based, counting retries).
    pub download_faults: HashMap<usize, DownloadFault>,
    /// Downloads answer the whole file whatever `Range` they ask.
    pub downloads_ignore_range: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            records: 10,
            token_ttl_secs: 7200,
            faults: HashMap::new(),
            copies: 0,
            latency: std::time::Duration::ZERO,
            qps: None,
            batch_get_answer: None,
            extra_tables: Vec::new(),
            edits_keep_revision: false,
            empty_field_names_mean_all: false,
            files: Vec::new(),
            files_advanced: false,
            download_qps: None,
            download_faults: HashMap::new(),
            downloads_ignore_range: false,
        }
    }
}

impl MockConfig {
    pub fn with_records(records: usize) -> Self {
        Self {
            records,
            ..Self::default()
        }
    }

    /// Adds a fault on records-search request `n` (1-based).
    pub fn fault(mut self, n: usize, fault: Fault) -> Self {
        self.faults.insert(n, fault);
        self
    }
}

/// One request the mock saw.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub authorization: Option<String>,
    /// The `Range` header, when one was sent.
    pub range: Option<String>,
    pub body: String,
    /// The client's port: one per TCP connection.
    pub peer_port: u16,
    /// When the request arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    requests: Vec<SeenRequest>,
    valid_tokens: Vec<String>,
    tokens_issued: usize,
    searches: usize,
    /// Main-table records changed since start: index -> last modified (ms).
    modified: HashMap<usize, i64>,
    /// Main-table records added since start.
    added: usize,
    /// When the Bitable requests of the last second arrived (for the quota).
    recent: std::collections::VecDeque<Instant>,
    /// Requests answered 429 because the quota was exceeded.
    violations: usize,
    /// Main-table records deleted since start.
    deleted: std::collections::BTreeSet<usize>,
    /// Changes to the main table since start: its `revision` is one more.
    changes: i64,
    /// Main-table fields renamed since start: (old name, new name).
    renamed: Vec<(String, String)>,
    /// See [`MockConfig::edits_keep_revision`].
    edits_keep_revision: bool,
    /// Files added to the files table since start (their sizes).
    files_added: Vec<files::Added>,
    /// Download requests seen, and when those of the last second arrived.
    downloads: usize,
    recent_downloads: std::collections::VecDeque<Instant>,
    /// Downloads answered 429 for exceeding [`MockConfig::download_qps`].
    download_violations: usize,
}

impl Shared {
    /// Marks main-table records as modified at `at_ms`.
    fn mark_modified(&mut self, indices: &[usize], at_ms: i64) {
        for &i in indices {
            self.modified.insert(i, at_ms);
        }
        if !self.edits_keep_revision {
            self.changes += 1;
        }
    }

    /// Deletes main-table records.
    fn delete(&mut self, indices: &[usize]) {
        self.deleted.extend(indices.iter().copied());
        self.changes += 1;
    }

    /// The name a main-table field goes by now.
    fn field_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.renamed
            .iter()
            .rev()
            .find(|(old, _)| old == name)
            .map_or(name, |(_, new)| new.as_str())
    }
}

/// When main-table record `index` was last modified: as changed since start, or as generated.
fn modified_at(changed: &HashMap<usize, i64>, index: usize) -> i64 {
    changed
        .get(&index)
        .copied()
        .unwrap_or_else(|| data::default_modified(index))
}

#[derive(Clone)]
struct AppState {
    config: Arc<MockConfig>,
    shared: Arc<Mutex<Shared>>,
    records: Arc<RecordCache>,
    /// Nanoseconds spent building records-search answers.
    busy_nanos: Arc<AtomicU64>,
    /// Duplicates of accepted sockets by client port, kept only when a fault closes them.
    sockets: Arc<Mutex<HashMap<u16, std::net::TcpStream>>>,
}

impl AppState {
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps a duplicate of an accepted socket, so a fault can close it under the server.
fn keep_socket(sockets: &Mutex<HashMap<u16, std::net::TcpStream>>, io: &tokio::net::TcpStream) {
    use std::os::fd::AsFd;
    let Ok(peer) = io.peer_addr() else { return };
    if let Ok(fd) = io.as_fd().try_clone_to_owned() {
        let socket = std::net::TcpStream::from(fd);
        let mut sockets = sockets.lock().unwrap_or_else(|p| p.into_inner());
        sockets.insert(peer.port(), socket);
    }
}

/// Shuts the connection from client port `port` down in both directions.
fn close_socket(state: &AppState, port: u16) {
    let socket = state
        .sockets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&port);
    if let Some(socket) = socket {
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
}

/// A running mock server; it stops when the process ends.
pub struct MockFeishu {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    records: Arc<RecordCache>,
    /// Files in the files table at start.
    configured_files: usize,
}

impl MockFeishu {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub fn start(config: MockConfig) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("valid address"), config)
    }

    /// Starts on `addr` in a background thread with its own runtime.
    pub fn start_on(addr: SocketAddr, config: MockConfig) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            edits_keep_revision: config.edits_keep_revision,
            ..Shared::default()
        }));
        let records = Arc::new(RecordCache::new(config.records));
        let configured_files = config.files.len();
        let state = AppState {
            records: records.clone(),
            config: Arc::new(config),
            shared: shared.clone(),
            busy_nanos: Arc::new(AtomicU64::new(0)),
            sockets: Arc::default(),
        };
        let closes = state
            .config
            .faults
            .values()
            .any(|f| *f == Fault::CloseConnection);
        let sockets = state.sockets.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let listener = listener.tap_io(move |io| {
                    if closes {
                        keep_socket(&sockets, io);
                    }
                });
                axum::serve(
                    listener,
                    router(state).into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .expect("mock server");
            });
        });
        Ok(Self {
            addr,
            shared,
            records,
            configured_files,
        })
    }

    /// Renders every record ahead of time, so a benchmark measures serving, not rendering.
    pub fn prerender(&self) {
        for i in 0..self.records.len() {
            self.records.get(i);
        }
    }

    /// `http://127.0.0.1:PORT`, the value for `lark_host`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Marks main-table records as modified at `at_ms` (ms since the epoch).
    pub fn modify(&self, indices: &[usize], at_ms: i64) {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.mark_modified(indices, at_ms);
    }

    /// Appends `count` records to the main table, modified at `at_ms`; returns their indices.
    pub fn add_records(&self, count: usize, at_ms: i64) -> std::ops::Range<usize> {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let first = self.records.len() + shared.added;
        shared.added += count;
        shared.changes += 1;
        for i in first..first + count {
            shared.modified.insert(i, at_ms);
        }
        first..first + count
    }

    /// Adds a record with one file of `size` bytes to the files table; returns its file token.
    pub fn add_file(&self, size: u64) -> String {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.files_added.push(files::Added::File(size));
        files::file_token(self.configured_files + shared.files_added.len() - 1)
    }

    /// Adds a record to the files table holding the same file as record `i` (its token),
    /// as a copied record does; returns that token.
    pub fn add_file_copy(&self, i: usize) -> String {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.files_added.push(files::Added::CopyOf(i));
        files::file_token(i)
    }

    /// Download requests seen so far, and those answered 429 for the download quota.
    pub fn downloads(&self) -> (usize, usize) {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        (shared.downloads, shared.download_violations)
    }

    /// Deletes main-table records (searches leave them out, batch_get calls them absent).
    pub fn delete(&self, indices: &[usize]) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .delete(indices);
    }

    /// Brings deleted main-table records back unchanged (as Feishu's undo does).
    pub fn restore(&self, indices: &[usize]) {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        for i in indices {
            shared.deleted.remove(i);
        }
        shared.changes += 1;
    }

    /// Renames a main-table field: its fields-list entry (same field_id) and its key in records.
    pub fn rename_field(&self, old: &str, new: &str) {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.renamed.push((old.to_string(), new.to_string()));
        shared.changes += 1;
    }

    /// Record `index` of the main table as it stands now (with automatic fields).
    pub fn current_record(&self, index: usize) -> Value {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        data::record_modified_at(index, true, modified_at(&shared.modified, index))
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .requests
            .clone()
    }

    /// A config for the connector pointing at this mock.
    pub fn connector_config(&self, page_size: u32) -> Value {
        json!({
            "app_id": APP_ID, "app_secret": APP_SECRET, "app_token": data::APP_TOKEN,
            "table_id": data::TABLE_ID, "lark_host": self.url(), "page_size": page_size
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_forgeries() {
        for o in [0, 1, 499, 2345] {
            assert_eq!(parse_page_token(&page_token(o)), Some(o));
        }
        assert_eq!(parse_page_token("pgt5x0"), None);
        assert_eq!(parse_page_token("nope"), None);
    }
}
