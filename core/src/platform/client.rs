//! The platform client, protocol v2: every request carries a fresh nonce and every response
//! must be signed over that request's digest; transport rules (no redirects, https except
//! loopback, capped bodies) hold for every caller and every transport; failures say what
//! happened (unreachable, untrusted, incompatible, refused) so the app can act; the catalog
//! stays available offline as a signed response verified again on every load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::api::{
    Bill, Biller, BillerPage, Catalog, LookupRequest, LookupResult, Problem, Reference, Resolution,
    ResolveRequest,
};
use super::signature::{PinnedKeys, SignatureHeaders, TrustError, new_nonce, request_digest};
use super::warnings::{Lang, PayeeWarning, printed_name_matches};
use crate::money::Money;
use crate::ports::{Clock, HttpHeader, HttpRequest, HttpResponse, HttpTransport, TransportError};
use crate::scan::{Detail, RefKind, Scanned};

/// Why a platform call failed. Nothing from an untrusted response is ever returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The client configuration is unusable.
    #[error("platform configuration: {0}")]
    Config(String),
    /// The platform could not be reached (after retries).
    #[error("the platform could not be reached ({0}); check the connection and try again")]
    Network(String),
    /// The platform did not answer in time (after retries).
    #[error("the platform did not answer in time; try again")]
    Timeout,
    /// An unsigned answer from something between the app and the platform: a load balancer's
    /// 502/503/504, a rate limiter's 429, a captive portal's page or redirect.
    #[error(
        "the platform could not be reached: something on the way answered instead (HTTP {status}); check the network (a Wi-Fi login page?) and try again"
    )]
    Intermediary {
        /// The status it answered with.
        status: u16,
    },
    /// The platform itself said it is unavailable (a signed 5xx, after retries).
    #[error("the platform is unavailable right now (HTTP {status}); try again later")]
    Unavailable {
        /// The signed status.
        status: u16,
    },
    /// The response was not trusted (unsigned, forged, for another request, unknown key,
    /// too large).
    #[error(transparent)]
    Untrusted(#[from] TrustError),
    /// A genuinely signed response this version of billtap cannot read: update the app.
    #[error(
        "the platform sent an answer this version of the app cannot read ({0}); update the app"
    )]
    Incompatible(String),
    /// The platform refused the request (problem details).
    #[error("{}", refused_message(title, detail.as_deref(), fields))]
    Refused {
        /// HTTP status.
        status: u16,
        /// Problem type, last path segment (`unknown-biller`, `validation`, …).
        kind: String,
        /// Problem title.
        title: String,
        /// Problem detail.
        detail: Option<String>,
        /// Invalid fields: key and message.
        fields: Vec<(String, String)>,
    },
}

/// What kind of failure a [`PlatformError`] is, for the app to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Fix the configuration.
    Config,
    /// Retry later; show cached data (the offline catalog) meanwhile.
    Unreachable,
    /// A security event: nothing was shown; retrying on another network may help.
    Untrusted,
    /// Update the app.
    Incompatible,
    /// The platform said no: show why (unknown account, invalid field, …).
    Refused,
}

impl PlatformError {
    /// The kind of failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            PlatformError::Config(_) => FailureKind::Config,
            PlatformError::Network(_)
            | PlatformError::Timeout
            | PlatformError::Intermediary { .. }
            | PlatformError::Unavailable { .. } => FailureKind::Unreachable,
            PlatformError::Untrusted(TrustError::BadPinnedKey { .. }) => FailureKind::Config,
            PlatformError::Untrusted(_) => FailureKind::Untrusted,
            PlatformError::Incompatible(_) => FailureKind::Incompatible,
            PlatformError::Refused { .. } => FailureKind::Refused,
        }
    }
}

/// Default largest response body per call; `PlatformConfig::max_response_bytes` overrides.
pub mod limits {
    /// The category tree.
    pub const CATALOG: u64 = 1 << 20;
    /// A page of billers.
    pub const SEARCH: u64 = 1 << 20;
    /// One biller, one bill, one payee resolution.
    pub const ONE: u64 = 256 << 10;
    /// An account's bills.
    pub const LOOKUP: u64 = 512 << 10;
}

