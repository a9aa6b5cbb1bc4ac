//! Devices, quotes and payments: every device request is signed by the device's P-256 key
//! over the protocol v2 request digest, its idempotency key, its id and a timestamp within
//! ±300 s of the sandbox's clock; nonces are single-use; payments are idempotent by key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use billtap_core::pay::{
    DEVICE_HEADER, DEVICE_SIGNATURE_HEADER, DEVICE_SKEW_SECS, DEVICE_TIMESTAMP_HEADER,
    IDEMPOTENCY_HEADER, device_canonical, normalize_public_key, verify_device_signature,
};

use super::*;
use crate::ledger::{Debit, KEY_RETENTION_SECS, QUOTE_TTL_SECS, Refusal, StoredQuote};
use crate::model::{cny, mask};

/// The request digest and nonce the trust layer computed, for handlers that check a device
/// signature over them.
#[derive(Debug, Clone)]
pub(crate) struct RequestDigest {
    pub(crate) digest: String,
    pub(crate) nonce: String,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
}

fn unauthorized(kind: &str, title: &str, detail: &str) -> Response {
    problem(StatusCode::UNAUTHORIZED, kind, title, detail, Vec::new())
}

/// Checks the device signature headers against `public_key` (the stored one, or for a
/// registration the one being registered): the timestamp within the skew, the signature over
/// this request's digest, key and device.
#[allow(clippy::result_large_err)] // the finished refusal, returned at once
fn check_device_signature(
    headers: &HeaderMap,
    rd: &RequestDigest,
    device_id: &str,
    key: &str,
    public_key: &[u8],
) -> Result<(), Response> {
    let now = SystemClock.now_unix();
    let Ok(ts) = header_str(headers, DEVICE_TIMESTAMP_HEADER).parse::<i64>() else {
        return Err(unauthorized(
            "bad-device-signature",
            "Device signature missing",
            "send Billtap-Device, Billtap-Device-Timestamp and Billtap-Device-Signature",
        ));
    };
    if (ts - now).abs() > DEVICE_SKEW_SECS {
        return Err(unauthorized(
            "stale-timestamp",
            "Device timestamp out of range",
            "the device's timestamp is more than 300 s from the platform's clock; sign again",
        ));
    }
    let Ok(signature) = B64.decode(header_str(headers, DEVICE_SIGNATURE_HEADER)) else {
        return Err(unauthorized(
            "bad-device-signature",
            "Device signature malformed",
            "Billtap-Device-Signature is base64 of a DER ECDSA signature",
        ));
    };
    let message = device_canonical(&rd.digest, key, device_id, ts);
    if !verify_device_signature(public_key, message.as_bytes(), &signature) {
        return Err(unauthorized(
            "bad-device-signature",
            "Device signature does not verify",
            "the request is not signed by this device's key (or was altered after signing)",
        ));
    }
    Ok(())
}

/// A registered device's signed request: its id, checked.
#[allow(clippy::result_large_err)] // the finished refusal, returned at once
pub(super) fn registered_device(
    app: &App,
    headers: &HeaderMap,
    rd: &RequestDigest,
    key: &str,
) -> Result<String, Response> {
    let device_id = header_str(headers, DEVICE_HEADER).to_string();
    let device = match app.db.device(&device_id) {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(unauthorized(
                "unknown-device",
                "Unknown device",
                "register the device (POST /v1/devices) before paying",
            ));
        }
        Err(e) => return Err(internal_error(&e)),
    };
    check_device_signature(headers, rd, &device_id, key, &device.public_key)?;
    Ok(device_id)
}

/// A registered device's signed request without an idempotency key, its nonce burnt (used
/// once): the device's id, or the refusal.
#[allow(clippy::result_large_err)] // the finished refusal, returned at once
pub(super) fn device_request_once(
    app: &App,
    headers: &HeaderMap,
    rd: &RequestDigest,
) -> Result<String, Response> {
    let device_id = registered_device(app, headers, rd, "")?;
    match app.db.burn_nonce(&rd.nonce, SystemClock.now_unix()) {
        Ok(true) => Ok(device_id),
        Ok(false) => Err(replayed()),
        Err(e) => Err(internal_error(&e)),
    }
}

pub(super) fn replayed() -> Response {
    problem(
        StatusCode::CONFLICT,
        "replayed-nonce",
        "Replayed request",
        "this request's nonce was used before",
        Vec::new(),
    )
}

fn body_hash(body: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, body))
}

pub(super) fn fen(m: &api::ApiMoney) -> Option<i64> {
    if m.currency != "CNY" {
        return None;
    }
    let (yuan, cents) = m.amount.split_once('.').unwrap_or((&m.amount, "00"));
    if cents.len() != 2 || yuan.is_empty() {
        return None;
    }
    let y: i64 = yuan.parse().ok()?;
    let c: i64 = cents.parse().ok()?;
    y.checked_mul(100)?.checked_add(c).filter(|v| *v > 0)
}

