//! Keypad (STS) meters end to end: a payment to a prepaid-meter biller vends a 20-digit token
//! inside the signed receipt, kept with it and shown again offline; a payment whose answer
//! was lost is settled once and its token arrives with the receipt.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use billtap_core::money::Money;
use billtap_core::pay::{format_sts_token, is_sts_token, meter_tokens};
use billtap_core::store::PaymentState;
use common::*;

const METER_BILLER: &str = "BJ-PREPAID-ELECTRICITY-001";

fn cny(text: &str) -> Money {
    format!("{text} CNY").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_vended_once_kept_with_its_receipt_and_shown_offline() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let st = store("meter-vend");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    pay.register().await.unwrap();
    // The catalog says what the biller vends.
    let biller = client(&sb, 5_000).biller(METER_BILLER).await.unwrap();
    assert_eq!(biller.vends.as_deref(), Some("sts_token"));
    assert_eq!(biller.category, "utilities.prepaid_electricity");

    let vend = pay
        .vend_token(METER_BILLER, "01234567890", cny("50.00"))
        .await
        .unwrap();
    assert_eq!(vend.payment.state, PaymentState::Succeeded, "{vend:?}");
    let token = vend.token.clone().unwrap();
    assert_eq!(token.token.len(), 24, "{}", token.token);
    assert!(is_sts_token(&token.token.replace(' ', "")));
    assert_eq!(token.amount, cny("50.00"));
    // Kept with its receipt: listed offline, and the receipt itself carries it (signed).
    assert_eq!(meter_tokens(&st).unwrap(), vec![token.clone()]);
    let history = st.history().unwrap();
    let last = &history.last().unwrap().receipt;
    assert_eq!(
        last.sts_token.as_deref().map(format_sts_token).as_deref(),
        Some(token.token.as_str())
    );
    let (body, _) = billtap_core::receipts::read_receipt(&last.cose).unwrap();
    assert_eq!(body.sts_token, last.sts_token);
    // Exactly once: the ledger has one payment for the meter.
    let ledger = admin.ledger().await;
    assert_eq!(
        ledger
            .iter()
            .filter(|e| e.payee_account == "01234567890")
            .count(),
        1
    );

    // Not a meter number (bad input, before anything is sent); an amount outside the biller's
    // rule (the platform refuses): nothing paid.
    assert!(matches!(
        pay.vend_token(METER_BILLER, "12", cny("50.00")).await,
        Err(billtap_core::pay::PayError::Invalid(_))
    ));
    assert!(
        pay.vend_token(METER_BILLER, "01234567890", cny("5.00"))
            .await
            .is_err()
    );
    assert_eq!(meter_tokens(&st).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_settled_once_and_the_token_arrives_with_the_receipt() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let st = store("meter-lost");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    pay.register().await.unwrap();
    // The platform commits the payment, then every answer about it is lost for a while (the
    // payment's and the look-ups by its key): its outcome is not known.
    let quote = pay
        .prepare(
            &billtap_core::pay::PaymentTarget::Payee {
                biller_id: METER_BILLER.into(),
                account: "98765432109".into(),
            },
            Some(cny("20.00")),
        )
        .await
        .unwrap();
    admin.fault("/v1/payments", "drop_after_commit", 50).await;
    let paid = pay.confirm(&quote).await.unwrap();
    assert_eq!(paid.state, PaymentState::Unknown, "{paid:?}");
    assert!(meter_tokens(&st).unwrap().is_empty());
    admin.clear_faults().await;
    let settled = pay.resume_pending().await.unwrap();
    assert_eq!(settled[0].state, PaymentState::Succeeded, "{settled:?}");
    let tokens = meter_tokens(&st).unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        Some(tokens[0].payment_id.clone()),
        settled[0].platform_payment_id
    );
    let paid = admin
        .ledger()
        .await
        .into_iter()
        .filter(|e| e.payee_account == "98765432109")
        .count();
    assert_eq!(paid, 1, "paid once");
}
