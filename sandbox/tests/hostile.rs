//! A real hostile proxy on loopback between the platform client and the sandbox: it replays
//! genuinely signed responses to other requests, redirects, sends a 300 MB body, answers as a
//! load balancer, and the offline cache is edited on disk. Each attack must be refused (or, for
//! an intermediary, reported as unreachable with the verified offline catalog), and a device
//! clock three hours off must not matter.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use billtap_core::platform::ResponseCache;
use billtap_core::platform::{
    BillerQuery, FailureKind, PlatformClient, PlatformConfig, PlatformError, TrustError,
};
use billtap_core::ports::{Clock, SystemClock};
use billtap_core::scan::{EmvWriter, Initiation, parse_text};
use billtap_core::store::Store;
use billtap_sandbox::{Sandbox, SandboxOptions};

/// What the proxy does with the next requests.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    /// Forward, and remember the last response.
    Record,
    /// Answer every request with the recorded (genuinely signed, fresh) response.
    Replay,
    /// Answer with a 307 to another host.
    Redirect(String),
    /// A 200 whose body is this many bytes of zeros, with no length announced.
    Huge(u64),
    /// An unsigned load-balancer 503 page.
    Unsigned503,
}

/// A recorded response: status, headers, body.
type Recorded = (u16, Vec<(String, String)>, Bytes);

struct Proxy {
    upstream: String,
    mode: Mutex<Mode>,
    recorded: Mutex<Option<Recorded>>,
    http: reqwest::Client,
}

async fn forward(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let mode = p.mode.lock().unwrap().clone();
    match mode {
        Mode::Replay => {
            let Some((status, headers, body)) = p.recorded.lock().unwrap().clone() else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            let mut r = Response::new(Body::from(body));
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            for (k, v) in headers {
                r.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(&v).unwrap(),
                );
            }
            return r;
        }
        Mode::Redirect(to) => {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [("location", format!("{to}{}", req.uri()))],
            )
                .into_response();
        }
        Mode::Huge(n) => {
            // Streamed, never held: 64 KiB chunks of zeros until n bytes or the client leaves.
            let chunk = Bytes::from(vec![b'0'; 64 * 1024]);
            let count = n / chunk.len() as u64;
            let stream = futures_util::stream::iter(
                (0..count).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            let mut r = Response::new(Body::from_stream(stream));
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            return r;
        }
        Mode::Unsigned503 => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [("content-type", "text/html")],
                "<html><body>503 Service Unavailable</body></html>",
            )
                .into_response();
        }
        Mode::Record => {}
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let mut out = p
        .http
        .request(parts.method.clone(), format!("{}{}", p.upstream, parts.uri));
    for (k, v) in &parts.headers {
        if k != "host" {
            out = out.header(k, v);
        }
    }
    let resp = out.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| *k != "content-length" && *k != "transfer-encoding")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let body = resp.bytes().await.unwrap();
    *p.recorded.lock().unwrap() = Some((status, headers.clone(), body.clone()));
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        r.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    r
}

/// Serves a router on a loopback port from a thread of its own; returns its base URL.
fn serve(router: axum::Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, router).await.unwrap();
        });
    });
    format!("http://{addr}")
}

struct Rig {
    sandbox: Sandbox,
    proxy: Arc<Proxy>,
    url: String,
}

fn rig() -> Rig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(SandboxOptions::default()).unwrap();
    let proxy = Arc::new(Proxy {
        upstream: sandbox.url(),
        mode: Mutex::new(Mode::Record),
        recorded: Mutex::new(None),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    });
    let url = serve(
        axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone()),
    );
    Rig {
        sandbox,
        proxy,
        url,
    }
}

impl Rig {
    fn set(&self, mode: Mode) {
        *self.proxy.mode.lock().unwrap() = mode;
    }

    fn client(&self, tweak: impl FnOnce(&mut PlatformConfig)) -> PlatformClient {
        self.client_with_clock(tweak, Arc::new(SystemClock))
    }

