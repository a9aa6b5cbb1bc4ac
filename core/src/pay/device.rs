//! The device's identity: its signing key (the host's hardware key through the `Signer` port,
//! or billtap's software key), the device-signed string, and its verification.

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use zeroize::Zeroizing;

use crate::ports::{Signer, SignerError};

/// Header naming the device that signed a request.
pub const DEVICE_HEADER: &str = "Billtap-Device";
/// Header with the device's timestamp (Unix seconds, platform time as the device knows it).
pub const DEVICE_TIMESTAMP_HEADER: &str = "Billtap-Device-Timestamp";
/// Header with the device's signature (base64 of the DER ECDSA signature).
pub const DEVICE_SIGNATURE_HEADER: &str = "Billtap-Device-Signature";
/// Header with the payment's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// How far a device timestamp may be from the platform's clock.
pub const DEVICE_SKEW_SECS: i64 = 300;

/// The X.509 `SubjectPublicKeyInfo` prefix of a P-256 key (id-ecPublicKey, prime256v1), before
/// its 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// What the device signs for a request: the protocol v2 request digest (method, path and
/// query, nonce, body hash — the body names payee account, bill, amount and currency), the
/// idempotency key, the device and its timestamp. Bound to all of them, it cannot be replayed
/// for another request, payment or device.
pub fn device_canonical(
    request_digest: &str,
    idempotency_key: &str,
    device_id: &str,
    timestamp: i64,
) -> String {
    format!("billtap-device-v1\n{request_digest}\n{idempotency_key}\n{device_id}\n{timestamp}")
}

/// The public key as an uncompressed SEC1 point (65 bytes), from that form or from a P-256
/// `SubjectPublicKeyInfo`; `None` for anything else.
pub fn normalize_public_key(key: &[u8]) -> Option<Vec<u8>> {
    let point = match key.len() {
        65 => key,
        91 => key.strip_prefix(&P256_SPKI_PREFIX[..])?,
        _ => return None,
    };
    (point.first() == Some(&0x04)).then(|| point.to_vec())
}

/// Whether `signature` (DER) is `message` signed by the P-256 key `public_key` (SEC1).
pub fn verify_device_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
        .verify(message, signature)
        .is_ok()
}

/// billtap's own device key for desktop, kiosks, the CLI and tests: ECDSA P-256 on `ring`,
/// its PKCS#8 kept in the store and zeroized in memory when dropped. Phones use their
/// hardware key instead (the `Signer` port).
pub struct SoftwareSigner {
    pkcs8: Zeroizing<Vec<u8>>,
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("SoftwareSigner(P-256)")
    }
}

impl SoftwareSigner {
    /// A new random key.
    pub fn generate() -> Result<Self, SignerError> {
        let rng = SystemRandom::new();
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|_| {
                SignerError::Unavailable {
                    reason: "the system random generator failed".into(),
                }
            })?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// The key stored earlier.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, SignerError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng).map_err(
            |_| SignerError::Unavailable {
                reason: "the stored device key is not a P-256 PKCS#8 key".into(),
            },
        )?;
        Ok(SoftwareSigner {
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            pair,
            rng,
        })
    }

    /// The PKCS#8 document, for the store.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key, uncompressed SEC1.
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// Signs synchronously (the software key needs no prompt).
    pub fn sign_now(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.pair
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignerError::Failed {
                reason: "ECDSA signing failed".into(),
            })
    }
}

#[async_trait::async_trait]
impl Signer for SoftwareSigner {
    fn public_key(&self) -> Result<Vec<u8>, SignerError> {
        Ok(self.public_key_sec1())
    }

    async fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, SignerError> {
        self.sign_now(&message)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn software_key_signs_what_the_verifier_accepts_and_nothing_else() {
        let s = SoftwareSigner::generate().unwrap();
        let again = SoftwareSigner::from_pkcs8(s.pkcs8()).unwrap();
        assert_eq!(s.public_key_sec1(), again.public_key_sec1());
        let msg = device_canonical("d1", "k1", "dev", 1_700_000_000);
        let sig = again.sign_now(msg.as_bytes()).unwrap();
        let pk = s.public_key_sec1();
        assert!(verify_device_signature(&pk, msg.as_bytes(), &sig));
        let other = device_canonical("d1", "k2", "dev", 1_700_000_000);
        assert!(!verify_device_signature(&pk, other.as_bytes(), &sig));
        assert_eq!(format!("{s:?}"), "SoftwareSigner(P-256)");
    }

    #[test]
    fn public_keys_are_read_in_both_host_forms() {
        let s = SoftwareSigner::generate().unwrap();
        let sec1 = s.public_key_sec1();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&sec1);
        assert_eq!(normalize_public_key(&sec1), Some(sec1.clone()));
        assert_eq!(normalize_public_key(&spki), Some(sec1.clone()));
        assert_eq!(normalize_public_key(&sec1[1..]), None);
        let mut rsa_like = spki.clone();
        rsa_like[5] = 0;
        assert_eq!(normalize_public_key(&rsa_like), None);
    }
}
