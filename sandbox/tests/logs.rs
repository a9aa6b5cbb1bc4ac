//! Log hygiene, in a test binary of its own: every log line billtap emits while registering,
//! paying and keeping, at TRACE, holds no private key, no full funding or payee account number
//! and no device signature. Alone in its process because tracing caches each call site's
//! interest process-wide: a test running beside it can settle "nobody listens" for a call
//! site before this test's (thread-local) subscriber exists, and its lines go uncaptured.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use base64::Engine as _;
use billtap_core::store::PaymentState;
use common::*;

/// Every log line of a payment whose answer is lost (settled by key) is clean.
// One thread: the capturing subscriber is this thread's, and every billtap event runs on it.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_or_full_account_number_reaches_any_log_line() {
    use std::sync::Mutex;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Default)]
    struct Lines(Arc<Mutex<Vec<String>>>);
    struct Visit<'a>(&'a mut String);
    impl tracing::field::Visit for Visit<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let mut line = event.metadata().target().to_string();
            event.record(&mut Visit(&mut line));
            self.0.lock().unwrap().push(line);
        }
    }
    let lines = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Lines(lines.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let sb = sandbox();
    let admin = Admin::of(&sb);
    let bill = admin.bill("110105-5555-0001", 999).await;
    let st = store("logs");
    let pay = payments(&sb, st.clone(), FUNDING, 5_000);
    admin.fault("/v1/payments", "drop_after_commit", 1).await;
    let quote = pay.prepare(&bill_target(&bill), None).await.unwrap();
    let paid = pay.confirm(&quote).await.unwrap();
    let paid = if paid.state.is_pending() {
        pay.resume_pending().await.unwrap().remove(0)
    } else {
        paid
    };
    assert_eq!(paid.state, PaymentState::Succeeded);
    // Keep: an invoice by express (phone and address), a saved account, its bills.
    let platform_id = paid.platform_payment_id.clone().unwrap();
    pay.request_invoice(
        &platform_id,
        "张三",
        None,
        billtap_core::platform::api::InvoiceDelivery::Express {
            recipient: "张三丰".into(),
            phone: "13912345678".into(),
            address: "北京市西城区金融大街35号".into(),
        },
    )
    .await
    .unwrap();
    pay.save_account("BJ-GAS-001", "110105-5555-0002", "燃气")
        .await
        .unwrap();
    pay.refresh_bills().await.unwrap();
    let pkcs8 = st.device().unwrap().unwrap().software_key.unwrap();
    let secrets = [
        FUNDING.to_string(),
        quote.payee_account.clone(),
        "110105-5555-0002".to_string(),
        "13912345678".to_string(),
        "金融大街35号".to_string(),
        base64::engine::general_purpose::STANDARD.encode(pkcs8.as_slice()),
        hex::encode(pkcs8.as_slice()),
    ];
    let lines = lines.lock().unwrap().clone();
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("payment succeeded")),
        "{lines:?}"
    );
    for l in &lines {
        for s in &secrets {
            assert!(!l.contains(s.as_str()), "a secret in a log line: {l}");
        }
        assert!(!l.to_ascii_lowercase().contains("signature="), "{l}");
    }
}
