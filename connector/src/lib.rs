//! Feishu / Lark Bitable source connector, built as a WebAssembly component (`source` world).
//!
//! Flow of a read: [`config`] validates the user's JSON config; [`api::client`] fetches a
//! tenant token ([`api::token`]) and sends each request through one retry loop steered by the
//! error classifier ([`api::classify`]); [`source`] selects the streams and
//! [`read::stream_read`] reads them, several at once taking turns page by page, each through
//! `records/search` ([`read::pages`], [`read::records`]), handing each page's records,
//! verbatim, to the host a page at a time; with `attachments: files`, [`read::attachments`]
//! then reads each table's attachments stream, each file streamed from the download's body to
//! the host's file a chunk at a time ([`host::Output::open_file`], the WIT `files` import);
//! [`state`] is what a stream keeps between runs.
//!
//! | module | job |
//! |---|---|
//! | [`config`], [`spec`] | the config's fields, checked; the spec that declares them |
//! | [`source`] | the world's operations: spec, check (with the quota plan), discover, read |
//! | [`api`] | Feishu's Open API: client, token, error classifier, tables and fields |
//! | [`read`] | the read flow: streams, searches, pages, records, drift, deletes, attachments |
//! | [`values`] | fields, their JSON schemas, and `values: plain` records |
//! | [`state`] | cursors, table identity, resume points, remembered record ids |
//! | [`error`], [`host`] | the connector's errors; the host it runs in (transport, output) |
//!
//! Everything but `component` and `wasi_http` is plain Rust over the [`host::Transport`] and
//! [`host::Output`] traits and tests natively. On wasm, `wasi_http` is the transport and
//! `component` (feature `component`, on by default) exports the `source` world over the WIT
//! `host` imports; the edge build (`edge/`) turns the feature off and adapts the same code to
//! `wasi:http/proxy`.

pub mod api;
pub mod config;
pub mod error;
pub mod host;
pub mod read;
pub mod source;
pub mod spec;
pub mod state;
pub mod values;

#[cfg(test)]
mod fake;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod component;
#[cfg(target_arch = "wasm32")]
pub mod wasi_http;