/// How to reach and trust the platform.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Base URL: https, or http to a literal loopback host; no query or fragment.
    pub base_url: String,
    /// Pinned keys (`KEY_ID:BASE64[:EXPIRES]`).
    pub pinned_keys: Vec<String>,
    /// `zh-CN` or `en`.
    pub locale: String,
    /// TCP/TLS connect timeout (the built-in transport).
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Extra attempts for idempotent requests.
    pub retries: u32,
    /// First backoff; doubles per attempt, plus up to the same again of jitter.
    pub backoff: Duration,
    /// Where signed responses (the catalog) are kept for offline use: the store (none:
    /// memory only).
    pub cache: Option<Arc<dyn ResponseCache>>,
    /// The oldest cached catalog served (by its signed platform timestamp).
    pub cache_max_age: Duration,
    /// One response-size limit for every call instead of the per-call defaults in [`limits`].
    pub max_response_bytes: Option<u64>,
    /// A static code asking for more than this gets a warning.
    pub static_amount_warning: Option<Money>,
}

impl PlatformConfig {
    /// Defaults for a base URL and keys: 5 s connect, 15 s request, 2 retries from 200 ms,
    /// the catalog cache kept 30 days.
    pub fn new(base_url: &str, pinned_keys: Vec<String>) -> Self {
        PlatformConfig {
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            pinned_keys,
            locale: "zh-CN".into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            retries: 2,
            backoff: Duration::from_millis(200),
            cache: None,
            cache_max_age: Duration::from_secs(30 * 86_400),
            max_response_bytes: None,
            static_amount_warning: None,
        }
    }
}

/// Checks a platform base URL against the transport rules: `https`, or `http` only to a
/// literal loopback host (127.0.0.0/8, ::1, localhost); a host; no credentials, query or
/// fragment. Returns the URL without a trailing slash.
pub fn check_base_url(base_url: &str) -> Result<String, PlatformError> {
    let config = |why: &str| {
        PlatformError::Config(format!(
            "the platform URL {base_url:?} cannot be used: {why}"
        ))
    };
    let u = url::Url::parse(base_url.trim()).map_err(|e| {
        config(&format!(
            "{e}; write a non-ASCII host name in punycode (xn--…)"
        ))
    })?;
    if u.query().is_some() || u.fragment().is_some() || base_url.contains(['?', '#']) {
        return Err(config("it must not have a query or fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(config("it must not carry credentials"));
    }
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(config("it has no host")),
    };
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(config(
                "it must use https (plain http only to this device: 127.0.0.1, ::1, localhost)",
            ));
        }
        _ => return Err(config("it must be an https URL")),
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// Search filters for billers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BillerQuery {
    /// Text in Chinese or English names.
    pub text: Option<String>,
    /// Category or sub-category id.
    pub category: Option<String>,
    /// Region code prefix.
    pub region: Option<String>,
    /// Page size (1–100).
    pub page_size: Option<u32>,
    /// Page token from the previous page.
    pub page_token: Option<String>,
}

/// The merchant account a payee was verified by: what a payment must use, exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PayeeAccount {
    /// EMV merchant-account tag (`15`, `26`…), when the code is EMV.
    pub merchant_account_tag: Option<String>,
    /// The template's GUID, when it has one.
    pub guid: Option<String>,
    /// The account as the platform verified it.
    pub account: String,
}

/// What the user sees after scanning: the verified payee (from the platform, never from the
/// code alone), the open bills and the warnings to show.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BillView {
    /// The registered biller, when the platform knows the payee.
    pub payee: Option<Biller>,
    /// The account the payee was verified by; a payment uses exactly this one.
    pub payee_account: Option<PayeeAccount>,
    /// Open bills found for the code.
    pub bills: Vec<Bill>,
    /// The amount the code asks for, if any.
    pub amount_in_code: Option<Money>,
    /// The name printed in the code (local-language when it has one), for comparison only.
    pub name_in_code: Option<String>,
    /// Cautions for the user (unregistered payee, name mismatch, differing payees, static code
    /// above the limit), in the configured language.
    pub warnings: Vec<PayeeWarning>,
}

/// A signed catalog response as kept for offline use: everything needed to verify it again
/// (the request it answered, the signature headers, the exact body).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredResponse {
    method: String,
    path: String,
    nonce: String,
    status: u16,
    etag: String,
    key_id: String,
    timestamp: i64,
    request_id: String,
    request_digest: String,
    signature: String,
    /// Base64 of the body bytes.
    body: String,
}

/// The name the catalog is cached under.
const CATALOG_CACHE: &str = "catalog-v2";

/// Keeps signed platform responses for offline use. Whatever it returns is verified again
/// (signature, request, age, size) before use, so a cache can be dumb storage; the store is
/// the one billtap uses.
pub trait ResponseCache: Send + Sync + std::fmt::Debug {
    /// The bytes kept under `name`, if any.
    fn load(&self, name: &str) -> Option<Vec<u8>>;
    /// Keeps `bytes` under `name`, replacing what was there.
    fn save(&self, name: &str, bytes: &[u8]);
    /// Forgets `name` (it failed verification).
    fn discard(&self, name: &str);
}

