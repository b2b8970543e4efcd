//! The caps every store is created with: all linear memories together, instances, memories
//! and tables, and what a trap says when one of them stopped the component.

use std::time::Duration;
use wasmtime::ResourceLimiter;

/// Limits applied to every store.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Cap on all the component's linear memories together.
    pub max_memory_bytes: usize,
    /// Cap on connect, first-byte and between-bytes timeouts of each outgoing request.
    pub request_timeout: Duration,
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

impl LimitHit {
    /// The limit in plain words; `memory_setting` is how the front end names the memory cap.
    fn describe(self, memory_setting: &str) -> String {
        match self {
            Self::Memory { max, wanted } => format!(
                "the connector exceeded the memory limit of {} MiB (it asked for {} MiB); \
                 raise {memory_setting}",
                max >> 20,
                wanted.div_ceil(1 << 20)
            ),
            Self::Table { wanted } => format!(
                "the connector exceeded the table limit of {MAX_TABLE_ELEMENTS} elements \
                 (it asked for {wanted})"
            ),
        }
    }
}

/// Store-wide caps: all linear memories together, and how many instances, memories and
/// tables exist; remembers what was refused so the trap can be explained.
pub struct StoreCap {
    max_bytes: usize,
    /// Bytes of all memories so far.
    total_bytes: usize,
    refused: Option<LimitHit>,
    /// How the front end names the memory cap, for the message.
    memory_setting: String,
}

impl StoreCap {
    /// Caps all memories together at `max_bytes` (`memory_setting` raises it).
    pub fn new(max_bytes: usize, memory_setting: String) -> Self {
        Self {
            max_bytes,
            total_bytes: 0,
            refused: None,
            memory_setting,
        }
    }

    /// What the component ran into, in plain words, if it ran into a cap.
    fn refusal(&self) -> Option<String> {
        self.refused.map(|hit| hit.describe(&self.memory_setting))
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
            return Err(wasmtime::Error::msg(hit.describe(&self.memory_setting)));
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

impl StoreCap {
    /// What stopped a trapped component, in plain words: the limit it hit, if it hit one.
    pub fn explain(&self, error: wasmtime::Error) -> anyhow::Error {
        let error = anyhow::Error::from(error);
        match self.refusal() {
            Some(refusal) => error.context(refusal),
            None => error.context("the connector failed"),
        }
    }

    /// Whether a trap came from one of the caps.
    pub fn hit(&self) -> bool {
        self.refused.is_some()
    }
}
