//! The Feishu connector as a `wasi:http/proxy` component (`feishu-edge.wasm`), for any runtime
//! that serves that standard world (`wasmtime serve`, `jco serve`, edge platforms).
//!
//! Flow: [`handle`] routes `GET /spec` and `POST /check|/discover|/read`, reads the JSON body
//! `{"config": {...}, "catalog": {...}?, "state": [...]?}`, sends the response head at once and
//! then runs the connector's own `source` functions with [`lines::Lines`] as their output, which
//! writes Airbyte protocol lines (the same bytes as host-runner's stdout) into the chunked body
//! as they are produced: a page at a time, never the whole table.
//!
//! It imports WASI HTTP and nothing of our `host` interface: a proxy-world runtime has none.
//! Which hosts it may reach is the serving runtime's egress policy.

#[cfg(target_arch = "wasm32")]
mod handler;
pub mod kept;
pub mod lines;
pub mod request;

#[cfg(test)]
mod conformance;
