//! Response signatures: canonical string, signing (sandbox side) and verification against
//! pinned keys with key ids, so keys can rotate without an app release.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::ports::Clock;

/// A response older (or further in the future) than this is refused as stale.
pub const MAX_RESPONSE_AGE_SECS: i64 = 300;

/// Why a platform response is not trusted. Never shown as data: the app shows an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The response carries no signature headers.
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
    /// The signature does not match the response: forged or altered in transit.
    #[error("the platform response's signature does not match; it may have been altered")]
    BadSignature,
    /// The response is too old or from the future (replayed, or the device clock is wrong).
    #[error(
        "the platform response is {age_secs} s away from this device's clock (limit {MAX_RESPONSE_AGE_SECS} s); check the date and time"
    )]
    Stale {
        /// Seconds between the response's timestamp and now (negative: from the future).
        age_secs: i64,
    },
    /// A pinned key from the configuration is not usable.
    #[error("pinned platform key {entry:?} is not `KEY_ID:BASE64_ED25519_PUBLIC_KEY`")]
    BadPinnedKey {
        /// The configuration entry, shortened.
        entry: String,
    },
    /// A signing key could not be created or loaded.
    #[error("the signing key could not be used: {0}")]
    SigningKey(String),
}

/// The exact bytes that are signed: a version tag, then status, request id, timestamp and the
/// hex SHA-256 of the body, one per line.
pub fn canonical_string(status: u16, request_id: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    format!(
        "billtap-response-v1\n{status}\n{request_id}\n{timestamp}\n{}",
        hex::encode(digest.as_ref())
    )
}

/// The signature headers of a response, as received or as produced by [`ResponseSigner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `Billtap-Key-Id`: which platform key signed.
    pub key_id: String,
    /// `Billtap-Timestamp`: Unix seconds when the platform signed.
    pub timestamp: i64,
    /// `Billtap-Request-Id`: the platform's id for this request/response pair.
    pub request_id: String,
    /// `Billtap-Signature`: base64 Ed25519 signature of [`canonical_string`].
    pub signature: String,
}

impl SignatureHeaders {
    /// Header names, in the order above.
    pub const NAMES: [&'static str; 4] = [
        "Billtap-Key-Id",
        "Billtap-Timestamp",
        "Billtap-Request-Id",
        "Billtap-Signature",
    ];

    /// Reads the headers through a lookup function (case-insensitive names are the caller's
    /// job, as HTTP libraries already do it).
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, TrustError> {
        let [k, t, r, s] = Self::NAMES;
        let (Some(key_id), Some(ts), Some(request_id), Some(signature)) =
            (get(k), get(t), get(r), get(s))
        else {
            return Err(TrustError::Unsigned);
        };
        let timestamp = ts
            .trim()
            .parse::<i64>()
            .map_err(|_| TrustError::Malformed { header: t })?;
        if key_id.is_empty() || key_id.len() > 64 {
            return Err(TrustError::Malformed { header: k });
        }
        if request_id.is_empty() || request_id.len() > 128 {
            return Err(TrustError::Malformed { header: r });
        }
        Ok(SignatureHeaders {
            key_id: key_id.into(),
            timestamp,
            request_id: request_id.into(),
            signature: signature.trim().into(),
        })
    }
}

/// One pinned platform public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PinnedKey {
    /// Key id as sent in `Billtap-Key-Id`.
    pub id: String,
    /// Raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
}

impl fmt::Debug for PinnedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedKey({}:{})", self.id, B64.encode(&self.public_key))
    }
}

impl PinnedKey {
    /// Parses `KEY_ID:BASE64` (the form in the app configuration and `billtap sandbox` output).
    pub fn parse(entry: &str) -> Result<Self, TrustError> {
        let bad = || TrustError::BadPinnedKey {
            entry: entry.chars().take(24).collect(),
        };
        let (id, b64) = entry.trim().split_once(':').ok_or_else(bad)?;
        let public_key = B64.decode(b64).map_err(|_| bad())?;
        if id.is_empty() || public_key.len() != 32 {
            return Err(bad());
        }
        Ok(PinnedKey {
            id: id.into(),
            public_key,
        })
    }

    /// The `KEY_ID:BASE64` form.
    pub fn to_entry(&self) -> String {
        format!("{}:{}", self.id, B64.encode(&self.public_key))
    }
}

/// The set of keys the app trusts; more than one during a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedKeys(Vec<PinnedKey>);

