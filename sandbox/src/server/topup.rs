//! Top-up orders: authorise a load the card asked for (MAC1 checked, the funding account
//! debited, MAC2 issued), complete it with the card's TAC (a signed receipt), or settle an
//! interrupted one by a fresh INITIALIZE FOR LOAD whose MAC1 proves the card's counter and
//! balance — loaded (completed), or not (authorised again, or reversed on request). Nothing is
//! refunded on the client's word alone: only the card's MAC1 proves it was not loaded.

use base64::Engine as _;
use billtap_core::pay::IDEMPOTENCY_HEADER;
use billtap_core::platform::api::{
    CardLoadInit, TopupCompletion, TopupOrder, TopupRequest, TopupSettle,
};
use billtap_core::topup::pboc::{LoadInit, LoadTerms};

use super::*;
use crate::issuer::{Authorised, IssuerKeys, Order, init_checks};
use crate::model::{cny, mask};

fn refused(status: StatusCode, kind: &str, title: &str, detail: &str) -> Response {
    problem(status, kind, title, detail, Vec::new())
}

fn hex_n<const N: usize>(h: &str) -> Option<[u8; N]> {
    hex::decode(h)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
}

fn load_init(i: &CardLoadInit) -> Option<LoadInit> {
    Some(LoadInit {
        old_balance: i.old_balance,
        counter: i.counter.to_be_bytes(),
        key_version: i.key_version,
        algorithm: i.algorithm,
        random: hex_n(&i.random)?,
        mac1: hex_n(&i.mac1)?,
    })
}

fn keys_for(app: &App, version: u8) -> Option<&IssuerKeys> {
    app.issuer_keys.iter().find(|k| k.version == version)
}

/// Checks a card's INIT answer for an order's card, amount and terminal: a response to send
/// back when it does not check.
#[allow(clippy::result_large_err)] // the finished refusal, returned at once
fn checked_init(
    app: &App,
    serial: &str,
    terms: &LoadTerms,
    init: &CardLoadInit,
) -> Result<LoadInit, Response> {
    let (Some(serial), Some(li)) = (hex_n::<10>(serial), load_init(init)) else {
        return Err(invalid_parameter(
            "card_serial is 10 bytes of hex; random and mac1 4 bytes of hex",
        ));
    };
    if li.algorithm != billtap_core::topup::pboc::ALG_DES {
        return Err(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported-algorithm",
            "Card algorithm not supported",
            "this issuer loads DES/3DES purses (algorithm 01); SM4 cards are not issued here",
        ));
    }
    let Some(keys) = keys_for(app, li.key_version) else {
        return Err(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-key-version",
            "Unknown card key version",
            "the issuer has no master keys of the card's key version",
        ));
    };
    if !init_checks(keys, &serial, terms, &li) {
        return Err(refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-mac1",
            "The card's MAC1 does not check",
            "not a card of this issuer, or the answer was altered",
        ));
    }
    Ok(li)
}

/// China-time `YYYYMMDD` and `hhmmss` of now.
fn stamp_now() -> (String, String) {
    let t = SystemClock.now_unix() + billtap_core::dates::CHINA_OFFSET_SECS;
    let day = billtap_core::dates::format_day(t.div_euclid(86_400)).replace('-', "");
    let s = t.rem_euclid(86_400);
    (
        day,
        format!("{:02}{:02}{:02}", s / 3600, s / 60 % 60, s % 60),
    )
}

fn order_json(app: &App, o: &Order, receipt: Option<String>) -> Response {
    let keys = u8::try_from(o.key_version)
        .ok()
        .and_then(|v| keys_for(app, v));
    let authorised = o.state == "authorised";
    json_ok(&TopupOrder {
        order_id: o.order_id.clone(),
        state: o.state.clone(),
        card_serial_masked: mask(&o.card_serial),
        amount: cny(o.amount_fen),
        counter: u16::try_from(o.counter).unwrap_or_default(),
        mac2: keys
            .filter(|_| authorised)
            .and_then(|k| o.mac2(k))
            .map(hex::encode_upper),
        date: authorised.then(|| o.date.clone()),
        time: authorised.then(|| o.time.clone()),
        receipt,
    })
}

/// The signed receipt of a completed top-up (base64url COSE).
fn receipt(app: &App, o: &Order) -> Option<String> {
    card_receipt(
        app,
        o,
        ("TOPUP-T-UNION", "交通联合卡充值", "T-Union card top-up"),
        "transport.transit_card",
    )
}

