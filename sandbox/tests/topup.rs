//! Top-up end to end: the client, the simulated card (real APDUs) and the sandbox issuer over
//! loopback HTTP with a real SQLite store. A load completes in four card exchanges; a card
//! torn away or an answer lost at any step is settled by the next tap with no double credit
//! and no lost money: card balances and the issuer's completed orders always reconcile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use billtap_core::money::Money;
use billtap_core::pay::TopupState;
use billtap_core::topup::sim::{
    CardFault, SimTransport, SimulatedCard, TEST_LOAD_MASTER_KEY, TEST_TAC_MASTER_KEY,
};
use common::*;

fn card(serial_tail: u8, balance: u32) -> SimTransport {
    SimTransport::new(SimulatedCard::new(
        &TEST_LOAD_MASTER_KEY,
        &TEST_TAC_MASTER_KEY,
        1,
        [
            0x31,
            0x04,
            0x10,
            0x00,
            0x75,
            0x11,
            0x32,
            0x00,
            0x98,
            serial_tail,
        ],
        balance,
    ))
}

/// The steps a top-up reported, in order.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<billtap_core::ports::TopupStep>>);

impl billtap_core::ports::TopupProgress for Heard {
    fn on_step(&self, step: billtap_core::ports::TopupStep, hint: String) {
        assert!(!hint.is_empty());
        self.0.lock().unwrap().push(step);
    }
}

fn cny(text: &str) -> Money {
    format!("{text} CNY").parse().unwrap()
}

