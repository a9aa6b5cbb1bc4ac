//! The HTTP server: routes of `docs/api/openapi.yaml`, a signing layer over every response,
//! per-request fault injection and admin endpoints for tests.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use billtap_core::platform::{ResponseSigner, request_digest, valid_nonce};
use billtap_core::ports::{Clock, SystemClock};
use billtap_core::scan::{BilltapBill, EmvWriter, Initiation, render_png_luma};
use serde::Deserialize;

use crate::catalog;
use crate::db::Db;
use crate::model::{
    Biller, Checked, FaultRule, LookupRequest, NewBill, NextKey, ResolveRequest, localized,
    unionpay_account,
};
use billtap_core::platform::api;

/// Shared server state.
pub struct App {
    pub(crate) billers: Vec<Biller>,
    pub(crate) db: Db,
    pub(crate) keys: RwLock<SigningKeys>,
    pub(crate) faults: Mutex<Vec<FaultRule>>,
    pub(crate) counter: AtomicU64,
    /// The bearer token admin calls must carry.
    pub(crate) admin_token: String,
}

/// The key the sandbox signs with, and the one announced to replace it (`/admin/keys/…`).
pub struct SigningKeys {
    /// Signs every response now.
    pub(crate) current: Arc<ResponseSigner>,
    /// Becomes `current` at the next rotation.
    pub(crate) next: Option<Arc<ResponseSigner>>,
}

impl App {
    /// The signing key now. A poisoned lock still holds a whole key (it is only ever replaced),
    /// so it is used rather than failing every response.
    pub(crate) fn signer(&self) -> Arc<ResponseSigner> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .clone()
    }
}

type Shared = Arc<App>;

fn zh(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    billtap_core::platform::Lang::of(accept) == billtap_core::platform::Lang::Zh
}

/// An RFC 9457 problem response.
fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: &str,
    errors: Vec<api::FieldError>,
) -> Response {
    let body = api::Problem {
        kind: format!("https://billtap.example/problems/{kind}"),
        title: title.into(),
        status: status.as_u16(),
        detail: Some(detail.into()),
        errors,
    };
    let text = serde_json::to_string(&body).unwrap_or_default();
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// The 404 for a bill id the sandbox does not have.
fn unknown_bill(id: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "unknown-bill",
        "Unknown bill",
        &format!("no bill {id}"),
        Vec::new(),
    )
}

/// A 500 problem document (the sandbox's own failure, e.g. its database).
fn internal_error(e: &dyn std::fmt::Display) -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        &e.to_string(),
        Vec::new(),
    )
}

fn json_ok(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => internal_error(&e),
    }
}

/// Builds the router over shared state.
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/v1/catalog", get(get_catalog))
        .route("/v1/billers", get(search_billers))
        .route("/v1/billers/{biller_id}", get(get_biller))
        .route("/v1/bills/lookup", post(lookup_bills))
        .route("/v1/bills/{bill_id}", get(get_bill))
        .route("/v1/bills/{bill_id}/qr.png", get(bill_qr))
        .route("/v1/bills/{bill_id}/print", get(bill_page))
        .route("/v1/payees/resolve", post(resolve_payee))
        .route("/static/logos/{file}", get(biller_logo))
        .route("/admin/bills", post(admin_create_bill))
        .route("/admin/faults", post(admin_fault))
        .route("/admin/keys/next", post(admin_next_key))
        .route("/admin/keys/rotate", post(admin_rotate_key))
        .fallback(|| async {
            problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "no such endpoint",
                Vec::new(),
            )
        })
        .layer(middleware::from_fn_with_state(
            app.clone(),
            sign_and_inject_faults,
        ))
        .with_state(app)
}

/// The Host names the sandbox answers to: loopback only. A browser tricked by DNS
/// rebinding (`evil.example` resolving to 127.0.0.1) sends its own host name and is refused.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The JSON API operations of docs/api/openapi.yaml: each needs a `Billtap-Nonce`. (Bill QR
/// images, printable bills and logos are fetched by browsers and printers; still signed.)
fn needs_nonce(method: &axum::http::Method, path: &str) -> bool {
    path.starts_with("/v1/")
        && !path.ends_with("/qr.png")
        && !path.ends_with("/print")
        && (method == axum::http::Method::GET || method == axum::http::Method::POST)
}