/// The signed receipt of a completed card load (base64url COSE): the payee as (id, Chinese
/// name, English name), its category.
pub(super) fn card_receipt(
    app: &App,
    o: &Order,
    (biller_id, zh, en): (&str, &str, &str),
    category: &str,
) -> Option<String> {
    let body = billtap_core::receipts::ReceiptBody {
        version: 1,
        payment_id: o.order_id.clone(),
        bill_id: None,
        biller_id: biller_id.into(),
        payee_name: zh.into(),
        payee_name_en: Some(en.into()),
        category: Some(category.into()),
        payee_account_masked: mask(&o.card_serial),
        payer_masked: mask(&o.funding_account),
        amount: cny(o.amount_fen).amount,
        currency: "CNY".into(),
        fee: cny(0).amount,
        paid_at: o.created_at,
        device_id: o.device_id.clone(),
        sts_token: None,
    };
    billtap_core::receipts::sign_receipt(&body, &app.signer())
        .ok()
        .map(|c| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c))
}

#[allow(clippy::result_large_err)] // the finished refusal, returned at once
fn own_order(app: &App, device_id: &str, order_id: &str) -> Result<Order, Response> {
    match app.db.topup(order_id) {
        Ok(Some(o)) if o.device_id == device_id => Ok(o),
        Ok(_) => Err(refused(
            StatusCode::NOT_FOUND,
            "unknown-order",
            "No such top-up",
            "this device has no top-up order with this id",
        )),
        Err(e) => Err(internal_error(&e)),
    }
}

/// A signed request about one of the device's orders: the order and the body, or the refusal.
#[allow(clippy::result_large_err)] // the finished refusal, returned at once
fn order_request<T: serde::de::DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    rd: &RequestDigest,
    order_id: &str,
    body: &[u8],
) -> Result<(Order, T), Response> {
    let device_id = device_request_once(app, headers, rd)?;
    let req: T = parse_body(body)?;
    Ok((own_order(app, &device_id, order_id)?, req))
}

/// A new card-load order's start: the request's idempotency key and registered device, and
/// — when the key already made an order with this same body (its answer was lost) — that
/// order as it stands now, answered before a spent nonce or a card's moved-on counter could
/// refuse it.
pub(super) enum Keyed {
    /// The order this key made.
    Repeat(Box<Order>),
    /// A new request: key, device, body hash.
    New(String, String, String),
}

#[allow(clippy::result_large_err)] // the finished refusal, returned at once
pub(super) fn keyed(
    app: &App,
    headers: &HeaderMap,
    rd: &RequestDigest,
    body: &[u8],
) -> Result<Keyed, Response> {
    let key = headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if key.is_empty() || key.len() > 64 {
        return Err(invalid_parameter(
            "a card load needs an Idempotency-Key (1-64 characters)",
        ));
    }
    let device_id = registered_device(app, headers, rd, &key)?;
    let body_hash = hex::encode(ring::digest::digest(&ring::digest::SHA256, body));
    match app.db.topup_by_key(&device_id, &key) {
        Ok(Some(o)) if o.body_hash == body_hash => Ok(Keyed::Repeat(Box::new(o))),
        Ok(Some(_)) => Err(key_reused()),
        Ok(None) => Ok(Keyed::New(key, device_id, body_hash)),
        Err(e) => Err(internal_error(&e)),
    }
}

fn key_reused() -> Response {
    refused(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        "Key used for another request",
        "this idempotency key was used with another card load",
    )
}

/// Debits and records a new card-load order; its answer through `answer`.
pub(super) fn authorise(
    app: &App,
    key: &str,
    order: &Order,
    answer: impl Fn(&Order) -> Response,
) -> Response {
    match app.db.authorize_topup(key, order) {
        Ok(Authorised::New(o) | Authorised::Kept(o)) => answer(&o),
        Ok(Authorised::KeyReused) => key_reused(),
        Ok(Authorised::InsufficientFunds) => refused(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient-funds",
            "Insufficient funds",
            "the funding account's balance does not cover the amount; nothing was taken",
        ),
        Err(e) => internal_error(&e),
    }
}

/// A purse order as the API answers it, with its receipt once completed.
fn answer(app: &App, o: &Order) -> Response {
    let receipt = (o.state == "completed").then(|| receipt(app, o)).flatten();
    order_json(app, o, receipt)
}

