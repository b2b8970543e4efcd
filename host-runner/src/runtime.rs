//! The wasmtime side: engine (with the compilation cache), linker, one store-data struct, the
//! sandbox hook for outgoing HTTP, and the limits every store is created with.

use crate::ErrorKind;
use crate::dial::{ExchangeReport, HttpClient, Timeouts};
use crate::limiter::RateLimiter;
use crate::output::{GuestStderr, Report, SharedOutput, lock};
use crate::protocol::{FailureType, Level, Status};
use crate::sandbox::{AllowList, HostPattern, Origin};
use crate::stats::RunStats;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Cache, CacheConfig, Config, Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

// The world includes WASI (HTTP, clocks, random, stdio); those come from wasmtime's own WASI
// crates, so only our `host` interface is generated here.
wasmtime::component::bindgen!({
    path: "../wit",
    world: "source",
    with: {
        "wasi": wasmtime_wasi::p2::bindings::sync,
        "wasi:http": wasmtime_wasi_http::p2::bindings::sync::http,
    },
});

use crate::output::Refusal;
pub use datasource::connector::types::ErrorCategory;
use datasource::connector::types::{InvalidRecord, LogLevel, OutputError, StreamStatus};

/// Where compiled components are cached.
#[derive(Debug, Clone)]
pub enum CompileCache {
    /// Compile on every load.
    Off,
    /// wasmtime's default cache directory.
    Default,
    /// This directory.
    Dir(PathBuf),
}

/// Limits applied to every store.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Cap on all the component's linear memories together.
    pub max_memory_bytes: usize,
    /// Cap on connect, first-byte and between-bytes timeouts of each outgoing request.
    pub request_timeout: Duration,
}

/// A compiled component, ready to instantiate.
pub struct Runtime {
    engine: Engine,
    pre: SourcePre<StoreData>,
}

impl Runtime {
    /// Compiles (or loads from the cache) the component file and links it.
    pub fn load(component: &Path, cache: &CompileCache) -> Result<Self> {
        let bytes = std::fs::read(component)
            .with_context(|| format!("cannot read component {}", component.display()))?;
        Self::from_bytes(&bytes, &component.display().to_string(), cache)
    }

    /// Compiles (or loads from the cache) the component `bytes` (`name` for messages).
    pub fn from_bytes(bytes: &[u8], name: &str, cache: &CompileCache) -> Result<Self> {
        let mut config = Config::new();
        match cache_config(cache) {
            Ok(cache) => {
                config.cache(cache);
            }
            Err(e) => eprintln!("WARN  compilation cache disabled: {e:#}"),
        }
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("cannot create the wasmtime engine")?;
        let component = Component::new(&engine, bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{name} is not a valid WebAssembly component"))?;
        let mut linker: Linker<StoreData> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        datasource::connector::host::add_to_linker::<_, HasSelf<_>>(&mut linker, |data| data)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs imports this runner does not provide (is it a `source` world component?)")?;
        Ok(Self {
            engine,
            pre: SourcePre::new(pre)?,
        })
    }

    /// The component's imports and exports, by name.
    pub fn interface(&self) -> (Vec<String>, Vec<String>) {
        let component = self.pre.instance_pre().component();
        let ty = component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let exports = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        (imports, exports)
    }

    /// A fresh store (with its limits and an empty allowlist) and instance.
    pub fn instantiate(
        &self,
        output: SharedOutput,
        limits: Limits,
    ) -> Result<(Store<StoreData>, Source)> {
        let data = StoreData::new(output, limits);
        let mut store = Store::new(&self.engine, data);
        store.limiter(|data| &mut data.limiter);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| explain_trap(e, &store))?;
        Ok((store, instance))
    }
}

fn cache_config(cache: &CompileCache) -> Result<Option<Cache>> {
    let dir = match cache {
        CompileCache::Off => return Ok(None),
        CompileCache::Default => None,
        CompileCache::Dir(dir) => Some(dir),
    };
    let mut config = CacheConfig::new();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create cache directory {}", dir.display()))?;
        config.with_directory(dir);
    }
    Ok(Some(Cache::new(config)?))
}

/// What stopped a trapped component, in plain words: the limit it hit, if it hit one.
pub fn explain_trap(error: wasmtime::Error, store: &Store<StoreData>) -> anyhow::Error {
    let error = anyhow::Error::from(error);
    match store.data().limiter.refused {
        Some(refusal) => error.context(refusal.to_string()),
        None => error.context("the connector failed"),
    }
}

/// Everything a store holds: WASI and HTTP contexts, the sandbox hook, limits and output.
pub struct StoreData {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub hooks: SandboxHooks,
    limiter: StoreCap,
    output: SharedOutput,
}

