//! billtap-ffi: the UniFFI face of billtap-core for Kotlin (Android), Swift (iOS) and Python.
//!
//! Thin by design: the records, enums and host ports are core's own (billtap-core derives
//! UniFFI behind its `uniffi` feature; they arrive in Kotlin, Swift and Python as the
//! `billtap_core` module). This crate adds only what the boundary needs: the `Billtap` entry
//! object and its builder, error enums a host reacts to, the log bridge, PNG in and out. No
//! business logic lives here. Every export returns `Result`, so a Rust panic reaches Swift and Kotlin
//! as a thrown error rather than a crash.

uniffi::setup_scaffolding!();

mod errors;
mod logging;
mod pay;
mod platform;
mod scan;
#[cfg(feature = "simulated-card")]
mod sim;

pub use errors::{ConfigError, ScanError};
pub use logging::set_logger;
pub use pay::{PaymentError, SoftwareKey};
pub use platform::PlatformError;
pub use scan::{QrFormat, parse_payload, render_qr, scan_frame};
#[cfg(feature = "simulated-card")]
pub use sim::SimulatedCard;
#[cfg(all(feature = "simulated-card", feature = "meter-cards"))]
pub use sim::SimulatedMeterCard;

use std::sync::Arc;

use billtap_core::money::Money;
use billtap_core::pay::{DeviceInfo, PayConfig, PayError, PaymentRecord, PaymentTarget, Payments};
use billtap_core::platform::{BillView, BillerQuery, api};
use billtap_core::ports::{CardTransport, Clock, HttpTransport, Signer, TopupProgress};
use billtap_core::scan::{DecodedCode, Frame, ScanOptions, Scanned};
use billtap_core::store::Store;

/// How the app configures billtap: where the platform is and which keys to trust.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BilltapConfig {
    /// Base URL of the bill-payment platform API: https, or http only to a literal loopback
    /// host (the sandbox); no query or fragment.
    pub platform_url: String,
    /// Pinned platform public keys, `KEY_ID:BASE64_ED25519[:EXPIRES_UNIX]`, newest first;
    /// responses must be signed by one. Ids are unique, of `[A-Za-z0-9._-]`.
    pub pinned_platform_keys: Vec<String>,
    /// Path of the SQLite database file for receipts and caches.
    pub database_path: String,
    /// BCP 47 locale for messages and the platform's `Accept-Language` (`zh-CN`, `en`).
    pub locale: String,
    /// A reusable (static) code asking for more than this, e.g. `"2000.00 CNY"`, gets a warning
    /// on `resolve`: static codes are the ones swapped on stickers. `None`: no limit.
    #[uniffi(default = None)]
    pub static_code_limit: Option<String>,
    /// The payer's account at the bank that funds payments; payments need it.
    #[uniffi(default = None)]
    pub funding_account: Option<String>,
    /// What the device says it is when it registers: `android`, `ios`, `desktop`.
    #[uniffi(default = "unknown")]
    pub device_platform: String,
}

/// Parses `"2000.00 CNY"` into money, or says what is wrong with it.
fn parse_limit(text: &str) -> Result<billtap_core::money::Money, ConfigError> {
    text.parse().map_err(|e| ConfigError::Invalid {
        reason: format!("static_code_limit: {e}"),
    })
}

/// The entry object: one per app, created from a [`BilltapConfig`]. Later capabilities (look
/// up, pay, top up, receipts) add their methods here.
#[derive(uniffi::Object)]
pub struct Billtap {
    config: BilltapConfig,
    platform: Arc<billtap_core::platform::PlatformClient>,
    clock: Arc<dyn Clock>,
    signer: Option<Arc<dyn Signer>>,
    /// The store at `database_path`: payments, receipts, saved accounts, the offline catalog.
    store: Arc<Store>,
    /// Made at the first payment call: the device identity in the store.
    payments: std::sync::OnceLock<Arc<Payments>>,
}

