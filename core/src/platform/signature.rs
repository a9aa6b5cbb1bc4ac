//! Response signatures, protocol v2: every signed response is bound to the request it answers.
//!
//! The client sends a fresh nonce with each request and computes a [`request_digest`] over
//! method, path and query, nonce and body. The platform signs [`canonical_string`]: status,
//! that request digest, its own request id and timestamp, the ETag and the SHA-256 of the
//! exact body bytes, with a key id alongside so keys can rotate without an app release. A
//! signed answer to one request can therefore never be served as the answer to another, and
//! freshness comes from the nonce, not from the phone's clock.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::ports::Clock;

/// Tolerance for a pinned key's expiry against the device clock (which may be off by hours).
pub const KEY_EXPIRY_GRACE_SECS: i64 = 86_400;

/// Why a platform response is not trusted. Never shown as data: the app shows an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The response carries no signature headers although it claims to be the platform's.
    #[error("the platform response is not signed; it was not shown")]
    Unsigned,
    /// A signature header is malformed.
    #[error("the platform response's signature header {header} is malformed")]
    Malformed {
        /// Which header.
        header: &'static str,
    },
    /// Signed with a key the app does not pin (rotated out, or not the platform).
    #[error(
        "the platform response is signed with unknown key {key_id:?}; update the app if this persists"
    )]
    UnknownKey {
        /// The key id the response named.
        key_id: String,
    },
    /// Signed with a pinned key whose pin has expired.
    #[error(
        "the platform response is signed with key {key_id:?}, whose pin expired; update the app"
    )]
    KeyExpired {
        /// The key id.
        key_id: String,
    },
    /// The signature does not match the response: forged or altered in transit.
    #[error("the platform response's signature does not match; it may have been altered")]
    BadSignature,
    /// A genuinely signed response, but to another request: replayed or swapped in transit.
    #[error(
        "the platform response answers another request (replayed or swapped in transit); it was not shown"
    )]
    NotForThisRequest,
    /// The response body is larger than this call allows; it was not read to the end.
    #[error("the platform response is larger than {limit} bytes; it was refused")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A pinned key from the configuration is not usable.
    #[error("pinned platform key {entry:?}: {reason}")]
    BadPinnedKey {
        /// The configuration entry, shortened.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A signing key could not be created or loaded.
    #[error("the signing key could not be used: {0}")]
    SigningKey(String),
}

impl TrustError {
    /// A stable machine-readable reason (`bad_signature`, `unknown_key`, `not_for_this_request`, …).
    pub fn code(&self) -> &'static str {
        match self {
            TrustError::Unsigned => "unsigned",
            TrustError::Malformed { .. } => "malformed",
            TrustError::UnknownKey { .. } => "unknown_key",
            TrustError::KeyExpired { .. } => "key_expired",
            TrustError::BadSignature => "bad_signature",
            TrustError::NotForThisRequest => "not_for_this_request",
            TrustError::TooLarge { .. } => "too_large",
            TrustError::BadPinnedKey { .. } => "bad_pinned_key",
            TrustError::SigningKey(_) => "signing_key",
        }
    }
}

/// Why a response was not trusted, as hosts act on it (the FFI's `PlatformError.Untrusted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum UntrustedReason {
    /// Not signed, but posing as the platform's answer.
    Unsigned,
    /// A signature header is malformed (or the app's own pins are).
    Malformed,
    /// Signed with a key the app does not pin.
    UnknownKey,
    /// Signed with a pinned key whose pin expired.
    KeyExpired,
    /// Forged or altered in transit.
    BadSignature,
    /// A genuine answer to another request: replayed or swapped.
    NotForThisRequest,
    /// Larger than the call allows; not read to the end.
    TooLarge,
}