/// `POST /v1/topups`.
pub(super) async fn create_topup(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (key, device_id, body_hash) = match keyed(&app, &headers, &rd, &body) {
        Ok(Keyed::New(k, d, h)) => (k, d, h),
        Ok(Keyed::Repeat(o)) => return answer(&app, &o),
        Err(r) => return r,
    };
    let req: TopupRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let amount = fen(&req.amount);
    let (Some(amount), Some(terminal)) = (amount, hex_n::<6>(&req.terminal)) else {
        return invalid_parameter("amount is a positive CNY amount; terminal 6 bytes of hex");
    };
    let Ok(amount_u32) = u32::try_from(amount) else {
        return invalid_parameter("amount is too large");
    };
    let terms = LoadTerms {
        amount: amount_u32,
        terminal,
    };
    let li = match checked_init(&app, &req.card_serial, &terms, &req.init) {
        Ok(li) => li,
        Err(r) => return r,
    };
    match app.db.burn_nonce(&rd.nonce, SystemClock.now_unix()) {
        Ok(true) => {}
        Ok(false) => return replayed(),
        Err(e) => return internal_error(&e),
    }
    let Some(id) = ({
        let mut b = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
            .ok()
            .map(|()| format!("TOP{}", hex::encode_upper(b)))
    }) else {
        return internal_error(&"no randomness");
    };
    let (date, time) = stamp_now();
    let order = Order {
        order_id: id,
        device_id,
        body_hash,
        funding_account: req.funding_account.clone(),
        card_serial: req.card_serial.to_uppercase(),
        amount_fen: amount,
        terminal: req.terminal.to_uppercase(),
        old_balance: i64::from(li.old_balance),
        counter: i64::from(u16::from_be_bytes(li.counter)),
        key_version: i64::from(li.key_version),
        random: hex::encode_upper(li.random),
        date,
        time,
        state: "authorised".into(),
        created_at: SystemClock.now_unix(),
    };
    authorise(&app, &key, &order, |o| answer(&app, o))
}

/// `POST /v1/topups/{order_id}/complete`.
pub(super) async fn complete_topup(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (o, req) = match order_request::<TopupCompletion>(&app, &headers, &rd, &order_id, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if o.state == "completed" {
        return order_json(&app, &o, receipt(&app, &o));
    }
    let keys = u8::try_from(o.key_version)
        .ok()
        .and_then(|v| keys_for(&app, v));
    let tac_ok = match (keys, hex_n::<4>(&req.tac)) {
        (Some(k), Some(t)) => o.state == "authorised" && o.tac_checks(k, &t),
        _ => false,
    };
    if !tac_ok {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-tac",
            "The card's TAC does not check",
            "the load stays authorised until the card proves what happened (settle)",
        );
    }
    if let Err(e) = app.db.complete_topup(&order_id) {
        return internal_error(&e);
    }
    let o = Order {
        state: "completed".into(),
        ..o
    };
    order_json(&app, &o, receipt(&app, &o))
}

/// `POST /v1/topups/{order_id}/settle`.
pub(super) async fn settle_topup(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (o, req) = match order_request::<TopupSettle>(&app, &headers, &rd, &order_id, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if o.state != "authorised" {
        return answer(&app, &o);
    }
    let (Some(terms_amount), Some(terminal)) =
        (u32::try_from(o.amount_fen).ok(), hex_n::<6>(&o.terminal))
    else {
        return internal_error(&"a damaged order");
    };
    let terms = LoadTerms {
        amount: terms_amount,
        terminal,
    };
    // The card's own word, MAC'd: its counter and balance now.
    let li = match checked_init(&app, &o.card_serial, &terms, &req.init) {
        Ok(li) => li,
        Err(r) => return r,
    };
    let now_counter = i64::from(u16::from_be_bytes(li.counter));
    // The card takes one credit per online counter value: another load of this card
    // authorised at the same counter may be the one it took.
    let rivals = match app.db.rival_topups(&o) {
        Ok(r) => r,
        Err(e) => return internal_error(&e),
    };
    let rival_completed = rivals.iter().any(|r| r.state == "completed");
    let loaded = now_counter == o.counter + 1
        && rivals.is_empty()
        && i64::from(li.old_balance) >= o.old_balance + o.amount_fen;
    if loaded {
        if let Err(e) = app.db.complete_topup(&order_id) {
            return internal_error(&e);
        }
        let o = Order {
            state: "completed".into(),
            ..o
        };
        return order_json(&app, &o, receipt(&app, &o));
    }
    // The counter moved on by a rival's proven (TAC-checked) load: this one was not loaded,
    // and its old authorisation can never be credited; authorised again below at the card's
    // counter now. Anything else that moved the counter cannot be told apart: a person looks.
    let moved_on_by_rival = now_counter == o.counter + 1 && rival_completed;
    if now_counter != o.counter && !moved_on_by_rival {
        return refused(
            StatusCode::CONFLICT,
            "needs-reconciliation",
            "The card's counter moved in a way this load cannot be told from",
            "the order stays authorised for the issuer's reconciliation; nothing more is debited",
        );
    }
    // Not loaded, proven: give the money back, or authorise this fresh INIT.
    if req.reverse {
        return match app.db.reverse_topup(&order_id) {
            Ok(_) => order_json(
                &app,
                &Order {
                    state: "reversed".into(),
                    ..o
                },
                None,
            ),
            Err(e) => internal_error(&e),
        };
    }
    let (date, time) = stamp_now();
    let again = Order {
        random: hex::encode_upper(li.random),
        counter: now_counter,
        old_balance: i64::from(li.old_balance),
        date,
        time,
        ..o
    };
    match app.db.reauthorize_topup(&again) {
        Ok(()) => order_json(&app, &again, None),
        Err(e) => internal_error(&e),
    }
}