impl std::fmt::Debug for Billtap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Billtap({})", self.config.platform_url)
    }
}

/// Builds a [`Billtap`] from the configuration and, optionally, the host's ports: its HTTP
/// stack (a bank app's gateway, the OS trust store, proxies, pinning) and its clock. Without
/// an HTTP transport, billtap's own (rustls) is used where the library was built with it.
#[derive(Debug, uniffi::Object)]
pub struct BilltapBuilder {
    config: BilltapConfig,
    ports: std::sync::Mutex<Ports>,
}

#[derive(Default)]
struct Ports {
    http: Option<Arc<dyn HttpTransport>>,
    clock: Option<Arc<dyn Clock>>,
    signer: Option<Arc<dyn Signer>>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ports(http: {}, clock: {}, signer: {})",
            self.http.is_some(),
            self.clock.is_some(),
            self.signer.is_some()
        )
    }
}

#[uniffi::export]
impl BilltapBuilder {
    /// Starts a builder with the configuration.
    #[uniffi::constructor]
    pub fn new(config: BilltapConfig) -> Arc<Self> {
        Arc::new(BilltapBuilder {
            config,
            ports: std::sync::Mutex::new(Ports::default()),
        })
    }

    /// Uses the app's HTTP stack for every platform call.
    pub fn http_transport(self: Arc<Self>, transport: Arc<dyn HttpTransport>) -> Arc<Self> {
        if let Ok(mut p) = self.ports.lock() {
            p.http = Some(transport);
        }
        self
    }

    /// Uses the app's clock instead of the system clock.
    pub fn clock(self: Arc<Self>, clock: Arc<dyn Clock>) -> Arc<Self> {
        if let Ok(mut p) = self.ports.lock() {
            p.clock = Some(clock);
        }
        self
    }

    /// Signs payments with the app's device key (Android Keystore, the Secure Enclave)
    /// instead of billtap's software key kept in the store.
    pub fn signer(self: Arc<Self>, signer: Arc<dyn Signer>) -> Arc<Self> {
        if let Ok(mut p) = self.ports.lock() {
            p.signer = Some(signer);
        }
        self
    }

    /// Checks the configuration and creates the entry object.
    pub fn build(&self) -> Result<Arc<Billtap>, ConfigError> {
        let (http, clock, signer) = match self.ports.lock() {
            Ok(p) => (p.http.clone(), p.clock.clone(), p.signer.clone()),
            Err(_) => (None, None, None),
        };
        Billtap::create(self.config.clone(), http, clock, signer)
    }
}

