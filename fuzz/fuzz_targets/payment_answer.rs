//! What a payment reads from outside: a platform's payment, quote or device answer (after the
//! signature check, a typed body or refusal), a host signer's public key and signature.
#![no_main]
use billtap_core::pay::{normalize_public_key, verify_device_signature};
use billtap_core::platform::api::{Payment, Quote, RegisteredDevice};
use billtap_core::platform::decode_verified;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = u16::from(data.first().copied().unwrap_or(0)) + 150;
    let body = data.get(1..).unwrap_or_default();
    let _ = decode_verified::<Payment>(status, body);
    let _ = decode_verified::<Quote>(status, body);
    let _ = decode_verified::<RegisteredDevice>(status, body);
    if let Some(key) = normalize_public_key(body) {
        let _ = verify_device_signature(&key, b"billtap-device-v1", body);
    }
    let _ = verify_device_signature(body, body, body);
});
