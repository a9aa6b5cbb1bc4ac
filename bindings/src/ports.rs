//! Host ports at the FFI: the app's HTTP stack and clock, handed in through [`BilltapBuilder`]
//! as foreign traits (Kotlin `java.net.http`/OkHttp, Swift `URLSession`, Python's standard
//! library). They adapt to core's `ports` traits; every trust check stays in core.

use std::sync::Arc;

use billtap_core::ports as core_ports;

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// Name (compared case-insensitively).
    pub name: String,
    /// Value.
    pub value: String,
}

/// A request for the host's HTTP stack. Send exactly this; do not follow redirects (return a
/// 3xx as it came); stop reading a body longer than `max_response_bytes` and fail with
/// `TransportError.TooLarge` instead of buffering it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Absolute URL, sent verbatim (its path and query are signed into the answer).
    pub url: String,
    /// Headers to send.
    pub headers: Vec<HttpHeader>,
    /// Body (empty for GET).
    pub body: Vec<u8>,
    /// The largest response body billtap accepts.
    pub max_response_bytes: u64,
    /// Whole-request timeout in milliseconds.
    pub timeout_ms: u64,
}

/// What came back, unchecked: billtap verifies it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<HttpHeader>,
    /// Body, at most the request's `max_response_bytes`.
    pub body: Vec<u8>,
}

/// Why the host's HTTP stack delivered no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum TransportError {
    /// No answer in time.
    #[error("no answer in time")]
    Timeout,
    /// DNS, TCP, TLS or a broken connection.
    #[error("network: {reason}")]
    Network {
        /// What the stack said (no URLs).
        reason: String,
    },
    /// The body is longer than `max_response_bytes`; it was not read to the end.
    #[error("larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TransportError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TransportError::Network {
            reason: format!("the app's HTTP stack threw: {}", e.reason),
        }
    }
}

/// The app's HTTP stack (its gateway SDK, the OS trust store, proxies, pinning policy).
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync {
    /// Sends one request; returns the response as received, redirects not followed.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// The app's clock (e.g. a trusted network time); the system clock when not given.
#[uniffi::export(with_foreign)]
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

fn header(h: HttpHeader) -> core_ports::HttpHeader {
    core_ports::HttpHeader {
        name: h.name,
        value: h.value,
    }
}

/// A host transport as core's port.
pub(crate) struct HostTransport(pub(crate) Arc<dyn HttpTransport>);

#[async_trait::async_trait]
impl core_ports::HttpTransport for HostTransport {
    async fn send(
        &self,
        r: core_ports::HttpRequest,
    ) -> Result<core_ports::HttpResponse, core_ports::TransportError> {
        let request = HttpRequest {
            method: r.method,
            url: r.url,
            headers: r
                .headers
                .into_iter()
                .map(|h| HttpHeader {
                    name: h.name,
                    value: h.value,
                })
                .collect(),
            body: r.body,
            max_response_bytes: r.max_response_bytes,
            timeout_ms: r.timeout_ms,
        };
        match self.0.send(request).await {
            Ok(resp) => Ok(core_ports::HttpResponse {
                status: resp.status,
                headers: resp.headers.into_iter().map(header).collect(),
                body: resp.body,
            }),
            Err(TransportError::Timeout) => Err(core_ports::TransportError::Timeout),
            Err(TransportError::Network { reason }) => {
                Err(core_ports::TransportError::Network { reason })
            }
            Err(TransportError::TooLarge { limit }) => {
                Err(core_ports::TransportError::TooLarge { limit })
            }
        }
    }
}

/// A host clock as core's port.
pub(crate) struct HostClock(pub(crate) Arc<dyn Clock>);

impl core_ports::Clock for HostClock {
    fn now_unix(&self) -> i64 {
        self.0.now_unix()
    }
}
