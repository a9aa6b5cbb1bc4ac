//! Payment costs, as ratios against baselines measured in the same run:
//! 1. signing a built payment request the way `confirm` does (its v2 digest, the device
//!    canonical string, the ECDSA P-256 signature, the headers) against a raw `ring` ECDSA
//!    P-256 signature of the same canonical bytes (goal ≤ 1.1×);
//! 2. the store's payment writes per second with `synchronous=FULL` (insert + state change,
//!    each its own transaction) on a real file, against the same writes with
//!    `synchronous=OFF` on the same disk.
//!
//! Usage: `pay-bench [SIGNATURES] [PAYMENTS]`. Prints one JSON object.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use billtap_core::pay::{PayConfig, Payments, SoftwareSigner, device_canonical};
use billtap_core::platform::{PlatformClient, PlatformConfig};
use billtap_core::ports::SystemClock;
use billtap_core::store::{PaymentRow, PaymentState, Store};

fn row(i: u64) -> PaymentRow {
    PaymentRow {
        payment_id: format!("pay-{i}"),
        idempotency_key: format!("key-{i}"),
        quote_id: format!("Q{i}"),
        bill_id: Some(format!("B{i}")),
        biller_id: "BJ-WATER-001".into(),
        payee_name: "北京市自来水集团".into(),
        payee_account: "99990000999900008981100000000".into(),
        amount: "268.40".into(),
        fee: "0.00".into(),
        currency: "CNY".into(),
        state: PaymentState::Ready,
        request: format!(
            "{{\"method\":\"POST\",\"path\":\"/v1/payments\",\"nonce\":\"n{i}\",\"headers\":[],\"body\":\"{{}}\"}}"
        ),
        request_timestamp: 1_800_000_000,
        platform_payment_id: None,
        failure: None,
        attempts: 0,
        created_at: 1_800_000_000,
        updated_at: 1_800_000_000,
    }
}

/// Inserts `n` payments and moves each to succeeded; payments per second.
fn store_rate(path: &std::path::Path, n: u64, full: bool) -> Result<f64> {
    let _ = std::fs::remove_file(path);
    let store = Store::open(path)?;
    if !full {
        store.set_synchronous_off_for_benchmark()?;
    }
    let t = Instant::now();
    for i in 0..n {
        store.insert_payment(&row(i))?;
        store.set_state(
            &format!("pay-{i}"),
            PaymentState::Succeeded,
            Some("P"),
            None,
            1,
        )?;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let sigs: u32 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let pays: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(500);
    let dir = std::env::temp_dir().join(format!("billtap-pay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(Store::open(&dir.join("sign.sqlite"))?);
    let client = Arc::new(PlatformClient::new(
        PlatformConfig::new(
            "http://127.0.0.1:9",
            vec!["k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()],
        ),
        Arc::new(SystemClock),
    )?);
    let pay = Payments::new(
        client,
        store.clone(),
        None,
        PayConfig::new("6217000010000000001", "desktop"),
        Arc::new(SystemClock),
        "http://127.0.0.1:9",
    )?;
    let key = store
        .device()?
        .and_then(|d| d.software_key)
        .ok_or_else(|| anyhow::anyhow!("no software key"))?;
    let raw = SoftwareSigner::from_pkcs8(&key)?;
    let body = r#"{"quote_id":"Q0123456789abcdef01234567","bill_id":"W202610-0088123","biller_id":"BJ-WATER-001","payee_account":"99990000999900008981100000000","amount":{"amount":"268.40","currency":"CNY"},"funding_account":"6217000010000000001"}"#;
    let canonical = device_canonical(
        "3f0c2b9a4d1e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
        "kZp1Qm8n3B2x9Lw4Vt7Ya0",
        "75syJHsHTTp6NwkT_TKA1A",
        1_800_000_000,
    );
    let request = billtap_core::platform::PreparedRequest {
        method: "POST".into(),
        path: "/v1/payments".into(),
        nonce: "Xq3v9Lm2Kp8Zt4Wc7Yb1Na".into(),
        headers: Vec::new(),
        body: body.into(),
    };
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    // Rounds alternate the sides so drift on a shared machine hits both.
    let (mut raw_t, mut full_t) = (0f64, 0f64);
    let rounds = 20;
    let per = sigs / rounds;
    for _ in 0..per {
        raw.sign_now(canonical.as_bytes())?;
        rt.block_on(pay.sign_request(request.clone(), "kZp1Qm8n3B2x9Lw4Vt7Ya0"))?;
    }
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per {
            raw.sign_now(canonical.as_bytes())?;
        }
        raw_t += t.elapsed().as_secs_f64();
        // One runtime entry per round, as an app awaits inside its own runtime.
        full_t += rt.block_on(async {
            let t = Instant::now();
            for _ in 0..per {
                pay.sign_request(request.clone(), "kZp1Qm8n3B2x9Lw4Vt7Ya0")
                    .await?;
            }
            Ok::<f64, anyhow::Error>(t.elapsed().as_secs_f64())
        })?;
    }
    let n = f64::from(per * rounds);
    let full = store_rate(&dir.join("full.sqlite"), pays, true)?;
    let off = store_rate(&dir.join("off.sqlite"), pays, false)?;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{}",
        serde_json::json!({
            "signatures": n,
            "raw_ring_sign_us": raw_t * 1e6 / n,
            "payment_request_sign_us": full_t * 1e6 / n,
            "sign_ratio": full_t / raw_t,
            "goal_sign_ratio": 1.1,
            "payments": pays,
            "store_payments_per_s_sync_full": full,
            "store_payments_per_s_sync_off": off,
            "full_over_off": full / off,
        })
    );
    Ok(())
}
