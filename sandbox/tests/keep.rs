//! Keep against the sandbox over loopback HTTP with real SQLite stores: an invoice by each
//! delivery through its states, saved accounts synced between two phones of one customer
//! (and offline changes), and due-date reminders from the bills kept for saved accounts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use billtap_core::pay::{PayConfig, PayError, Payments, ReminderStatus};
use billtap_core::platform::api::{InvoiceDelivery, InvoiceState};
use billtap_core::platform::{FailureKind, PlatformClient, PlatformConfig, PlatformError};
use billtap_core::ports::{Clock as _, SystemClock};
use billtap_core::store::{PaymentState, ReceiptFilter};
use common::*;

/// The platform's signed refusal with this HTTP status, and nothing else.
#[track_caller]
fn assert_refused(e: &PayError, status: u16) {
    assert!(
        matches!(e, PayError::Platform(PlatformError::Refused { status: s, .. }) if *s == status),
        "expected a {status} refusal: {e:?}"
    );
}

/// Pays a fresh bill of `account` and returns the platform's transaction id.
async fn paid(admin: &Admin, pay: &Payments, account: &str) -> String {
    let bill = admin.bill(account, 12_345).await;
    let quote = pay.prepare(&bill_target(&bill), None).await.unwrap();
    let r = pay.confirm(&quote).await.unwrap();
    assert_eq!(r.state, PaymentState::Succeeded, "{r:?}");
    r.platform_payment_id.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_by_each_delivery_goes_through_its_states_and_shows_on_the_receipt() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let st = store("invoices");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    let by_email = paid(&admin, &pay, "110105-0000-0001").await;
    let at_outlet = paid(&admin, &pay, "110105-0000-0002").await;
    let by_express = paid(&admin, &pay, "110105-0000-0003").await;

    // E-mail: requested → issued (a number) → sent → delivered; the address shown masked.
    let local_id = pay
        .list(false)
        .unwrap()
        .into_iter()
        .find(|p| p.platform_payment_id.as_deref() == Some(by_email.as_str()))
        .unwrap()
        .payment_id;
    let inv = pay
        .request_invoice(
            &local_id,
            "张三",
            None,
            InvoiceDelivery::Email {
                address: "zhang.san@example.com".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        inv.payment_id, by_email,
        "billtap's id was mapped to the platform's"
    );
    assert_eq!(
        (inv.state, inv.amount.amount.as_str()),
        (InvoiceState::Requested, "123.45")
    );
    assert_eq!(inv.destination, "z***@example.com");
    let mut states = vec![inv.state];
    for _ in 0..3 {
        assert_eq!(admin.advance_invoice(&inv.invoice_id).await.0, 200);
        let now = pay.invoice_status(&inv.invoice_id).await.unwrap();
        states.push(now.state);
        if now.state == InvoiceState::Issued {
            assert_eq!(now.invoice_number.as_ref().map(String::len), Some(20));
        }
    }
    use InvoiceState::*;
    assert_eq!(states, [Requested, Issued, Sent, Delivered]);
    assert_eq!(
        admin.advance_invoice(&inv.invoice_id).await.0,
        409,
        "delivered is final"
    );
    // The same request again (its answer lost) gets the same invoice, now delivered; another
    // delivery for the same payment is refused: one invoice per payment.
    let same = pay
        .request_invoice(
            &by_email,
            "张三",
            None,
            InvoiceDelivery::Email {
                address: "zhang.san@example.com".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (same.invoice_id.as_str(), same.state),
        (inv.invoice_id.as_str(), InvoiceState::Delivered)
    );
    let again = pay
        .request_invoice(
            &by_email,
            "张三",
            None,
            InvoiceDelivery::Outlet { outlet_id: None },
        )
        .await
        .unwrap_err();
    assert_refused(&again, 409);

    // Outlet: the outlet and a pick-up code, shown as a QR; ready for pick-up, then picked up.
    let inv = pay
        .request_invoice(
            &at_outlet,
            "北京某某科技有限公司",
            Some("91110108MA01ABCD2X".into()),
            InvoiceDelivery::Outlet {
                outlet_id: Some("PO-BJ-0002".into()),
            },
        )
        .await
        .unwrap();
    let code = inv.pickup_code.clone().unwrap();
    assert_eq!(code.len(), 8);
    assert_eq!(inv.outlet.as_ref().unwrap().id, "PO-BJ-0002");
    let qr = billtap_core::pay::pickup_qr_text(&inv).unwrap();
    assert_eq!(qr, format!("BTP1:{}:{code}", inv.invoice_id));
    let png = billtap_core::scan::render_png_luma(&qr, 4).unwrap();
    let frame =
        billtap_core::scan::LumaFrame::new(&png.pixels, png.width, png.height, png.width).unwrap();
    let decoded = billtap_core::scan::scan_frame(&frame).unwrap();
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0].text, qr, "the counter reads the pick-up code");
    admin.advance_invoice(&inv.invoice_id).await;
    admin.advance_invoice(&inv.invoice_id).await;
    assert_eq!(
        pay.invoice_status(&inv.invoice_id).await.unwrap().state,
        ReadyForPickup
    );

    // Express: a tracking number once sent; the address masked.
    let inv = pay
        .request_invoice(
            &by_express,
            "李四",
            None,
            InvoiceDelivery::Express {
                recipient: "李四".into(),
                phone: "+86 138-0013-8000".into(),
                address: "北京市海淀区中关村大街27号".into(),
            },
        )
        .await
        .unwrap();
    assert!(inv.destination.ends_with('…') && !inv.destination.contains("27号"));
    admin.advance_invoice(&inv.invoice_id).await;
    admin.advance_invoice(&inv.invoice_id).await;
    let sent = pay.invoice_status(&inv.invoice_id).await.unwrap();
    assert_eq!(sent.state, Sent);
    assert!(sent.tracking_number.unwrap().ends_with("CN"));

    // The receipts show each invoice's state; the kept invoices list offline.
    let receipts = pay.receipts(&ReceiptFilter::default()).unwrap();
    let state_of = |id: &str| {
        receipts
            .iter()
            .find(|r| r.payment_id == id)
            .unwrap()
            .invoice_state
    };
    assert_eq!(state_of(&by_email), Some(Delivered));
    assert_eq!(state_of(&at_outlet), Some(ReadyForPickup));
    assert_eq!(state_of(&by_express), Some(Sent));
    assert_eq!(pay.invoices(None).unwrap().len(), 3);

    // Bad input: typed before the network, or the platform's signed validation refusal.
    let bad = [
        (
            "",
            InvoiceDelivery::Email {
                address: "a@b.cn".into(),
            },
        ),
        (
            "张三",
            InvoiceDelivery::Email {
                address: "not an address".into(),
            },
        ),
        (
            "张三",
            InvoiceDelivery::Outlet {
                outlet_id: Some("../admin".into()),
            },
        ),
        (
            "张三",
            InvoiceDelivery::Express {
                recipient: "".into(),
                phone: "1".into(),
                address: "x".into(),
            },
        ),
    ];
    for (title, delivery) in bad {
        let e = pay
            .request_invoice(&by_express, title, None, delivery)
            .await
            .unwrap_err();
        assert!(matches!(e, PayError::Invalid(_)), "{e:?}");
    }
    let fresh = paid(&admin, &pay, "110105-0000-0004").await;
    for delivery in [
        InvoiceDelivery::Outlet {
            outlet_id: Some("PO-NOWHERE".into()),
        },
        InvoiceDelivery::Express {
            recipient: "李四".into(),
            phone: "12345".into(),
            address: "北京市海淀区".into(),
        },
    ] {
        let e = pay
            .request_invoice(&fresh, "李四", None, delivery)
            .await
            .unwrap_err();
        assert_refused(&e, 422);
    }
    let e = pay
        .request_invoice(
            "PAY0000000000",
            "李四",
            None,
            InvoiceDelivery::Outlet { outlet_id: None },
        )
        .await
        .unwrap_err();
    assert_refused(&e, 404);
    let e = pay
        .request_invoice(
            "pay-nothing",
            "李四",
            None,
            InvoiceDelivery::Outlet { outlet_id: None },
        )
        .await
        .unwrap_err();
    assert_refused(&e, 404);
    assert!(matches!(
        pay.invoice_status("../x").await.unwrap_err(),
        PayError::Invalid(_)
    ));

    // Another customer's phone neither sees nor invoices this customer's payments.
    let stranger = payments(&sb, store("invoices-stranger"), POOR, 5_000);
    let e = stranger.invoice_status(&inv.invoice_id).await.unwrap_err();
    assert_refused(&e, 404);
    let e = stranger
        .request_invoice(
            &fresh,
            "王五",
            None,
            InvoiceDelivery::Outlet { outlet_id: None },
        )
        .await
        .unwrap_err();
    assert_refused(&e, 404);

    // Offline, the kept state is shown.
    let offline = offline_payments(st.clone());
    assert_eq!(
        offline.invoice_status(&inv.invoice_id).await.unwrap().state,
        Sent
    );
}