fn fen_of(m: &Option<api::ApiMoney>) -> Option<i64> {
    m.as_ref().and_then(fen)
}

/// `POST /v1/devices`.
pub(super) async fn register_device(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reg: api::DeviceRegistration = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let key = B64
        .decode(&reg.public_key)
        .ok()
        .and_then(|k| normalize_public_key(&k));
    let Some(key) = key else {
        return invalid_parameter("public_key is base64 of an uncompressed P-256 point");
    };
    if reg.device_id.is_empty()
        || reg.device_id.len() > 64
        || header_str(&headers, DEVICE_HEADER) != reg.device_id
    {
        return invalid_parameter("device_id (1-64 characters) must match Billtap-Device");
    }
    // Proof of possession: the registration is signed with the key it registers.
    if let Err(r) = check_device_signature(&headers, &rd, &reg.device_id, "", &key) {
        return r;
    }
    let now = SystemClock.now_unix();
    match app.db.burn_nonce(&rd.nonce, now) {
        Ok(true) => {}
        Ok(false) => return replayed(),
        Err(e) => return internal_error(&e),
    }
    if let Some(c) = &reg.customer
        && !crate::ledger::DEMO_ACCOUNTS.iter().any(|(n, _, _)| n == c)
    {
        return invalid_parameter("customer: not a customer of the bank");
    }
    match app
        .db
        .register_device(&reg.device_id, &key, &reg.platform, now)
    {
        Ok(Ok(at)) => {
            if let Some(c) = &reg.customer
                && let Err(e) = app.db.link_customer(&reg.device_id, c)
            {
                return internal_error(&e);
            }
            json_ok(&api::RegisteredDevice {
                device_id: reg.device_id,
                registered_at: at,
            })
        }
        Ok(Err(())) => problem(
            StatusCode::CONFLICT,
            "device-conflict",
            "Device id taken",
            "another key is registered under this device id",
            Vec::new(),
        ),
        Err(e) => internal_error(&e),
    }
}

/// `POST /v1/payments/quotes`.
pub(super) async fn create_quote(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: api::QuoteRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let zh = zh(&headers);
    match app.db.account_exists(&req.funding_account) {
        Ok(true) => {}
        Ok(false) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
                "unknown funding account",
                vec![api::FieldError {
                    field: "funding_account".into(),
                    message: "no such account at the bank".into(),
                }],
            );
        }
        Err(e) => return internal_error(&e),
    }
    let asked = fen_of(&req.amount);
    if req.amount.is_some() && asked.is_none() {
        return invalid_parameter("amount is a positive CNY amount with two decimals");
    }
    let (biller, bill_id, amount_fen) = match (&req.bill_id, &req.biller_id, &req.payee_account) {
        (Some(bill_id), None, None) => {
            let bill = match app.db.bill(bill_id, &app.billers, zh) {
                Ok(Some(b)) => b,
                Ok(None) => return unknown_bill(bill_id),
                Err(e) => return internal_error(&e),
            };
            if bill.status == "paid" {
                return problem(
                    StatusCode::CONFLICT,
                    "bill-paid",
                    "Bill already paid",
                    "this bill is paid",
                    Vec::new(),
                );
            }
            let Some(biller) = find(&app, &bill.biller_id) else {
                return internal_error(&"bill without biller");
            };
            let Some(due) = fen(&bill.amount_due) else {
                return internal_error(&"bill amount");
            };
            let amount = match (asked, biller.amount_rule.kind.as_str()) {
                (None, _) => due,
                (Some(a), "fixed") if a != due => {
                    return invalid_parameter("this biller takes the bill's amount exactly");
                }
                (Some(a), _) if a > due => {
                    return invalid_parameter("the amount is more than the bill's amount due");
                }
                (Some(a), _) => {
                    if fen_of(&biller.amount_rule.min).is_some_and(|min| a < min && a != due) {
                        return invalid_parameter("the amount is below the biller's minimum");
                    }
                    a
                }
            };
            (biller, Some(bill_id.clone()), amount)
        }
        (None, Some(biller_id), Some(account)) => {
            let Some(biller) = find(&app, biller_id) else {
                return problem(
                    StatusCode::NOT_FOUND,
                    "unknown-biller",
                    "Unknown biller",
                    "no such biller",
                    Vec::new(),
                );
            };
            if biller.vends.is_some() {
                // A prepaid meter's biller is paid for one meter: its number, as it asks.
                let fits = biller.lookup_fields.first().is_some_and(|f| {
                    regex::Regex::new(&f.pattern).is_ok_and(|re| re.is_match(account))
                });
                if !fits {
                    return invalid_parameter(
                        "payee_account is not a meter number this biller serves",
                    );
                }
            } else if unionpay_biller(&app, account).map(|b| b.id.as_str())
                != Some(biller_id.as_str())
            {
                return invalid_parameter("payee_account is not this biller's registered account");
            }
            let Some(a) = asked else {
                return invalid_parameter("paying a payee without a bill needs an amount");
            };
            let min = fen_of(&biller.amount_rule.min).unwrap_or(1);
            let max = fen_of(&biller.amount_rule.max).unwrap_or(i64::MAX);
            if biller.amount_rule.kind != "payer_chosen" || a < min || a > max {
                return invalid_parameter(
                    "this payee takes payer-chosen amounts only within its minimum and maximum",
                );
            }
            (biller, None, a)
        }
        _ => return invalid_parameter("give bill_id, or biller_id with payee_account"),
    };
    let index = app
        .billers
        .iter()
        .position(|b| b.id == biller.id)
        .unwrap_or(0);
    // A meter's payment names the meter; any other, the biller's registered account.
    let payee_account = match (&biller.vends, &req.payee_account) {
        (Some(_), Some(meter)) => meter.clone(),
        _ => unionpay_account(index, &biller.region),
    };
    let mut id = [0u8; 12];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id).is_err() {
        return internal_error(&"no randomness");
    }
    let quote_id = format!("Q{}", hex::encode(id));
    let expires_at = SystemClock.now_unix() + QUOTE_TTL_SECS;
    let stored = StoredQuote {
        bill_id: bill_id.clone(),
        biller_id: biller.id.clone(),
        payee_account: payee_account.clone(),
        amount_fen,
        fee_fen: 0,
        funding_account: req.funding_account.clone(),
        expires_at,
    };
    if let Err(e) = app.db.insert_quote(&quote_id, &stored) {
        return internal_error(&e);
    }
    json_ok(&api::Quote {
        quote_id,
        bill_id,
        biller_id: biller.id.clone(),
        payee_name: if zh {
            biller.names.zh.clone()
        } else {
            biller.names.en.clone()
        },
        payee_account,
        amount: cny(amount_fen),
        fee: cny(0),
        funding_account_masked: mask(&req.funding_account),
        expires_at,
    })
}

