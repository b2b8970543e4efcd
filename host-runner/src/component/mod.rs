//! The compiled component: wasmtime's engine (with its compilation cache), the linker with
//! WASI, WASI HTTP and our `host` interface, and a fresh store and instance per run.
//!
//! | module | job |
//! |---|---|
//! | this root | [`Runtime`]: compile (or load from the cache), link, instantiate |
//! | [`bindings`] | the `source` world's generated types and traits, in one place |
//! | [`store`] | the store's data: WASI, the sandbox's hooks, and our `host` interface |

pub mod bindings;
pub mod store;

use crate::SettingNames;
use crate::component::store::StoreData;
use crate::run::output::SharedOutput;
use crate::sandbox::limits::Limits;
use anyhow::{Context, Result};
use bindings::{Source, SourcePre};
use std::path::{Path, PathBuf};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Cache, CacheConfig, Config, Engine, ProfilingStrategy, Store};

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
        config.profiler(profiler());
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
        bindings::datasource::connector::host::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |data| data,
        )?;
        bindings::datasource::connector::files::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |data| data,
        )?;
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
        names: &SettingNames,
    ) -> Result<(Store<StoreData>, Source)> {
        let data = StoreData::new(output, limits, names);
        let mut store = Store::new(&self.engine, data);
        store.limiter(|data| &mut data.limiter);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| store.data().limiter.explain(e))?;
        Ok((store, instance))
    }
}

/// The profiler `$HOST_RUNNER_PROFILER` names (`perfmap` or `jitdump`, for Linux `perf`), so
/// that profiles name the component's functions; none when unset.
fn profiler() -> ProfilingStrategy {
    match std::env::var("HOST_RUNNER_PROFILER").as_deref() {
        Ok("perfmap") => ProfilingStrategy::PerfMap,
        Ok("jitdump") => ProfilingStrategy::JitDump,
        Ok(other) if !other.is_empty() => {
            eprintln!("WARN  HOST_RUNNER_PROFILER={other:?} is not perfmap or jitdump; ignored");
            ProfilingStrategy::None
        }
        _ => ProfilingStrategy::None,
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
