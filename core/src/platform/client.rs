//! The platform client: signed-response verification on every call, timeouts, retries with
//! exponential backoff and jitter for idempotent requests, an ETag-cached catalog that stays
//! available offline, and `resolve` from a scanned code to a verified bill view.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::api::{Bill, Biller, BillerPage, Catalog, LookupResult, Problem, Resolution};
use super::signature::{PinnedKeys, SignatureHeaders, TrustError};
use super::warnings::{Lang, PayeeWarning, printed_name_matches};
use crate::money::Money;
use crate::ports::Clock;
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
    /// The response was not trusted (unsigned, forged, stale, unknown key).
    #[error(transparent)]
    Untrusted(#[from] TrustError),
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
    /// A signed response did not have the documented shape.
    #[error("the platform sent a response billtap cannot read: {0}")]
    Decode(String),
}

/// How to reach and trust the platform.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Base URL (https; http only on loopback).
    pub base_url: String,
    /// Pinned keys (`KEY_ID:BASE64`).
    pub pinned_keys: Vec<String>,
    /// `zh-CN` or `en`.
    pub locale: String,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Extra attempts for idempotent requests.
    pub retries: u32,
    /// First backoff; doubles per attempt, plus up to the same again of jitter.
    pub backoff: Duration,
    /// Where the catalog is cached for offline use (none: memory only).
    pub cache_dir: Option<PathBuf>,
    /// A static code asking for more than this gets a warning.
    pub static_amount_warning: Option<Money>,
}

impl PlatformConfig {
    /// Defaults for a base URL and keys: 5 s connect, 15 s request, 2 retries from 200 ms.
    pub fn new(base_url: &str, pinned_keys: Vec<String>) -> Self {
        PlatformConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            pinned_keys,
            locale: "zh-CN".into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            retries: 2,
            backoff: Duration::from_millis(200),
            cache_dir: None,
            static_amount_warning: None,
        }
    }
}

/// Search filters for billers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// What the user sees after scanning: the verified payee (from the platform, never from the
/// code alone), the open bills and the warnings to show.
#[derive(Debug, Clone, PartialEq)]
pub struct BillView {
    /// The registered biller, when the platform knows the payee.
    pub payee: Option<Biller>,
    /// Open bills found for the code.
    pub bills: Vec<Bill>,
    /// The amount the code asks for, if any.
    pub amount_in_code: Option<Money>,
    /// The name printed in the code (local-language when it has one), for comparison only.
    pub name_in_code: Option<String>,
    /// Cautions for the user (unregistered payee, name mismatch, static code above the
    /// limit), in the configured language.
    pub warnings: Vec<PayeeWarning>,
}

#[derive(Serialize, Deserialize)]
struct CachedCatalog {
    etag: String,
    body: String,
}

/// Talks to the platform.
pub struct PlatformClient {
    http: reqwest::Client,
    cfg: PlatformConfig,
    keys: PinnedKeys,
    clock: Arc<dyn Clock>,
    catalog: Mutex<Option<CachedCatalog>>,
}

impl std::fmt::Debug for PlatformClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlatformClient({})", self.cfg.base_url)
    }
}

/// A verified response: status and body bytes.
struct Verified {
    status: u16,
    etag: Option<String>,
    body: Vec<u8>,
}

enum Attempt {
    Done(Verified),
    Retry(PlatformError),
}