impl StoreData {
    fn new(output: SharedOutput, limits: Limits) -> Self {
        // No env, args, preopened dirs or sockets; stderr goes through the runner's logger.
        let wasi = WasiCtxBuilder::new()
            .stderr(GuestStderr::new())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: SandboxHooks {
                allowed: Arc::new(AllowList::default()),
                proposed: Vec::new(),
                request_timeout: limits.request_timeout,
                output: output.clone(),
                client: None,
                refusal: Arc::default(),
            },
            limiter: StoreCap::new(limits.max_memory_bytes),
            output,
        }
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

/// Most core instances, linear memories and tables one component may create.
const MAX_INSTANCES: usize = 32;
const MAX_MEMORIES: usize = 8;
const MAX_TABLES: usize = 32;
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// A limit the component ran into.
#[derive(Debug, Clone, Copy)]
enum LimitHit {
    /// All memories together would have reached `wanted` bytes.
    Memory {
        max: usize,
        wanted: usize,
    },
    Table {
        wanted: usize,
    },
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory { max, wanted } => write!(
                f,
                "the connector exceeded the memory limit of {} MiB (it asked for {} MiB); \
                 raise --max-memory-mib",
                max >> 20,
                wanted.div_ceil(1 << 20)
            ),
            Self::Table { wanted } => write!(
                f,
                "the connector exceeded the table limit of {MAX_TABLE_ELEMENTS} elements \
                 (it asked for {wanted})"
            ),
        }
    }
}

/// Store-wide caps: all linear memories together, and how many instances, memories and
/// tables exist; remembers what was refused so the trap can be explained.
struct StoreCap {
    max_bytes: usize,
    /// Bytes of all memories so far.
    total_bytes: usize,
    refused: Option<LimitHit>,
}

impl StoreCap {
    fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            total_bytes: 0,
            refused: None,
        }
    }
}

impl ResourceLimiter for StoreCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let wanted = self
            .total_bytes
            .saturating_sub(current)
            .saturating_add(desired);
        if wanted > self.max_bytes {
            let hit = LimitHit::Memory {
                max: self.max_bytes,
                wanted,
            };
            self.refused = Some(hit);
            return Err(wasmtime::Error::msg(hit.to_string()));
        }
        self.total_bytes = wanted;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.refused = Some(LimitHit::Table { wanted: desired });
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// What every instance of a run is given: the hosts granted, the defaults refused (named when
/// refused), the run's rate limiter and counters, and the config's secrets (masked in logs).
pub struct Access {
    pub allowed: AllowList,
    pub proposed: Vec<(String, Origin)>,
    pub limiter: Arc<RateLimiter>,
    pub stats: Arc<RunStats>,
    /// The secrets to mask in the per-request debug lines; `None` when those lines are not
    /// shown (then no line is formatted at all).
    pub request_log: Option<Arc<Vec<String>>>,
}

/// The sandbox for outgoing HTTP: the operator's grants, the address policy (in the dialer)
/// and timeouts on every request. Nothing is allowed until [`SandboxHooks::grant`] is called.
pub struct SandboxHooks {
    allowed: Arc<AllowList>,
    /// Hosts the component's spec proposes as field defaults that the operator did not grant:
    /// named in the refusal, so the operator knows which field to set.
    proposed: Vec<(String, Origin)>,
    request_timeout: Duration,
    output: SharedOutput,
    client: Option<HttpClient>,
    /// The latest refusal, for the run's error message.
    refusal: Arc<Mutex<Option<String>>>,
}

type BoxedFuture<T> = Box<dyn Future<Output = T> + Send>;
type SendResult = Result<
    (
        http::Response<WasiBody>,
        BoxedFuture<Result<(), wasmtime_wasi_http::Error>>,
    ),
    wasmtime_wasi_http::Error,
>;

impl SandboxHooks {
    /// Grants `allowed`; `proposed` are the spec's host defaults the config left out.
    pub fn grant(&mut self, access: &Access) {
        let allowed = Arc::new(access.allowed.clone());
        let output = self.output.clone();
        let refusal = self.refusal.clone();
        let on_denied = Arc::new(move |why: &str| {
            let message = format!("sandbox refused a connection to {why}");
            lock(&output).log(Level::Warn, &message);
            *refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
        });
        let output = self.output.clone();
        let on_exchange = access.request_log.clone().map(|secrets| {
            Arc::new(move |line: &str| {
                let mut line = line.to_string();
                for secret in secrets.iter() {
                    line = line.replace(secret.as_str(), "***");
                }
                lock(&output).log(Level::Debug, &line);
            }) as ExchangeReport
        });
        self.client = Some(HttpClient::new(
            allowed.clone(),
            self.request_timeout,
            on_denied,
            access.limiter.clone(),
            access.stats.clone(),
            on_exchange,
        ));
        self.allowed = allowed;
        self.proposed = access.proposed.clone();
    }