/// A verified response: status, ETag, body bytes and the platform time it was signed at.
struct Signed {
    status: u16,
    etag: String,
    body: Vec<u8>,
    stored: StoredResponse,
}

/// One call: method, path and query (below the base URL), body and size limit.
struct Call {
    method: &'static str,
    path: String,
    body: Vec<u8>,
    limit: u64,
    if_none_match: Option<String>,
    /// Fixed by the caller for a prepared request (same bytes on every retry); else fresh.
    nonce: Option<String>,
    /// Extra headers of a prepared request (device signature, idempotency key).
    headers: Vec<HttpHeader>,
}

/// A request whose bytes the caller fixes (and persists before the first send, as payments
/// do): nonce, extra headers and body go out exactly as stored on every retry, so the
/// device's signature over its digest stays valid and the platform sees one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Path and query below the base URL (`/v1/payments`).
    pub path: String,
    /// The protocol v2 nonce.
    pub nonce: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// The JSON body (empty for GET).
    pub body: String,
}

enum Attempt {
    Done(Box<Signed>),
    Retry(PlatformError),
}

/// Talks to the platform.
pub struct PlatformClient {
    transport: Arc<dyn HttpTransport>,
    cfg: PlatformConfig,
    /// The path part of the base URL (`/api` in `https://host/api`), prefixed to every path.
    base_path: String,
    keys: PinnedKeys,
    clock: Arc<dyn Clock>,
    catalog: Mutex<Option<StoredResponse>>,
    clock_offset: AtomicI64,
}

impl std::fmt::Debug for PlatformClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlatformClient({})", self.cfg.base_url)
    }
}

impl PlatformClient {
    /// Builds a client on billtap's own transport (reqwest + rustls, no redirects).
    #[cfg(feature = "reqwest")]
    pub fn new(cfg: PlatformConfig, clock: Arc<dyn Clock>) -> Result<Self, PlatformError> {
        let transport = super::transport::ReqwestTransport::new(cfg.connect_timeout)?;
        Self::with_transport(cfg, clock, Arc::new(transport))
    }

    /// Builds a client on the host's HTTP stack. Every check stays here, whatever carries
    /// the bytes.
    pub fn with_transport(
        mut cfg: PlatformConfig,
        clock: Arc<dyn Clock>,
        transport: Arc<dyn HttpTransport>,
    ) -> Result<Self, PlatformError> {
        let keys = PinnedKeys::parse(&cfg.pinned_keys)?;
        cfg.base_url = check_base_url(&cfg.base_url)?;
        let base_path = url::Url::parse(&cfg.base_url)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        let client = PlatformClient {
            transport,
            base_path,
            keys,
            clock,
            catalog: Mutex::new(None),
            clock_offset: AtomicI64::new(0),
            cfg,
        };
        let cached = client.load_cached_catalog();
        if let Ok(mut c) = client.catalog.lock() {
            *c = cached;
        }
        Ok(client)
    }

    /// Seconds the platform's clock is ahead of this device's, from the last signed response
    /// (0 before any): lets a phone with a wrong clock show and sign platform time.
    pub fn platform_clock_offset(&self) -> i64 {
        self.clock_offset.load(Ordering::Relaxed)
    }

    fn limit(&self, default: u64) -> u64 {
        self.cfg.max_response_bytes.unwrap_or(default)
    }