impl PlatformClient {
    /// Builds a client; TLS is rustls with ring and the Mozilla root store (no OpenSSL).
    pub fn new(cfg: PlatformConfig, clock: Arc<dyn Clock>) -> Result<Self, PlatformError> {
        let keys = PinnedKeys::parse(&cfg.pinned_keys)?;
        // Checked once here so a bad URL is a configuration error, not a network error on
        // every call. Host names must be ASCII (or punycode): the IDNA back end is ASCII-only
        // to keep the phone library small (docs/decisions/0005).
        match reqwest::Url::parse(&cfg.base_url) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {}
            Ok(_) => {
                return Err(PlatformError::Config(format!(
                    "the platform URL {:?} must be http(s) with a host",
                    cfg.base_url
                )));
            }
            Err(e) => {
                return Err(PlatformError::Config(format!(
                    "the platform URL {:?} cannot be used ({e}); write a non-ASCII host name in punycode (xn--…)",
                    cfg.base_url
                )));
            }
        }
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
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("billtap/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlatformError::Config(e.to_string()))?;
        let cached = cfg
            .cache_dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join("catalog.json")).ok())
            .and_then(|b| serde_json::from_slice(&b).ok());
        Ok(PlatformClient {
            http,
            cfg,
            keys,
            clock,
            catalog: Mutex::new(cached),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url)
    }

    /// Sends a request (idempotent: safe to repeat) with retries; verifies every response.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Verified, PlatformError> {
        let mut last = PlatformError::Network("no attempt made".into());
        for attempt in 0..=self.cfg.retries {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            match self.attempt(build()).await? {
                Attempt::Done(v) => return Ok(v),
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

    async fn attempt(&self, req: reqwest::RequestBuilder) -> Result<Attempt, PlatformError> {
        let req = req.header(reqwest::header::ACCEPT_LANGUAGE, &self.cfg.locale);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Ok(Attempt::Retry(PlatformError::Timeout)),
            Err(e) => return Ok(Attempt::Retry(PlatformError::Network(short(e)))),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) if e.is_timeout() => return Ok(Attempt::Retry(PlatformError::Timeout)),
            Err(e) => return Ok(Attempt::Retry(PlatformError::Network(short(e)))),
        };
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        // Untrusted responses are refused outright, never retried into acceptance.
        verify_response(&self.keys, self.clock.as_ref(), status, get, &body)?;
        if matches!(status, 500 | 502 | 503 | 504) {
            return Ok(Attempt::Retry(refused(status, &body)));
        }
        let etag = get("etag").map(str::to_string);
        Ok(Attempt::Done(Verified { status, etag, body }))
    }

    fn decode<T: DeserializeOwned>(v: &Verified) -> Result<T, PlatformError> {
        decode_verified(v.status, &v.body)
    }

    /// The catalog, revalidated with its ETag; served from the cache when offline.
    pub async fn catalog(&self) -> Result<Catalog, PlatformError> {
        let etag = self
            .catalog
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.etag.clone()));
        let url = self.url("/v1/catalog");
        let result = self
            .send(|| {
                let r = self.http.get(&url);
                match &etag {
                    Some(e) => r.header(reqwest::header::IF_NONE_MATCH, e),
                    None => r,
                }
            })
            .await;
        let cached_catalog = |from_cache: bool| -> Option<Result<Catalog, PlatformError>> {
            let guard = self.catalog.lock().ok()?;
            let c = guard.as_ref()?;
            Some(
                serde_json::from_str::<Catalog>(&c.body)
                    .map(|mut cat| {
                        cat.from_cache = from_cache;
                        cat
                    })
                    .map_err(|e| PlatformError::Decode(e.to_string())),
            )
        };
        match result {
            Ok(v) if v.status == 304 => cached_catalog(false).unwrap_or_else(|| {
                Err(PlatformError::Decode("304 without a cached catalog".into()))
            }),
            Ok(v) => {
                let catalog: Catalog = Self::decode(&v)?;
                if let Some(etag) = v.etag {
                    let entry = CachedCatalog {
                        etag,
                        body: String::from_utf8_lossy(&v.body).into_owned(),
                    };
                    self.store_catalog(&entry);
                    if let Ok(mut c) = self.catalog.lock() {
                        *c = Some(entry);
                    }
                }
                Ok(catalog)
            }
            Err(e @ (PlatformError::Network(_) | PlatformError::Timeout)) => {
                cached_catalog(true).unwrap_or(Err(e))
            }
            Err(e) => Err(e),
        }
    }

    fn store_catalog(&self, entry: &CachedCatalog) {
        let Some(dir) = &self.cfg.cache_dir else {
            return;
        };
        let Ok(bytes) = serde_json::to_vec(entry) else {
            return;
        };
        // Write then rename: a crash mid-write never leaves a broken cache.
        let tmp = dir.join("catalog.json.tmp");
        let ok = std::fs::create_dir_all(dir).is_ok()
            && std::fs::write(&tmp, bytes).is_ok()
            && std::fs::rename(&tmp, dir.join("catalog.json")).is_ok();
        if !ok {
            tracing::warn!("could not write the catalog cache");
        }
    }

    /// Searches billers.
    pub async fn search_billers(&self, q: &BillerQuery) -> Result<BillerPage, PlatformError> {
        let mut params: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("q", &q.text),
            ("category", &q.category),
            ("region", &q.region),
            ("page_token", &q.page_token),
        ] {
            if let Some(v) = v {
                params.push((k, v.clone()));
            }
        }
        if let Some(n) = q.page_size {
            params.push(("page_size", n.to_string()));
        }
        let url = self.url("/v1/billers");
        Self::decode(&self.send(|| self.http.get(&url).query(&params)).await?)
    }

    /// One biller.
    pub async fn biller(&self, id: &str) -> Result<Biller, PlatformError> {
        let url = self.url(&format!("/v1/billers/{}", path_segment(id)?));
        Self::decode(&self.send(|| self.http.get(&url)).await?)
    }

    /// Bills of an account, by the biller's lookup fields. A read-only query: retried like a GET.
    pub async fn lookup(
        &self,
        biller_id: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<LookupResult, PlatformError> {
        let body = serde_json::json!({"biller_id": biller_id, "fields": fields});
        let url = self.url("/v1/bills/lookup");
        Self::decode(&self.send(|| self.http.post(&url).json(&body)).await?)
    }

    /// One bill.
    pub async fn bill(&self, id: &str) -> Result<Bill, PlatformError> {
        let url = self.url(&format!("/v1/bills/{}", path_segment(id)?));
        Self::decode(&self.send(|| self.http.get(&url)).await?)
    }

    /// From a scanned code to what the user sees: the platform's payee and bills.
    pub async fn resolve(&self, scanned: &Scanned) -> Result<BillView, PlatformError> {
        let lang = Lang::of(&self.cfg.locale);
        let mut view = BillView {
            payee: None,
            bills: Vec::new(),
            amount_in_code: scanned.amount,
            name_in_code: scanned.printed_payee_name().map(str::to_string),
            warnings: Vec::new(),
        };
        if let (Some(biller_id), Some(_account)) = (
            scanned.reference(RefKind::BillerId),
            scanned.reference(RefKind::AccountNumber),
        ) {
            let refs: Vec<_> = scanned.references.iter().map(|r| serde_json::json!({"kind": serde_json::to_value(r.kind).unwrap_or_default(), "value": r.value})).collect();
            let body = serde_json::json!({"biller_id": biller_id, "references": refs});
            let url = self.url("/v1/bills/lookup");
            let found: LookupResult =
                Self::decode(&self.send(|| self.http.post(&url).json(&body)).await?)?;
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
            view.payee = Some(found.biller);
            view.bills = found.bills;
        } else {
            let (tag, guid, account) = match &scanned.detail {
                Detail::EmvMpm(m) => m
                    .merchant_accounts
                    .first()
                    .map(|a| {
                        (
                            Some(a.tag.clone()),
                            a.guid.clone(),
                            a.value
                                .clone()
                                .or_else(|| a.fields.first().map(|f| f.value.clone())),
                        )
                    })
                    .unwrap_or((None, None, None)),
                _ => (None, None, None),
            };
            let body = serde_json::json!({"scheme": scanned.format.as_str(), "merchant_account_tag": tag, "guid": guid, "account": account, "payee_name_in_code": scanned.printed_payee_name()});
            let url = self.url("/v1/payees/resolve");
            let r: Resolution =
                Self::decode(&self.send(|| self.http.post(&url).json(&body)).await?)?;
            match r.biller {
                Some(b) if r.registered => {
                    if r.name_matches_code == Some(false) {
                        view.warnings.push(PayeeWarning::name_mismatch(
                            lang,
                            scanned.printed_payee_name(),
                            &b.name,
                        ));
                    }
                    view.payee = Some(b);
                }
                _ => view.warnings.push(PayeeWarning::unregistered(lang)),
            }
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
}

/// Checks a response's signature headers against the pinned keys: unsigned, forged, stale or
/// unknown-key responses are errors, whatever their status.
pub fn verify_response<'a>(
    keys: &PinnedKeys,
    clock: &dyn Clock,
    status: u16,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
) -> Result<(), PlatformError> {
    let sig = SignatureHeaders::from_lookup(header)?;
    keys.verify(status, body, &sig, clock)?;
    Ok(())
}

/// A verified response's body as the type the call expects, or the platform's typed refusal.
pub fn decode_verified<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, PlatformError> {
    if !(200..300).contains(&status) {
        return Err(refused(status, body));
    }
    serde_json::from_slice(body).map_err(|e| PlatformError::Decode(e.to_string()))
}

/// Everything the client does with one response before the app sees it — the signature
/// check, then the typed body or refusal — for hosts that bring their own HTTP stack, and
/// for the fuzzer.
pub fn accept_response<'a, T: DeserializeOwned>(
    keys: &PinnedKeys,
    clock: &dyn Clock,
    status: u16,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
) -> Result<T, PlatformError> {
    verify_response(keys, clock, status, header, body)?;
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

fn short(e: reqwest::Error) -> String {
    // Without the URL: it may carry account numbers in query strings.
    let mut s = e.without_url().to_string();
    s.truncate(160);
    s
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
    use crate::ports::SystemClock;

    const KEY: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn client(url: &str) -> Result<PlatformClient, PlatformError> {
        PlatformClient::new(
            PlatformConfig::new(url, vec![KEY.into()]),
            Arc::new(SystemClock),
        )
    }

    #[test]
    fn platform_url_is_checked_when_the_client_is_built() {
        assert!(client("https://platform.example.cn/").is_ok());
        assert!(client("https://xn--fsqu00a.xn--fiqs8s").is_ok());
        for bad in [
            "https://例子.中国",
            "platform.example.cn",
            "ftp://x.cn",
            "https://",
            "",
        ] {
            assert!(
                matches!(client(bad), Err(PlatformError::Config(_))),
                "{bad}"
            );
        }
    }
}
