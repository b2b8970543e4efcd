//! Embedding feishu.wasm in your own Rust host with wasmtime alone (no `host_runner`): generate
//! bindings from wit/, implement the `host` interface, and grant outgoing HTTP to one origin in
//! wasi-http's `send_request` hook. Here the host counts records per stream and keeps the last
//! state of each, and takes no files (its `files` interface refuses them, so an attachments
//! stream fails saying so).
//!
//! ```sh
//! cargo run -p host-runner --example embed_wasmtime -- feishu.wasm '{"app_id": ...}'
//! ```

use std::collections::BTreeMap;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

// WASI comes from wasmtime's crates; only our `host` interface is generated.
wasmtime::component::bindgen!({
    path: "../wit",
    world: "source",
    with: {
        "wasi": wasmtime_wasi::p2::bindings::sync,
        "wasi:http": wasmtime_wasi_http::p2::bindings::sync::http,
    },
});

use datasource::connector::types::{LogLevel, OutputError, StreamStatus};

/// Everything the store holds.
struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    grant: OneOrigin,
    records: BTreeMap<String, usize>,
    states: BTreeMap<String, String>,
}

/// Allows requests to one `scheme://host:port` and refuses the rest.
struct OneOrigin(String);

type Sent = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OneOrigin {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Sent {
        let uri = request.uri();
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map(|a| a.as_str()).unwrap_or_default()
        );
        if origin != self.0 {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.grant,
        }
    }
}

impl datasource::connector::types::Host for Host {}

/// No place for files: every file is refused (host-runner writes them under `--files-dir`).
impl datasource::connector::files::Host for Host {
    fn open_file(&mut self, _stream: String, _path: String) -> Result<u32, String> {
        Err("this host takes no files".into())
    }
    fn write_file(&mut self, file: u32, _chunk: Vec<u8>) -> Result<(), String> {
        Err(format!("file {file} is not open"))
    }
    fn finish_file(
        &mut self,
        file: u32,
        _size: u64,
    ) -> Result<datasource::connector::files::StoredFile, String> {
        Err(format!("file {file} is not open"))
    }
    fn abort_file(&mut self, _file: u32) {}
}

impl datasource::connector::host::Host for Host {
    fn emit_records(&mut self, stream: String, records: Vec<Vec<u8>>) -> Result<(), OutputError> {
        *self.records.entry(stream).or_default() += records.len();
        Ok(())
    }
    fn emit_state(&mut self, stream: String, state: String) -> Result<(), OutputError> {
        self.states.insert(stream, state);
        Ok(())
    }
    fn set_stream_status(&mut self, stream: String, status: StreamStatus) {
        eprintln!("{stream}: {status:?}");
    }
    fn fail_stream(&mut self, stream: String, error: datasource::connector::types::ConnectorError) {
        eprintln!("{stream} failed: {}", error.message);
    }
    fn log(&mut self, level: LogLevel, message: String) {
        eprintln!("{level:?}: {message}");
    }
    fn streams_at_once(&mut self) -> u32 {
        // Up to four streams take turns, each with a request in flight.
        4
    }
    fn stream_requests(&mut self, stream: String, requests: u64) {
        eprintln!("{stream}: {requests} requests");
    }
}

/// Reads every stream `config` offers, with outgoing HTTP granted to `origin` only.
fn read(component: &[u8], config: &str, origin: &str) -> anyhow::Result<Host> {
    let engine = Engine::new(&Config::new())?;
    let component = Component::new(&engine, component)?;
    let mut linker: Linker<Host> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    datasource::connector::host::add_to_linker::<_, HasSelf<_>>(&mut linker, |host| host)?;
    datasource::connector::files::add_to_linker::<_, HasSelf<_>>(&mut linker, |host| host)?;
    let host = Host {
        // No environment, arguments, files or sockets.
        wasi: WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        grant: OneOrigin(origin.to_string()),
        records: BTreeMap::new(),
        states: BTreeMap::new(),
    };
    let mut store = Store::new(&engine, host);
    let source = Source::instantiate(&mut store, &component, &linker)?;
    source
        .call_read(&mut store, config, None, None)?
        .map_err(|e| anyhow::anyhow!("{:?}: {}", e.category, e.message))?;
    Ok(store.into_data())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [component, config] = args.as_slice() else {
        anyhow::bail!("usage: embed_wasmtime COMPONENT CONFIG_JSON");
    };
    let config_json: serde_json::Value = serde_json::from_str(config)?;
    let origin = config_json["lark_host"]
        .as_str()
        .unwrap_or("https://open.feishu.cn");
    let host = read(&std::fs::read(component)?, config, origin)?;
    for (stream, count) in &host.records {
        println!(
            "{stream}\t{count}\t{}",
            host.states.get(stream).map_or("", String::as_str)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mock_and_refuses_other_origins() {
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = workspace.join("target/e2e-guest");
        let built = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "connector", "--target", "wasm32-wasip2"])
            .args(["--profile", "guest", "--quiet", "--target-dir"])
            .arg(&target)
            .current_dir(&workspace)
            .status()
            .expect("cargo");
        assert!(built.success());
        let component = std::fs::read(target.join("wasm32-wasip2/guest/feishu.wasm")).unwrap();
        let mock = mock_feishu::MockFeishu::start(mock_feishu::MockConfig::with_records(42))
            .expect("mock");
        let config = mock.connector_config(10).to_string();
        let host = read(&component, &config, &mock.url()).expect("read");
        assert_eq!(host.records, BTreeMap::from([("records".to_string(), 42)]));
        assert_eq!(host.states.len(), 1);
        let seen = mock.requests().len();
        let refused = read(&component, &config, "https://open.feishu.cn")
            .err()
            .unwrap();
        assert!(refused.to_string().contains("refused"), "{refused}");
        assert_eq!(
            mock.requests().len(),
            seen,
            "the refused read reached the mock"
        );
    }
}