impl TrustError {
    /// The reason a host acts on.
    pub fn reason(&self) -> UntrustedReason {
        match self {
            TrustError::Unsigned => UntrustedReason::Unsigned,
            TrustError::UnknownKey { .. } => UntrustedReason::UnknownKey,
            TrustError::KeyExpired { .. } => UntrustedReason::KeyExpired,
            TrustError::BadSignature => UntrustedReason::BadSignature,
            TrustError::NotForThisRequest => UntrustedReason::NotForThisRequest,
            TrustError::TooLarge { .. } => UntrustedReason::TooLarge,
            TrustError::Malformed { .. }
            | TrustError::BadPinnedKey { .. }
            | TrustError::SigningKey(_) => UntrustedReason::Malformed,
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// A fresh request nonce: 128 random bits, base64url without padding (22 characters).
pub fn new_nonce() -> Result<String, TrustError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| TrustError::SigningKey("no randomness for a request nonce".into()))?;
    Ok(B64URL.encode(bytes))
}

/// Whether a nonce has the documented shape: base64url, 22–86 characters (128–512 bits).
pub fn valid_nonce(nonce: &str) -> bool {
    (22..=86).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The request digest (hex SHA-256) the platform signs into its answer: method, path and query
/// exactly as sent, the nonce, and the SHA-256 of the body, one per line after a version tag.
pub fn request_digest(method: &str, path_and_query: &str, nonce: &str, body: &[u8]) -> String {
    let text = format!(
        "billtap-request-v2\n{}\n{path_and_query}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        sha256_hex(body)
    );
    sha256_hex(text.as_bytes())
}

/// The exact bytes the platform signs: a version tag, then status, the request digest, the
/// platform's request id and timestamp, the ETag (empty when none) and the hex SHA-256 of the
/// body, one per line.
pub fn canonical_string(
    status: u16,
    request_digest: &str,
    request_id: &str,
    timestamp: i64,
    etag: &str,
    body: &[u8],
) -> String {
    format!(
        "billtap-response-v2\n{status}\n{request_digest}\n{request_id}\n{timestamp}\n{etag}\n{}",
        sha256_hex(body)
    )
}

/// The signature headers of a response, as received or as produced by [`ResponseSigner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `Billtap-Key-Id`: which platform key signed.
    pub key_id: String,
    /// `Billtap-Timestamp`: Unix seconds when the platform signed (for display and receipts).
    pub timestamp: i64,
    /// `Billtap-Request-Id`: the platform's id for this request/response pair.
    pub request_id: String,
    /// `Billtap-Request-Digest`: the [`request_digest`] of the request this answers.
    pub request_digest: String,
    /// `Billtap-Signature`: base64 Ed25519 signature of [`canonical_string`].
    pub signature: String,
}

impl SignatureHeaders {
    /// Header names, in the order above.
    pub const NAMES: [&'static str; 5] = [
        "Billtap-Key-Id",
        "Billtap-Timestamp",
        "Billtap-Request-Id",
        "Billtap-Request-Digest",
        "Billtap-Signature",
    ];

    /// Reads the headers through a lookup function (case-insensitive names are the caller's
    /// job, as HTTP libraries already do it). No header at all: [`TrustError::Unsigned`].
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, TrustError> {
        let [k, t, r, d, s] = Self::NAMES;
        if Self::NAMES.iter().all(|n| get(n).is_none()) {
            return Err(TrustError::Unsigned);
        }
        let need = |name: &'static str| get(name).ok_or(TrustError::Malformed { header: name });
        let key_id = need(k)?.trim();
        let timestamp = need(t)?
            .trim()
            .parse::<i64>()
            .map_err(|_| TrustError::Malformed { header: t })?;
        let request_id = need(r)?.trim();
        let request_digest = need(d)?.trim();
        let signature = need(s)?.trim();
        if !valid_key_id(key_id) {
            return Err(TrustError::Malformed { header: k });
        }
        if request_id.is_empty() || request_id.len() > 128 {
            return Err(TrustError::Malformed { header: r });
        }
        if request_digest.len() != 64 || !request_digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TrustError::Malformed { header: d });
        }
        Ok(SignatureHeaders {
            key_id: key_id.into(),
            timestamp,
            request_id: request_id.into(),
            request_digest: request_digest.to_ascii_lowercase(),
            signature: signature.into(),
        })
    }

    /// The headers as name/value pairs, for a server to send.
    pub fn pairs(&self) -> [(&'static str, String); 5] {
        let [k, t, r, d, s] = Self::NAMES;
        [
            (k, self.key_id.clone()),
            (t, self.timestamp.to_string()),
            (r, self.request_id.clone()),
            (d, self.request_digest.clone()),
            (s, self.signature.clone()),
        ]
    }
}