impl Billtap {
    fn create(
        config: BilltapConfig,
        http: Option<Arc<dyn HttpTransport>>,
        clock: Option<Arc<dyn Clock>>,
        signer: Option<Arc<dyn Signer>>,
    ) -> Result<Arc<Self>, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { reason };
        if config.database_path.trim().is_empty() {
            return Err(invalid("the database path is empty".into()));
        }
        let mut pcfg = billtap_core::platform::PlatformConfig::new(
            &config.platform_url,
            config.pinned_platform_keys.clone(),
        );
        pcfg.locale = config.locale.clone();
        pcfg.static_amount_warning = config
            .static_code_limit
            .as_deref()
            .map(parse_limit)
            .transpose()?;
        // The offline catalog lives in the store (verified again on every load).
        let store = Arc::new(
            Store::open(std::path::Path::new(&config.database_path))
                .map_err(|e| invalid(e.to_string()))?,
        );
        let cache: Arc<dyn billtap_core::platform::ResponseCache> = store.clone();
        pcfg.cache = Some(cache);
        let clock: Arc<dyn Clock> =
            clock.unwrap_or_else(|| Arc::new(billtap_core::ports::SystemClock));
        let error = |e: billtap_core::platform::PlatformError| invalid(e.to_string());
        let platform = match http {
            Some(t) => {
                billtap_core::platform::PlatformClient::with_transport(pcfg, clock.clone(), t)
                    .map_err(error)?
            }
            #[cfg(feature = "reqwest")]
            None => {
                billtap_core::platform::PlatformClient::new(pcfg, clock.clone()).map_err(error)?
            }
            #[cfg(not(feature = "reqwest"))]
            None => {
                return Err(invalid(
                    "this library has no HTTP stack of its own: hand the app's in with BilltapBuilder.httpTransport".into(),
                ));
            }
        };
        tracing::info!(locale = %config.locale, "billtap configured");
        Ok(Arc::new(Billtap {
            config,
            platform: Arc::new(platform),
            clock,
            signer,
            store,
            payments: std::sync::OnceLock::new(),
        }))
    }

    /// The payment engine: the store at `database_path`, the device identity in it.
    fn payments(&self) -> Result<Arc<Payments>, PaymentError> {
        if let Some(p) = self.payments.get() {
            return Ok(p.clone());
        }
        let funding = self
            .config
            .funding_account
            .clone()
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| PaymentError::Invalid {
                reason: "payments need a funding_account in BilltapConfig".into(),
            })?;
        let p = Payments::new(
            self.platform.clone(),
            self.store.clone(),
            self.signer.clone(),
            PayConfig::new(&funding, &self.config.device_platform),
            self.clock.clone(),
            &self.config.platform_url,
        )?;
        // Two first calls at once: both made an engine on the one store; one is kept.
        Ok(self.payments.get_or_init(|| Arc::new(p)).clone())
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Billtap {
    /// Checks the configuration and creates the entry object with billtap's own HTTP stack
    /// and the system clock (`BilltapBuilder` takes the app's).
    #[uniffi::constructor]
    pub fn new(config: BilltapConfig) -> Result<Arc<Self>, ConfigError> {
        Self::create(config, None, None, None)
    }

    /// The configuration this instance was created with. (Returns `Result` like every export,
    /// so Swift never calls it with `try!`.)
    pub fn config(&self) -> Result<BilltapConfig, ConfigError> {
        Ok(self.config.clone())
    }

    /// Decodes a PNG file's bytes and scans it for codes, on a worker thread: safe to await
    /// from the UI. Photos (JPEG, HEIC): decode with the OS and call `scan_frame_async`.
    pub async fn scan_image(&self, encoded: Vec<u8>) -> Result<Vec<DecodedCode>, ScanError> {
        tokio::task::spawn_blocking(move || scan::scan_encoded_image(&encoded))
            .await
            .map_err(|_| ScanError::Internal {
                reason: "the scan was interrupted".into(),
            })?
    }

    /// Scans a camera frame on a worker thread: safe to await from the UI.
    pub async fn scan_frame_async(
        &self,
        frame: Frame,
        options: ScanOptions,
    ) -> Result<Vec<DecodedCode>, ScanError> {
        tokio::task::spawn_blocking(move || scan_frame(frame, options))
            .await
            .map_err(|_| ScanError::Internal {
                reason: "the scan was interrupted".into(),
            })?
    }

    /// The platform's catalog: category tree and version (from the verified offline copy
    /// when the network is down; `from_cache` says so).
    pub async fn catalog(&self) -> Result<api::Catalog, PlatformError> {
        Ok(self.platform.catalog().await?)
    }

    /// Searches billers by text, category and region.
    pub async fn search_billers(
        &self,
        query: BillerQuery,
    ) -> Result<api::BillerPage, PlatformError> {
        Ok(self.platform.search_billers(&query).await?)
    }

    /// Finds an account's bills with the biller's lookup fields (key → value).
    pub async fn lookup_bills(
        &self,
        biller_id: String,
        fields: std::collections::HashMap<String, String>,
    ) -> Result<BillView, PlatformError> {
        let found = self
            .platform
            .lookup(&biller_id, &fields.into_iter().collect())
            .await?;
        Ok(BillView {
            payee: Some(found.biller),
            payee_account: None,
            bills: found.bills,
            amount_in_code: None,
            name_in_code: None,
            warnings: Vec::new(),
        })
    }

    /// From a scanned code (as `parse_payload` or a scan returned it, never parsed again) to
    /// what the user sees: the payee as the platform knows it (never the name printed in the
    /// code alone), the account it was verified by, the bills, and warnings.
    pub async fn resolve(&self, code: Scanned) -> Result<BillView, PlatformError> {
        Ok(self.platform.resolve(&code).await?)
    }

    /// This device: its id, public key and registration (creates its identity on first use).
    pub fn device(&self) -> Result<DeviceInfo, PaymentError> {
        Ok(self.payments()?.device()?)
    }

    /// Registers this device's key with the platform (the first payment does it too).
    pub async fn register_device(&self) -> Result<DeviceInfo, PaymentError> {
        Ok(self.payments()?.register().await?)
    }

    /// A quote for paying `target`: the verified payee and account, the amount (the bill's,
    /// or `amount` where the payer chooses it within the biller's rules), fee and expiry.
    pub async fn prepare_payment(
        &self,
        target: PaymentTarget,
        amount: Option<Money>,
    ) -> Result<api::Quote, PaymentError> {
        Ok(self.payments()?.prepare(&target, amount).await?)
    }

    /// Pays a quote exactly once: signed by the device key (a prompt may show), stored, sent.
    /// The record's state says where it stands; `unknown` is settled by `resume_pending`.
    pub async fn confirm_payment(&self, quote: api::Quote) -> Result<PaymentRecord, PaymentError> {
        Ok(self.payments()?.confirm(&quote).await?)
    }

    /// Stored payments, newest first (`pending_only`: those not settled yet).
    pub fn payments_list(&self, pending_only: bool) -> Result<Vec<PaymentRecord>, PaymentError> {
        Ok(self.payments()?.list(pending_only)?)
    }

    /// Kept receipts matching `filter` (payee, category, dates, amounts, words of the payee's
    /// Chinese or English name), newest first; offline.
    pub fn receipts(
        &self,
        filter: billtap_core::store::ReceiptFilter,
    ) -> Result<Vec<billtap_core::receipts::StoredReceipt>, PaymentError> {
        Ok(billtap_core::receipts::list_receipts(&self.store, &filter).map_err(PayError::from)?)
    }

    /// Totals per month and per category of the receipts `filter` selects; offline.
    pub fn receipt_totals(
        &self,
        filter: billtap_core::store::ReceiptFilter,
    ) -> Result<billtap_core::receipts::ReceiptTotals, PaymentError> {
        Ok(billtap_core::receipts::receipt_totals(&self.store, &filter).map_err(PayError::from)?)
    }

    /// Imports receipts (a backup, another phone's export: the COSE bytes of each): each is
    /// verified against the pinned keys and those the store remembers first; refused ones
    /// are reported, never stored.
    pub fn import_receipts(
        &self,
        receipts: Vec<Vec<u8>>,
    ) -> Result<billtap_core::receipts::ImportReport, PaymentError> {
        let keys =
            billtap_core::receipts::history_keys(&self.store, Some(self.platform.pinned_keys()))
                .map_err(PayError::from)?
                .ok_or_else(|| PaymentError::Invalid {
                    reason: "no platform keys to verify receipts with".into(),
                })?;
        Ok(
            billtap_core::receipts::import_receipts(&self.store, &keys, &receipts)
                .map_err(PayError::from)?,
        )
    }

    /// Requests an invoice (fapiao) for a completed payment (billtap's payment id or the
    /// platform's): by e-mail, for pick-up at an outlet (the answer has the outlet and the
    /// pick-up code; `pickup_qr_text` makes its QR), or by express post.
    pub async fn request_invoice(
        &self,
        payment_id: String,
        title: String,
        tax_id: Option<String>,
        delivery: api::InvoiceDelivery,
    ) -> Result<api::Invoice, PaymentError> {
        Ok(self
            .payments()?
            .request_invoice(&payment_id, &title, tax_id, delivery)
            .await?)
    }

    /// Where an invoice stands, from the platform (offline: as last kept).
    pub async fn invoice_status(&self, invoice_id: String) -> Result<api::Invoice, PaymentError> {
        Ok(self.payments()?.invoice_status(&invoice_id).await?)
    }

    /// The kept invoices, newest first (one payment's, by the platform's transaction id).
    pub fn invoices(&self, payment_id: Option<String>) -> Result<Vec<api::Invoice>, PaymentError> {
        Ok(billtap_core::pay::local_invoices(
            &self.store,
            payment_id.as_deref(),
        )?)
    }

    /// Saves a bill account with a nickname ("my accounts"), synced with the platform now or,
    /// offline, at the next `sync_accounts` (`synced: false` until then).
    pub async fn save_account(
        &self,
        biller_id: String,
        account: String,
        nickname: String,
    ) -> Result<billtap_core::pay::MyAccount, PaymentError> {
        Ok(self
            .payments()?
            .save_account(&biller_id, &account, &nickname)
            .await?)
    }

    /// Removes a saved account (at once here; the platform told now or at the next sync).
    pub async fn remove_account(&self, account_id: String) -> Result<(), PaymentError> {
        Ok(self.payments()?.remove_account(&account_id).await?)
    }

    /// Sends offline changes and takes the platform's signed list: a new phone gets the
    /// family's accounts back.
    pub async fn sync_accounts(&self) -> Result<Vec<billtap_core::pay::MyAccount>, PaymentError> {
        Ok(self.payments()?.sync_accounts().await?)
    }

    /// The saved accounts as kept, offline.
    pub fn saved_accounts(&self) -> Result<Vec<billtap_core::pay::MyAccount>, PaymentError> {
        Ok(billtap_core::pay::local_accounts(&self.store)?)
    }

    /// Fetches the saved accounts' latest bills for reminders; how many accounts answered.
    pub async fn refresh_bills(&self) -> Result<u32, PaymentError> {
        Ok(self.payments()?.refresh_bills().await?)
    }

    /// Due-date reminders from the kept bills, offline: overdue first, `due_soon` within
    /// `within_days` days, for the app to schedule notifications.
    pub fn reminders(
        &self,
        within_days: u32,
    ) -> Result<Vec<billtap_core::pay::Reminder>, PaymentError> {
        let now = self
            .clock
            .now_unix()
            .saturating_add(self.platform.platform_clock_offset());
        Ok(billtap_core::pay::reminders(&self.store, now, within_days)?)
    }

    /// Verifies the whole receipt history offline: the first edited, forged, missing or
    /// out-of-place entry, if any.
    pub fn verify_history(&self) -> Result<billtap_core::receipts::HistoryReport, PaymentError> {
        Ok(self.payments()?.verify_history()?)
    }

    /// A kept receipt as QR text (render it with `render_qr`), by transaction id or position.
    pub fn receipt_qr_text(&self, id: String) -> Result<String, PaymentError> {
        Ok(self.payments()?.receipt_qr_text(&id)?)
    }

    /// Checks a scanned receipt code (`Detail.Receipt`) against the pinned platform keys:
    /// what it says, only when its signature checks.
    pub fn verify_receipt_code(
        &self,
        code: billtap_core::receipts::ReceiptCode,
    ) -> Result<billtap_core::receipts::ReceiptBody, PaymentError> {
        billtap_core::receipts::verify_receipt(&code.cose, self.platform.pinned_keys())
            .map(|(body, _)| body)
            .map_err(|e| PaymentError::Untrusted {
                code: match &e {
                    billtap_core::receipts::ReceiptError::Untrusted(t) => t.reason(),
                    _ => billtap_core::platform::UntrustedReason::Malformed,
                },
                reason: e.to_string(),
            })
    }

    /// Loads `amount` (CNY) onto the card in the field, paid from the funding account, exactly
    /// once however the card is pulled away: the record's state is `completed`, `failed`
    /// (nothing taken) or `unknown` (kept; settled at the next tap of this card, by `topup`
    /// or `read_card`). `progress` hears each step as it starts.
    pub async fn topup(
        &self,
        card: Arc<dyn CardTransport>,
        amount: Money,
        progress: Option<Arc<dyn TopupProgress>>,
    ) -> Result<billtap_core::pay::TopupRecord, PaymentError> {
        Ok(self
            .payments()?
            .topup(card.as_ref(), amount, progress.as_deref())
            .await?)
    }

    /// Reads the card in the field (serial number, validity, balance, newest transactions),
    /// settling its unfinished top-up first when there is one (that needs the platform; if it
    /// cannot be reached the card is still read and `unsettled` says why).
    pub async fn read_card(
        &self,
        card: Arc<dyn CardTransport>,
        progress: Option<Arc<dyn TopupProgress>>,
    ) -> Result<billtap_core::pay::CardTap, PaymentError> {
        // Without a funding account the card is still read; `unsettled` says what is missing.
        let payments = self.payments().ok();
        Ok(billtap_core::pay::tap_card(
            &self.store,
            payments.as_deref(),
            card.as_ref(),
            progress.as_deref(),
        )
        .await?)
    }

    /// The keypad-meter token a payment vended (the platform's transaction id), kept with its
    /// signed receipt; offline. A prepaid-meter biller (`vends` = `sts_token`) is paid like any
    /// payee — `prepare_payment(PaymentTarget.Payee(biller, meter number), amount)`, then
    /// `confirm_payment` — and its token is read here (an `unknown` payment's once
    /// `resume_pending` settles it).
    pub fn meter_token(
        &self,
        payment_id: String,
    ) -> Result<Option<billtap_core::pay::MeterToken>, PaymentError> {
        Ok(billtap_core::pay::meter_token_of(&self.store, &payment_id)?)
    }

    /// The kept keypad-meter tokens, newest first (offline).
    pub fn meter_tokens(&self) -> Result<Vec<billtap_core::pay::MeterToken>, PaymentError> {
        Ok(billtap_core::pay::meter_tokens(&self.store)?)
    }

    /// The stored top-ups, newest first (offline).
    pub fn topups(&self) -> Result<Vec<billtap_core::pay::TopupRecord>, PaymentError> {
        Ok(billtap_core::pay::local_topups(&self.store)?)
    }

    /// Settles what an earlier run left unsettled; call at start-up.
    pub async fn resume_pending(&self) -> Result<Vec<PaymentRecord>, PaymentError> {
        Ok(self.payments()?.resume_pending().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_exact_loopback_http_is_accepted() {
        let cfg = |url: &str| BilltapConfig {
            platform_url: url.into(),
            pinned_platform_keys: vec!["k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()],
            database_path: "/tmp/x.sqlite".into(),
            locale: "en".into(),
            static_code_limit: None,
            funding_account: None,
            device_platform: "desktop".into(),
        };
        for ok in [
            "https://pay.example.cn",
            "http://127.0.0.1:8080/v1",
            "http://localhost",
            "http://[::1]:9000",
        ] {
            assert!(Billtap::new(cfg(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://pay.example.cn",
            "http://localhost.evil.cn",
            "http://127.0.0.1.evil.cn/",
            "http://user@127.0.0.1@evil.cn",
            "ftp://x",
            "",
        ] {
            assert!(
                matches!(Billtap::new(cfg(bad)), Err(ConfigError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn static_code_limit_is_read_as_money_and_refused_as_configuration() {
        // The money syntax itself is tested in core (`Money: FromStr`); here, the mapping.
        let money = parse_limit(" 2000.00 CNY ").map(|m| m.to_string());
        assert_eq!(money.ok().as_deref(), Some("2000.00 CNY"));
        match parse_limit("2000") {
            Err(ConfigError::Invalid { reason }) => {
                assert!(reason.starts_with("static_code_limit: "), "{reason}");
                assert!(reason.contains("2000.00 CNY"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
