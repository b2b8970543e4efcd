//! Feishu / Lark Bitable source connector, built as a WebAssembly component (`source` world).
//!
//! Flow of a read: [`config`] validates the user's JSON config; [`client`] fetches a tenant
//! token ([`token`]) and sends each request through one retry loop steered by the error
//! classifier ([`classify`]); [`source`] selects the streams and [`stream_read`] reads them, several
//! at once taking turns page by page, each through `records/search` ([`pages`], [`paginator`],
//! [`records`]), handing each page's records, verbatim, to the host a page at a time.
//!
//! Everything but `component` and `wasi_http` is plain Rust over the [`host::Transport`] and
//! [`host::Output`] traits and tests natively. On wasm, `wasi_http` is the transport and
//! `component` (feature `component`, on by default) exports the `source` world over the WIT
//! `host` imports; the edge build (`edge/`) turns the feature off and adapts the same code to
//! `wasi:http/proxy`.

pub mod base;
pub mod catalog;
pub mod classify;
pub mod client;
pub mod config;
pub mod deletes;
pub mod error;
pub mod host;
pub mod incremental;
pub mod link;
pub mod pages;
pub mod paginator;
pub mod plain;
pub mod planning;
pub mod ranges;
pub mod record_ids;
pub mod records;
pub mod scan;
pub mod schema;
pub mod schema_drift;
pub mod source;
pub mod spec;
pub mod stream_read;
pub mod token;
pub mod url;

#[cfg(test)]
mod fake;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod component;
#[cfg(target_arch = "wasm32")]
pub mod wasi_http;