/// Key ids: 1–64 of `[A-Za-z0-9._-]`, so they print, log and compare without surprises.
pub fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One pinned platform public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PinnedKey {
    /// Key id as sent in `Billtap-Key-Id`.
    pub id: String,
    /// Raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Unix seconds after which the pin is no longer trusted; `None`: no expiry.
    pub expires_at: Option<i64>,
}

impl fmt::Debug for PinnedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedKey({})", self.to_entry())
    }
}

impl PinnedKey {
    /// Parses `KEY_ID:BASE64[:EXPIRES]` (the form in the app configuration and `billtap
    /// sandbox` output); `EXPIRES` is Unix seconds.
    pub fn parse(entry: &str) -> Result<Self, TrustError> {
        let bad = |reason| TrustError::BadPinnedKey {
            entry: entry.chars().take(24).collect(),
            reason,
        };
        let mut parts = entry.trim().split(':');
        let (Some(id), Some(b64)) = (parts.next(), parts.next()) else {
            return Err(bad(
                "write it as KEY_ID:BASE64_ED25519_PUBLIC_KEY[:EXPIRES_UNIX]",
            ));
        };
        let expires_at = match parts.next() {
            None => None,
            Some(t) => Some(
                t.parse::<i64>()
                    .map_err(|_| bad("the expiry must be Unix seconds"))?,
            ),
        };
        if parts.next().is_some() {
            return Err(bad(
                "write it as KEY_ID:BASE64_ED25519_PUBLIC_KEY[:EXPIRES_UNIX]",
            ));
        }
        if !valid_key_id(id) {
            return Err(bad("the key id must be 1–64 of A-Z a-z 0-9 . _ -"));
        }
        let public_key = B64
            .decode(b64)
            .map_err(|_| bad("the public key is not base64"))?;
        if public_key.len() != 32 {
            return Err(bad("the public key is not 32 bytes of Ed25519"));
        }
        Ok(PinnedKey {
            id: id.into(),
            public_key,
            expires_at,
        })
    }

    /// The `KEY_ID:BASE64[:EXPIRES]` form.
    pub fn to_entry(&self) -> String {
        match self.expires_at {
            Some(t) => format!("{}:{}:{t}", self.id, B64.encode(&self.public_key)),
            None => format!("{}:{}", self.id, B64.encode(&self.public_key)),
        }
    }
}

/// What a verified response proved: who signed and when (platform time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key that signed.
    pub key_id: String,
    /// The platform's timestamp (Unix seconds).
    pub timestamp: i64,
    /// The platform's request id.
    pub request_id: String,
}

/// The set of keys the app trusts; more than one during a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedKeys(Vec<PinnedKey>);

impl PinnedKeys {
    /// Parses configuration entries; at least one is required, ids must be unique.
    pub fn parse(entries: &[String]) -> Result<Self, TrustError> {
        if entries.is_empty() {
            return Err(TrustError::BadPinnedKey {
                entry: String::new(),
                reason: "at least one pinned platform key is needed to verify responses",
            });
        }
        let keys = entries
            .iter()
            .map(|e| PinnedKey::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, k) in keys.iter().enumerate() {
            if keys.iter().skip(i + 1).any(|o| o.id == k.id) {
                return Err(TrustError::BadPinnedKey {
                    entry: k.id.clone(),
                    reason: "the key id is pinned twice; each id must name one key",
                });
            }
        }
        Ok(PinnedKeys(keys))
    }

    /// The pinned keys.
    pub fn keys(&self) -> &[PinnedKey] {
        &self.0
    }