    /// Why the sandbox refused a request since the last call, if it did.
    pub fn take_refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Refuses a request the allowlist does not cover, saying how to allow it.
    fn refuse(&mut self, uri: &http::Uri) -> BoxedFuture<SendResult> {
        let message = match Origin::of(uri) {
            Some(origin) => {
                let pattern = HostPattern::exact(&origin);
                let field = self.proposed.iter().find(|(_, o)| *o == origin).map_or(
                    String::new(),
                    |(field, _)| {
                        format!(
                            " (the connector's default for `{field}`, which the config leaves out)"
                        )
                    },
                );
                format!(
                    "sandbox refused a request to {origin}{field}: no grant allows it. \
                     Allow it by setting the host in the config, or with --allow-host {pattern} \
                     (allowed now: {})",
                    self.allowed
                )
            }
            None => format!("sandbox refused a request to {uri}: not an http(s) URL"),
        };
        lock(&self.output).log(Level::Warn, &message);
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl WasiHttpHooks for SandboxHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: BoxedFuture<Result<(), wasmtime_wasi_http::Error>>,
    ) -> BoxedFuture<SendResult> {
        let granted = Origin::of(request.uri()).is_some_and(|o| self.allowed.allows(&o).is_some());
        let Some(client) = self.client.clone().filter(|_| granted) else {
            return self.refuse(request.uri());
        };
        let cap = |asked: Option<Duration>| {
            asked.map_or(self.request_timeout, |d| d.min(self.request_timeout))
        };
        let asked = options.unwrap_or_default();
        let timeouts = Timeouts {
            connect: cap(asked.connect_timeout),
            first_byte: cap(asked.first_byte_timeout),
            between_bytes: cap(asked.between_bytes_timeout),
        };
        Box::new(client.send(request, timeouts))
    }
}

impl datasource::connector::types::Host for StoreData {}

impl StoreData {
    /// A connector error as it is reported: its kind and failure type from its category, and
    /// the sandbox's reason appended when the sandbox refused a request since the last report.
    pub fn report(&self, error: ConnectorError) -> Report {
        let refusal = self.hooks.take_refusal();
        Report {
            kind: error_kind(&error.category, refusal.is_some()),
            internal: format!("connector error category: {:?}", error.category),
            failure_type: failure_type(&error.category),
            message: with_refusal(error.message, refusal),
        }
    }
}

/// A connector's error message, followed by the sandbox's reason when it refused a request.
fn with_refusal(message: String, refusal: Option<String>) -> String {
    match refusal {
        Some(refusal) => format!("{message}. {refusal}"),
        None => message,
    }
}

/// The kind of a connector error; `refused` when the sandbox refused a request meanwhile.
fn error_kind(category: &ErrorCategory, refused: bool) -> ErrorKind {
    if refused {
        return ErrorKind::Sandbox;
    }
    match category {
        ErrorCategory::Config => ErrorKind::Config,
        ErrorCategory::Auth => ErrorKind::Auth,
        ErrorCategory::Permission => ErrorKind::Permission,
        ErrorCategory::NotFound => ErrorKind::NotFound,
        ErrorCategory::RateLimited(_) => ErrorKind::RateLimited,
        ErrorCategory::Transient => ErrorKind::Transient,
        ErrorCategory::BadResponse => ErrorKind::BadResponse,
        ErrorCategory::Internal => ErrorKind::Internal,
    }
}

/// Whether a trap came from one of the store's limits.
pub fn hit_limit(store: &Store<StoreData>) -> bool {
    store.data().limiter.refused.is_some()
}

/// The protocol's failure class for a connector error category.
fn failure_type(category: &ErrorCategory) -> FailureType {
    match category {
        ErrorCategory::Config
        | ErrorCategory::Auth
        | ErrorCategory::Permission
        | ErrorCategory::NotFound => FailureType::Config,
        ErrorCategory::RateLimited(_) | ErrorCategory::Transient => FailureType::Transient,
        ErrorCategory::BadResponse | ErrorCategory::Internal => FailureType::System,
    }
}

fn output_error(refusal: Refusal) -> OutputError {
    match refusal {
        Refusal::Invalid { index, reason } => OutputError::InvalidRecord(InvalidRecord {
            index: index as u32,
            reason,
        }),
        Refusal::Closed(why) => OutputError::Closed(why),
    }
}

impl datasource::connector::host::Host for StoreData {
    fn emit_records(&mut self, stream: String, records: Vec<Vec<u8>>) -> Result<(), OutputError> {
        lock(&self.output)
            .records(&stream, &records)
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
}
