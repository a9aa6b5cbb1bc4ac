//! Platform: talking to the bank's bill-payment platform (`docs/api/openapi.yaml`).
//!
//! The trust layer: Every platform response is signed (Ed25519 over a canonical
//! string of status, request id, timestamp and the SHA-256 of the exact body bytes); the app
//! pins the platform's public keys and refuses anything unsigned, forged or stale.

pub mod api;
mod client;
mod signature;
mod tls;
mod warnings;

pub use client::{
    BillView, BillerQuery, PlatformClient, PlatformConfig, PlatformError, accept_response,
    decode_verified, verify_response,
};

pub use signature::{
    MAX_RESPONSE_AGE_SECS, PinnedKey, PinnedKeys, ResponseSigner, SignatureHeaders, TrustError,
    canonical_string,
};
pub use warnings::{Lang, PayeeWarning, PayeeWarningCode, printed_name_matches};