impl PinnedKeys {
    /// Parses configuration entries; at least one is required.
    pub fn parse(entries: &[String]) -> Result<Self, TrustError> {
        if entries.is_empty() {
            return Err(TrustError::BadPinnedKey {
                entry: String::new(),
            });
        }
        entries
            .iter()
            .map(|e| PinnedKey::parse(e))
            .collect::<Result<Vec<_>, _>>()
            .map(PinnedKeys)
    }

    /// Verifies a response: known key, fresh timestamp, valid signature over the exact body.
    pub fn verify(
        &self,
        status: u16,
        body: &[u8],
        headers: &SignatureHeaders,
        clock: &dyn Clock,
    ) -> Result<(), TrustError> {
        let key = self
            .0
            .iter()
            .find(|k| k.id == headers.key_id)
            .ok_or_else(|| TrustError::UnknownKey {
                key_id: headers.key_id.clone(),
            })?;
        let age_secs = clock.now_unix().saturating_sub(headers.timestamp);
        if age_secs.abs() > MAX_RESPONSE_AGE_SECS {
            return Err(TrustError::Stale { age_secs });
        }
        let signature = B64
            .decode(&headers.signature)
            .map_err(|_| TrustError::Malformed {
                header: "Billtap-Signature",
            })?;
        let message = canonical_string(status, &headers.request_id, headers.timestamp, body);
        UnparsedPublicKey::new(&ED25519, &key.public_key)
            .verify(message.as_bytes(), &signature)
            .map_err(|_| TrustError::BadSignature)
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
        }
    }

    /// Signs a response.
    pub fn sign(
        &self,
        status: u16,
        request_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> SignatureHeaders {
        let message = canonical_string(status, request_id, timestamp, body);
        SignatureHeaders {
            key_id: self.key_id.clone(),
            timestamp,
            request_id: request_id.into(),
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

    #[test]
    fn signed_responses_verify_and_any_change_is_refused() {
        let signer = ResponseSigner::generate("k2026a").unwrap();
        let keys = PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        let h = signer.sign(200, "req-1", NOW - 5, BODY);
        keys.verify(200, BODY, &h, &At(NOW)).unwrap();
        // Body, status and request id are all covered.
        let mut tampered = BODY.to_vec();
        tampered[20] ^= 1;
        assert_eq!(
            keys.verify(200, &tampered, &h, &At(NOW)),
            Err(TrustError::BadSignature)
        );
        assert_eq!(
            keys.verify(404, BODY, &h, &At(NOW)),
            Err(TrustError::BadSignature)
        );
        let other_request = SignatureHeaders {
            request_id: "req-2".into(),
            ..h.clone()
        };
        assert_eq!(
            keys.verify(200, BODY, &other_request, &At(NOW)),
            Err(TrustError::BadSignature)
        );
        // A different key claiming the pinned key id is a forgery.
        let forger = ResponseSigner::generate("k2026a").unwrap();
        assert_eq!(
            keys.verify(200, BODY, &forger.sign(200, "req-1", NOW, BODY), &At(NOW)),
            Err(TrustError::BadSignature)
        );
    }

    #[test]
    fn stale_and_future_responses_are_refused() {
        let signer = ResponseSigner::generate("k1").unwrap();
        let keys = PinnedKeys(vec![signer.pinned()]);
        let old = signer.sign(200, "r", NOW - 301, BODY);
        assert_eq!(
            keys.verify(200, BODY, &old, &At(NOW)),
            Err(TrustError::Stale { age_secs: 301 })
        );
        let future = signer.sign(200, "r", NOW + 400, BODY);
        assert_eq!(
            keys.verify(200, BODY, &future, &At(NOW)),
            Err(TrustError::Stale { age_secs: -400 })
        );
        keys.verify(200, BODY, &signer.sign(200, "r", NOW - 300, BODY), &At(NOW))
            .unwrap();
    }

    #[test]
    fn rotation_by_key_id() {
        let old = ResponseSigner::generate("2025").unwrap();
        let new = ResponseSigner::generate("2026").unwrap();
        let during =
            PinnedKeys::parse(&[new.pinned().to_entry(), old.pinned().to_entry()]).unwrap();
        during
            .verify(200, BODY, &old.sign(200, "r", NOW, BODY), &At(NOW))
            .unwrap();
        during
            .verify(200, BODY, &new.sign(200, "r", NOW, BODY), &At(NOW))
            .unwrap();
        let after = PinnedKeys::parse(&[new.pinned().to_entry()]).unwrap();
        assert_eq!(
            after.verify(200, BODY, &old.sign(200, "r", NOW, BODY), &At(NOW)),
            Err(TrustError::UnknownKey {
                key_id: "2025".into()
            })
        );
    }

    #[test]
    fn headers_and_pinned_keys_are_checked() {
        let none = |_: &str| None;
        assert_eq!(
            SignatureHeaders::from_lookup(none),
            Err(TrustError::Unsigned)
        );
        let bad_ts = |n: &str| {
            Some(if n == "Billtap-Timestamp" {
                "yesterday"
            } else {
                "x"
            })
        };
        assert_eq!(
            SignatureHeaders::from_lookup(bad_ts),
            Err(TrustError::Malformed {
                header: "Billtap-Timestamp"
            })
        );
        for bad in [
            "",
            "nokey",
            "id:!!!",
            "id:AAAA",
            ":AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert!(PinnedKey::parse(bad).is_err(), "{bad}");
        }
        assert!(PinnedKeys::parse(&[]).is_err());
        let signer = ResponseSigner::generate("k").unwrap();
        assert!(!format!("{signer:?}").contains("PRIVATE"));
        let h = signer.sign(200, "r", NOW, BODY);
        let keys = PinnedKeys(vec![signer.pinned()]);
        let garbled = SignatureHeaders {
            signature: "not base64!".into(),
            ..h
        };
        assert_eq!(
            keys.verify(200, BODY, &garbled, &At(NOW)),
            Err(TrustError::Malformed {
                header: "Billtap-Signature"
            })
        );
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

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn any_signed_response_within_the_window_verifies(
                status in 100u16..600,
                request_id in "[A-Za-z0-9-]{1,64}",
                age in -300i64..=300,
                body in proptest::collection::vec(any::<u8>(), 0..2048),
            ) {
                let h = SIGNER.sign(status, &request_id, NOW - age, &body);
                prop_assert_eq!(keys().verify(status, &body, &h, &At(NOW)), Ok(()));
                // Through the header lookup a client uses, too.
                let ts = h.timestamp.to_string();
                let got = SignatureHeaders::from_lookup(|n| match n {
                    "Billtap-Key-Id" => Some(h.key_id.as_str()),
                    "Billtap-Timestamp" => Some(ts.as_str()),
                    "Billtap-Request-Id" => Some(h.request_id.as_str()),
                    "Billtap-Signature" => Some(h.signature.as_str()),
                    _ => None,
                });
                prop_assert_eq!(got.as_ref(), Ok(&h));
            }

            #[test]
            fn any_change_to_a_signed_part_is_refused(
                status in 100u16..600,
                body in proptest::collection::vec(any::<u8>(), 1..512),
                flip_at in any::<prop::sample::Index>(),
                bit in 0u8..8,
                other_status in 100u16..600,
            ) {
                let h = SIGNER.sign(status, "req", NOW, &body);
                let mut tampered = body.clone();
                if let Some(b) = tampered.get_mut(flip_at.index(body.len())) {
                    *b ^= 1 << bit;
                }
                prop_assert_eq!(keys().verify(status, &tampered, &h, &At(NOW)), Err(TrustError::BadSignature));
                if other_status != status {
                    prop_assert_eq!(keys().verify(other_status, &body, &h, &At(NOW)), Err(TrustError::BadSignature));
                }
            }

            #[test]
            fn outside_the_window_is_stale_whatever_the_signature(
                age in prop_oneof![301i64..1_000_000, -1_000_000i64..-300],
            ) {
                let h = SIGNER.sign(200, "req", NOW - age, BODY);
                prop_assert_eq!(keys().verify(200, BODY, &h, &At(NOW)), Err(TrustError::Stale { age_secs: age }));
            }

            #[test]
            fn arbitrary_header_values_never_panic(
                key_id in ".{0,80}", ts in ".{0,24}", request_id in ".{0,140}", signature in ".{0,120}",
            ) {
                let got = SignatureHeaders::from_lookup(|n| match n {
                    "Billtap-Key-Id" => Some(key_id.as_str()),
                    "Billtap-Timestamp" => Some(ts.as_str()),
                    "Billtap-Request-Id" => Some(request_id.as_str()),
                    _ => Some(signature.as_str()),
                });
                if let Ok(h) = got {
                    prop_assert!(keys().verify(200, BODY, &h, &At(NOW)).is_err());
                }
            }
        }
    }
}
