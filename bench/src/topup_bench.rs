//! Core time per card load, excluding card and network latency (goal ≤ 2 ms), and card
//! exchanges per load (goal ≤ 6), against the sandbox issuer over loopback and billtap's
//! simulated card. Core time is each load's wall time minus the time spent inside the two
//! host ports (the HTTP transport — which includes the sandbox's own work — and the card
//! transport), measured by wrappers around them: what is left is billtap's own work (requests
//! signed with the device key, JSON, the SQLite writes before each tearable step, the
//! receipt's verification and append).
//!
//! Baseline, same run and same method: a bill payment's core time (quote + confirm).
//!
//! Usage: `topup-bench [LOADS]`. Prints one JSON object.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use billtap_core::pay::{PayConfig, PaymentTarget, Payments, TopupState};
use billtap_core::platform::{PlatformClient, PlatformConfig, ReqwestTransport};
use billtap_core::ports::{
    CardError, CardTransport, HttpRequest, HttpResponse, HttpTransport, SystemClock, TransportError,
};
use billtap_core::store::{PaymentState, Store};
use billtap_core::topup::sim::{SimTransport, SimulatedCard};

/// Nanoseconds spent inside a port.
#[derive(Default)]
struct Spent(AtomicU64);

impl Spent {
    fn add(&self, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(ns, Ordering::Relaxed);
    }
    fn take(&self) -> Duration {
        Duration::from_nanos(self.0.swap(0, Ordering::Relaxed))
    }
}

struct TimedHttp(ReqwestTransport, Arc<Spent>);

#[async_trait::async_trait]
impl HttpTransport for TimedHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let t = Instant::now();
        let r = self.0.send(request).await;
        self.1.add(t);
        r
    }
}

struct TimedCard(SimTransport, Arc<Spent>, AtomicU64);

#[async_trait::async_trait]
impl CardTransport for TimedCard {
    async fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, CardError> {
        let t = Instant::now();
        self.2.fetch_add(1, Ordering::Relaxed);
        let r = self.0.transceive(apdu).await;
        self.1.add(t);
        r
    }
    fn max_transceive_length(&self) -> u32 {
        self.0.max_transceive_length()
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<()> {
    let loads: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200);
    // The admin calls' plain reqwest client needs a process-wide TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sb = billtap_sandbox::Sandbox::start(billtap_sandbox::SandboxOptions::default())?;
    let dir = std::env::temp_dir().join(format!("billtap-topup-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(Store::open(&dir.join("s.sqlite"))?);
    let net = Arc::new(Spent::default());
    let http = Arc::new(TimedHttp(
        ReqwestTransport::new(Duration::from_secs(5))?,
        net.clone(),
    ));
    let client = Arc::new(PlatformClient::with_transport(
        PlatformConfig::new(&sb.url(), vec![sb.pinned_key()]),
        Arc::new(SystemClock),
        http,
    )?);
    let pay = Payments::new(
        client,
        store,
        None,
        PayConfig::new("6217000010000000001", "desktop"),
        Arc::new(SystemClock),
        &sb.url(),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(pay.register())?;
    let card_time = Arc::new(Spent::default());
    let card = TimedCard(
        SimTransport::new(SimulatedCard::test_card("31041000751132009999", 0)?),
        card_time.clone(),
        AtomicU64::new(0),
    );
    let amount: billtap_core::money::Money = "0.10 CNY".parse()?;
    let (mut topup_core, mut pay_core) = (Vec::new(), Vec::new());
    let admin = reqwest::Client::new();
    for i in 0..loads {
        // Alternate the sides so drift on a shared machine hits both.
        let _ = (net.take(), card_time.take());
        let t = Instant::now();
        let r = rt.block_on(pay.topup(&card, amount, None))?;
        let wall = t.elapsed();
        if r.state != TopupState::Completed {
            return Err(anyhow!("load {i} ended {:?}", r.state));
        }
        let core = wall.saturating_sub(net.take() + card_time.take());
        topup_core.push(core.as_secs_f64() * 1e3);

        let bill = rt.block_on(async {
            let body = serde_json::json!({"biller_id": "BJ-WATER-001", "account": format!("110105-9{:03}-{:04}", i / 10_000, i % 10_000), "amount_fen": 100});
            let v: serde_json::Value = admin
                .post(format!("{}/admin/bills", sb.url()))
                .bearer_auth(sb.admin_token())
                .json(&body)
                .send()
                .await?
                .json()
                .await?;
            v.get("id")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("no bill id: {v}"))
        })?;
        let _ = net.take();
        let t = Instant::now();
        let paid = rt.block_on(async {
            let q = pay
                .prepare(&PaymentTarget::Bill { bill_id: bill }, None)
                .await?;
            pay.confirm(&q).await
        })?;
        let wall = t.elapsed();
        if paid.state != PaymentState::Succeeded {
            return Err(anyhow!("payment {i} ended {:?}", paid.state));
        }
        pay_core.push(wall.saturating_sub(net.take()).as_secs_f64() * 1e3);
    }
    let exchanges = card.2.load(Ordering::Relaxed) as f64 / loads as f64;
    let _ = std::fs::remove_dir_all(&dir);
    let (t, p) = (median(&mut topup_core), median(&mut pay_core));
    println!(
        "{}",
        serde_json::json!({
            "loads": loads,
            "card_exchanges_per_load": exchanges,
            "goal_exchanges": 6,
            "topup_core_ms_median": t,
            "topup_core_ms_p90": topup_core.get(topup_core.len() * 9 / 10).copied(),
            "goal_core_ms": 2.0,
            "baseline_payment_core_ms_median": p,
            "topup_over_payment": t / p,
        })
    );
    Ok(())
}
