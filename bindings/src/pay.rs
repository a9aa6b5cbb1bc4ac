//! Payments for the host: the failures a payment screen reacts to, and billtap's software key
//! for hosts without a hardware one (desktop, kiosks, tests). Quotes, payment records and the
//! device are core's own types.

use std::sync::Arc;

use billtap_core::pay::{PayError, SoftwareSigner};
use billtap_core::platform::UntrustedReason;
use billtap_core::ports::SignerError;
use billtap_core::store::StoreError;

use crate::platform::PlatformError;

/// Why a payment step failed. Once `confirm_payment` has stored a payment, its outcome is in
/// the returned record's `state` (succeeded, failed, unknown), never lost in an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PaymentError {
    /// The platform could not be reached (nothing was sent or stored): retry later.
    #[error("{reason}")]
    Unreachable {
        /// What to tell the user.
        reason: String,
    },
    /// A platform answer was refused as untrusted (nothing was shown or paid).
    #[error("{reason}")]
    Untrusted {
        /// Machine-readable cause.
        code: UntrustedReason,
        /// What to tell the user.
        reason: String,
    },
    /// A signed answer this version cannot read: update the app.
    #[error("{reason}")]
    Incompatible {
        /// What to tell the user.
        reason: String,
    },
    /// The platform refused (bill paid, amount outside the biller's rules, unknown bill…).
    #[error("{reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable problem kind (`bill-paid`, `validation`, …).
        kind: String,
        /// What to tell the user.
        reason: String,
    },
    /// The user cancelled the biometric or PIN prompt: nothing was signed, stored or sent.
    #[error("{reason}")]
    Cancelled {
        /// What to tell the user.
        reason: String,
    },
    /// The device key is unavailable or signing failed: nothing was stored or sent.
    #[error("{reason}")]
    SignerFailed {
        /// What went wrong.
        reason: String,
    },
    /// The quote expired: prepare a new one.
    #[error("{reason}")]
    QuoteExpired {
        /// What to tell the user.
        reason: String,
    },
    /// A payment for this bill is still being settled: wait for it (`resume_pending`).
    #[error("{reason}")]
    InFlight {
        /// The bill.
        bill_id: String,
        /// What to tell the user.
        reason: String,
    },
    /// The card left the field or did not answer (top-up): tap it again; whatever the load
    /// was doing is kept and settled at that tap.
    #[error("{reason}")]
    CardLost {
        /// What to tell the user.
        reason: String,
    },
    /// The card refused or answered nonsense (top-up): not a card billtap can load.
    #[error("{reason}")]
    Card {
        /// What to tell the user.
        reason: String,
    },
    /// The store failed (disk full, a damaged file).
    #[error("{reason}")]
    Store {
        /// What went wrong.
        reason: String,
    },
    /// Bad input or configuration (no funding account, an amount in another currency…).
    #[error("{reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
}

/// A platform failure as a payment screen sees it: the one mapping of core's failure kinds
/// (`platform.rs`), carried over variant by variant.
impl From<PlatformError> for PaymentError {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::Unreachable { reason } => PaymentError::Unreachable { reason },
            PlatformError::Untrusted { code, reason } => PaymentError::Untrusted { code, reason },
            PlatformError::Incompatible { reason } => PaymentError::Incompatible { reason },
            PlatformError::Refused {
                status,
                kind,
                reason,
                ..
            } => PaymentError::Refused {
                status,
                kind,
                reason,
            },
            PlatformError::Invalid { reason } => PaymentError::Invalid { reason },
        }
    }
}

impl From<PayError> for PaymentError {
    fn from(e: PayError) -> Self {
        let reason = e.to_string();
        match e {
            PayError::Platform(p) => PlatformError::from(p).into(),
            PayError::Signer(SignerError::Cancelled) => PaymentError::Cancelled { reason },
            PayError::Signer(_) => PaymentError::SignerFailed { reason },
            PayError::QuoteExpired => PaymentError::QuoteExpired { reason },
            PayError::Store(StoreError::InFlight { bill_id }) => {
                PaymentError::InFlight { bill_id, reason }
            }
            PayError::Store(_) => PaymentError::Store { reason },
            PayError::Invalid(_) => PaymentError::Invalid { reason },
            PayError::Card(billtap_core::topup::TopupError::Transport(_)) => {
                PaymentError::CardLost { reason }
            }
            PayError::Card(_) => PaymentError::Card { reason },
        }
    }
}

/// billtap's software P-256 key, for hosts without a hardware keystore (and tests that wrap
/// it, as the Swift tests on Linux do: no Secure Enclave or CryptoKit there). Phones use
/// Android Keystore / the Secure Enclave through their own `Signer`.
#[derive(Debug, uniffi::Object)]
pub struct SoftwareKey(SoftwareSigner);

#[uniffi::export]
impl SoftwareKey {
    /// A new random key (kept in memory only; zeroized when dropped).
    #[uniffi::constructor]
    pub fn generate() -> Result<Arc<Self>, PaymentError> {
        SoftwareSigner::generate()
            .map(|s| Arc::new(SoftwareKey(s)))
            .map_err(|e| PaymentError::SignerFailed {
                reason: e.to_string(),
            })
    }

    /// The public key, uncompressed SEC1 (65 bytes). (`Result` like every export, so Swift
    /// never calls it with `try!`.)
    pub fn public_key(&self) -> Result<Vec<u8>, PaymentError> {
        Ok(self.0.public_key_sec1())
    }

    /// Signs `message` (ECDSA P-256, SHA-256); the DER signature.
    pub fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PaymentError> {
        self.0
            .sign_now(&message)
            .map_err(|e| PaymentError::SignerFailed {
                reason: e.to_string(),
            })
    }
}

/// The QR text an outlet scans to hand over a paper invoice (`BTP1:INV…:CODE`); none unless
/// the invoice is for pick-up. Render it with `render_qr`.
#[uniffi::export]
pub fn pickup_qr_text(invoice: billtap_core::platform::api::Invoice) -> Option<String> {
    billtap_core::pay::pickup_qr_text(&invoice)
}
