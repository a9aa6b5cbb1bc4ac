//! File-based prepaid meter cards: the platform debits the account and answers an APDU script
//! that writes the purchase record, MAC'd over the card's challenge with a key only the issuer
//! holds. The write is absolute (purchase number n+1, the total after it), so a fresh script
//! for a card that does not hold the purchase yet can never credit twice; the meter takes each
//! purchase number once. Orders live beside the purse top-ups (the same ledger rows, key
//! version 0 marks a meter card).

use billtap_core::platform::api::{
    MeterCardOrder, MeterCardReport, MeterCardRequest, ScriptCommand,
};
use billtap_core::topup::meter_card::{
    PurchaseRecord, TEST_METER_MASTER_KEY, line_key, protected_update,
};

use super::topup::{Keyed, authorise, keyed};
use super::*;
use crate::issuer::Order;
use crate::model::cny;

fn hex_n<const N: usize>(h: &str) -> Option<[u8; N]> {
    hex::decode(h)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
}

/// The record the order puts on the card.
fn expected(o: &Order) -> Option<PurchaseRecord> {
    PurchaseRecord {
        number: u16::try_from(o.counter).ok()?,
        amount: 0,
        total: u32::try_from(o.old_balance).ok()?,
        pending: false,
    }
    .next(u32::try_from(o.amount_fen).ok()?)
}

fn script(o: &Order) -> Option<Vec<ScriptCommand>> {
    let serial = hex_n::<8>(&o.card_serial)?;
    let challenge = hex_n::<8>(&o.random)?;
    let key = line_key(&TEST_METER_MASTER_KEY, &serial);
    let write = protected_update(&key, challenge, &expected(o)?)
        .to_bytes()
        .ok()?;
    Some(vec![
        ScriptCommand {
            apdu: "00A40200020002".into(),
            expect: "9000".into(),
        },
        ScriptCommand {
            apdu: hex::encode_upper(write),
            expect: "9000".into(),
        },
    ])
}

/// The signed receipt of a completed meter-card purchase (base64url COSE).
fn receipt(app: &App, o: &Order) -> Option<String> {
    super::topup::card_receipt(
        app,
        o,
        (
            "METER-CARD",
            "预付费电表卡购电",
            "Prepaid meter card purchase",
        ),
        "utilities.prepaid_electricity",
    )
}

fn order_json(app: &App, o: &Order) -> Response {
    let Some(record) = expected(o) else {
        return internal_error(&"a damaged meter order");
    };
    let authorised = o.state == "authorised";
    json_ok(&MeterCardOrder {
        order_id: o.order_id.clone(),
        state: o.state.clone(),
        amount: cny(o.amount_fen),
        script: if authorised {
            script(o).unwrap_or_default()
        } else {
            Vec::new()
        },
        expected_record: hex::encode_upper(record.to_bytes()),
        receipt: (o.state == "completed").then(|| receipt(app, o)).flatten(),
    })
}

/// `POST /v1/meter-cards`.
pub(super) async fn create(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (key, device_id, body_hash) = match keyed(&app, &headers, &rd, &body) {
        Ok(Keyed::New(k, d, h)) => (k, d, h),
        Ok(Keyed::Repeat(o)) => return order_json(&app, &o),
        Err(r) => return r,
    };
    let req: MeterCardRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (Some(amount), Some(_), Some(record), Some(_)) = (
        fen(&req.amount).filter(|a| (100..=200_000).contains(a)),
        hex_n::<8>(&req.card_serial),
        hex_n::<12>(&req.record).and_then(|r| PurchaseRecord::parse(&r).ok()),
        hex_n::<8>(&req.challenge),
    ) else {
        return invalid_parameter(
            "amount 1.00 to 2000.00 CNY; card_serial 8, record 12 and challenge 8 bytes of hex",
        );
    };
    if record.number == u16::MAX {
        return invalid_parameter("the card's purchase number is exhausted: a new card is needed");
    }
    match app.db.burn_nonce(&rd.nonce, SystemClock.now_unix()) {
        Ok(true) => {}
        Ok(false) => return replayed(),
        Err(e) => return internal_error(&e),
    }
    let mut id = [0u8; 8];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id).is_err() {
        return internal_error(&"no randomness");
    }
    let order = Order {
        order_id: format!("MTR{}", hex::encode_upper(id)),
        device_id,
        body_hash,
        funding_account: req.funding_account.clone(),
        card_serial: req.card_serial.to_uppercase(),
        amount_fen: amount,
        terminal: format!("METER:{}", req.meter),
        old_balance: i64::from(record.total),
        counter: i64::from(record.number),
        key_version: 0,
        random: req.challenge.to_uppercase(),
        date: String::new(),
        time: String::new(),
        state: "authorised".into(),
        created_at: SystemClock.now_unix(),
    };
    authorise(&app, &key, &order, |o| order_json(&app, o))
}

/// `POST /v1/meter-cards/{order_id}/report`: what the card's EF 02 reads now.
pub(super) async fn report(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let device_id = match device_request_once(&app, &headers, &rd) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let req: MeterCardReport = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let o = match app.db.topup(&order_id) {
        Ok(Some(o)) if o.device_id == device_id && o.key_version == 0 => o,
        Ok(_) => {
            return problem(
                StatusCode::NOT_FOUND,
                "unknown-order",
                "No such purchase",
                "this device has no meter-card purchase with this id",
                Vec::new(),
            );
        }
        Err(e) => return internal_error(&e),
    };
    if o.state != "authorised" {
        return order_json(&app, &o);
    }
    let (Some(want), Some(read)) = (
        expected(&o),
        hex_n::<12>(&req.record).and_then(|r| PurchaseRecord::parse(&r).ok()),
    ) else {
        return invalid_parameter("record is 12 bytes of hex");
    };
    // On the card (the meter may already have taken it: pending cleared) → completed.
    if (PurchaseRecord {
        pending: true,
        ..read
    }) == want
    {
        if let Err(e) = app.db.complete_topup(&order_id) {
            return internal_error(&e);
        }
        return order_json(
            &app,
            &Order {
                state: "completed".into(),
                ..o
            },
        );
    }
    let untouched = i64::from(read.number) == o.counter && i64::from(read.total) == o.old_balance;
    match (untouched, req.challenge.as_deref().and_then(hex_n::<8>)) {
        // Not on the card: a script for its fresh challenge (the same absolute record).
        (true, Some(ch)) => {
            let again = Order {
                random: hex::encode_upper(ch),
                ..o
            };
            match app.db.reauthorize_topup(&again) {
                Ok(()) => order_json(&app, &again),
                Err(e) => internal_error(&e),
            }
        }
        (true, None) => problem(
            StatusCode::CONFLICT,
            "not-on-card",
            "The purchase is not on the card",
            "tap the card again: a fresh challenge gets a script that writes it",
            Vec::new(),
        ),
        (false, _) => problem(
            StatusCode::CONFLICT,
            "needs-reconciliation",
            "The card holds another purchase",
            "the order stays authorised for the issuer's reconciliation; nothing more is debited",
            Vec::new(),
        ),
    }
}
