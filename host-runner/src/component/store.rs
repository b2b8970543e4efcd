//! One store's data and our `host` interface: the WASI and HTTP contexts (no env, args, files
//! or sockets), the sandbox hooks, the memory caps and the run's output, and the connector's
//! calls into the host (records, states, statuses, failures, logs) handed to that output.

use crate::SettingNames;
use crate::component::bindings::datasource::connector::types::{
    ConnectorError, ErrorCategory as WitCategory, InvalidRecord, LogLevel, OutputError,
    StreamStatus,
};
use crate::component::bindings::datasource::connector::{files, host, types};
use crate::run::guest_stderr::GuestStderr;
use crate::run::output::{SharedOutput, lock};
use crate::sandbox::egress::SandboxHooks;
use crate::sandbox::files::FileStore;
use crate::sandbox::limits::{Limits, StoreCap};
use protocol::{ConnectorFailure, ErrorCategory, Level, Refusal, Report, Status};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Everything a store holds: WASI and HTTP contexts, the sandbox hook, limits and output.
pub struct StoreData {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub hooks: SandboxHooks,
    pub(crate) limiter: StoreCap,
    output: SharedOutput,
    /// How many streams the instance's `read` may have in progress at once (1 unless the
    /// run gives the whole read to this instance).
    pub streams_at_once: u32,
    /// Files the component hands over (none unless the run has a files directory).
    pub files: FileStore,
}

impl StoreData {
    /// A store's data with nothing granted yet; `names` words the limits' messages.
    pub fn new(output: SharedOutput, limits: Limits, names: &SettingNames) -> Self {
        // No env, args, preopened dirs or sockets; stderr goes through the runner's logger.
        let wasi = WasiCtxBuilder::new()
            .stderr(GuestStderr::new(lock(&output).secrets().clone()))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: SandboxHooks::new(
                output.clone(),
                limits.request_timeout,
                names.allow_hosts.clone(),
            ),
            limiter: StoreCap::new(limits.max_memory_bytes, names.max_memory.clone()),
            output,
            streams_at_once: 1,
            files: FileStore::new(None, &names.files_dir),
        }
    }

    /// A connector error as it is reported (the contract's table decides kind and failure
    /// type), with the sandbox's reason when it refused a request since the last report.
    pub fn report(&self, error: ConnectorError) -> Report {
        let failure = ConnectorFailure {
            category: category(error.category),
            message: error.message,
            upstream_code: error.upstream_code,
            request_id: error.request_id,
        };
        Report::connector(failure, self.hooks.take_refusal())
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The bindings' category as the contract's.
fn category(category: WitCategory) -> ErrorCategory {
    match category {
        WitCategory::Config => ErrorCategory::Config,
        WitCategory::Auth => ErrorCategory::Auth,
        WitCategory::Permission => ErrorCategory::Permission,
        WitCategory::NotFound => ErrorCategory::NotFound,
        WitCategory::RateLimited(wait) => ErrorCategory::RateLimited(wait),
        WitCategory::Transient => ErrorCategory::Transient,
        WitCategory::BadResponse => ErrorCategory::BadResponse,
        WitCategory::Internal => ErrorCategory::Internal,
    }
}

fn output_error(refusal: Refusal) -> OutputError {
    match refusal {
        Refusal::Invalid { index, reason } => OutputError::InvalidRecord(InvalidRecord {
            index: index as u32,
            reason,
        }),
        Refusal::Closed(why) | Refusal::StreamEnded(why) => OutputError::Closed(why),
    }
}

impl types::Host for StoreData {}

impl files::Host for StoreData {
    fn open_file(&mut self, _stream: String, path: String) -> Result<u32, String> {
        self.files.open(&path)
    }

    fn write_file(&mut self, file: u32, chunk: Vec<u8>) -> Result<(), String> {
        self.files.write(file, &chunk)
    }

    fn finish_file(&mut self, file: u32, size: u64) -> Result<files::StoredFile, String> {
        let stored = self.files.finish(file, size)?;
        Ok(files::StoredFile {
            size: stored.size,
            sha256: stored.sha256,
            location: stored.location.display().to_string(),
        })
    }

    fn abort_file(&mut self, file: u32) {
        self.files.abort(file)
    }
}

impl host::Host for StoreData {
    fn emit_records(&mut self, stream: String, records: Vec<Vec<u8>>) -> Result<(), OutputError> {
        lock(&self.output)
            .records(&stream, records)
            .map_err(output_error)
    }

    fn emit_state(&mut self, stream: String, state: String) -> Result<(), OutputError> {
        lock(&self.output)
            .state(&stream, &state)
            .map_err(output_error)
    }

    fn set_stream_status(&mut self, stream: String, status: StreamStatus) {
        let status = match status {
            StreamStatus::Started => Status::Started,
            StreamStatus::Complete => Status::Complete,
            StreamStatus::Incomplete => Status::Incomplete,
        };
        lock(&self.output).status(&stream, status);
    }

    fn fail_stream(&mut self, stream: String, error: ConnectorError) {
        let report = self.report(error);
        lock(&self.output).fail_stream(&stream, &report);
    }

    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Trace => Level::Trace,
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Error,
        };
        lock(&self.output).log(level, &message);
    }

    fn streams_at_once(&mut self) -> u32 {
        self.streams_at_once.max(1)
    }

    fn stream_requests(&mut self, stream: String, requests: u64) {
        lock(&self.output).stream_requests(&stream, requests);
    }
}