/// The same store with a client whose platform is unreachable (a closed loopback port).
fn offline_payments(store: Arc<billtap_core::store::Store>) -> Payments {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut cfg = PlatformConfig::new(
        &url,
        vec!["k:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()],
    );
    cfg.retries = 0;
    let client = Arc::new(PlatformClient::new(cfg, Arc::new(SystemClock)).unwrap());
    Payments::new(
        client,
        store,
        None,
        PayConfig::new(FUNDING, "desktop"),
        Arc::new(SystemClock),
        &url,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_accounts_sync_between_two_phones_of_a_customer_and_survive_going_offline() {
    let sb = sandbox();
    let phone_a = store("accounts-a");
    let a = payments(&sb, phone_a.clone(), FUNDING, 5_000);
    let water = a
        .save_account("BJ-WATER-001", "110105-3345-0871", "家里的水费")
        .await
        .unwrap();
    assert!(water.synced);
    let gas = a
        .save_account("BJ-GAS-001", "110105-3345-0872", "爸妈家燃气")
        .await
        .unwrap();
    // Saving the same account again renames it, keeping its id.
    let renamed = a
        .save_account("BJ-WATER-001", "110105-3345-0871", "家里水费")
        .await
        .unwrap();
    assert_eq!(renamed.account.account_id, water.account.account_id);
    assert_eq!(a.accounts().unwrap().len(), 2);

    // A new phone of the same customer gets the list back.
    let b = payments(&sb, store("accounts-b"), FUNDING, 5_000);
    assert!(b.accounts().unwrap().is_empty());
    let on_b = b.sync_accounts().await.unwrap();
    let mut names: Vec<_> = on_b.iter().map(|m| m.account.nickname.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["家里水费", "爸妈家燃气"]);
    assert!(on_b.iter().all(|m| m.synced));
    b.remove_account(&gas.account.account_id).await.unwrap();
    let after = a.sync_accounts().await.unwrap();
    assert_eq!(after.len(), 1, "removed on B is gone on A");
    assert_eq!(after[0].account.nickname, "家里水费");

    // Another customer sees none of it.
    let other = payments(&sb, store("accounts-other"), POOR, 5_000);
    assert!(other.sync_accounts().await.unwrap().is_empty());

    // Offline on A: kept at once, not synced; the next sync online sends it.
    let off = offline_payments(phone_a.clone());
    let school = off
        .save_account("BJ-SCHOOL-001", "20261234", "孩子学费")
        .await
        .unwrap();
    assert!(!school.synced);
    off.remove_account(&water.account.account_id).await.unwrap();
    let kept: Vec<_> = off
        .accounts()
        .unwrap()
        .into_iter()
        .map(|m| m.account.nickname)
        .collect();
    assert_eq!(kept, ["孩子学费"], "a removal shows at once, offline");
    let e = off.sync_accounts().await.unwrap_err();
    assert!(
        matches!(&e, PayError::Platform(p) if p.kind() == FailureKind::Unreachable),
        "{e:?}"
    );
    let online = a.sync_accounts().await.unwrap();
    let on_platform: Vec<_> = online
        .iter()
        .map(|m| (m.account.nickname.as_str(), m.synced))
        .collect();
    // BJ-SCHOOL-001's account pattern decides: kept when valid, dropped (and logged) if not.
    assert!(
        on_platform.iter().all(|(_, synced)| *synced),
        "{on_platform:?}"
    );
    assert!(
        !on_platform.iter().any(|(n, _)| *n == "家里水费"),
        "the offline removal reached the platform"
    );
    let b_now = b.sync_accounts().await.unwrap();
    assert_eq!(b_now.len(), online.len(), "both phones agree");

    // Refused for good: an unknown biller or an account the biller cannot have; not kept.
    let e = a
        .save_account("NO-SUCH-BILLER", "123456", "x")
        .await
        .unwrap_err();
    assert_refused(&e, 422);
    let e = a.save_account("BJ-WATER-001", "12", "x").await.unwrap_err();
    assert_refused(&e, 422);
    for (biller, account, nick) in [
        ("BJ-WATER-001", "", "x"),
        ("BJ-WATER-001", "1 2", "x"),
        ("BJ-WATER-001", "123456", ""),
        ("../x", "123456", "x"),
    ] {
        let e = a.save_account(biller, account, nick).await.unwrap_err();
        assert!(
            matches!(e, PayError::Invalid(_)),
            "{biller} {account} {nick}: {e:?}"
        );
    }
    assert_eq!(
        a.accounts().unwrap().len(),
        online.len(),
        "refusals kept nothing"
    );
    assert!(matches!(
        a.remove_account("acct-none").await.unwrap_err(),
        PayError::Invalid(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_come_offline_from_the_saved_accounts_latest_bills() {
    let sb = sandbox();
    let admin = Admin::of(&sb);
    let st = store("reminders");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    let day = |offset: i64| {
        let today = billtap_core::dates::china_day_of(SystemClock.now_unix());
        billtap_core::dates::format_day(today + offset)
    };
    let bill = |account: &'static str, due: String| {
        let admin = &admin;
        async move {
            let (status, body) = admin
                .post(
                    "/admin/bills",
                    format!(r#"{{"biller_id":"BJ-WATER-001","account":"{account}","amount_fen":5000,"due_date":"{due}"}}"#),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let overdue = bill("110105-7000-0001", day(-3)).await;
    let soon = bill("110105-7000-0002", day(2)).await;
    let later = bill("110105-7000-0003", day(30)).await;
    for (account, nick) in [
        ("110105-7000-0001", "老房子"),
        ("110105-7000-0002", "新家"),
        ("110105-7000-0003", "爸妈家"),
    ] {
        pay.save_account("BJ-WATER-001", account, nick)
            .await
            .unwrap();
    }
    assert!(pay.reminders(7).unwrap().is_empty(), "no bills fetched yet");
    assert_eq!(pay.refresh_bills().await.unwrap(), 3);
    let r = pay.reminders(7).unwrap();
    let got: Vec<_> = r
        .iter()
        .map(|x| (x.bill_id.as_str(), x.status, x.days_left))
        .collect();
    assert_eq!(
        got,
        [
            (overdue.as_str(), ReminderStatus::Overdue, Some(-3)),
            (soon.as_str(), ReminderStatus::DueSoon, Some(2)),
            (later.as_str(), ReminderStatus::Upcoming, Some(30)),
        ]
    );
    assert_eq!(r[0].nickname, "老房子");
    assert_eq!(r[0].amount.to_string(), "50.00 CNY");
    // Offline (no network at all): the same reminders from the store.
    let offline = billtap_core::pay::reminders(&st, SystemClock.now_unix(), 7).unwrap();
    assert_eq!(offline.len(), 3);
    // Paying the overdue bill removes its reminder, before any refresh.
    let quote = pay.prepare(&bill_target(&overdue), None).await.unwrap();
    pay.confirm(&quote).await.unwrap();
    let left: Vec<_> = pay
        .reminders(7)
        .unwrap()
        .into_iter()
        .map(|x| x.bill_id)
        .collect();
    assert_eq!(left, [soon, later]);
}
