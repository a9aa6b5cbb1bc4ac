//! Helpers shared by the sandbox's pay and keep tests: a store in a fresh directory, a client
//! and a payment engine on the sandbox, and the admin calls tests make.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use billtap_core::pay::{PayConfig, PaymentTarget, Payments};
use billtap_core::platform::api::LedgerEntry;
use billtap_core::platform::{PlatformClient, PlatformConfig};
use billtap_core::ports::SystemClock;
use billtap_core::store::Store;
use billtap_sandbox::{Sandbox, SandboxOptions};

pub const FUNDING: &str = "6217000010000000001";
pub const POOR: &str = "6217000010000000002";

pub fn store(name: &str) -> Arc<Store> {
    let dir = std::env::temp_dir().join(format!("billtap-pay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(Store::open(&dir.join("store.sqlite")).unwrap())
}

pub fn client(sb: &Sandbox, timeout_ms: u64) -> Arc<PlatformClient> {
    let mut cfg = PlatformConfig::new(&sb.url(), vec![sb.pinned_key()]);
    cfg.request_timeout = Duration::from_millis(timeout_ms);
    cfg.retries = 1;
    cfg.backoff = Duration::from_millis(5);
    Arc::new(PlatformClient::new(cfg, Arc::new(SystemClock)).unwrap())
}

pub fn payments(sb: &Sandbox, store: Arc<Store>, funding: &str, timeout_ms: u64) -> Payments {
    Payments::new(
        client(sb, timeout_ms),
        store,
        None,
        PayConfig::new(funding, "desktop"),
        Arc::new(SystemClock),
        &sb.url(),
    )
    .unwrap()
}

pub struct Admin {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    pub fn of(sb: &Sandbox) -> Self {
        // The test's own reqwest, on ring like billtap's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Admin {
            url: sb.url(),
            token: sb.admin_token(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, path: &str, body: String) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn bill(&self, account: &str, fen: i64) -> String {
        let (status, body) = self
            .post(
                "/admin/bills",
                format!(
                    r#"{{"biller_id":"BJ-WATER-001","account":"{account}","amount_fen":{fen}}}"#
                ),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn fault(&self, prefix: &str, fault: &str, count: u32) {
        let (status, body) = self
            .post(
                "/admin/faults",
                format!(r#"{{"path_prefix":"{prefix}","fault":"{fault}","count":{count}}}"#),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }

    pub async fn clear_faults(&self) {
        let r = self
            .http
            .delete(format!("{}/admin/faults", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    pub async fn ledger(&self) -> Vec<LedgerEntry> {
        let r = self
            .http
            .get(format!("{}/admin/ledger", self.url))
            .header("Authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

pub fn bill_target(bill: &str) -> PaymentTarget {
    PaymentTarget::Bill {
        bill_id: bill.into(),
    }
}

pub fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions::default()).unwrap()
}

impl Admin {
    /// Moves an invoice to its next state, as the payee and the post would.
    pub async fn advance_invoice(&self, id: &str) -> (u16, String) {
        self.post(&format!("/admin/invoices/{id}/advance"), String::new())
            .await
    }
}