    fn client_with_clock(
        &self,
        tweak: impl FnOnce(&mut PlatformConfig),
        clock: Arc<dyn Clock>,
    ) -> PlatformClient {
        let mut cfg = PlatformConfig::new(&self.url, vec![self.sandbox.pinned_key()]);
        cfg.backoff = Duration::from_millis(10);
        tweak(&mut cfg);
        PlatformClient::new(cfg, clock).unwrap()
    }
}

fn text(t: &str) -> BillerQuery {
    BillerQuery {
        text: Some(t.into()),
        ..BillerQuery::default()
    }
}

const NOT_FOR_THIS: PlatformError = PlatformError::Untrusted(TrustError::NotForThisRequest);

#[tokio::test]
async fn a_replayed_answer_to_another_request_is_refused() {
    let r = rig();
    let c = r.client(|_| {});
    // Search results for one text are never shown for another.
    let water = c.search_billers(&text("自来水")).await.unwrap();
    assert!(!water.items.is_empty());
    r.set(Mode::Replay);
    assert_eq!(
        c.search_billers(&text("电力")).await.unwrap_err(),
        NOT_FOR_THIS
    );
    // Nor for the same text (a fresh nonce each time), nor on another path.
    assert_eq!(
        c.search_billers(&text("自来水")).await.unwrap_err(),
        NOT_FOR_THIS
    );
    assert_eq!(c.biller("BJ-WATER-001").await.unwrap_err(), NOT_FOR_THIS);
    assert_eq!(c.catalog().await.unwrap_err(), NOT_FOR_THIS);

    // A lookup's answer for one account is not another account's.
    r.set(Mode::Record);
    let fields = |a: &str| BTreeMap::from([("account".to_string(), a.to_string())]);
    c.lookup("BJ-WATER-001", &fields("110105-3345-0871"))
        .await
        .unwrap();
    r.set(Mode::Replay);
    assert_eq!(
        c.lookup("BJ-WATER-001", &fields("110105-3345-0872"))
            .await
            .unwrap_err(),
        NOT_FOR_THIS
    );

    // The platform's "registered, name matches" for a hospital's real account, served for a
    // sticker carrying a fraudster's account: refused, never "verified".
    r.set(Mode::Record);
    let hospital = r.sandbox.merchant_qr_payload("BJ-OUTPATIENT-001").unwrap();
    let genuine = c.resolve(&parse_text(&hospital).unwrap()).await.unwrap();
    assert_eq!(genuine.payee.unwrap().id, "BJ-OUTPATIENT-001");
    assert!(genuine.warnings.is_empty(), "{:?}", genuine.warnings);
    let fraud = EmvWriter::new(Initiation::Static)
        .field(15, "999900009999000089811000009999")
        .field(52, "8062")
        .field(53, "156")
        .field(58, "CN")
        .field(59, "BEIJING HOSPITAL")
        .field(60, "BEIJING")
        .build()
        .unwrap();
    r.set(Mode::Replay);
    assert_eq!(
        c.resolve(&parse_text(&fraud).unwrap()).await.unwrap_err(),
        NOT_FOR_THIS
    );
    // Without the proxy's help, the fraudster's account is what it is: unregistered.
    r.set(Mode::Record);
    let honest = c.resolve(&parse_text(&fraud).unwrap()).await.unwrap();
    assert!(honest.payee.is_none() && honest.payee_account.is_none());
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_its_target_receives_nothing() {
    let r = rig();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let target = serve(axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { "stolen" }
    }));
    r.set(Mode::Redirect(target));
    let c = r.client(|_| {});
    let fields = BTreeMap::from([("account".to_string(), "110105-3345-0871".to_string())]);
    let e = c.lookup("BJ-WATER-001", &fields).await.unwrap_err();
    assert_eq!(e, PlatformError::Intermediary { status: 307 });
    assert_eq!(e.kind(), FailureKind::Unreachable);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect target was contacted"
    );
}

