//! The trust layer every response passes: loopback-only Host, admin token, the client's
//! nonce, request-size limit, v2 signing bound to the request digest, and injected faults.

use super::*;

/// The Host names the sandbox answers to: loopback only. A browser tricked by DNS
/// rebinding (`evil.example` resolving to 127.0.0.1) sends its own host name and is refused.
pub(super) fn loopback_host(headers: &HeaderMap) -> bool {
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
pub(super) fn needs_nonce(method: &axum::http::Method, path: &str) -> bool {
    path.starts_with("/v1/")
        && !path.ends_with("/qr.png")
        && !path.ends_with("/print")
        && (method == axum::http::Method::GET || method == axum::http::Method::POST)
}

/// Admin calls carry `Authorization: Bearer TOKEN` (compared in constant time) and, with a
/// body, a JSON content type, so a web page cannot forge them with a simple form post.
#[allow(clippy::result_large_err)] // the finished answer, returned at once
pub(super) fn admin_allowed(
    app: &App,
    headers: &HeaderMap,
    has_body: bool,
) -> Result<(), Response> {
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
pub(super) const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Checks Host, nonce and admin rights; signs every response (errors included) over the
/// request's digest; applies a queued fault for this path, if any.
pub(super) async fn sign_and_inject_faults(
    State(app): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
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
        let i = faults.iter().position(|f| {
            f.count > 0
                && if f.exact {
                    path == f.path_prefix
                } else {
                    path.starts_with(&f.path_prefix)
                }
        })?;
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
    if fault == "status_500" {
        // Before anything commits.
        return sign(
            &app,
            internal_error(&"fault injected: status_500"),
            &digest,
            &fault,
        )
        .await;
    }
    let mut parts = parts;
    parts.extensions.insert(RequestDigest {
        digest: digest.clone(),
        nonce: nonce.clone(),
    });
    let response = if fault == "duplicate" {
        // The same request delivered twice (a proxy's retry): the first answer is lost.
        let first = next
            .clone()
            .run(Request::from_parts(parts.clone(), Body::from(body.clone())))
            .await;
        drop(first);
        next.run(Request::from_parts(parts, Body::from(body))).await
    } else {
        next.run(Request::from_parts(parts, Body::from(body))).await
    };
    if fault == "drop_after_commit" {
        // The handler committed; the answer never arrives.
        let err = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("fault injected: drop_after_commit"))
        });
        return Response::new(Body::from_stream(err));
    }
    if let Some(ms) = fault
        .strip_prefix("delay_after:")
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        // Committed, then slow: the client may give up before the answer comes.
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    sign(&app, response, &digest, &fault).await
}

/// Signs a response over the request digest (with a fault's deliberate defect, if any).
pub(super) async fn sign(app: &App, response: Response, digest: &str, fault: &str) -> Response {
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
