//! billtap's own HTTP transport for desktop, the CLI, the Python package and tests: reqwest on
//! rustls (ring, Mozilla roots), no redirects followed, bodies read chunk by chunk and refused
//! past the caller's limit without being buffered. Phones may hand in their own stack instead.

use std::time::Duration;

use crate::ports::{HttpHeader, HttpRequest, HttpResponse, HttpTransport, TransportError};

use super::PlatformError;

/// reqwest + rustls, following the transport rules of protocol v2.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    http: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with this connect timeout (the request timeout comes with each request).
    pub fn new(connect_timeout: Duration) -> Result<Self, PlatformError> {
        let provider = super::tls::provider();
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PlatformError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(connect_timeout)
            // A redirect is an answer like any other: the client refuses it, and its target
            // never sees the request (or the account number in it).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("billtap/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlatformError::Config(e.to_string()))?;
        Ok(ReqwestTransport { http })
    }
}

fn network(e: &reqwest::Error) -> TransportError {
    if e.is_timeout() {
        return TransportError::Timeout;
    }
    // Without the URL: it may carry account numbers in query strings.
    let mut reason = format!("{}", DisplayChain(e));
    reason.truncate(160);
    TransportError::Network { reason }
}

/// An error with its sources, which say what actually failed (refused, reset, DNS…).
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self.0);
        let mut first = true;
        while let Some(e) = cur {
            let text = e.to_string();
            if !text.contains("://") {
                if !first {
                    f.write_str(": ")?;
                }
                f.write_str(&text)?;
                first = false;
            }
            cur = e.source();
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            TransportError::Network {
                reason: format!("unsupported method {}", request.method),
            }
        })?;
        let mut builder = self
            .http
            .request(method, &request.url)
            .timeout(Duration::from_millis(request.timeout_ms));
        for h in &request.headers {
            builder = builder.header(&h.name, &h.value);
        }
        if !request.body.is_empty() {
            builder = builder.body(request.body);
        }
        let mut resp = builder.send().await.map_err(|e| network(&e))?;
        let limit = request.max_response_bytes;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(TransportError::TooLarge { limit });
        }
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some(HttpHeader {
                    name: name.as_str().to_string(),
                    value: value.to_str().ok()?.to_string(),
                })
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| network(&e))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(TransportError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}
