//! Feishu / Lark Bitable source connector, built as a WebAssembly component (`source` world).
//!
//! Flow of a read: [`config`] validates the user's JSON config; [`client`] fetches a tenant
//! token ([`token`]) and sends each request through one retry loop steered by the error
//! classifier ([`classify`]); [`source`] pages through `records/search` ([`paginator`],
//! [`records`]) and hands each page's records, verbatim, to the host a page at a time.
//!
//! Everything but `component` is plain Rust over the [`host::Transport`] and [`host::Output`]
//! traits and tests natively; `component` (wasm only) binds them to WASI HTTP and the WIT imports.

pub mod base;
pub mod catalog;
pub mod classify;
pub mod client;
pub mod config;
pub mod error;
pub mod host;
pub mod incremental;
pub mod link;
pub mod paginator;
pub mod records;
pub mod scan;
pub mod schema;
pub mod source;
pub mod spec;
pub mod token;
pub mod url;

#[cfg(test)]
mod fake;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod wasi_http;