fn kept_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, body).into_response();
    let ct = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

/// `POST /v1/payments`.
pub(super) async fn create_payment(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = header_str(&headers, IDEMPOTENCY_HEADER).to_string();
    if key.is_empty() || key.len() > 64 {
        return invalid_parameter("an Idempotency-Key header (1-64 characters) is required");
    }
    let device_id = match registered_device(&app, &headers, &rd, &key) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let hash = body_hash(&body);
    // Same key: the kept answer for the same body, a refusal for another.
    match app.db.kept(&device_id, &key) {
        Ok(Some(k)) if k.body_hash == hash => return kept_response(k.http_status, k.response),
        Ok(Some(_)) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "this key was used for a different payment",
                Vec::new(),
            );
        }
        Ok(None) => {}
        Err(e) => return internal_error(&e),
    }
    let req: api::PaymentRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(amount_fen) = fen(&req.amount) else {
        return invalid_parameter("amount is a positive CNY amount with two decimals");
    };
    let now = SystemClock.now_unix();
    // A fresh request must carry a fresh nonce (a retry of a kept one was answered above);
    // the payment transaction burns it, so a request that never committed may come again.
    match app.db.nonce_seen(&rd.nonce) {
        Ok(false) => {}
        Ok(true) => return replayed(),
        Err(e) => return internal_error(&e),
    }
    let mut id = [0u8; 10];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id).is_err() {
        return internal_error(&"no randomness");
    }
    let payment_id = format!("PAY{}", hex::encode(id).to_uppercase());
    let debit = Debit {
        device_id: &device_id,
        key: &key,
        body_hash: &hash,
        quote_id: &req.quote_id,
        bill_id: req.bill_id.as_deref(),
        biller_id: &req.biller_id,
        payee_account: &req.payee_account,
        amount_fen,
        funding_account: &req.funding_account,
        nonce: &rd.nonce,
        now,
        payment_id: &payment_id,
    };
    let signer = app.signer();
    let payee = find(&app, &req.biller_id);
    let payee_name = payee.map(|b| b.names.zh.clone()).unwrap_or_default();
    let payee_name_en = payee.map(|b| b.names.en.clone());
    let category = payee.map(|b| b.category.clone());
    let vends_token = payee.is_some_and(|b| b.vends.as_deref() == Some("sts_token"));
    // The receipt: what was paid, to whom, from where, when, by which device.
    let receipt = |fee_fen: i64| {
        let body = billtap_core::receipts::ReceiptBody {
            version: 1,
            payment_id: payment_id.clone(),
            bill_id: req.bill_id.clone(),
            biller_id: req.biller_id.clone(),
            payee_name: payee_name.clone(),
            payee_name_en: payee_name_en.clone(),
            category: category.clone(),
            payee_account_masked: mask(&req.payee_account),
            payer_masked: mask(&req.funding_account),
            amount: cny(amount_fen).amount,
            currency: "CNY".into(),
            fee: cny(fee_fen).amount,
            paid_at: now,
            device_id: device_id.clone(),
            sts_token: vends_token
                .then(|| crate::meter::sts_token(&req.payee_account, &payment_id, amount_fen)),
        };
        billtap_core::receipts::sign_receipt(&body, &signer)
            .ok()
            .map(|cose| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cose))
    };
    let answer = |refusal: Option<&Refusal>, fee_fen: i64| match refusal {
        None => (
            201,
            serde_json::to_string(&api::Payment {
                receipt: receipt(fee_fen),
                payment_id: payment_id.clone(),
                idempotency_key: key.clone(),
                status: "succeeded".into(),
                failure: None,
                bill_id: req.bill_id.clone(),
                biller_id: req.biller_id.clone(),
                payee_account_masked: mask(&req.payee_account),
                amount: cny(amount_fen),
                fee: cny(fee_fen),
                created_at: now,
            })
            .unwrap_or_default(),
        ),
        Some(r) => (
            r.status,
            serde_json::to_string(&api::Problem {
                kind: format!("https://billtap.example/problems/{}", r.kind),
                title: r.title.into(),
                status: r.status,
                detail: Some(r.detail.clone()),
                errors: Vec::new(),
            })
            .unwrap_or_default(),
        ),
    };
    match app.db.pay(&debit, answer) {
        Ok((status, body)) => kept_response(status, body),
        // Two deliveries of one request at once: the second lost the race for the key.
        Err(_) => match app.db.kept(&device_id, &key) {
            Ok(Some(k)) if k.body_hash == hash => kept_response(k.http_status, k.response),
            _ => problem(
                StatusCode::CONFLICT,
                "payment-in-progress",
                "Payment in progress",
                "another delivery of this payment is being processed; ask again",
                Vec::new(),
            ),
        },
    }
}