/// Admin calls carry `Authorization: Bearer TOKEN` (compared in constant time) and, with a
/// body, a JSON content type, so a web page cannot forge them with a simple form post.
#[allow(clippy::result_large_err)] // the finished answer, returned at once
fn admin_allowed(app: &App, headers: &HeaderMap, has_body: bool) -> Result<(), Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let ok = given.len() == app.admin_token.len()
        && given
            .bytes()
            .zip(app.admin_token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !ok {
        return Err(problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Admin token required",
            "send the token `billtap sandbox` printed as `Authorization: Bearer TOKEN`",
            Vec::new(),
        ));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
    if has_body && !json {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "JSON required",
            "admin requests carry `Content-Type: application/json`",
            Vec::new(),
        ));
    }
    Ok(())
}

/// The largest request body the sandbox reads.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Checks Host, nonce and admin rights; signs every response (errors included) over the
/// request's digest; applies a queued fault for this path, if any.
async fn sign_and_inject_faults(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_string());
    let nonce = parts
        .headers
        .get("billtap-nonce")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_string();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        let digest = request_digest(parts.method.as_str(), &path_and_query, &nonce, b"");
        let r = problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request body too large",
            "at most 64 KiB",
            Vec::new(),
        );
        return sign(&app, r, &digest, "").await;
    };
    let digest = request_digest(parts.method.as_str(), &path_and_query, &nonce, &body);
    if !loopback_host(&parts.headers) {
        let r = problem(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            "Unknown host",
            "the sandbox answers only to a loopback Host (127.0.0.1, ::1, localhost)",
            Vec::new(),
        );
        return sign(&app, r, &digest, "").await;
    }
    if path.starts_with("/admin/") {
        if let Err(r) = admin_allowed(&app, &parts.headers, !body.is_empty()) {
            return sign(&app, r, &digest, "").await;
        }
    } else if needs_nonce(&parts.method, &path) && !valid_nonce(&nonce) {
        let r = problem(
            StatusCode::BAD_REQUEST,
            "nonce",
            "Missing request nonce",
            "send a fresh Billtap-Nonce (base64url, 128–512 random bits) with every request",
            Vec::new(),
        );
        return sign(&app, r, &digest, "").await;
    }
    let fault = app.faults.lock().ok().and_then(|mut faults| {
        let i = faults
            .iter()
            .position(|f| path.starts_with(&f.path_prefix) && f.count > 0)?;
        let f = faults.get_mut(i)?;
        f.count -= 1;
        let kind = f.fault.clone();
        if f.count == 0 {
            faults.remove(i);
        }
        Some(kind)
    });
    let fault = fault.unwrap_or_default();
    if let Some(ms) = fault
        .strip_prefix("delay:")
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if fault == "unsigned_503" {
        // A load balancer's own page: unsigned HTML, as real intermediaries answer.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
        )
            .into_response();
    }
    if fault == "drop" {
        // Headers go out, then the body fails: the client sees a broken connection.
        let err = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("fault injected: drop"))
        });
        return Response::new(Body::from_stream(err));
    }
    let response = if fault == "status_500" {
        internal_error(&"fault injected: status_500")
    } else {
        next.run(Request::from_parts(parts, Body::from(body))).await
    };
    sign(&app, response, &digest, &fault).await
}

/// Signs a response over the request digest (with a fault's deliberate defect, if any).
async fn sign(app: &App, response: Response, digest: &str, fault: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return internal_error(&"response too large");
    };
    let request_id = format!("req-{:08}", app.counter.fetch_add(1, Ordering::Relaxed));
    let mut ts = SystemClock.now_unix();
    if fault == "stale" {
        // Platform time far from the device's: v2 clients take freshness from the nonce.
        ts -= 10_800;
    }
    let etag = parts
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_string();
    let signer = app.signer();
    let status = parts.status.as_u16();
    let mut h = if fault == "replay" {
        // A genuine signature over another request's digest: what a replaying proxy serves.
        let other = request_digest("GET", "/v1/another-request", "AAAAAAAAAAAAAAAAAAAAAA", b"");
        signer.sign(status, &other, &request_id, ts, &etag, &bytes)
    } else {
        signer.sign(status, digest, &request_id, ts, &etag, &bytes)
    };
    if fault == "bad_signature" {
        // A valid signature, but over other bytes: what a tampering proxy would produce.
        h.signature = signer
            .sign(status, digest, &request_id, ts, &etag, b"something else")
            .signature;
    }
    for (name, value) in h.pairs() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            parts.headers.insert(name, v);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn get_catalog(State(_app): State<Shared>, headers: HeaderMap) -> Response {
    let zh = zh(&headers);
    let name = |n: &api::Names| if zh { n.zh.clone() } else { n.en.clone() };
    let catalog = api::Catalog {
        version: catalog::version().into(),
        categories: catalog::categories()
            .iter()
            .map(|c| api::Category {
                id: c.id.clone(),
                name: name(&c.names),
                names: c.names.clone(),
                subcategories: c
                    .subs
                    .iter()
                    .map(|s| api::Subcategory {
                        id: format!("{}.{}", c.id, s.id),
                        name: name(&s.names),
                        names: s.names.clone(),
                    })
                    .collect(),
            })
            .collect(),
        from_cache: false,
    };
    let body = match serde_json::to_string(&catalog) {
        Ok(b) => b,
        Err(e) => return internal_error(&e),
    };
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// Search parameters.
#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    category: Option<String>,
    region: Option<String>,
    page_size: Option<u32>,
    page_token: Option<String>,
}

