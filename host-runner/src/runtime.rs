//! The wasmtime side: engine (with the compilation cache), linker, one store-data struct, the
//! sandbox hook for outgoing HTTP, and the limits every store is created with.

use crate::output::{SharedOutput, lock};
use crate::pool::{ConnectionPool, Timeouts};
use crate::protocol::{Level, Status};
use crate::sandbox::AllowList;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Cache, CacheConfig, Config, Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

wasmtime::component::bindgen!({ path: "../wit", world: "source" });

use crate::output::Refusal;
pub use datasource::connector::types::ErrorCategory;
use datasource::connector::types::{InvalidRecord, LogLevel, OutputError, StreamStatus};

/// Where compiled components are cached.
#[derive(Debug, Clone)]
pub enum CompileCache {
    Off,
    /// wasmtime's default cache directory.
    Default,
    Dir(PathBuf),
}

/// Limits applied to every store.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
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
    /// Compiles (or loads from the cache) the component and links it.
    pub fn load(component: &Path, cache: &CompileCache) -> Result<Self> {
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
        let bytes = std::fs::read(component)
            .with_context(|| format!("cannot read component {}", component.display()))?;
        let component = Component::new(&engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "{} is not a valid WebAssembly component",
                    component.display()
                )
            })?;
        let mut linker: Linker<StoreData> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        Source::add_to_linker::<_, HasSelf<_>>(&mut linker, |data| data)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs imports this runner does not provide (is it a `source` world component?)")?;
        Ok(Self {
            engine,
            pre: SourcePre::new(pre)?,
        })
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

/// Turns a trap caused by the memory cap into a message that says so.
pub fn explain_trap(error: wasmtime::Error, store: &Store<StoreData>) -> anyhow::Error {
    let error = anyhow::Error::from(error);
    match store.data().limiter.refused {
        Some(desired) => error.context(format!(
            "the connector exceeded the memory limit of {} MiB (it asked for {} MiB); raise it with --max-memory-mib",
            store.data().limiter.max_bytes >> 20,
            desired.div_ceil(1 << 20)
        )),
        None => error,
    }
}

/// Everything a store holds: WASI and HTTP contexts, the sandbox hook, limits and output.
pub struct StoreData {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub hooks: SandboxHooks,
    limiter: MemoryCap,
    output: SharedOutput,
}

impl StoreData {
    fn new(output: SharedOutput, limits: Limits) -> Self {
        // No env, args, preopened dirs or sockets; stderr passes through for panic messages.
        let wasi = WasiCtxBuilder::new()
            .inherit_stderr()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: SandboxHooks {
                allowed: AllowList::default(),
                request_timeout: limits.request_timeout,
                output: output.clone(),
                pool: ConnectionPool::new(),
            },
            limiter: MemoryCap {
                max_bytes: limits.max_memory_bytes,
                refused: None,
            },
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

/// Caps each linear memory; remembers a refusal so the trap can be explained.
struct MemoryCap {
    max_bytes: usize,
    refused: Option<usize>,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = Some(desired);
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} bytes reached",
                self.max_bytes
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The sandbox for outgoing HTTP: the allowlist, and timeouts on every request.
pub struct SandboxHooks {
    pub allowed: AllowList,
    request_timeout: Duration,
    output: SharedOutput,
    pool: Arc<ConnectionPool>,
}

type BoxedFuture<T> = Box<dyn Future<Output = T> + Send>;
type SendResult = Result<
    (
        http::Response<WasiBody>,
        BoxedFuture<Result<(), wasmtime_wasi_http::Error>>,
    ),
    wasmtime_wasi_http::Error,
>;

impl WasiHttpHooks for SandboxHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: BoxedFuture<Result<(), wasmtime_wasi_http::Error>>,
    ) -> BoxedFuture<SendResult> {
        if !self.allowed.allows(request.uri()) {
            let uri = request.uri();
            let origin = format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("?"),
                uri.authority().map_or("?", |a| a.as_str())
            );
            let message = format!(
                "sandbox refused a request to {origin} (allowed hosts: {})",
                self.allowed
            );
            lock(&self.output).log(Level::Warn, &message);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let cap = |asked: Option<Duration>| {
            asked.map_or(self.request_timeout, |d| d.min(self.request_timeout))
        };
        let asked = options.unwrap_or_default();
        let timeouts = Timeouts {
            connect: cap(asked.connect_timeout),
            first_byte: cap(asked.first_byte_timeout),
            between_bytes: cap(asked.between_bytes_timeout),
        };
        Box::new(self.pool.clone().send(request, timeouts))
    }
}

impl datasource::connector::types::Host for StoreData {}

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