/// `GET /v1/payments/by-key/{key}`: what became of a payment, for a client settling an
/// unknown outcome. Signed by the device that made it, with a fresh nonce.
pub(super) async fn payment_by_key(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let device_id = match device_request_once(&app, &headers, &rd) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match app.db.kept(&device_id, &key) {
        Ok(Some(k)) if (200..300).contains(&k.http_status) => kept_response(200, k.response),
        Ok(Some(k)) => {
            // A kept refusal: reported as a failed payment, so a client settling it knows
            // nothing was taken.
            let p: Option<api::Problem> = serde_json::from_str(&k.response).ok();
            let failure = p.map(|p| match p.detail {
                Some(d) => format!("{}: {d}", p.title),
                None => p.title,
            });
            json_ok(&api::Payment {
                payment_id: k.payment_id,
                idempotency_key: key,
                status: "failed".into(),
                failure,
                bill_id: k.bill_id,
                biller_id: k.biller_id,
                payee_account_masked: mask(&k.payee_account),
                amount: cny(k.amount_fen),
                fee: cny(0),
                created_at: k.created_at,
                receipt: None,
            })
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "unknown-payment",
            "No payment under this key",
            &format!(
                "the platform has no payment under this key from this device (keys are kept {KEY_RETENTION_SECS} s)"
            ),
            Vec::new(),
        ),
        Err(e) => internal_error(&e),
    }
}

/// `GET /admin/ledger`: every accepted payment, for tests to count.
pub(super) async fn admin_ledger(State(app): State<Shared>) -> Response {
    let (payments, topups) = match (app.db.ledger(), app.db.topups()) {
        (Ok(p), Ok(t)) => (p, t),
        (Err(e), _) | (_, Err(e)) => return internal_error(&e),
    };
    let mut entries: Vec<api::LedgerEntry> = payments
        .into_iter()
        .map(|(payment_id, bill_id, payee_account, fen, key, device)| {
            let m = cny(fen);
            api::LedgerEntry {
                payment_id,
                bill_id,
                payee_account,
                amount: m.amount,
                currency: m.currency,
                idempotency_key: key,
                device_id: device,
                status: "succeeded".into(),
                kind: None,
            }
        })
        .collect();
    // Top-up orders too: the card, the amount, the state, to reconcile money and cards.
    entries.extend(topups.into_iter().map(|o| {
        let m = cny(o.amount_fen);
        api::LedgerEntry {
            payment_id: o.order_id,
            bill_id: None,
            payee_account: o.card_serial,
            amount: m.amount,
            currency: m.currency,
            idempotency_key: String::new(),
            device_id: o.device_id,
            status: o.state,
            kind: Some("topup".into()),
        }
    }));
    json_ok(&entries)
}
