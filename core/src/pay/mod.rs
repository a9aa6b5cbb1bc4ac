//! Pay: the device's identity, quotes, and payments made exactly once.
//!
//! A payment is written to the store with its idempotency key and the exact device-signed
//! request, in one transaction, before the first send; every retry sends those bytes. Its
//! states: ready → submitted → succeeded | failed | unknown. An unknown outcome (timeout,
//! dropped answer, an answer that fails its checks) is settled by asking the platform under
//! the same key; a payment still unsettled after the platform's key retention window becomes
//! needs-reconciliation and is never sent again under a new key. `resume_pending` finishes
//! what a killed process left.

mod device;
mod keep;
mod meter;
#[cfg(feature = "meter-cards")]
mod meter_load;
#[cfg(feature = "meter-cards")]
pub use meter_load::parse_meter_script;
mod topup;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use serde::Serialize;

pub use device::{
    DEVICE_HEADER, DEVICE_SIGNATURE_HEADER, DEVICE_SKEW_SECS, DEVICE_TIMESTAMP_HEADER,
    IDEMPOTENCY_HEADER, SoftwareSigner, device_canonical, normalize_public_key,
    verify_device_signature,
};
pub use keep::{
    MyAccount, PICKUP_QR_PREFIX, Reminder, ReminderStatus, local_accounts, local_invoices,
    pickup_qr_text, reminders,
};
pub use meter::{
    MeterToken, STS_TOKEN_DIGITS, Vend, format_sts_token, is_sts_token, meter_token_of,
    meter_tokens,
};
pub use topup::{CardTap, TopupRecord, TopupState, has_open_topup, local_topups, tap_card};

use crate::money::{Money, MoneyError, parse_display};
use crate::platform::api::{
    ApiMoney, DeviceRegistration, Payment, PaymentRequest, Problem, Quote, QuoteRequest,
    RegisteredDevice,
};
use crate::platform::{
    FailureKind, PlatformClient, PlatformError, PreparedRequest, decode_verified, mask_account,
    new_nonce,
};
use crate::ports::{Clock, Signer, SignerError};
use crate::receipts::verify_receipt;
use crate::store::{DeviceRow, NewReceipt, PaymentRow, PaymentState, Store, StoreError};

/// Largest answer to a payment call.
const PAYMENT_LIMIT: u64 = 64 << 10;
/// Sends of one payment in one run (each with the client's own retries of the same bytes).
const ROUNDS: u32 = 3;
/// Re-sign a request whose timestamp is this close to the platform's skew limit.
const RESIGN_AFTER_SECS: i64 = DEVICE_SKEW_SECS - 60;

/// Why a payment step failed. After `confirm` has stored a payment, its outcome is in the
/// returned record's state, never lost in an error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayError {
    /// The platform call failed (see its kind: unreachable, untrusted, refused…).
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The device's signer gave no signature (cancelled, unavailable).
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// The quote is past its expiry: ask for a new one.
    #[error("the quote expired; ask for a new one")]
    QuoteExpired,
    /// Bad input (an amount in the wrong currency, a payment id that does not exist…).
    #[error("{0}")]
    Invalid(String),
    /// The card (top-up): refused a command, answered nonsense, or left the field.
    #[error(transparent)]
    Card(#[from] crate::topup::TopupError),
}

impl From<MoneyError> for PayError {
    fn from(e: MoneyError) -> Self {
        PayError::Invalid(e.to_string())
    }
}

/// What to pay: a bill, or a verified payee without a bill (donations, top-ups).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentTarget {
    /// A bill by its platform id.
    Bill {
        /// The bill.
        bill_id: String,
    },
    /// A payee as `resolve` verified it.
    Payee {
        /// The payee's platform id.
        biller_id: String,
        /// The verified account (`BillView.payee_account.account`).
        account: String,
    },
}

/// How payments are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayConfig {
    /// The payer's account at the bank that funds payments.
    pub funding_account: String,
    /// What the device says it is at registration (`android`, `ios`, `desktop`).
    pub device_platform: String,
    /// How long the platform keeps idempotency keys (seconds): past it, an unsettled payment
    /// needs reconciliation instead of another send.
    pub key_retention_secs: i64,
}