    /// Verifies an Ed25519 signature by the pinned key `key_id` over bytes that carry their own
    /// purpose (a receipt's COSE `Sig_structure`); `signed_at` (platform time) must be within
    /// the key's pin.
    pub fn verify_bytes(
        &self,
        key_id: &str,
        message: &[u8],
        signature: &[u8],
        signed_at: i64,
    ) -> Result<(), TrustError> {
        let key = self
            .0
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| TrustError::UnknownKey {
                key_id: key_id.into(),
            })?;
        if key.expires_at.is_some_and(|expiry| signed_at > expiry) {
            return Err(TrustError::KeyExpired {
                key_id: key.id.clone(),
            });
        }
        UnparsedPublicKey::new(&ED25519, &key.public_key)
            .verify(message, signature)
            .map_err(|_| TrustError::BadSignature)
    }

    /// Verifies a response against the request it must answer: a pinned, unexpired key, the
    /// client's own request digest, and a valid signature over the exact status, ETag and body.
    pub fn verify(
        &self,
        expected_digest: &str,
        status: u16,
        etag: &str,
        body: &[u8],
        headers: &SignatureHeaders,
        clock: &dyn Clock,
    ) -> Result<Verified, TrustError> {
        let key = self
            .0
            .iter()
            .find(|k| k.id == headers.key_id)
            .ok_or_else(|| TrustError::UnknownKey {
                key_id: headers.key_id.clone(),
            })?;
        if let Some(expiry) = key.expires_at
            && (headers.timestamp > expiry
                || clock.now_unix() > expiry.saturating_add(KEY_EXPIRY_GRACE_SECS))
        {
            return Err(TrustError::KeyExpired {
                key_id: key.id.clone(),
            });
        }
        let signature = B64
            .decode(&headers.signature)
            .map_err(|_| TrustError::Malformed {
                header: "Billtap-Signature",
            })?;
        let message = canonical_string(
            status,
            &headers.request_digest,
            &headers.request_id,
            headers.timestamp,
            etag,
            body,
        );
        UnparsedPublicKey::new(&ED25519, &key.public_key)
            .verify(message.as_bytes(), &signature)
            .map_err(|_| TrustError::BadSignature)?;
        // Checked after the signature so that a forged digest header is a bad signature, and
        // a genuine answer to another request is named as what it is.
        if !headers.request_digest.eq_ignore_ascii_case(expected_digest) {
            return Err(TrustError::NotForThisRequest);
        }
        Ok(Verified {
            key_id: headers.key_id.clone(),
            timestamp: headers.timestamp,
            request_id: headers.request_id.clone(),
        })
    }
}

/// The platform's (and the sandbox's) signing key.
pub struct ResponseSigner {
    key_id: String,
    pair: Ed25519KeyPair,
}

impl fmt::Debug for ResponseSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key.
        write!(f, "ResponseSigner({})", self.pinned().to_entry())
    }
}

