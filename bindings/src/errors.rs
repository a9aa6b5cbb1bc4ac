//! Public error enums, one per capability. Messages are for people; internal details (file
//! paths, payload content, account numbers) are scrubbed here at the boundary.

use billtap_core::scan as core_scan;

use billtap_core::scan::Format;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ConfigError {
    /// A setting is missing or malformed.
    #[error("{reason}")]
    Invalid {
        /// What to fix.
        reason: String,
    },
}

/// Why a scan, parse or render failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ScanError {
    /// The code is not a payment code (empty, unreadable text, or another kind of QR).
    #[error("{reason}")]
    NotAPayment {
        /// What the user should know.
        reason: String,
    },
    /// The code is a customer's own payment code, meant for a shop's till.
    #[error("{reason}")]
    CustomerCode {
        /// What the user should know.
        reason: String,
    },
    /// The code is a payment code but damaged, altered or incomplete: do not pay from it.
    #[error("{reason}")]
    Damaged {
        /// The format recognised.
        format: Format,
        /// Stable reason code: `checksum`, `malformed`, `missing_field`, `invalid_field`.
        code: String,
        /// What is wrong, for the user.
        reason: String,
    },
    /// The image or frame could not be read (bad size, stride, unsupported file).
    #[error("{reason}")]
    BadImage {
        /// What is wrong.
        reason: String,
    },
    /// A QR code could not be rendered.
    #[error("{reason}")]
    Render {
        /// What is wrong.
        reason: String,
    },
    /// Something failed inside billtap; report it.
    #[error("{reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
}

impl From<core_scan::ScanError> for ScanError {
    fn from(e: core_scan::ScanError) -> Self {
        use core_scan::ScanError as E;
        match &e {
            // The preview of unknown content stays out: it may be anything the user scanned.
            E::NotPayment { .. } => ScanError::NotAPayment {
                reason: "this QR code is not a payment code billtap knows".into(),
            },
            E::Empty | E::Undecodable => ScanError::NotAPayment {
                reason: e.to_string(),
            },
            E::ConsumerPresented => ScanError::CustomerCode {
                reason: e.to_string(),
            },
            E::Checksum { .. }
            | E::Malformed { .. }
            | E::MissingField { .. }
            | E::InvalidField { .. } => ScanError::Damaged {
                format: e.format(),
                code: e.code().into(),
                reason: e.to_string(),
            },
            E::BadFrame(_) => ScanError::BadImage {
                reason: e.to_string(),
            },
            E::Render(_) => ScanError::Render {
                reason: e.to_string(),
            },
        }
    }
}