/// Parses a JSON request body, or answers 400 with why it could not be read.
// The error is the handler's finished answer, returned at once; boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "Invalid request body",
            &e.to_string(),
            Vec::new(),
        )
    })
}

/// Parses a JSON request body and holds it to the spec's limits, or answers 400.
#[allow(clippy::result_large_err)]
fn parse_checked<T: serde::de::DeserializeOwned + Checked>(body: &[u8]) -> Result<T, Response> {
    let value: T = parse_body(body)?;
    value.validate().map_err(|why| invalid_parameter(&why))?;
    Ok(value)
}

/// A 400 for a request that breaks the spec's schema.
fn invalid_parameter(detail: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "invalid-parameter",
        "Invalid parameter",
        detail,
        Vec::new(),
    )
}

/// `^[a-z_]+(\.[a-z_]+)?$`, at most 64 characters.
fn valid_category(c: &str) -> bool {
    let part = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    c.len() <= 64
        && match c.split_once('.') {
            None => part(c),
            Some((a, b)) => part(a) && part(b),
        }
}

async fn search_billers(
    State(app): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    let zh = zh(&headers);
    // A repeated or mistyped parameter is a problem document like every other error.
    let p = match query {
        Ok(Query(p)) => p,
        Err(e) => return invalid_parameter(&e.body_text()),
    };
    let size = p.page_size.unwrap_or(20);
    if !(1..=100).contains(&size) {
        return invalid_parameter("page_size must be 1–100");
    }
    let invalid = invalid_parameter;
    // The spec's parameter schemas, enforced: a client bug shows up as a 400, not as an
    // empty or surprising page.
    if p.q.as_deref().is_some_and(|q| q.chars().count() > 64) {
        return invalid("q is longer than 64 characters");
    }
    if p.category.as_deref().is_some_and(|c| !valid_category(c)) {
        return invalid("category must be an id like `utilities` or `utilities.water`");
    }
    if p.region
        .as_deref()
        .is_some_and(|r| !(2..=6).contains(&r.len()) || !r.bytes().all(|b| b.is_ascii_digit()))
    {
        return invalid("region must be 2–6 digits of a GB/T 2260 division code");
    }
    let offset = match p.page_token.as_deref() {
        None => 0,
        Some(t) => match t
            .strip_prefix('o')
            .filter(|n| (1..=9).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => return invalid("page_token is not one this server issued"),
        },
    };
    let q =
        p.q.as_deref()
            .map(str::to_lowercase)
            .filter(|q| !q.trim().is_empty());
    let matches: Vec<&Biller> = app
        .billers
        .iter()
        .filter(|b| {
            q.as_ref().is_none_or(|q| {
                b.names.zh.contains(q.as_str()) || b.names.en.to_lowercase().contains(q.as_str())
            })
        })
        .filter(|b| {
            p.category
                .as_ref()
                .is_none_or(|c| b.category == *c || b.category.starts_with(&format!("{c}.")))
        })
        .filter(|b| {
            p.region
                .as_ref()
                .is_none_or(|r| r.starts_with(&b.region) || b.region.starts_with(r.as_str()))
        })
        .collect();
    let items: Vec<Biller> = matches
        .iter()
        .skip(offset)
        .take(size as usize)
        .map(|b| localized(b, zh))
        .collect();
    let next = offset + size as usize;
    json_ok(&api::BillerPage {
        items,
        next_page_token: (next < matches.len()).then(|| format!("o{next}")),
    })
}

fn find<'a>(app: &'a App, id: &str) -> Option<&'a Biller> {
    app.billers.iter().find(|b| b.id == id)
}