impl PayConfig {
    /// Defaults: the platform's 24-hour key retention.
    pub fn new(funding_account: &str, device_platform: &str) -> Self {
        PayConfig {
            funding_account: funding_account.into(),
            device_platform: device_platform.into(),
            key_retention_secs: 86_400,
        }
    }
}

/// The device as billtap knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DeviceInfo {
    /// The device's id.
    pub device_id: String,
    /// Base64 of its uncompressed SEC1 P-256 public key.
    pub public_key: String,
    /// Whether billtap's software key signs (else the app's hardware key does).
    pub software_key: bool,
    /// When the platform registered it, if it has.
    pub registered_at: Option<i64>,
    /// The platform it is registered with.
    pub platform_url: Option<String>,
}

/// A payment as the app shows it. Account numbers are masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PaymentRecord {
    /// billtap's id for it.
    pub payment_id: String,
    /// The bill, if any.
    pub bill_id: Option<String>,
    /// The payee's platform id.
    pub biller_id: String,
    /// The verified payee name.
    pub payee_name: String,
    /// The payee's account, masked.
    pub payee_account_masked: String,
    /// The amount.
    pub amount: Money,
    /// The fee.
    pub fee: Money,
    /// Where it stands.
    pub state: PaymentState,
    /// The platform's payment id, once accepted.
    pub platform_payment_id: Option<String>,
    /// Why it failed, or why it is not settled yet.
    pub failure: Option<String>,
    /// Created (device clock, Unix seconds).
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
}

/// A point the payment state machine passes, for crash tests (a host never needs these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayStep {
    /// The signed payment is stored (`ready`), not sent.
    StoredReady,
    /// `submitted` is stored, the bytes are about to go out.
    StoredSubmitted,
    /// An answer (or a failure) came back and is not stored yet.
    AnswerReceived,
    /// The outcome is stored.
    StoredOutcome,
}

impl PayStep {
    /// Its name, as `BILLTAP_TEST_PAUSE_AT` takes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            PayStep::StoredReady => "stored_ready",
            PayStep::StoredSubmitted => "stored_submitted",
            PayStep::AnswerReceived => "answer_received",
            PayStep::StoredOutcome => "stored_outcome",
        }
    }
}

/// Observes the state machine (crash tests pause here and are killed).
pub trait PayHooks: Send + Sync {
    /// Called at each step.
    fn reached(&self, step: PayStep, payment_id: &str);
}

/// Payments for one device against one platform.
pub struct Payments {
    client: Arc<PlatformClient>,
    store: Arc<Store>,
    signer: Arc<dyn Signer>,
    public_key: Vec<u8>,
    device_id: String,
    software_key: bool,
    cfg: PayConfig,
    clock: Arc<dyn Clock>,
    hooks: Option<Arc<dyn PayHooks>>,
    platform_url: String,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payments(device {})", self.device_id)
    }
}

fn random_id(bytes: usize) -> Result<String, PayError> {
    let mut b = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).map_err(|_| {
        PayError::Signer(SignerError::Unavailable {
            reason: "no system randomness".into(),
        })
    })?;
    Ok(B64URL.encode(b))
}

fn money(amount: &str, currency: &str) -> Result<Money, PayError> {
    Ok(parse_display(&format!("{amount} {currency}"))?)
}

