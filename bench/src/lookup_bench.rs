//! Platform client overhead: the same requests through billtap's `PlatformClient` (retry
//! wrapper, signature verification, typed decoding) and as a raw `reqwest` call of the same
//! URL (body read, nothing checked), side by side against one embedded sandbox.
//!
//! Usage: `lookup-bench [ROUNDS] [PER_ROUND]`. Rounds alternate the sides so drift on the
//! machine hits all; prints per-call medians and the ratios (docs/PERFORMANCE.md). The goals
//! (issue 9): the client's own cost over the floor (raw GET + signature check + decode)
//! ≤ 1.1×, and the client ≤ 1.05× a raw GET when the server answers 2 ms later.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use billtap_core::platform::api::Bill;
use billtap_core::platform::{
    PinnedKeys, PlatformClient, PlatformConfig, SignatureHeaders, accept_response, new_nonce,
    request_digest,
};
use billtap_core::ports::SystemClock;
use billtap_sandbox::{Sandbox, SandboxOptions};

const BILL: &str = "W202610-0088123";
const BILLER: &str = "BJ-WATER-001";
const ACCOUNT: &str = "110105-3345-0871";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20);
    let per: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);

    let sandbox = Sandbox::start(SandboxOptions::default())?;
    let base = sandbox.url();
    let client = PlatformClient::new(
        PlatformConfig::new(&base, vec![sandbox.pinned_key()]),
        Arc::new(SystemClock),
    )?;
    // The raw side gets plain reqwest (its TLS stack needs a provider even for http).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let raw = reqwest::Client::new();
    let bill_url = format!("{base}/v1/bills/{BILL}");
    let lookup_url = format!("{base}/v1/bills/lookup");
    let fields: BTreeMap<String, String> = [("account".to_string(), ACCOUNT.to_string())].into();
    let lookup_body = serde_json::json!({"biller_id": BILLER, "fields": fields});

    // Both sides must get the same answer before their times mean anything.
    let typed = client.bill(BILL).await?;
    // The raw side: the body of the same URL, nothing checked.
    // The sandbox wants a nonce with every API request; the raw side sends a fixed one.
    let fixed_nonce = new_nonce()?;
    let raw_get = || async {
        anyhow::Ok(
            raw.get(&bill_url)
                .header("Billtap-Nonce", &fixed_nonce)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?,
        )
    };
    let body = raw_get().await?;
    if !String::from_utf8_lossy(&body).contains(&typed.id) {
        bail!("raw GET and client disagree about {BILL}");
    }

    let keys = PinnedKeys::parse(&[sandbox.pinned_key()])?;
    // Time of the check and decoding inside the request loop, where caches are cold from the
    // network stack (slower than the same work in a tight loop).
    let in_situ = std::cell::RefCell::new(Vec::new());
    // The least any client that checks responses must do: raw GET, verify, decode.
    let bill_path = format!("/v1/bills/{BILL}");
    let verified_get = || async {
        let nonce = new_nonce()?;
        let resp = raw
            .get(&bill_url)
            .header("Billtap-Nonce", &nonce)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?;
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let start = Instant::now();
        let digest = request_digest("GET", &bill_path, &nonce, b"");
        let bill: Bill = accept_response(&keys, &SystemClock, &digest, status, get, &body)?;
        in_situ.borrow_mut().push(start.elapsed());
        anyhow::Ok(bill)
    };

    let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds + 1 {
        for side in 0..5 {
            for _ in 0..per {
                let start = Instant::now();
                match side {
                    0 => {
                        raw_get().await?;
                    }
                    1 => {
                        client.bill(BILL).await.context("client GET")?;
                    }
                    4 => {
                        verified_get().await?;
                    }
                    2 => {
                        raw.post(&lookup_url)
                            .header("Billtap-Nonce", &fixed_nonce)
                            .json(&lookup_body)
                            .send()
                            .await?
                            .error_for_status()?
                            .bytes()
                            .await?;
                    }
                    _ => {
                        client
                            .lookup(BILLER, &fields)
                            .await
                            .context("client lookup")?;
                    }
                }
                // Round 0 warms connections, caches and the allocator.
                if round > 0
                    && let Some(v) = t.get_mut(side)
                {
                    v.push(start.elapsed());
                }
            }
        }
    }
    let [raw_get_t, client_get, raw_post, client_post, verified] = t.map(median);
    let in_situ = median(in_situ.take());

    // The same GET when the server answers 2 ms later (a LAN; phone networks are 20–100 ms):
    // what the verification costs once the round trip is not loopback-short.
    raw.post(format!("{base}/admin/faults"))
        .bearer_auth(sandbox.admin_token())
        .json(&serde_json::json!({"path_prefix": format!("/v1/bills/{BILL}"), "fault": "delay:2", "count": 1_000_000}))
        .send()
        .await?
        .error_for_status()?;
    let mut lan = [Vec::new(), Vec::new()];
    for round in 0..6 {
        for (side, times) in lan.iter_mut().enumerate() {
            for _ in 0..40 {
                let start = Instant::now();
                if side == 0 {
                    raw_get().await?;
                } else {
                    client.bill(BILL).await.context("client GET")?;
                }
                if round > 0 {
                    times.push(start.elapsed());
                }
            }
        }
    }
    let [lan_raw, lan_client] = lan.map(median);

    // The CPU part alone, on one captured response: signature check and typed decoding.
    let resp = raw
        .get(&bill_url)
        .header("Billtap-Nonce", &fixed_nonce)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await?;
    let digest = request_digest("GET", &bill_path, &fixed_nonce, b"");
    let n = 2000u32;
    let start = Instant::now();
    for _ in 0..n {
        let sig = SignatureHeaders::from_lookup(|n| headers.get(n).and_then(|v| v.to_str().ok()))?;
        keys.verify(&digest, status, "", &body, &sig, &SystemClock)?;
    }
    let verify_only = start.elapsed() / n;
    let start = Instant::now();
    for _ in 0..n {
        let _: Bill = serde_json::from_slice(&body)?;
    }
    let decode_only = start.elapsed() / n;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{}",
        serde_json::json!({
            "calls_per_side": rounds * per,
            "cpu_only": {"verify_us": us(verify_only), "decode_us": us(decode_only), "body_bytes": body.len()},
            "bill_get": {"raw_reqwest_us": us(raw_get_t), "raw_verify_decode_us": us(verified), "floor_ratio": us(verified) / us(raw_get_t), "verify_decode_in_loop_us": us(in_situ), "client_us": us(client_get), "ratio": us(client_get) / us(raw_get_t), "client_over_floor": us(client_get) / us(verified), "goal_client_over_floor": 1.1},
            "bill_get_2ms_server_delay": {"raw_reqwest_us": us(lan_raw), "client_us": us(lan_client), "ratio": us(lan_client) / us(lan_raw), "goal_ratio": 1.05},
            "lookup_post": {"raw_reqwest_us": us(raw_post), "client_us": us(client_post), "ratio": us(client_post) / us(raw_post)},
        })
    );
    Ok(())
}