async fn get_biller(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match find(&app, &id) {
        Some(b) => json_ok(&localized(b, zh(&headers))),
        None => problem(
            StatusCode::NOT_FOUND,
            "unknown-biller",
            "Unknown biller",
            &format!("no biller {id}"),
            Vec::new(),
        ),
    }
}

async fn lookup_bills(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let zh = zh(&headers);
    let req: LookupRequest = match parse_checked(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(biller) = find(&app, &req.biller_id) else {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown-biller",
            "Unknown biller",
            &format!("no biller {}", req.biller_id),
            Vec::new(),
        );
    };
    let from_refs = |kind: &str| {
        req.references
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.value.clone())
    };
    let mut errors = Vec::new();
    let mut account = None;
    for f in &biller.lookup_fields {
        let value = req
            .fields
            .get(&f.key)
            .cloned()
            .or_else(|| from_refs("account_number"));
        match value {
            None => errors.push(api::FieldError {
                field: f.key.clone(),
                message: format!("{} is required", f.label.en),
            }),
            Some(v) => match regex::Regex::new(&f.pattern) {
                Ok(re) if re.is_match(&v) => account = Some(v),
                _ => errors.push(api::FieldError {
                    field: f.key.clone(),
                    message: match &f.example {
                        Some(e) => {
                            format!(
                                "{} does not have the expected format (e.g. {e})",
                                f.label.en
                            )
                        }
                        None => format!("{} does not have the expected format", f.label.en),
                    },
                }),
            },
        }
    }
    if !errors.is_empty() {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid lookup fields",
            "some lookup fields are invalid",
            errors,
        );
    }
    let account = account.unwrap_or_default();
    let mut bills = match app.db.bills_of(biller, &account, zh) {
        Ok(b) => b,
        Err(e) => {
            return internal_error(&e);
        }
    };
    if let Some(bill_id) = from_refs("bill_id") {
        bills.retain(|b| b.id == bill_id);
    }
    if bills.is_empty() && biller.amount_rule.kind != "payer_chosen" {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown-account",
            "Unknown account",
            "the biller has no such account or bill",
            Vec::new(),
        );
    }
    json_ok(&api::LookupResult {
        biller: localized(biller, zh),
        bills,
    })
}

async fn get_bill(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match app.db.bill(&id, &app.billers, zh(&headers)) {
        Ok(Some(b)) => json_ok(&b),
        Ok(None) => unknown_bill(&id),
        Err(e) => internal_error(&e),
    }
}

/// A biller's Latin name and city as printers write EMV tags 59 and 60 (upper case, the
/// name cut at the tag's 25 characters), and its city in Chinese, from the catalog's cities.
fn emv_names(biller: &Biller) -> Option<(String, String, &'static str)> {
    let city = catalog::city(&biller.region)?;
    let name = biller.names.en.to_uppercase().chars().take(25).collect();
    Some((name, city.en.to_uppercase(), &city.zh))
}

/// Encodes an image as a PNG response, or a 500 problem saying what could not be drawn.
fn png_response<P, C>(img: &image::ImageBuffer<P, C>, what: &str) -> Response
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut out = Vec::new();
    match img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png) {
        Ok(()) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            out,
        )
            .into_response(),
        Err(_) => internal_error(&format!("could not render the {what}")),
    }
}

/// The EMV bill-profile payload printed on a bill (docs/bill-qr-profile.md).
pub fn bill_payload(app: &App, bill_id: &str) -> Option<String> {
    let bill = app.db.bill(bill_id, &app.billers, true).ok()??;
    let biller = find(app, &bill.biller_id)?;
    let account = app.db.account_of(bill_id)?;
    let (name_en, city_en, _) = emv_names(biller)?;
    EmvWriter::new(Initiation::Dynamic)
        .billtap_bill(&BilltapBill {
            biller_id: biller.id.clone(),
            account,
            bill_id: Some(bill.id.clone()),
            period: bill.period.clone(),
        })
        .field(52, "4900")
        .field(53, "156")
        .field(54, bill.amount_due.amount.clone())
        .field(58, "CN")
        .field(59, name_en)
        .field(60, city_en)
        .template(62, &[(1, &bill.id)])
        .template(64, &[(0, "ZH"), (1, &biller.names.zh)])
        .build()
        .ok()
}