/// Peak resident memory of this process, in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_300_mb_body_is_refused_with_bounded_memory() {
    let r = rig();
    let c = r.client(|_| {});
    let before = peak_rss_kib();
    r.set(Mode::Huge(300 << 20));
    let e = c.catalog().await.unwrap_err();
    assert_eq!(
        e,
        PlatformError::Untrusted(TrustError::TooLarge {
            limit: billtap_core::platform::limits::CATALOG
        })
    );
    // Refused at the limit (1 MiB), not after buffering: the peak grew by far less than
    // the body (the test process itself, the sandbox and the proxy included).
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "peak RSS grew by {grown} KiB");
    // A configured limit is the limit.
    let small = r.client(|cfg| cfg.max_response_bytes = Some(1000));
    r.set(Mode::Record);
    assert_eq!(
        small.catalog().await.unwrap_err(),
        PlatformError::Untrusted(TrustError::TooLarge { limit: 1000 })
    );
}

#[tokio::test]
async fn an_unsigned_503_is_unreachable_and_the_verified_offline_catalog_is_served() {
    let r = rig();
    let dir = std::env::temp_dir().join(format!("billtap-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("store.sqlite");
    let store = || -> Arc<dyn ResponseCache> { Arc::new(Store::open(&path).unwrap()) };
    let online = r
        .client(|cfg| cfg.cache = Some(store()))
        .catalog()
        .await
        .unwrap();
    r.set(Mode::Unsigned503);
    let c = r.client(|cfg| {
        cfg.cache = Some(store());
        cfg.retries = 1;
    });
    let offline = c.catalog().await.unwrap();
    assert!(offline.from_cache);
    assert_eq!(offline.categories, online.categories);
    let e = c.search_billers(&text("水")).await.unwrap_err();
    assert_eq!(e, PlatformError::Intermediary { status: 503 });
    assert_eq!(e.kind(), FailureKind::Unreachable);

    // An edited cache (one name changed, the signature kept) is discarded, never served.
    let db = rusqlite::Connection::open(&path).unwrap();
    let cached = |db: &rusqlite::Connection| -> Option<Vec<u8>> {
        db.query_row(
            "SELECT body FROM cached_responses WHERE name = 'catalog-v2'",
            [],
            |r| r.get(0),
        )
        .ok()
    };
    let mut stored: serde_json::Value = serde_json::from_slice(&cached(&db).unwrap()).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = String::from_utf8(b64.decode(stored["body"].as_str().unwrap()).unwrap()).unwrap();
    let edited = body.replacen("水费", "水电", 1);
    assert_ne!(body, edited);
    stored["body"] = b64.encode(edited).into();
    db.execute(
        "UPDATE cached_responses SET body = ?1 WHERE name = 'catalog-v2'",
        [serde_json::to_vec(&stored).unwrap()],
    )
    .unwrap();
    let c = r.client(|cfg| {
        cfg.cache = Some(store());
        cfg.retries = 0;
    });
    assert!(cached(&db).is_none(), "the tampered cache was kept");
    assert_eq!(
        c.catalog().await.unwrap_err(),
        PlatformError::Intermediary { status: 503 }
    );
    // Online again: the genuine catalog, not the edit.
    r.set(Mode::Record);
    let fresh = c.catalog().await.unwrap();
    assert!(!fresh.from_cache);
    assert_eq!(fresh.categories, online.categories);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A device clock three hours ahead.
struct Skewed;
impl Clock for Skewed {
    fn now_unix(&self) -> i64 {
        SystemClock.now_unix() + 3 * 3600
    }
}

#[tokio::test]
async fn a_device_clock_three_hours_off_still_works() {
    let r = rig();
    let dir = std::env::temp_dir().join(format!("billtap-skew-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("store.sqlite");
    let store = || -> Arc<dyn ResponseCache> { Arc::new(Store::open(&path).unwrap()) };
    let c = r.client_with_clock(|cfg| cfg.cache = Some(store()), Arc::new(Skewed));
    assert_eq!(c.catalog().await.unwrap().categories.len(), 9);
    assert!(
        !c.search_billers(&text("燃气"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let offset = c.platform_clock_offset();
    assert!((offset + 3 * 3600).abs() < 60, "offset {offset}");
    // Its cache verifies on the next start, too.
    r.set(Mode::Unsigned503);
    let again = r.client_with_clock(
        |cfg| {
            cfg.cache = Some(store());
            cfg.retries = 0;
        },
        Arc::new(Skewed),
    );
    assert!(again.catalog().await.unwrap().from_cache);
    let _ = std::fs::remove_dir_all(&dir);
}