fn record(p: &PaymentRow) -> Result<PaymentRecord, PayError> {
    Ok(PaymentRecord {
        payment_id: p.payment_id.clone(),
        bill_id: p.bill_id.clone(),
        biller_id: p.biller_id.clone(),
        payee_name: p.payee_name.clone(),
        payee_account_masked: mask_account(&p.payee_account),
        amount: money(&p.amount, &p.currency)?,
        fee: money(&p.fee, &p.currency)?,
        state: p.state,
        platform_payment_id: p.platform_payment_id.clone(),
        failure: p.failure.clone(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    })
}

/// The last path segment of a problem document's type (`stale-timestamp`), or empty.
fn problem_kind(body: &[u8]) -> String {
    serde_json::from_slice::<Problem>(body)
        .map(|p| p.kind.rsplit('/').next().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// An answer that is genuine but not about what was asked (another bill, payment or device).
fn not_ours() -> PayError {
    PlatformError::Untrusted(crate::platform::TrustError::NotForThisRequest).into()
}

/// What one send told us.
enum Sent {
    /// Settled: succeeded or failed.
    Settled,
    /// No trustworthy answer.
    Unknown(String),
    /// The platform says the signature went stale before it arrived: re-sign and send again.
    Stale,
}

/// What the platform says of a key.
enum Found {
    Payment(Box<Payment>),
    NotFound,
}

/// The device's signing identity, loaded from the store or created in it.
struct Identity {
    signer: Arc<dyn Signer>,
    public_key: Vec<u8>,
    device_id: String,
    software: bool,
}

impl Identity {
    fn open(store: &Store, signer: Option<Arc<dyn Signer>>) -> Result<Identity, PayError> {
        let existing = store.device()?;
        let (signer, public_key, pkcs8): (Arc<dyn Signer>, Vec<u8>, _) = match signer {
            Some(s) => {
                let pk =
                    normalize_public_key(&s.public_key()?).ok_or_else(|| SignerError::Failed {
                        reason: "the app's signer gave a public key that is not P-256".into(),
                    })?;
                (s, pk, None)
            }
            None => {
                let soft = match existing.as_ref().and_then(|d| d.software_key.as_ref()) {
                    Some(pkcs8) => SoftwareSigner::from_pkcs8(pkcs8)?,
                    None => SoftwareSigner::generate()?,
                };
                let pk = soft.public_key_sec1();
                let pkcs8 = zeroize::Zeroizing::new(soft.pkcs8().to_vec());
                (Arc::new(soft), pk, Some(pkcs8))
            }
        };
        let software = pkcs8.is_some();
        let device = match existing {
            Some(d) if d.public_key == public_key => d,
            Some(_) => {
                return Err(PayError::Invalid(
                    "this store belongs to another device key; use a new store for this key".into(),
                ));
            }
            None => store.create_device(&DeviceRow {
                device_id: random_id(16)?,
                public_key: public_key.clone(),
                software_key: pkcs8,
                registered_at: None,
                platform_url: None,
            })?,
        };
        Ok(Identity {
            signer,
            public_key,
            device_id: device.device_id,
            software,
        })
    }
}

/// The device as the store knows it, creating billtap's software identity if there is none
/// yet (no network: `billtap device`).
pub fn local_device(store: &Store) -> Result<DeviceInfo, PayError> {
    let id = Identity::open(store, None)?;
    let d = store.device()?;
    Ok(DeviceInfo {
        device_id: id.device_id,
        public_key: B64.encode(&id.public_key),
        software_key: id.software,
        registered_at: d.as_ref().and_then(|d| d.registered_at),
        platform_url: d.and_then(|d| d.platform_url),
    })
}

/// Stored payments without a platform connection (`billtap payments`).
pub fn local_payments(store: &Store, pending_only: bool) -> Result<Vec<PaymentRecord>, PayError> {
    store.payments(pending_only)?.iter().map(record).collect()
}

impl Payments {
    /// Payments with the app's signer, or (`None`) billtap's software key kept in the store.
    pub fn new(
        client: Arc<PlatformClient>,
        store: Arc<Store>,
        signer: Option<Arc<dyn Signer>>,
        cfg: PayConfig,
        clock: Arc<dyn Clock>,
        platform_url: &str,
    ) -> Result<Self, PayError> {
        if cfg.funding_account.trim().is_empty() {
            return Err(PayError::Invalid("no funding account is configured".into()));
        }
        let id = Identity::open(&store, signer)?;
        Ok(Payments {
            client,
            store,
            signer: id.signer,
            public_key: id.public_key,
            device_id: id.device_id,
            software_key: id.software,
            cfg,
            clock,
            hooks: None,
            platform_url: platform_url.into(),
        })
    }

    /// Installs crash-test hooks.
    pub fn with_hooks(mut self, hooks: Arc<dyn PayHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    fn hook(&self, step: PayStep, payment_id: &str) {
        if let Some(h) = &self.hooks {
            h.reached(step, payment_id);
        }
    }

    /// The device as stored.
    pub fn device(&self) -> Result<DeviceInfo, PayError> {
        let d = self.store.device()?;
        Ok(DeviceInfo {
            device_id: self.device_id.clone(),
            public_key: B64.encode(&self.public_key),
            software_key: self.software_key,
            registered_at: d.as_ref().and_then(|d| d.registered_at),
            platform_url: d.and_then(|d| d.platform_url),
        })
    }

    /// Registers the device with the platform (once per platform; again is a no-op).
    pub async fn register(&self) -> Result<DeviceInfo, PayError> {
        self.register_with(false).await
    }

    /// Registers the device, again when `force` (the platform forgot which customer it acts
    /// for: a registration from before saved accounts).
    async fn register_with(&self, force: bool) -> Result<DeviceInfo, PayError> {
        let info = self.device()?;
        if !force
            && info.registered_at.is_some()
            && info.platform_url.as_deref() == Some(&self.platform_url)
        {
            return Ok(info);
        }
        let body = serde_json::to_string(&DeviceRegistration {
            device_id: self.device_id.clone(),
            public_key: info.public_key.clone(),
            platform: self.cfg.device_platform.clone(),
            customer: Some(self.cfg.funding_account.clone()),
        })
        .map_err(|e| PayError::Invalid(e.to_string()))?;
        let (status, bytes) = self.send_fresh("POST", "/v1/devices", body).await?;
        let reg: RegisteredDevice = decode_verified(status, &bytes)?;
        if reg.device_id != self.device_id {
            return Err(not_ours());
        }
        self.store
            .set_registered(&self.platform_url, reg.registered_at)?;
        self.device()
    }

    /// Asks the platform what paying `target` costs: the verified payee and account, the
    /// amount (the bill's, or `amount` where the payer chooses: partial payments, donations
    /// within the biller's limits), the fee and the quote's expiry.
    pub async fn prepare(
        &self,
        target: &PaymentTarget,
        amount: Option<Money>,
    ) -> Result<Quote, PayError> {
        self.register().await?;
        let mut request = QuoteRequest {
            amount: amount.map(|m| ApiMoney {
                amount: m.to_plain_string(),
                currency: m.currency.alpha().into(),
            }),
            funding_account: self.cfg.funding_account.clone(),
            ..QuoteRequest::default()
        };
        match target {
            PaymentTarget::Bill { bill_id } => request.bill_id = Some(bill_id.clone()),
            PaymentTarget::Payee { biller_id, account } => {
                if amount.is_none() {
                    return Err(PayError::Invalid(
                        "paying a payee without a bill needs an amount".into(),
                    ));
                }
                request.biller_id = Some(biller_id.clone());
                request.payee_account = Some(account.clone());
            }
        }
        let quote: Quote = self
            .client
            .post_decoded("/v1/payments/quotes", &request, PAYMENT_LIMIT)
            .await?;
        // What came back must quote what was asked.
        let echo_ok = match target {
            PaymentTarget::Bill { bill_id } => quote.bill_id.as_ref() == Some(bill_id),
            PaymentTarget::Payee { biller_id, account } => {
                quote.biller_id == *biller_id && quote.payee_account == *account
            }
        } && request.amount.as_ref().is_none_or(|a| {
            quote.amount.to_money().ok() == amount && a.currency == quote.amount.currency
        });
        if !echo_ok {
            return Err(not_ours());
        }
        quote.amount.to_money()?;
        quote.fee.to_money()?;
        Ok(quote)
    }

    /// Pays a quote. The payment is stored before it is sent; the returned record says where
    /// it stands (succeeded, failed, or unknown — settled later by `resume_pending`).
    pub async fn confirm(&self, quote: &Quote) -> Result<PaymentRecord, PayError> {
        let amount = quote.amount.to_money()?;
        let fee = quote.fee.to_money()?;
        if amount.currency != fee.currency {
            return Err(PayError::Invalid(
                "the quote's fee is in another currency".into(),
            ));
        }
        if self.client.platform_now() >= quote.expires_at {
            return Err(PayError::QuoteExpired);
        }
        // Checked before signing, so the user is not asked for a fingerprint for a payment the
        // store would refuse; the insert checks again atomically.
        if let Some(bill) = &quote.bill_id
            && self
                .store
                .payments(true)?
                .iter()
                .any(|p| p.bill_id.as_deref() == Some(bill))
        {
            return Err(StoreError::InFlight {
                bill_id: bill.clone(),
            }
            .into());
        }
        let key = random_id(16)?;
        let body = serde_json::to_string(&PaymentRequest {
            quote_id: quote.quote_id.clone(),
            bill_id: quote.bill_id.clone(),
            biller_id: quote.biller_id.clone(),
            payee_account: quote.payee_account.clone(),
            amount: quote.amount.clone(),
            funding_account: self.cfg.funding_account.clone(),
        })
        .map_err(|e| PayError::Invalid(e.to_string()))?;
        // Signed before anything is stored: a cancelled prompt leaves no trace.
        let (req, ts) = self
            .signed("POST", "/v1/payments".into(), body, &key)
            .await?;
        let now = self.clock.now_unix();
        let row = PaymentRow {
            payment_id: format!("pay-{}", random_id(12)?),
            idempotency_key: key,
            quote_id: quote.quote_id.clone(),
            bill_id: quote.bill_id.clone(),
            biller_id: quote.biller_id.clone(),
            payee_name: quote.payee_name.clone(),
            payee_account: quote.payee_account.clone(),
            amount: amount.to_plain_string(),
            fee: fee.to_plain_string(),
            currency: amount.currency.alpha().into(),
            state: PaymentState::Ready,
            request: serde_json::to_string(&req).map_err(|e| PayError::Invalid(e.to_string()))?,
            request_timestamp: ts,
            platform_payment_id: None,
            failure: None,
            attempts: 0,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_payment(&row)?;
        tracing::info!(payment = %row.payment_id, "payment stored, ready to send");
        self.hook(PayStep::StoredReady, &row.payment_id);
        self.run(row, true).await
    }

    /// Settles every payment a previous run left unsettled (ready, submitted, unknown).
    pub async fn resume_pending(&self) -> Result<Vec<PaymentRecord>, PayError> {
        let mut out = Vec::new();
        for row in self.store.payments(true)? {
            let send_first = row.state == PaymentState::Ready;
            out.push(self.run(row, send_first).await?);
        }
        Ok(out)
    }

    /// Stored payments, newest first (only unsettled ones with `pending_only`).
    pub fn list(&self, pending_only: bool) -> Result<Vec<PaymentRecord>, PayError> {
        self.store
            .payments(pending_only)?
            .iter()
            .map(record)
            .collect()
    }

    /// Kept receipts matching `filter`, newest first.
    pub fn receipts(
        &self,
        filter: &crate::store::ReceiptFilter,
    ) -> Result<Vec<crate::receipts::StoredReceipt>, PayError> {
        Ok(crate::receipts::list_receipts(&self.store, filter)?)
    }

    /// Verifies the whole receipt history against the pinned keys and those the store
    /// remembers.
    pub fn verify_history(&self) -> Result<crate::receipts::HistoryReport, PayError> {
        let keys = crate::receipts::history_keys(&self.store, Some(self.client.pinned_keys()))?
            .ok_or_else(|| PayError::Invalid("no platform keys".into()))?;
        Ok(crate::receipts::verify_history(&self.store, &keys)?)
    }

    /// A kept receipt's QR text (by platform transaction id or history position).
    pub fn receipt_qr_text(&self, id: &str) -> Result<String, PayError> {
        let row = self
            .store
            .history()?
            .into_iter()
            .find(|r| r.receipt.payment_id == id || r.seq.to_string() == id)
            .ok_or_else(|| PayError::Invalid(format!("no receipt {id}")))?;
        Ok(crate::receipts::receipt_qr_text(&row.receipt.cose))
    }

    /// One stored payment.
    pub fn get(&self, payment_id: &str) -> Result<PaymentRecord, PayError> {
        let row = self
            .store
            .payment(payment_id)?
            .ok_or_else(|| PayError::Invalid(format!("no payment {payment_id}")))?;
        record(&row)
    }

    /// Drives one stored payment towards a settled state: send (if it may never have left),
    /// else ask the platform under its key, re-sending the same payment while the platform
    /// has never seen it and the key is within retention.
    async fn run(&self, mut row: PaymentRow, mut send: bool) -> Result<PaymentRecord, PayError> {
        let mut why = String::from("no answer from the platform yet");
        for _ in 0..ROUNDS {
            if send {
                match self.send(&mut row).await? {
                    Sent::Settled => return self.get(&row.payment_id),
                    Sent::Unknown(reason) => why = reason,
                    Sent::Stale => {
                        self.resign(&mut row).await?;
                        continue;
                    }
                }
            }
            match self.query(&row).await {
                Ok(Found::Payment(p)) => {
                    self.accept(&row, &p)?;
                    return self.get(&row.payment_id);
                }
                Ok(Found::NotFound) => {
                    if self.client.platform_now() - row.created_at > self.cfg.key_retention_secs {
                        self.store.set_state(
                            &row.payment_id,
                            PaymentState::NeedsReconciliation,
                            None,
                            Some("unsettled past the platform's key retention; contact the bank"),
                            self.clock.now_unix(),
                        )?;
                        return self.get(&row.payment_id);
                    }
                    // Never arrived (or never committed): the same payment, same key, again.
                    if self.client.platform_now() - row.request_timestamp > RESIGN_AFTER_SECS {
                        self.resign(&mut row).await?;
                    }
                    send = true;
                }
                Err(e) => {
                    why = e.to_string();
                    break;
                }
            }
        }
        self.store.set_state(
            &row.payment_id,
            PaymentState::Unknown,
            None,
            Some(&why),
            self.clock.now_unix(),
        )?;
        self.hook(PayStep::StoredOutcome, &row.payment_id);
        self.get(&row.payment_id)
    }

    /// One send of the stored bytes (with the client's retries of the same bytes).
    async fn send(&self, row: &mut PaymentRow) -> Result<Sent, PayError> {
        let req: PreparedRequest = serde_json::from_slice(row.request.as_bytes())
            .map_err(|e| StoreError::Corrupt(format!("stored request: {e}")))?;
        self.store
            .mark_sent(&row.payment_id, self.clock.now_unix())?;
        row.state = PaymentState::Submitted;
        self.hook(PayStep::StoredSubmitted, &row.payment_id);
        let answer = self.client.send_prepared(&req, PAYMENT_LIMIT).await;
        self.hook(PayStep::AnswerReceived, &row.payment_id);
        let now = self.clock.now_unix();
        match answer {
            Ok((status, body)) if (200..300).contains(&status) => {
                match serde_json::from_slice::<Payment>(&body) {
                    Ok(p) => match self.accept(row, &p) {
                        Ok(()) => Ok(Sent::Settled),
                        Err(e) => Ok(Sent::Unknown(e.to_string())),
                    },
                    Err(e) => Ok(Sent::Unknown(format!(
                        "the platform's answer could not be read ({e}); asking again"
                    ))),
                }
            }
            Ok((status, body)) => {
                let kind = problem_kind(&body);
                match kind.as_str() {
                    // Not processed: the signature aged in transit. Same key, fresh signature.
                    "stale-timestamp" => Ok(Sent::Stale),
                    // Another send of this key is being processed right now.
                    "payment-in-progress" => {
                        Ok(Sent::Unknown("the platform is still processing it".into()))
                    }
                    _ => {
                        let reason = match decode_verified::<Payment>(status, &body) {
                            Err(e) => e.to_string(),
                            Ok(_) => format!("HTTP {status}"),
                        };
                        self.store.set_state(
                            &row.payment_id,
                            PaymentState::Failed,
                            None,
                            Some(&reason),
                            now,
                        )?;
                        tracing::info!(payment = %row.payment_id, status, kind = %kind, "payment refused");
                        self.hook(PayStep::StoredOutcome, &row.payment_id);
                        Ok(Sent::Settled)
                    }
                }
            }
            Err(e) => {
                // Unreachable, timed out, or an answer that failed its checks: the platform may
                // have taken it. Only asking under the key can tell.
                tracing::info!(payment = %row.payment_id, kind = ?e.kind(), "payment outcome unknown");
                let reason = e.to_string();
                self.store.set_state(
                    &row.payment_id,
                    PaymentState::Unknown,
                    None,
                    Some(&reason),
                    now,
                )?;
                row.state = PaymentState::Unknown;
                Ok(Sent::Unknown(reason))
            }
        }
    }

    /// Stores what the platform says became of this payment, after checking it is this one.
    fn accept(&self, row: &PaymentRow, p: &Payment) -> Result<(), PayError> {
        let paid = p.amount.to_money()?;
        let ours = money(&row.amount, &row.currency)?;
        if p.idempotency_key != row.idempotency_key
            || p.biller_id != row.biller_id
            || p.bill_id != row.bill_id
            || paid != ours
        {
            return Err(not_ours());
        }
        let now = self.clock.now_unix();
        match p.status.as_str() {
            "succeeded" => {
                let receipt = self.receipt_of(row, p);
                self.store
                    .succeed(&row.payment_id, &p.payment_id, receipt.as_ref(), now)?;
                tracing::info!(
                    payment = %row.payment_id,
                    receipt = receipt.is_some(),
                    "payment succeeded"
                );
            }
            "failed" => {
                let why = p.failure.as_deref().unwrap_or("refused by the platform");
                self.store.set_state(
                    &row.payment_id,
                    PaymentState::Failed,
                    None,
                    Some(why),
                    now,
                )?;
                tracing::info!(payment = %row.payment_id, "payment refused");
            }
            other => {
                return Err(PlatformError::Incompatible(format!(
                    "a payment status this version does not know: {other:?}"
                ))
                .into());
            }
        }
        self.hook(PayStep::StoredOutcome, &row.payment_id);
        Ok(())
    }

    /// The payment's receipt, verified against the pinned platform keys and checked to be
    /// this payment's; `None` (and a warning) when it is missing or fails — the payment itself
    /// succeeded all the same (its signed answer said so).
    fn receipt_of(&self, row: &PaymentRow, p: &Payment) -> Option<NewReceipt> {
        let encoded = p.receipt.as_deref()?;
        let checked = self.verified_receipt(encoded, |body| {
            body.payment_id == p.payment_id
                && body.biller_id == row.biller_id
                && body.bill_id == row.bill_id
                && body.amount == row.amount
                && body.currency == row.currency
        });
        match checked {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(payment = %row.payment_id, error = %e, "receipt refused");
                None
            }
        }
    }

    /// A receipt from a platform answer (base64url COSE): verified against the pinned keys,
    /// made for this device, and checked by `ours` to be the one asked about; the key it
    /// verified with is remembered for offline verification.
    fn verified_receipt(
        &self,
        encoded: &str,
        ours: impl Fn(&crate::receipts::ReceiptBody) -> bool,
    ) -> Result<NewReceipt, String> {
        let cose = B64URL
            .decode(encoded.trim_end_matches('='))
            .map_err(|e| format!("not base64url: {e}"))?;
        let keys = self.client.pinned_keys();
        let (body, key_id) = verify_receipt(&cose, keys).map_err(|e| e.to_string())?;
        if body.device_id != self.device_id || !ours(&body) {
            return Err("the receipt is not this one's".to_string());
        }
        if let Some(k) = keys.keys().iter().find(|k| k.id == key_id) {
            let _ = self.store.save_key(&k.id, &k.public_key);
        }
        Ok(NewReceipt::from_body(body, cose, key_id))
    }

    /// Asks the platform whether it has a payment under this payment's key.
    async fn query(&self, row: &PaymentRow) -> Result<Found, PayError> {
        let path = format!("/v1/payments/by-key/{}", row.idempotency_key);
        let (status, body) = self.send_fresh("GET", &path, String::new()).await?;
        if status == 404 && problem_kind(&body) == "unknown-payment" {
            return Ok(Found::NotFound);
        }
        Ok(Found::Payment(Box::new(decode_verified(status, &body)?)))
    }

    /// Signs and sends a request that is not a payment (registration, a status query). If
    /// the platform says the timestamp is out of range — the first call of a phone whose clock
    /// is off, before any signed answer told it the platform's time — that signed refusal
    /// taught the client the time: signed again and sent once more.
    async fn send_fresh(
        &self,
        method: &str,
        path: &str,
        body: String,
    ) -> Result<(u16, Vec<u8>), PayError> {
        let mut again = true;
        loop {
            let (req, _) = self.signed(method, path.into(), body.clone(), "").await?;
            let (status, bytes) = self.client.send_prepared(&req, PAYMENT_LIMIT).await?;
            if again && status == 401 && problem_kind(&bytes) == "stale-timestamp" {
                again = false;
                continue;
            }
            return Ok((status, bytes));
        }
    }

    /// Re-signs a stored payment: same key, same body, a new nonce and timestamp (the old
    /// signature has gone stale); stored before it is sent.
    async fn resign(&self, row: &mut PaymentRow) -> Result<(), PayError> {
        let old: PreparedRequest = serde_json::from_slice(row.request.as_bytes())
            .map_err(|e| StoreError::Corrupt(format!("stored request: {e}")))?;
        let (req, ts) = self
            .signed(&old.method, old.path, old.body, &row.idempotency_key)
            .await?;
        let json = serde_json::to_string(&req).map_err(|e| PayError::Invalid(e.to_string()))?;
        self.store
            .replace_request(&row.payment_id, &json, ts, self.clock.now_unix())?;
        row.request = json;
        row.request_timestamp = ts;
        Ok(())
    }

    /// Signs a built request (method, path, nonce, body) exactly as `confirm` does: its v2
    /// digest, the device canonical string, the signature, the headers. Public for the
    /// signing benchmark; apps pay with `confirm`.
    pub async fn sign_request(
        &self,
        req: PreparedRequest,
        key: &str,
    ) -> Result<(PreparedRequest, i64), PayError> {
        let mut req = req;
        let digest = self.client.prepared_digest(&req);
        let ts = self.client.platform_now();
        let message = device_canonical(&digest, key, &self.device_id, ts).into_bytes();
        // A host's signer is checked before its signature is used (a keystore returning
        // garbage must fail here, not as a refused payment); billtap's own ring signer is not.
        let check = (!self.software_key).then(|| message.clone());
        let signature = self.signer.sign(message).await?;
        if let Some(message) = check
            && !verify_device_signature(&self.public_key, &message, &signature)
        {
            return Err(SignerError::Failed {
                reason:
                    "the signer returned a signature that does not verify with its own public key"
                        .into(),
            }
            .into());
        }
        let mut headers = Vec::with_capacity(4);
        headers.push((DEVICE_HEADER.to_string(), self.device_id.clone()));
        headers.push((DEVICE_TIMESTAMP_HEADER.to_string(), ts.to_string()));
        headers.push((DEVICE_SIGNATURE_HEADER.to_string(), B64.encode(signature)));
        if !key.is_empty() {
            headers.push((IDEMPOTENCY_HEADER.to_string(), key.to_string()));
        }
        req.headers = headers;
        Ok((req, ts))
    }

    /// A new request signed by the device (a fresh nonce; see `sign_request`).
    async fn signed(
        &self,
        method: &str,
        path: String,
        body: String,
        key: &str,
    ) -> Result<(PreparedRequest, i64), PayError> {
        let req = PreparedRequest {
            method: method.into(),
            path,
            nonce: new_nonce().map_err(PlatformError::from)?,
            headers: Vec::new(),
            body,
        };
        self.sign_request(req, key).await
    }
}

/// The exit-relevant kind of a pay error: not paid (refused, untrusted, unreachable before
/// anything was stored) or bad input.
pub fn is_bad_input(e: &PayError) -> bool {
    match e {
        PayError::Invalid(_) => true,
        PayError::Platform(p) => p.kind() == FailureKind::Config,
        _ => false,
    }
}