/// The static UnionPay merchant QR a registered biller displays at its counter (tag 15 with
/// its [`unionpay_account`], names in Latin and Chinese), for tests and demos of `resolve`.
pub fn merchant_payload(app: &App, biller_id: &str) -> Option<String> {
    let (index, biller) = app
        .billers
        .iter()
        .enumerate()
        .find(|(_, b)| b.id == biller_id)?;
    let mcc = match biller.category.split('.').next() {
        Some("health") => "8062",
        Some("education") => "8211",
        Some("utilities") => "4900",
        Some("transport") => "4111",
        _ => "9399",
    };
    let (name_en, city_en, city_zh) = emv_names(biller)?;
    EmvWriter::new(Initiation::Static)
        .field(15, unionpay_account(index, &biller.region))
        .field(52, mcc)
        .field(53, "156")
        .field(58, "CN")
        .field(59, name_en)
        .field(60, city_en)
        .template(64, &[(0, "ZH"), (1, &biller.names.zh), (2, city_zh)])
        .build()
        .ok()
}

/// The biller a scanned UnionPay merchant account (tag 15 or 16) is registered as.
fn unionpay_biller<'a>(app: &'a App, account: &str) -> Option<&'a Biller> {
    app.billers
        .iter()
        .enumerate()
        .find(|(i, b)| unionpay_account(*i, &b.region) == account)
        .map(|(_, b)| b)
}

async fn bill_qr(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(payload) = bill_payload(&app, &id) else {
        return unknown_bill(&id);
    };
    match render_png_luma(&payload, 6)
        .ok()
        .and_then(|q| image::GrayImage::from_raw(q.width, q.height, q.pixels))
    {
        Some(img) => png_response(&img, "QR code"),
        None => internal_error(&"could not render the QR code"),
    }
}

/// A biller's logo (`logo_url` in the catalog): a 96×96 identicon on its category's colour,
/// the same for an id on every start, so app developers get real images to lay out.
async fn biller_logo(State(app): State<Shared>, Path(file): Path<String>) -> Response {
    let Some(biller) = file.strip_suffix(".png").and_then(|id| find(&app, id)) else {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown-biller",
            "Unknown biller",
            "no logo: no biller has this id",
            Vec::new(),
        );
    };
    png_response(&logo(biller), "logo")
}

/// Draws a biller's identicon: a mirrored 5×5 grid from an FNV-1a hash of the id (stable
/// across Rust versions, unlike `DefaultHasher`), white on the category colour.
fn logo(biller: &Biller) -> image::RgbImage {
    const SIDE: u32 = 96;
    const CELL: u32 = 16; // 5 cells of 16 px with an 8 px margin
    let colour = match biller.category.split('.').next() {
        Some("utilities") => [0x1f, 0x6f, 0xd0],
        Some("non_tax") => [0x8a, 0x4b, 0xc8],
        Some("social_security") => [0xd0, 0x6a, 0x1f],
        Some("education") => [0x2e, 0x9d, 0x52],
        Some("health") => [0xd0, 0x30, 0x3a],
        Some("transport") => [0x12, 0x8c, 0x9a],
        Some("government") => [0x5a, 0x5a, 0x66],
        Some("charity") => [0xc0, 0x3d, 0x8c],
        _ => [0xc8, 0x9b, 0x10],
    };
    let hash = biller.id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let (cx, cy) = (
            x.checked_sub(8).map(|v| v / CELL),
            y.checked_sub(8).map(|v| v / CELL),
        );
        let on = match (cx, cy) {
            (Some(cx), Some(cy)) if cx < 5 && cy < 5 => {
                let col = cx.min(4 - cx); // mirrored: columns 0–2 decide
                hash >> (cy * 3 + col) & 1 == 1
            }
            _ => false,
        };
        image::Rgb(if on { [0xff, 0xff, 0xff] } else { colour })
    })
}

async fn bill_page(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(Some(bill)) = app.db.bill(&id, &app.billers, true) else {
        return unknown_bill(&id);
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{name} 缴费通知单</title>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>{name}</h1>\
         <p>户号 Account: {acct}<br>账期 Period: {period}<br>应缴金额 Amount due: ¥{amount}<br>缴费期限 Due: {due}</p>\
         <p><img src=\"qr.png\" alt=\"bill QR code\" width=\"300\"></p><p>扫码缴费 Scan to pay · bill {id}</p></body></html>",
        name = esc(&bill.biller_name),
        acct = esc(&bill.account_masked),
        period = esc(bill.period.as_deref().unwrap_or("")),
        amount = esc(&bill.amount_due.amount),
        due = esc(bill.due_date.as_deref().unwrap_or("")),
        id = esc(&bill.id),
    ))
    .into_response()
}

