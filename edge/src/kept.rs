//! Secrets the edge build keeps from the connector code it runs: config fields the spec marks
//! `x-host-secret` reach the connector as placeholders ([`Placeholders`]), and
//! [`KeptTransport`] puts the real values back into the bearer token and JSON body of requests
//! to the hosts the config's `x-outbound-host` fields name (or, for a field the config leaves
//! out, its default: in the proxy world the serving runtime's egress policy is the grant), never
//! into a URL. Requests to any other host carry the placeholder.

use feishu::api::url::HttpUrl;
use feishu::host::{HttpRequest, HttpResponse, LogLevel, Transport, TransportFailure};
use protocol::kept::{Placeholders, marked};
use serde_json::Value;
use std::time::Duration;

/// A transport that puts kept secrets back into requests to the config's hosts.
pub struct KeptTransport<T> {
    inner: T,
    kept: Placeholders,
    /// `scheme://authority` of each host the config names, lower case.
    origins: Vec<String>,
}

impl<T: Transport> KeptTransport<T> {
    /// Keeps `config`'s marked fields (replaced there by placeholders) for requests through
    /// `inner` to the hosts `config` names.
    pub fn new(inner: T, spec: &Value, config: &mut Value) -> Self {
        let origins = marked(spec, "x-outbound-host")
            .filter_map(|(name, schema)| config.get(name).or_else(|| schema.get("default")))
            .filter_map(Value::as_str)
            .filter_map(origin)
            .collect();
        let (kept, _) = Placeholders::keep(spec, config);
        Self {
            inner,
            kept,
            origins,
        }
    }

    /// `request` as it goes out: the real values in its token and body when its host is one
    /// of the config's.
    fn outgoing(&self, request: &HttpRequest) -> Option<HttpRequest> {
        if self.kept.is_empty() {
            return None;
        }
        let to = origin(&request.url)?;
        if !self.origins.contains(&to) {
            return None;
        }
        let put_back = |text: &Option<String>| {
            text.as_deref().map(|t| {
                self.kept
                    .put_back_in_text(t)
                    .unwrap_or_else(|| t.to_string())
            })
        };
        Some(HttpRequest {
            method: request.method,
            url: request.url.clone(),
            bearer: put_back(&request.bearer),
            json_body: put_back(&request.json_body),
            range_from: request.range_from,
        })
    }
}

/// `scheme://authority` of an absolute http(s) URL, lower case.
fn origin(url: &str) -> Option<String> {
    HttpUrl::parse(url).map(|url| url.origin().to_ascii_lowercase())
}

impl<T: Transport> Transport for KeptTransport<T> {
    type Pending = T::Pending;
    fn start(&mut self, request: &HttpRequest) -> Result<Self::Pending, TransportFailure> {
        match self.outgoing(request) {
            Some(real) => self.inner.start(&real),
            None => self.inner.start(request),
        }
    }
    fn finish(&mut self, pending: Self::Pending) -> Result<HttpResponse, TransportFailure> {
        self.inner.finish(pending)
    }
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
    fn epoch_ms(&self) -> i64 {
        self.inner.epoch_ms()
    }
    fn sleep(&mut self, duration: Duration) {
        self.inner.sleep(duration)
    }
    fn random(&mut self) -> u64 {
        self.inner.random()
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        self.inner.log(level, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use feishu::host::Method;
    use serde_json::json;

    /// Keeps the requests it is asked to send.
    #[derive(Default)]
    struct Sent(Vec<HttpRequest>);

    impl Transport for Sent {
        type Pending = ();
        fn start(&mut self, request: &HttpRequest) -> Result<(), TransportFailure> {
            self.0.push(request.clone());
            Ok(())
        }
        fn finish(&mut self, (): ()) -> Result<HttpResponse, TransportFailure> {
            Ok(HttpResponse::default())
        }
        fn now_ms(&self) -> u64 {
            0
        }
        fn epoch_ms(&self) -> i64 {
            0
        }
        fn sleep(&mut self, _: Duration) {}
        fn random(&mut self) -> u64 {
            4
        }
        fn log(&mut self, _: LogLevel, _: &str) {}
    }

    #[test]
    fn real_values_go_only_to_the_config_hosts_and_never_into_urls() {
        let spec = json!({"connectionSpecification": {"properties": {
            "secret": {"type": "string", "x-host-secret": true},
            "host": {"type": "string", "x-outbound-host": true, "default": "https://d.example"},
        }}});
        let mut config = json!({"secret": "the-real-secret", "host": "http://127.0.0.1:9"});
        let mut transport = KeptTransport::new(Sent::default(), &spec, &mut config);
        let placeholder = config["secret"].as_str().unwrap().to_string();
        assert_ne!(placeholder, "the-real-secret");
        let request = |url: &str| HttpRequest {
            method: Method::Post,
            url: format!("{url}/token?s={placeholder}"),
            bearer: Some(placeholder.clone()),
            json_body: Some(format!(r#"{{"s":"{placeholder}"}}"#)),
            range_from: None,
        };
        for url in ["http://127.0.0.1:9", "https://d.example", "http://other:9"] {
            transport.start(&request(url)).unwrap();
        }
        let sent = &transport.inner.0;
        assert_eq!(sent[0].bearer.as_deref(), Some("the-real-secret"));
        assert_eq!(
            sent[0].json_body.as_deref(),
            Some(r#"{"s":"the-real-secret"}"#)
        );
        assert!(
            sent[0].url.ends_with(&format!("?s={placeholder}")),
            "the URL keeps it"
        );
        for other in &sent[1..] {
            // The default is no grant when the config names its own host.
            assert_eq!(other.bearer.as_deref(), Some(placeholder.as_str()));
            assert!(
                !other
                    .json_body
                    .as_deref()
                    .unwrap_or_default()
                    .contains("the-real")
            );
        }
    }
}