impl ResponseSigner {
    /// Generates a fresh key (the sandbox does this at start unless given a key).
    pub fn generate(key_id: &str) -> Result<Self, TrustError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Zeroizing::new(
            Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|e| TrustError::SigningKey(e.to_string()))?
                .as_ref()
                .to_vec(),
        );
        Self::from_pkcs8(key_id, &pkcs8)
    }

    /// Loads a PKCS#8 v2 Ed25519 key.
    pub fn from_pkcs8(key_id: &str, pkcs8: &[u8]) -> Result<Self, TrustError> {
        if !valid_key_id(key_id) {
            return Err(TrustError::SigningKey(
                "the key id must be 1–64 of A-Z a-z 0-9 . _ -".into(),
            ));
        }
        let pair =
            Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| TrustError::SigningKey(e.to_string()))?;
        Ok(ResponseSigner {
            key_id: key_id.into(),
            pair,
        })
    }

    /// The public half, to pin in apps.
    pub fn pinned(&self) -> PinnedKey {
        PinnedKey {
            id: self.key_id.clone(),
            public_key: self.pair.public_key().as_ref().to_vec(),
            expires_at: None,
        }
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The same key under another id.
    pub fn renamed(mut self, key_id: &str) -> Result<Self, TrustError> {
        if !valid_key_id(key_id) {
            return Err(TrustError::SigningKey(
                "the key id must be 1–64 of A-Z a-z 0-9 . _ -".into(),
            ));
        }
        self.key_id = key_id.into();
        Ok(self)
    }

    /// Signs bytes that carry their own purpose (a receipt's COSE `Sig_structure`, whose
    /// external data names it): the raw Ed25519 signature.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// Signs a response to the request with this digest.
    pub fn sign(
        &self,
        status: u16,
        request_digest: &str,
        request_id: &str,
        timestamp: i64,
        etag: &str,
        body: &[u8],
    ) -> SignatureHeaders {
        let message = canonical_string(status, request_digest, request_id, timestamp, etag, body);
        SignatureHeaders {
            key_id: self.key_id.clone(),
            timestamp,
            request_id: request_id.into(),
            request_digest: request_digest.into(),
            signature: B64.encode(self.pair.sign(message.as_bytes()).as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct At(i64);
    impl Clock for At {
        fn now_unix(&self) -> i64 {
            self.0
        }
    }

    const NOW: i64 = 1_795_000_000;
    const BODY: &[u8] = r#"{"biller":{"id":"BJ-WATER-001","name":"北京市自来水集团"}}"#.as_bytes();

    fn digest(path: &str) -> String {
        request_digest("GET", path, "AAAAAAAAAAAAAAAAAAAAAA", b"")
    }

    #[test]
    fn signed_responses_verify_and_any_change_is_refused() {
        let signer = ResponseSigner::generate("k2026a").unwrap();
        let keys = PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        let d = digest("/v1/billers/BJ-WATER-001");
        let h = signer.sign(200, &d, "req-1", NOW - 5, "", BODY);
        let v = keys.verify(&d, 200, "", BODY, &h, &At(NOW)).unwrap();
        assert_eq!((v.timestamp, v.key_id.as_str()), (NOW - 5, "k2026a"));
        let mut tampered = BODY.to_vec();
        tampered[20] ^= 1;
        let bad = |status, etag, body: &[u8], h: &SignatureHeaders| {
            keys.verify(&d, status, etag, body, h, &At(NOW))
        };
        assert_eq!(bad(200, "", &tampered, &h), Err(TrustError::BadSignature));
        assert_eq!(bad(404, "", BODY, &h), Err(TrustError::BadSignature));
        assert_eq!(bad(200, "\"e1\"", BODY, &h), Err(TrustError::BadSignature));
        let other_id = SignatureHeaders {
            request_id: "req-2".into(),
            ..h.clone()
        };
        assert_eq!(bad(200, "", BODY, &other_id), Err(TrustError::BadSignature));
        // A different key claiming the pinned key id is a forgery.
        let forger = ResponseSigner::generate("k2026a").unwrap();
        let forged = forger.sign(200, &d, "req-1", NOW, "", BODY);
        assert_eq!(bad(200, "", BODY, &forged), Err(TrustError::BadSignature));
    }

    #[test]
    fn a_genuine_answer_to_another_request_is_refused_as_such() {
        let signer = ResponseSigner::generate("k1").unwrap();
        let keys = PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        let asked = digest("/v1/billers?q=%E6%B0%B4");
        let other = digest("/v1/billers?q=%E7%94%B5");
        let answer_to_other = signer.sign(200, &other, "r", NOW, "", BODY);
        assert_eq!(
            keys.verify(&asked, 200, "", BODY, &answer_to_other, &At(NOW)),
            Err(TrustError::NotForThisRequest)
        );
        // Rewriting the digest header to the asked one breaks the signature instead.
        let rewritten = SignatureHeaders {
            request_digest: asked.clone(),
            ..answer_to_other
        };
        assert_eq!(
            keys.verify(&asked, 200, "", BODY, &rewritten, &At(NOW)),
            Err(TrustError::BadSignature)
        );
        // Every part of the request is in the digest.
        let n = "AAAAAAAAAAAAAAAAAAAAAA";
        let base = request_digest("POST", "/v1/bills/lookup", n, b"{}");
        for other in [
            request_digest("GET", "/v1/bills/lookup", n, b"{}"),
            request_digest("POST", "/v1/payees/resolve", n, b"{}"),
            request_digest("POST", "/v1/bills/lookup", "BAAAAAAAAAAAAAAAAAAAAA", b"{}"),
            request_digest("POST", "/v1/bills/lookup", n, b"{ }"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn the_device_clock_does_not_matter_but_pin_expiry_does() {
        let signer = ResponseSigner::generate("k1").unwrap();
        let keys = PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        let d = digest("/v1/catalog");
        // Platform time three hours (or a year) away from the device: still fine.
        for off in [-10_800, 10_800, 31_536_000] {
            let h = signer.sign(200, &d, "r", NOW + off, "", BODY);
            assert!(keys.verify(&d, 200, "", BODY, &h, &At(NOW)).is_ok());
        }
        let entry = format!("{}:{}", signer.pinned().to_entry(), NOW);
        let expiring = PinnedKeys::parse(&[entry]).unwrap();
        let before = signer.sign(200, &d, "r", NOW - 10, "", BODY);
        assert!(
            expiring
                .verify(&d, 200, "", BODY, &before, &At(NOW))
                .is_ok()
        );
        let after = signer.sign(200, &d, "r", NOW + 10, "", BODY);
        let expired = Err(TrustError::KeyExpired {
            key_id: "k1".into(),
        });
        assert_eq!(
            expiring.verify(&d, 200, "", BODY, &after, &At(NOW)),
            expired
        );
        // An old timestamp does not revive an expired pin once the device is past it too.
        let late = At(NOW + KEY_EXPIRY_GRACE_SECS + 1);
        assert_eq!(expiring.verify(&d, 200, "", BODY, &before, &late), expired);
    }

    #[test]
    fn rotation_by_key_id() {
        let old = ResponseSigner::generate("2025").unwrap();
        let new = ResponseSigner::generate("2026").unwrap();
        let d = digest("/v1/catalog");
        let during =
            PinnedKeys::parse(&[new.pinned().to_entry(), old.pinned().to_entry()]).unwrap();
        for s in [&old, &new] {
            let h = s.sign(200, &d, "r", NOW, "", BODY);
            assert!(during.verify(&d, 200, "", BODY, &h, &At(NOW)).is_ok());
        }
        let after = PinnedKeys::parse(&[new.pinned().to_entry()]).unwrap();
        let h = old.sign(200, &d, "r", NOW, "", BODY);
        assert_eq!(
            after.verify(&d, 200, "", BODY, &h, &At(NOW)),
            Err(TrustError::UnknownKey {
                key_id: "2025".into()
            })
        );
    }

    #[test]
    fn headers_and_pinned_keys_are_checked() {
        assert_eq!(
            SignatureHeaders::from_lookup(|_| None),
            Err(TrustError::Unsigned)
        );
        let d = digest("/");
        let bad_ts = |n: &str| {
            Some(match n {
                "Billtap-Timestamp" => "yesterday",
                "Billtap-Request-Digest" => d.as_str(),
                _ => "x",
            })
        };
        assert_eq!(
            SignatureHeaders::from_lookup(bad_ts),
            Err(TrustError::Malformed {
                header: "Billtap-Timestamp"
            })
        );
        let k = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        for bad in [
            String::new(),
            "nokey".into(),
            "id:!!!".into(),
            "id:AAAA".into(),
            format!(":{k}"),
            format!("bad id:{k}"),
            format!("é:{k}"),
            format!("id:{k}:tomorrow"),
            format!("id:{k}:1:2"),
        ] {
            assert!(PinnedKey::parse(&bad).is_err(), "{bad}");
        }
        assert!(PinnedKey::parse(&format!("k.2026_a-1:{k}:1900000000")).is_ok());
        assert!(PinnedKeys::parse(&[]).is_err());
        let dup = PinnedKeys::parse(&[format!("k:{k}"), format!("k:{k}")]);
        assert!(
            matches!(dup, Err(TrustError::BadPinnedKey { .. })),
            "{dup:?}"
        );
        let signer = ResponseSigner::generate("k").unwrap();
        assert!(!format!("{signer:?}").contains("PRIVATE"));
        let h = signer.sign(200, &d, "r", NOW, "", BODY);
        let keys = PinnedKeys(vec![signer.pinned()]);
        let garbled = SignatureHeaders {
            signature: "not base64!".into(),
            ..h
        };
        assert_eq!(
            keys.verify(&d, 200, "", BODY, &garbled, &At(NOW)),
            Err(TrustError::Malformed {
                header: "Billtap-Signature"
            })
        );
        assert!(valid_nonce(&new_nonce().unwrap()));
        assert!(!valid_nonce("short") && !valid_nonce("AAAAAAAAAAAAAAAAAAAAA+"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::sync::LazyLock;

        static SIGNER: LazyLock<ResponseSigner> =
            LazyLock::new(|| ResponseSigner::generate("prop").unwrap());

        fn keys() -> PinnedKeys {
            PinnedKeys(vec![SIGNER.pinned()])
        }

        fn lookup(h: &SignatureHeaders) -> Result<SignatureHeaders, TrustError> {
            let pairs = h.pairs();
            SignatureHeaders::from_lookup(|n| {
                pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str())
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn any_signed_response_verifies_through_its_headers(
                status in 100u16..600,
                path in "/[a-z0-9/?=&%]{0,60}",
                request_id in "[A-Za-z0-9-]{1,64}",
                age in -1_000_000i64..=1_000_000,
                etag in "[\"a-z0-9]{0,20}",
                body in proptest::collection::vec(any::<u8>(), 0..2048),
            ) {
                let d = request_digest("GET", &path, "AAAAAAAAAAAAAAAAAAAAAA", b"");
                let h = SIGNER.sign(status, &d, &request_id, NOW - age, &etag, &body);
                let got = lookup(&h);
                prop_assert_eq!(got.as_ref(), Ok(&h));
                prop_assert!(keys().verify(&d, status, &etag, &body, &h, &At(NOW)).is_ok());
            }

            #[test]
            fn any_change_to_a_signed_part_is_refused(
                status in 100u16..600,
                body in proptest::collection::vec(any::<u8>(), 1..512),
                flip_at in any::<prop::sample::Index>(),
                bit in 0u8..8,
                other_status in 100u16..600,
                other_path in "/[a-z]{1,20}",
            ) {
                let d = digest("/v1/catalog");
                let h = SIGNER.sign(status, &d, "req", NOW, "", &body);
                let mut tampered = body.clone();
                if let Some(b) = tampered.get_mut(flip_at.index(body.len())) {
                    *b ^= 1 << bit;
                }
                prop_assert_eq!(keys().verify(&d, status, "", &tampered, &h, &At(NOW)), Err(TrustError::BadSignature));
                if other_status != status {
                    prop_assert_eq!(keys().verify(&d, other_status, "", &body, &h, &At(NOW)), Err(TrustError::BadSignature));
                }
                prop_assert_eq!(keys().verify(&digest(&other_path), status, "", &body, &h, &At(NOW)), Err(TrustError::NotForThisRequest));
            }

            #[test]
            fn arbitrary_header_values_never_panic(
                key_id in ".{0,80}", ts in ".{0,24}", request_id in ".{0,140}",
                digest_v in ".{0,80}", signature in ".{0,120}",
            ) {
                let got = SignatureHeaders::from_lookup(|n| match n {
                    "Billtap-Key-Id" => Some(key_id.as_str()),
                    "Billtap-Timestamp" => Some(ts.as_str()),
                    "Billtap-Request-Id" => Some(request_id.as_str()),
                    "Billtap-Request-Digest" => Some(digest_v.as_str()),
                    _ => Some(signature.as_str()),
                });
                if let Ok(h) = got {
                    prop_assert!(keys().verify(&digest("/"), 200, "", BODY, &h, &At(NOW)).is_err());
                }
            }
        }
    }
}
