//! Platform: talking to the bank's bill-payment platform (`docs/api/openapi.yaml`).
//!
//! The trust layer, protocol v2: every request carries a fresh nonce; every platform response
//! is signed (Ed25519) over a canonical string that binds it to that request's digest, with
//! status, platform timestamp, ETag and body hash; the app pins the platform's public keys and
//! refuses anything unsigned, forged, or answering another request (docs/decisions/0006).

pub mod api;
mod client;
mod signature;
#[cfg(feature = "reqwest")]
mod tls;
#[cfg(feature = "reqwest")]
mod transport;
mod warnings;

pub use client::{
    BillView, BillerQuery, FailureKind, PayeeAccount, PlatformClient, PlatformConfig,
    PlatformError, PreparedRequest, ResponseCache, accept_response, check_base_url,
    decode_verified, limits, mask_account,
};
#[cfg(feature = "reqwest")]
pub use transport::ReqwestTransport;

pub use signature::{
    KEY_EXPIRY_GRACE_SECS, PinnedKey, PinnedKeys, ResponseSigner, SignatureHeaders, TrustError,
    UntrustedReason, Verified, canonical_string, new_nonce, request_digest, valid_key_id,
    valid_nonce,
};
pub use warnings::{Lang, PayeeWarning, PayeeWarningCode, printed_name_matches};
