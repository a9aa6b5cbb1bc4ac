//! The platform's failures as hosts act on them. The records (catalog, billers, bills, the
//! bill view) are core's own; only the error crosses in a boundary form, because core's
//! carries Rust-only detail and the host needs one variant per reaction.

use std::collections::HashMap;

use billtap_core::platform::{self as core_platform, UntrustedReason};

/// Why a platform call failed. Nothing from an untrusted response reaches the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The platform could not be reached: no network, timeout, or an intermediary (load
    /// balancer, captive portal) answered. Retry later; the offline catalog may be shown.
    #[error("{reason}")]
    Unreachable {
        /// What to tell the user.
        reason: String,
    },
    /// A response was refused (forged, replayed, unknown key, too large): never shown.
    #[error("{reason}")]
    Untrusted {
        /// Machine-readable cause (`cause` is taken by Kotlin's `Throwable`).
        code: UntrustedReason,
        /// What to tell the user.
        reason: String,
    },
    /// A genuinely signed answer this version cannot read: update the app.
    #[error("{reason}")]
    Incompatible {
        /// What to tell the user.
        reason: String,
    },
    /// The platform refused the request (unknown biller or account, invalid fields…).
    #[error("{reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable problem kind (`unknown-biller`, `unknown-account`, `validation`…).
        kind: String,
        /// What to tell the user.
        reason: String,
        /// Invalid lookup fields (key → message).
        fields: HashMap<String, String>,
    },
    /// Bad input from the host (an id or payload that cannot be sent, a bad configuration).
    #[error("{reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
}

impl From<core_platform::PlatformError> for PlatformError {
    fn from(e: core_platform::PlatformError) -> Self {
        use core_platform::{FailureKind, PlatformError as E};
        let reason = e.to_string();
        match (e.kind(), e) {
            (FailureKind::Unreachable, _) => PlatformError::Unreachable { reason },
            (FailureKind::Untrusted, E::Untrusted(t)) => PlatformError::Untrusted {
                code: t.reason(),
                reason,
            },
            (FailureKind::Incompatible, _) => PlatformError::Incompatible { reason },
            (
                FailureKind::Refused,
                E::Refused {
                    status,
                    kind,
                    fields,
                    ..
                },
            ) => PlatformError::Refused {
                status,
                kind,
                reason,
                fields: fields.into_iter().collect(),
            },
            _ => PlatformError::Invalid { reason },
        }
    }
}