async fn resolve_payee(State(app): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let zh = zh(&headers);
    let req: ResolveRequest = match parse_checked(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let billtap_guid = req
        .guid
        .as_deref()
        .is_some_and(|g| g.eq_ignore_ascii_case(billtap_core::scan::BILLTAP_BILL_GUID));
    // The billtap bill profile lives in a merchant-account template, tags 26–51.
    let template_tag = req
        .merchant_account_tag
        .as_deref()
        .is_none_or(|t| t.parse::<u8>().is_ok_and(|n| (26..=51).contains(&n)));
    let unionpay = matches!(req.merchant_account_tag.as_deref(), Some("15" | "16"));
    let biller = match req.account.as_deref() {
        Some(acct) if req.scheme == "emv_mpm" && unionpay => unionpay_biller(&app, acct),
        Some(id) if req.scheme == "emv_mpm" && billtap_guid && template_tag => find(&app, id),
        _ => None,
    };
    let matches = biller.map(|b| {
        req.payee_name_in_code
            .as_deref()
            .is_none_or(|n| billtap_core::platform::printed_name_matches(n, &b.names))
    });
    json_ok(&api::Resolution {
        account: req.account.clone(),
        merchant_account_tag: req.merchant_account_tag.clone(),
        registered: biller.is_some(),
        biller: biller.map(|b| localized(b, zh)),
        name_matches_code: matches,
    })
}

async fn admin_create_bill(State(app): State<Shared>, body: Bytes) -> Response {
    let new: NewBill = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if find(&app, &new.biller_id).is_none() || new.amount_fen <= 0 {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid bill",
            "unknown biller or non-positive amount",
            Vec::new(),
        );
    }
    match app
        .db
        .create(&new, app.counter.fetch_add(1, Ordering::Relaxed))
    {
        Ok(id) => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&crate::model::CreatedBill { id }).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => problem(
            StatusCode::CONFLICT,
            "conflict",
            "Could not create the bill",
            &e.to_string(),
            Vec::new(),
        ),
    }
}

async fn admin_fault(State(app): State<Shared>, body: Bytes) -> Response {
    let rule: FaultRule = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let known = rule.fault == "status_500"
        || rule.fault == "drop"
        || rule.fault == "bad_signature"
        || rule.fault == "stale"
        || rule.fault == "replay"
        || rule.fault == "unsigned_503"
        || rule
            .fault
            .strip_prefix("delay:")
            .is_some_and(|ms| ms.parse::<u64>().is_ok());
    if !known {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Unknown fault",
            "fault must be delay:MS, status_500, drop, bad_signature, stale, replay or unsigned_503",
            Vec::new(),
        );
    }
    match app.faults.lock() {
        Ok(mut f) => {
            f.push(rule);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(_) => internal_error(&"fault list unavailable"),
    }
}

/// Announces the next signing key and returns its `KEY_ID:BASE64` entry for apps to pin.
async fn admin_next_key(State(app): State<Shared>, body: Bytes) -> Response {
    let req: NextKey = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let id = req.key_id.trim();
    let current = app.signer().pinned().id;
    // The same limits the client applies to `Billtap-Key-Id`.
    if id.is_empty() || id.len() > 64 || id == current {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid key id",
            &format!("key_id must be 1–64 characters and not the current key id {current:?}"),
            Vec::new(),
        );
    }
    let next = match ResponseSigner::generate(id) {
        Ok(s) => Arc::new(s),
        Err(e) => return internal_error(&e),
    };
    let entry = next.pinned().to_entry();
    app.keys
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .next = Some(next);
    (
        StatusCode::CREATED,
        axum::Json(crate::model::PinnedKeyEntry { pinned_key: entry }),
    )
        .into_response()
}

/// Switches signing to the announced key; the old key signs nothing from now on.
async fn admin_rotate_key(State(app): State<Shared>) -> Response {
    let mut keys = app.keys.write().unwrap_or_else(PoisonError::into_inner);
    let Some(next) = keys.next.take() else {
        return problem(
            StatusCode::CONFLICT,
            "conflict",
            "No key announced",
            "announce the next key with POST /admin/keys/next first",
            Vec::new(),
        );
    };
    let entry = next.pinned().to_entry();
    keys.current = next;
    drop(keys);
    axum::Json(crate::model::PinnedKeyEntry { pinned_key: entry }).into_response()
}
