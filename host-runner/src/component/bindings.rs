//! The `source` world's bindings, generated once for the whole runner.

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