    /// Sends an idempotent call with retries (each attempt a new nonce); verifies every answer.
    async fn send(&self, call: Call) -> Result<Signed, PlatformError> {
        let mut last = PlatformError::Network("no attempt made".into());
        for attempt in 0..=self.cfg.retries {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            match self.attempt(&call).await? {
                Attempt::Done(v) => return Ok(*v),
                Attempt::Retry(e) => {
                    tracing::info!(attempt, error = %e, "platform request will be retried");
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .cfg
            .backoff
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(5));
        let mut byte = [0u8; 1];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte);
        base + base.mul_f64(f64::from(byte[0]) / 255.0)
    }

    async fn attempt(&self, call: &Call) -> Result<Attempt, PlatformError> {
        let nonce = match &call.nonce {
            Some(n) => n.clone(),
            None => new_nonce()?,
        };
        let path = format!("{}{}", self.base_path, call.path);
        let digest = request_digest(call.method, &path, &nonce, &call.body);
        let origin = self
            .cfg
            .base_url
            .strip_suffix(&self.base_path)
            .unwrap_or(&self.cfg.base_url);
        let header = |name: &str, value: &str| HttpHeader {
            name: name.into(),
            value: value.into(),
        };
        let mut headers = vec![
            header("Accept", "application/json"),
            header("Accept-Language", &self.cfg.locale),
            header("Billtap-Nonce", &nonce),
        ];
        if !call.body.is_empty() {
            headers.push(header("Content-Type", "application/json"));
        }
        if let Some(etag) = &call.if_none_match {
            headers.push(header("If-None-Match", etag));
        }
        headers.extend(call.headers.iter().cloned());
        let request = HttpRequest {
            method: call.method.into(),
            url: format!("{origin}{path}"),
            headers,
            body: call.body.clone(),
            max_response_bytes: call.limit,
            timeout_ms: u64::try_from(self.cfg.request_timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let response = match self.transport.send(request).await {
            Ok(r) => r,
            Err(TransportError::Timeout) => return Ok(Attempt::Retry(PlatformError::Timeout)),
            Err(TransportError::Network { reason }) => {
                return Ok(Attempt::Retry(PlatformError::Network(reason)));
            }
            Err(TransportError::TooLarge { limit }) => {
                return Err(TrustError::TooLarge { limit }.into());
            }
        };
        // The transport promised to stop at the limit; a host stack that did not is held to
        // it here all the same.
        if response.body.len() as u64 > call.limit {
            return Err(TrustError::TooLarge { limit: call.limit }.into());
        }
        let stored = StoredResponse {
            method: call.method.into(),
            path,
            nonce,
            status: response.status,
            etag: response
                .header("etag")
                .unwrap_or_default()
                .trim()
                .to_string(),
            key_id: String::new(),
            timestamp: 0,
            request_id: String::new(),
            request_digest: digest,
            signature: String::new(),
            body: String::new(),
        };
        self.check(stored, response)
    }

    /// Sorts one response into signed-and-good, retryable, or a typed failure.
    fn check(
        &self,
        mut stored: StoredResponse,
        response: HttpResponse,
    ) -> Result<Attempt, PlatformError> {
        let status = response.status;
        let sig = match SignatureHeaders::from_lookup(|n| response.header(n)) {
            Ok(sig) => sig,
            Err(TrustError::Unsigned) => {
                // Unsigned: an intermediary (load balancer, rate limiter, captive portal, a
                // redirecting proxy) unless it poses as the platform's JSON answer.
                let json = response
                    .header("content-type")
                    .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
                let from_between = matches!(status, 300..=399 | 429 | 502 | 503 | 504) || !json;
                if !from_between {
                    return Err(TrustError::Unsigned.into());
                }
                let e = PlatformError::Intermediary { status };
                return if matches!(status, 429 | 502 | 503 | 504) {
                    Ok(Attempt::Retry(e))
                } else {
                    Err(e)
                };
            }
            Err(e) => return Err(e.into()),
        };
        let verified = self.keys.verify(
            &stored.request_digest,
            status,
            &stored.etag,
            &response.body,
            &sig,
            self.clock.as_ref(),
        )?;
        self.clock_offset.store(
            verified.timestamp.saturating_sub(self.clock.now_unix()),
            Ordering::Relaxed,
        );
        if matches!(status, 500 | 502 | 503 | 504) {
            return Ok(Attempt::Retry(PlatformError::Unavailable { status }));
        }
        if (300..400).contains(&status) && status != 304 {
            return Err(PlatformError::Incompatible(format!(
                "a redirect (HTTP {status}), which billtap does not follow"
            )));
        }
        stored.key_id = sig.key_id;
        stored.timestamp = sig.timestamp;
        stored.request_id = sig.request_id;
        stored.signature = sig.signature;
        Ok(Attempt::Done(Box::new(Signed {
            status,
            etag: stored.etag.clone(),
            body: response.body,
            stored,
        })))
    }

    fn get(&self, path: String, limit: u64) -> Call {
        Call {
            method: "GET",
            path,
            body: Vec::new(),
            limit: self.limit(limit),
            if_none_match: None,
            nonce: None,
            headers: Vec::new(),
        }
    }

    fn post(&self, path: &str, body: &impl Serialize, limit: u64) -> Result<Call, PlatformError> {
        Ok(Call {
            method: "POST",
            path: path.into(),
            body: serde_json::to_vec(body).map_err(|e| PlatformError::Config(e.to_string()))?,
            limit: self.limit(limit),
            if_none_match: None,
            nonce: None,
            headers: Vec::new(),
        })
    }

    /// The protocol v2 digest of a prepared request, as the platform will compute it: what the
    /// device signs.
    pub fn prepared_digest(&self, r: &PreparedRequest) -> String {
        let path = if self.base_path.is_empty() {
            std::borrow::Cow::Borrowed(r.path.as_str())
        } else {
            std::borrow::Cow::Owned(format!("{}{}", self.base_path, r.path))
        };
        request_digest(&r.method, &path, &r.nonce, r.body.as_bytes())
    }

    /// Sends a prepared request, retrying with exactly its bytes; returns the verified status
    /// and body (a signed refusal is a status, not an error: the caller decides).
    pub async fn send_prepared(
        &self,
        r: &PreparedRequest,
        limit: u64,
    ) -> Result<(u16, Vec<u8>), PlatformError> {
        let method = match r.method.as_str() {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            other => {
                return Err(PlatformError::Config(format!(
                    "method {other:?} is not one billtap sends"
                )));
            }
        };
        let call = Call {
            method,
            path: r.path.clone(),
            body: r.body.clone().into_bytes(),
            limit: self.limit(limit),
            if_none_match: None,
            nonce: Some(r.nonce.clone()),
            headers: r
                .headers
                .iter()
                .map(|(name, value)| HttpHeader {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
        };
        let v = self.send(call).await?;
        Ok((v.status, v.body))
    }

    /// A POST without device signature, decoded (quotes).
    pub(crate) async fn post_decoded<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        limit: u64,
    ) -> Result<T, PlatformError> {
        let v = self.send(self.post(path, body, limit)?).await?;
        decode_verified(v.status, &v.body)
    }

    /// The platform keys this client trusts.
    pub fn pinned_keys(&self) -> &PinnedKeys {
        &self.keys
    }

    /// The platform's clock now, as far as signed answers told it (device clock + offset).
    pub fn platform_now(&self) -> i64 {
        self.clock
            .now_unix()
            .saturating_add(self.platform_clock_offset())
    }

    /// The catalog, revalidated with its ETag; served from the (re-verified) cache when the
    /// platform is unreachable.
    pub async fn catalog(&self) -> Result<Catalog, PlatformError> {
        let cached = self.catalog.lock().ok().and_then(|c| c.clone());
        let mut call = self.get("/v1/catalog".into(), limits::CATALOG);
        call.if_none_match = cached
            .as_ref()
            .map(|c| c.etag.clone())
            .filter(|e| !e.is_empty());
        match self.send(call).await {
            Ok(v) if v.status == 304 => {
                let Some(c) = cached else {
                    return Err(PlatformError::Incompatible(
                        "HTTP 304 without a cached catalog".into(),
                    ));
                };
                if v.etag != c.etag {
                    return Err(TrustError::NotForThisRequest.into());
                }
                self.verify_stored(&c).map_err(|e| {
                    self.discard_cache(&e);
                    PlatformError::Incompatible(e)
                })
            }
            Ok(v) => {
                let catalog: Catalog = decode_verified(v.status, &v.body)?;
                let mut stored = v.stored;
                stored.body = B64.encode(&v.body);
                if !stored.etag.is_empty() {
                    self.store_catalog(&stored);
                }
                if let Ok(mut c) = self.catalog.lock() {
                    *c = Some(stored);
                }
                Ok(catalog)
            }
            Err(e) if e.kind() == FailureKind::Unreachable => {
                match cached.map(|c| self.verify_stored(&c)) {
                    Some(Ok(mut catalog)) => {
                        catalog.from_cache = true;
                        Ok(catalog)
                    }
                    Some(Err(why)) => {
                        self.discard_cache(&why);
                        Err(e)
                    }
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Verifies a stored catalog response again: a catalog request of this client's, signed by
    /// a pinned key over exactly these bytes, not older than the configured maximum age.
    fn verify_stored(&self, s: &StoredResponse) -> Result<Catalog, String> {
        let path = format!("{}/v1/catalog", self.base_path);
        if s.method != "GET" || s.path != path || s.status != 200 {
            return Err("not a catalog response".into());
        }
        let body = B64
            .decode(&s.body)
            .map_err(|_| "the body is not base64".to_string())?;
        if body.len() as u64 > self.limit(limits::CATALOG) {
            return Err("larger than the catalog limit".into());
        }
        let digest = request_digest(&s.method, &s.path, &s.nonce, b"");
        let sig = SignatureHeaders {
            key_id: s.key_id.clone(),
            timestamp: s.timestamp,
            request_id: s.request_id.clone(),
            request_digest: s.request_digest.clone(),
            signature: s.signature.clone(),
        };
        self.keys
            .verify(&digest, s.status, &s.etag, &body, &sig, self.clock.as_ref())
            .map_err(|e| e.to_string())?;
        let age = self.clock.now_unix().saturating_sub(s.timestamp);
        let max = i64::try_from(self.cfg.cache_max_age.as_secs()).unwrap_or(i64::MAX);
        if age > max {
            return Err(format!("older than {} days", max / 86_400));
        }
        serde_json::from_slice::<Catalog>(&body).map_err(|e| e.to_string())
    }

    /// The cached catalog, if it verifies; a tampered, foreign, oversized or too-old entry
    /// is discarded.
    fn load_cached_catalog(&self) -> Option<StoredResponse> {
        let bytes = self.cfg.cache.as_ref()?.load(CATALOG_CACHE)?;
        // Base64 and the JSON around it: well under three times the body limit.
        let cap = self
            .limit(limits::CATALOG)
            .saturating_mul(3)
            .saturating_add(4096);
        let checked = if bytes.len() as u64 > cap {
            Err("the cached entry is too large".to_string())
        } else {
            serde_json::from_slice::<StoredResponse>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|s| self.verify_stored(&s).map(|_| s))
        };
        match checked {
            Ok(s) => Some(s),
            Err(why) => {
                self.discard_cache(&why);
                None
            }
        }
    }

    fn discard_cache(&self, why: &str) {
        tracing::warn!(
            reason = why,
            "the offline catalog failed verification and was discarded"
        );
        if let Ok(mut c) = self.catalog.lock() {
            *c = None;
        }
        if let Some(cache) = &self.cfg.cache {
            cache.discard(CATALOG_CACHE);
        }
    }

    fn store_catalog(&self, entry: &StoredResponse) {
        let (Some(cache), Ok(bytes)) = (&self.cfg.cache, serde_json::to_vec(entry)) else {
            return;
        };
        cache.save(CATALOG_CACHE, &bytes);
    }

    /// Searches billers.
    pub async fn search_billers(&self, q: &BillerQuery) -> Result<BillerPage, PlatformError> {
        // In a block of its own: the serializer is not `Send` and must not live across awaits.
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("q", &q.text),
                ("category", &q.category),
                ("region", &q.region),
                ("page_token", &q.page_token),
            ] {
                if let Some(v) = v {
                    query.append_pair(k, v);
                }
            }
            if let Some(n) = q.page_size {
                query.append_pair("page_size", &n.to_string());
            }
            query.finish()
        };
        let path = if query.is_empty() {
            "/v1/billers".to_string()
        } else {
            format!("/v1/billers?{query}")
        };
        let v = self.send(self.get(path, limits::SEARCH)).await?;
        decode_verified(v.status, &v.body)
    }

    /// One biller.
    pub async fn biller(&self, id: &str) -> Result<Biller, PlatformError> {
        let path = format!("/v1/billers/{}", path_segment(id)?);
        let v = self.send(self.get(path, limits::ONE)).await?;
        let biller: Biller = decode_verified(v.status, &v.body)?;
        echo(biller.id == id)?;
        Ok(biller)
    }

    /// Bills of an account, by the biller's lookup fields. A read-only query: retried like a GET.
    pub async fn lookup(
        &self,
        biller_id: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<LookupResult, PlatformError> {
        let request = LookupRequest {
            biller_id: biller_id.into(),
            fields: fields.clone(),
            references: Vec::new(),
        };
        // One field is the account at nearly every biller; with several, none is checked.
        let account = match fields.values().collect::<Vec<_>>().as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        self.lookup_request(&request, account, None).await
    }

    async fn lookup_request(
        &self,
        request: &LookupRequest,
        account: Option<&str>,
        bill_id: Option<&str>,
    ) -> Result<LookupResult, PlatformError> {
        request.validate().map_err(PlatformError::Config)?;
        let v = self
            .send(self.post("/v1/bills/lookup", request, limits::LOOKUP)?)
            .await?;
        let found: LookupResult = decode_verified(v.status, &v.body)?;
        // What came back must be what was asked for: the biller, its bills, this account.
        echo(found.biller.id == request.biller_id)?;
        for b in &found.bills {
            echo(b.biller_id == request.biller_id)?;
            echo(account.is_none_or(|a| mask_fits(&b.account_masked, a)))?;
            echo(bill_id.is_none_or(|id| b.id == id))?;
        }
        Ok(found)
    }

    /// One bill.
    pub async fn bill(&self, id: &str) -> Result<Bill, PlatformError> {
        let path = format!("/v1/bills/{}", path_segment(id)?);
        let v = self.send(self.get(path, limits::ONE)).await?;
        let bill: Bill = decode_verified(v.status, &v.body)?;
        echo(bill.id == id)?;
        Ok(bill)
    }

    /// From a scanned code to what the user sees: the platform's payee and bills. A bill code
    /// is looked up; otherwise every merchant account in the code is resolved.
    pub async fn resolve(&self, scanned: &Scanned) -> Result<BillView, PlatformError> {
        let lang = Lang::of(&self.cfg.locale);
        let mut view = BillView {
            payee: None,
            payee_account: None,
            bills: Vec::new(),
            amount_in_code: scanned.amount,
            name_in_code: scanned.printed_payee_name().map(str::to_string),
            warnings: Vec::new(),
        };
        if let (Some(biller_id), Some(account)) = (
            scanned.reference(RefKind::BillerId),
            scanned.reference(RefKind::AccountNumber),
        ) {
            let request = LookupRequest {
                biller_id: biller_id.into(),
                fields: BTreeMap::new(),
                references: scanned
                    .references
                    .iter()
                    .map(|r| Reference {
                        kind: serde_json::to_value(r.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        value: r.value.clone(),
                    })
                    .collect(),
            };
            let found = self
                .lookup_request(&request, Some(account), scanned.reference(RefKind::BillId))
                .await?;
            if let Some(printed) = scanned
                .printed_payee_name()
                .filter(|n| !printed_name_matches(n, &found.biller.names))
            {
                view.warnings.push(PayeeWarning::name_mismatch(
                    lang,
                    Some(printed),
                    &found.biller.name,
                ));
            }
            view.payee_account = Some(PayeeAccount {
                merchant_account_tag: None,
                guid: None,
                account: account.into(),
            });
            view.payee = Some(found.biller);
            view.bills = found.bills;
        } else {
            self.resolve_accounts(scanned, lang, &mut view).await?;
        }
        if let (Some(limit), Some(amount)) = (&self.cfg.static_amount_warning, &scanned.amount)
            && scanned.is_static()
            && amount.currency == limit.currency
            && amount.amount > limit.amount
        {
            view.warnings
                .push(PayeeWarning::static_amount_above_limit(lang, amount, limit));
        }
        Ok(view)
    }

    /// Resolves every merchant account of a code; the payee is shown only when the registered
    /// ones agree, and a payment later uses exactly the account that verified it.
    async fn resolve_accounts(
        &self,
        scanned: &Scanned,
        lang: Lang,
        view: &mut BillView,
    ) -> Result<(), PlatformError> {
        let mut requests: Vec<ResolveRequest> = match &scanned.detail {
            Detail::EmvMpm(m) => m
                .merchant_accounts
                .iter()
                .map(|a| ResolveRequest {
                    scheme: scanned.format.as_str().into(),
                    merchant_account_tag: Some(a.tag.clone()),
                    guid: a.guid.clone(),
                    account: a
                        .value
                        .clone()
                        .or_else(|| a.fields.first().map(|f| f.value.clone())),
                    payee_name_in_code: scanned.printed_payee_name().map(str::to_string),
                })
                .collect(),
            _ => Vec::new(),
        };
        if requests.is_empty() {
            requests.push(ResolveRequest {
                scheme: scanned.format.as_str().into(),
                payee_name_in_code: scanned.printed_payee_name().map(str::to_string),
                ..ResolveRequest::default()
            });
        }
        let total = requests.len();
        let mut registered: Vec<(ResolveRequest, Resolution, Biller)> = Vec::new();
        for request in requests {
            request.validate().map_err(PlatformError::Config)?;
            let v = self
                .send(self.post("/v1/payees/resolve", &request, limits::ONE)?)
                .await?;
            let r: Resolution = decode_verified(v.status, &v.body)?;
            echo(r.account == request.account)?;
            echo(r.merchant_account_tag == request.merchant_account_tag)?;
            if let (true, Some(b)) = (r.registered, r.biller.clone()) {
                registered.push((request, r, b));
            }
        }
        let Some((first_req, _, first)) = registered.first() else {
            view.warnings.push(PayeeWarning::unregistered(lang));
            return Ok(());
        };
        if registered.iter().any(|(_, _, b)| b.id != first.id) {
            let mut names: Vec<String> =
                registered.iter().map(|(_, _, b)| b.name.clone()).collect();
            names.dedup();
            view.warnings
                .push(PayeeWarning::payees_differ(lang, &names));
            return Ok(());
        }
        if registered.len() < total {
            view.warnings.push(PayeeWarning::some_accounts_unregistered(
                lang,
                total - registered.len(),
                total,
            ));
        }
        if registered
            .iter()
            .any(|(_, r, _)| r.name_matches_code == Some(false))
        {
            view.warnings.push(PayeeWarning::name_mismatch(
                lang,
                scanned.printed_payee_name(),
                &first.name,
            ));
        }
        view.payee_account = first_req.account.clone().map(|account| PayeeAccount {
            merchant_account_tag: first_req.merchant_account_tag.clone(),
            guid: first_req.guid.clone(),
            account,
        });
        view.payee = Some(first.clone());
        Ok(())
    }
}

/// A signed answer that is not about what was asked: refused like a replayed one.
fn echo(matches: bool) -> Result<(), PlatformError> {
    if matches {
        Ok(())
    } else {
        Err(TrustError::NotForThisRequest.into())
    }
}

/// An account with all but its last four characters hidden as `*` (punctuation kept), as
/// the platform shows accounts and logs and terminals print them.
pub fn mask_account(account: &str) -> String {
    let n = account.chars().count();
    account
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i + 4 < n && c.is_alphanumeric() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// Whether a masked account (`*` for hidden characters) can be this account.
fn mask_fits(masked: &str, account: &str) -> bool {
    masked.chars().count() == account.chars().count()
        && masked
            .chars()
            .zip(account.chars())
            .all(|(m, a)| m == '*' || m == a)
}

/// A verified response's body as the type the call expects, or the platform's typed refusal.
/// A signed 2xx body this version cannot decode is incompatible, not an attack.
pub fn decode_verified<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, PlatformError> {
    if !(200..300).contains(&status) {
        return Err(refused(status, body));
    }
    serde_json::from_slice(body)
        .map_err(|e| PlatformError::Incompatible(short_text(&e.to_string())))
}

/// Everything the client does with one response before the app sees it — the signature
/// check against the request's digest, then the typed body or refusal — for the fuzzer and
/// for tools that hold a raw response.
pub fn accept_response<'a, T: DeserializeOwned>(
    keys: &PinnedKeys,
    clock: &dyn Clock,
    request_digest: &str,
    status: u16,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
) -> Result<T, PlatformError> {
    let sig = SignatureHeaders::from_lookup(&header)?;
    let etag = header("etag").unwrap_or_default().trim();
    keys.verify(request_digest, status, etag, body, &sig, clock)?;
    decode_verified(status, body)
}

fn refused_message(title: &str, detail: Option<&str>, fields: &[(String, String)]) -> String {
    let mut m = title.to_string();
    if let Some(d) = detail {
        m.push_str(": ");
        m.push_str(d);
    }
    for (_, message) in fields {
        m.push_str("; ");
        m.push_str(message);
    }
    m
}

fn short_text(s: &str) -> String {
    s.chars().take(160).collect()
}

fn path_segment(id: &str) -> Result<&str, PlatformError> {
    if !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        Ok(id)
    } else {
        Err(PlatformError::Config(format!(
            "{id:?} is not a platform id"
        )))
    }
}

fn refused(status: u16, body: &[u8]) -> PlatformError {
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) => PlatformError::Refused {
            status,
            kind: p.kind.rsplit('/').next().unwrap_or_default().to_string(),
            title: p.title,
            detail: p.detail,
            fields: p.errors.into_iter().map(|e| (e.field, e.message)).collect(),
        },
        Err(_) => PlatformError::Refused {
            status,
            kind: "http".into(),
            title: format!("HTTP {status}"),
            detail: None,
            fields: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_urls_follow_the_transport_rules() {
        for ok in [
            "https://platform.example.cn/",
            "https://xn--fsqu00a.xn--fiqs8s",
            "https://pay.example.cn/api/",
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://localhost:1",
            "http://[::1]:9000/",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://例子.中国",
            "platform.example.cn",
            "ftp://x.cn",
            "https://",
            "",
            "http://pay.example.cn",
            "http://localhost.evil.cn",
            "http://127.0.0.1.evil.cn/",
            "http://user@127.0.0.1",
            "https://pay.example.cn/?x=1",
            "https://pay.example.cn/#frag",
            "https://pay.example.cn/?",
        ] {
            assert!(
                matches!(check_base_url(bad), Err(PlatformError::Config(_))),
                "{bad}"
            );
        }
        assert_eq!(
            check_base_url("https://pay.example.cn/api/")
                .ok()
                .as_deref(),
            Some("https://pay.example.cn/api")
        );
    }

    #[test]
    fn masks_fit_only_their_account() {
        assert!(mask_fits("******-****-0871", "110105-3345-0871"));
        assert!(!mask_fits("******-****-0872", "110105-3345-0871"));
        assert!(!mask_fits("****-0871", "110105-3345-0871"));
        let masked = mask_account("110105-3345-0871");
        assert_eq!(masked, "******-****-0871");
        assert!(mask_fits(&masked, "110105-3345-0871"));
    }
}