/// Completed top-up fen for a card, by the issuer's ledger.
async fn completed_fen(admin: &Admin, serial_tail: u8) -> (i64, usize) {
    let serial = format!("310410007511320098{serial_tail:02X}");
    let l = admin.ledger().await;
    let mine: Vec<_> = l
        .iter()
        .filter(|e| e.kind.as_deref() == Some("topup") && e.payee_account == serial)
        .collect();
    let done = mine.iter().filter(|e| e.status == "completed");
    let fen = done
        .map(|e| {
            let m: Money = format!("{} CNY", e.amount).parse().unwrap();
            i64::try_from(
                (m.amount * rust_decimal::Decimal::from(100))
                    .trunc()
                    .mantissa(),
            )
            .unwrap()
        })
        .sum();
    (fen, mine.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_is_loaded_once_in_four_exchanges_with_a_receipt() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let st = store("topup-happy");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    pay.register().await.unwrap();
    let t = card(0x01, 1_000);
    let before = t.exchanges();
    let heard = Heard::default();
    let r = pay.topup(&t, cny("50.00"), Some(&heard)).await.unwrap();
    assert_eq!(r.state, TopupState::Completed, "{r:?}");
    use billtap_core::ports::TopupStep as S;
    assert_eq!(
        *heard.0.lock().unwrap(),
        [
            S::WaitingForCard,
            S::Reading,
            S::Authorising,
            S::Writing,
            S::Verifying,
            S::Done
        ]
    );
    assert_eq!(t.exchanges() - before, 4, "SELECT, READ 0015, INIT, CREDIT");
    assert_eq!(t.card().balance(), 6_000);
    assert_eq!(r.balance_before_fen, 1_000);
    assert_eq!(completed_fen(&admin, 0x01).await, (5_000, 1));
    // The receipt is in the history and verifies.
    let history = st.history().unwrap();
    assert_eq!(
        history.last().unwrap().receipt.payment_id,
        r.order_id.clone().unwrap()
    );
    let keys = billtap_core::receipts::history_keys(
        &st,
        Some(&billtap_core::platform::PinnedKeys::parse(&[sb.pinned_key()]).unwrap()),
    )
    .unwrap()
    .unwrap();
    assert!(
        billtap_core::receipts::verify_history(&st, &keys)
            .unwrap()
            .problem
            .is_none()
    );

    // Refusals move no money: insufficient funds, an amount out of range.
    let poor = payments(&sb, store("topup-poor"), POOR, 5_000);
    let r = poor.topup(&t, cny("50.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Failed, "{r:?}");
    assert_eq!(t.card().balance(), 6_000);
    let zero =
        Money::from_minor_units(0, billtap_core::money::Currency::from_alpha("CNY").unwrap());
    assert!(matches!(
        pay.topup(&t, zero, None).await,
        Err(billtap_core::pay::PayError::Invalid(_))
    ));
    let yen: Money = "100 JPY".parse().unwrap();
    assert!(matches!(
        pay.topup(&t, yen, None).await,
        Err(billtap_core::pay::PayError::Invalid(_))
    ));
    assert!(matches!(
        pay.topup(&t, cny("2000.00"), None).await,
        Err(billtap_core::pay::PayError::Invalid(_))
    ));
    assert_eq!(t.card().balance(), 6_000);
    // A card of another issuer (other keys): its MAC1 does not check; nothing taken.
    let stranger = SimTransport::new(SimulatedCard::new(
        &[9; 16],
        &[8; 16],
        1,
        [0x31, 0x04, 0x10, 0, 0x75, 0x11, 0x32, 0, 0x98, 0x77],
        0,
    ));
    let r = pay.topup(&stranger, cny("10.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Failed);
    assert!(
        r.failure
            .unwrap_or_default()
            .contains("not a card of this issuer")
    );
    assert_eq!(stranger.card().balance(), 0);
}

/// Tear at every card exchange (lost before the command, or torn after it) and lose every
/// platform answer: the next tap settles, and the card holds exactly what the issuer
/// completed — never twice, never paid for and not loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tearing_at_every_step_settles_with_no_double_credit_and_no_lost_money() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let pay = payments(&sb, store("topup-tear"), FUNDING, 5_000);
    pay.register().await.unwrap();
    let mut tail = 0x10u8;
    let mut cases = Vec::new();
    for n in 1..=4u32 {
        for fault in [
            CardFault::LostBefore,
            CardFault::TornAfter,
            CardFault::Timeout,
        ] {
            cases.push((Some((n, fault)), None));
        }
    }
    for path in ["/v1/topups", "/v1/topups/"] {
        cases.push((None, Some(path)));
    }
    for (card_fault, net_fault) in cases {
        tail += 1;
        let t = card(tail, 1_000);
        if let Some((n, f)) = card_fault {
            t.fail_at(n, f);
        }
        if let Some(prefix) = net_fault {
            admin.fault(prefix, "drop_after_commit", 1).await;
        }
        let first = pay.topup(&t, cny("20.00"), None).await;
        admin.clear_faults().await;
        // Tap again until it settles (a second attempt only if the first did not complete).
        let mut state = first.as_ref().map(|r| r.state).ok();
        for _ in 0..3 {
            if matches!(
                state,
                Some(TopupState::Completed | TopupState::Failed | TopupState::Reversed)
            ) {
                break;
            }
            state = match pay.settle_card(&t, None).await.unwrap() {
                Some(r) => Some(r.state),
                None => break, // nothing was stored: nothing to settle
            };
        }
        let (fen, orders) = completed_fen(&admin, tail).await;
        let loaded = i64::from(t.card().balance()) - 1_000;
        assert_eq!(
            loaded, fen,
            "card {tail:02X} ({card_fault:?} {net_fault:?}): card loaded {loaded}, issuer completed {fen}; first {first:?}, settled {state:?}"
        );
        assert!(orders <= 1, "one order per tap at most: {orders}");
        assert!(
            loaded == 0 || loaded == 2_000,
            "loaded once at most: {loaded}"
        );
        if orders == 1 {
            assert_eq!(
                state,
                Some(TopupState::Completed),
                "an order was made and settled: {card_fault:?} {net_fault:?}"
            );
        }
    }
}

/// A load interrupted before its credit, then the same card loaded by another phone: the
/// card's counter moved on by the other's proven load, so the first was not loaded — the next
/// tap authorises it again (no second debit) and credits it. Taking the moved counter as proof
/// of the first load would have lost its money.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_on_another_phone_in_between_is_not_taken_for_the_interrupted_one() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let a = payments(&sb, store("topup-rival-a"), FUNDING, 5_000);
    let b = payments(&sb, store("topup-rival-b"), FUNDING, 5_000);
    let t = card(0x42, 1_000);
    t.fail_at(4, CardFault::LostBefore);
    let first = a.topup(&t, cny("20.00"), None).await.unwrap();
    assert_eq!(first.state, TopupState::Unknown);
    let other = b.topup(&t, cny("20.00"), None).await.unwrap();
    assert_eq!(other.state, TopupState::Completed);
    assert_eq!(t.card().balance(), 3_000);
    let settled = a.settle_card(&t, None).await.unwrap().unwrap();
    assert_eq!(settled.state, TopupState::Completed, "{settled:?}");
    assert_eq!(t.card().balance(), 5_000, "both paid loads are on the card");
    assert_eq!(completed_fen(&admin, 0x42).await, (4_000, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_of_another_maker_load_against_the_issuer_keys_it_was_given() {
    // A test-card maker's keys, handed to the sandbox as `--issuer-key 02:LOAD_MK:TAC_MK`.
    let load = [0x5Au8; 16];
    let tac = [0xA5u8; 16];
    let sb = billtap_sandbox::Sandbox::start(billtap_sandbox::SandboxOptions {
        issuer_keys: vec![format!(
            "02:{}:{}",
            hex::encode_upper(load),
            hex::encode_upper(tac)
        )],
        ..Default::default()
    })
    .unwrap();
    let pay = payments(&sb, store("topup-maker"), FUNDING, 5_000);
    let serial = [0x31, 0x04, 0x10, 0x00, 0x75, 0x11, 0x32, 0x00, 0x55, 0x01];
    let theirs = SimTransport::new(SimulatedCard::new(&load, &tac, 2, serial, 0));
    let r = pay.topup(&theirs, cny("30.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Completed, "{r:?}");
    assert_eq!(theirs.card().balance(), 3_000);
    // A card under the documented test keys (version 01) is not this issuer's now: refused
    // before any money moved, nothing loaded.
    let ours = card(0x07, 500);
    let r = pay.topup(&ours, cny("30.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Failed, "{r:?}");
    assert_eq!(ours.card().balance(), 500);
    // A malformed key is refused at start, with what is wrong.
    let bad = billtap_sandbox::Sandbox::start(billtap_sandbox::SandboxOptions {
        issuer_keys: vec!["02:00".into()],
        ..Default::default()
    });
    assert!(bad.is_err());
}

/// A card whose INITIALIZE FOR LOAD names another algorithm (an SM4 purse answers 04).
struct Sm4Card(SimTransport);

#[async_trait::async_trait]
impl billtap_core::ports::CardTransport for Sm4Card {
    async fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, billtap_core::ports::CardError> {
        let init = apdu.starts_with(&[0x80, 0x50]);
        let mut answer = self.0.transceive(apdu).await?;
        if init && answer.len() == 18 {
            answer[7] = billtap_core::topup::pboc::ALG_SM4;
        }
        Ok(answer)
    }
    fn max_transceive_length(&self) -> u32 {
        261
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sm4_card_is_refused_with_a_clear_error_before_anything_is_sent() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let st = store("topup-sm4");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    let sm4 = Sm4Card(card(0x44, 700));
    let e = pay.topup(&sm4, cny("10.00"), None).await.unwrap_err();
    assert!(
        matches!(
            &e,
            billtap_core::pay::PayError::Card(billtap_core::topup::TopupError::Unsupported(m)) if m.contains("SM4")
        ),
        "{e}"
    );
    assert!(st.topups().unwrap().is_empty(), "nothing stored");
    assert_eq!(completed_fen(&admin, 0x44).await, (0, 0), "nothing sent");
    assert_eq!(sm4.0.card().balance(), 700);
}

/// A meter card's loads in the issuer's books: (completed fen, orders).
async fn books(admin: &Admin, serial: &str) -> (i64, usize) {
    let mine: Vec<_> = admin
        .ledger()
        .await
        .into_iter()
        .filter(|e| e.payee_account == serial)
        .collect();
    let done = mine
        .iter()
        .filter(|e| e.status == "completed")
        .map(|e| {
            let (y, f) = e.amount.split_once('.').unwrap();
            y.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
        })
        .sum();
    (done, mine.len())
}

fn meter_card(tail: u8) -> billtap_core::topup::meter_card::SimMeterTransport {
    use billtap_core::topup::meter_card::{
        SimMeterTransport, SimulatedMeterCard, TEST_METER_MASTER_KEY,
    };
    SimMeterTransport::new(
        SimulatedMeterCard::new(
            &TEST_METER_MASTER_KEY,
            [0x4D, 0x31, 0, 0, 0, 0, 0, tail],
            "01234567890",
        )
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_based_meter_card_is_written_once_by_the_platforms_script_even_when_torn() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let st = store("topup-meter");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    let t = meter_card(1);
    let serial = "4D31000000000001";
    // SELECT ×4 (two purses by name and DF 1001 answer 6A82, then the meter application),
    // EF 01, EF 02, GET CHALLENGE; the script (SELECT EF 02, the MAC'd write: exchange 9);
    // EF 02 read back.
    let r = pay.topup(&t, cny("50.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Completed, "{r:?}");
    let rec = t.card().record();
    assert_eq!((rec.number, rec.total, rec.pending), (1, 5_000, true));
    assert_eq!(books(&admin, serial).await, (5_000, 1));
    t.card().insert_into_meter();

    // Torn right after the write ran (exchange 9 of the load): not known, then the next tap
    // reads the purchase on the card: completed, once.
    t.leave_at(9, true);
    let r = pay.topup(&t, cny("20.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Unknown, "{r:?}");
    let settled = pay.settle_card(&t, None).await.unwrap().unwrap();
    assert_eq!(settled.state, TopupState::Completed, "{settled:?}");
    let rec = t.card().record();
    assert_eq!((rec.number, rec.total), (2, 7_000));
    assert_eq!(books(&admin, serial).await, (7_000, 2));

    // Lost before the write reached the card: the next tap's fresh challenge gets a fresh
    // script for the same record; written once, debited once.
    t.leave_at(9, false);
    let r = pay.topup(&t, cny("10.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Unknown, "{r:?}");
    assert_eq!(t.card().record().number, 2, "nothing written yet");
    let tap = billtap_core::pay::tap_card(&st, Some(&pay), &t, None)
        .await
        .unwrap();
    assert_eq!(tap.settled.map(|s| s.state), Some(TopupState::Completed));
    assert_eq!(tap.card.meter.as_deref(), Some("01234567890"));
    let rec = t.card().record();
    assert_eq!((tap.card.balance_fen, rec.number), (8_000, 3));
    assert_eq!(books(&admin, serial).await, (8_000, 3));
    // Every load's receipt is in the verified history.
    assert_eq!(st.history().unwrap().len(), 3);
}

/// A CPU meter card: its e-purse only in DF 1001, under no T-Union or City Union name. The same
/// load, the application found by file id — six exchanges (two names refused, SELECT 1001,
/// READ 0015, INITIALIZE, CREDIT); torn after CREDIT, the next tap settles it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_meter_cards_purse_in_df_1001_loads_the_same_way() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let st = store("topup-cpu-meter");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    let t = SimTransport::new(
        SimulatedCard::test_card("31041000751132009821", 0)
            .unwrap()
            .in_df1001_only(),
    );
    let before = t.exchanges();
    let r = pay.topup(&t, cny("30.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Completed, "{r:?}");
    assert_eq!(t.exchanges() - before, 6);
    assert_eq!(t.card().balance(), 3_000);
    assert_eq!(completed_fen(&admin, 0x21).await, (3_000, 1));

    t.fail_at(6, CardFault::TornAfter);
    let r = pay.topup(&t, cny("20.00"), None).await.unwrap();
    assert_eq!(r.state, TopupState::Unknown, "{r:?}");
    assert_eq!(t.card().balance(), 5_000, "the card ran CREDIT FOR LOAD");
    let tap = billtap_core::pay::tap_card(&st, Some(&pay), &t, None)
        .await
        .unwrap();
    assert_eq!(tap.settled.map(|s| s.state), Some(TopupState::Completed));
    assert_eq!(
        (tap.card.application.as_str(), tap.card.balance_fen),
        ("e-purse", 5_000)
    );
    assert_eq!(
        completed_fen(&admin, 0x21).await,
        (5_000, 2),
        "credited once"
    );
}
