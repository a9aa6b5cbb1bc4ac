//! What the platform client does with a response before the app sees it (signature headers,
//! verification, typed bodies, problem documents), on a fuzzed status, headers and body.
//! When the first byte is odd the body is signed with the pinned key, so the body decoders
//! see every input instead of stopping at the signature check.
#![no_main]
use std::sync::LazyLock;

use billtap_core::platform::{PinnedKeys, ResponseSigner, accept_response, api, request_digest};
use billtap_core::ports::Clock;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

struct Fixed;
impl Clock for Fixed {
    fn now_unix(&self) -> i64 {
        NOW
    }
}

static SIGNER: LazyLock<Option<(ResponseSigner, PinnedKeys)>> = LazyLock::new(|| {
    let signer = ResponseSigner::generate("fuzz-1").ok()?;
    let keys = PinnedKeys::parse(&[signer.pinned().to_entry()]).ok()?;
    Some((signer, keys))
});

fuzz_target!(|data: &[u8]| {
    let Some((signer, keys)) = SIGNER.as_ref() else { return };
    let [flags, s0, s1, rest @ ..] = data else { return };
    let status = u16::from_be_bytes([*s0, *s1]);
    let (head, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mut headers: Vec<(String, String)> = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let digest = request_digest("GET", "/v1/fuzz", "AAAAAAAAAAAAAAAAAAAAAA", b"");
    if flags & 1 == 1 {
        // Signed over this request's digest, or (flag bit 1) over another request's.
        let ts = NOW + i64::from(*flags >> 2) * 7 - 400;
        let over = if flags & 2 == 2 {
            request_digest("GET", "/v1/other", "AAAAAAAAAAAAAAAAAAAAAA", b"")
        } else {
            digest.clone()
        };
        let sig = signer.sign(status, &over, "req-fuzz", ts, "", body);
        headers = sig.pairs().into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
    }
    let get = |name: &str| {
        let name = name.to_ascii_lowercase();
        headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    };
    let _ = accept_response::<api::Catalog>(keys, &Fixed, &digest, status, get, body);
    let _ = accept_response::<api::BillerPage>(keys, &Fixed, &digest, status, get, body);
    let _ = accept_response::<api::Biller>(keys, &Fixed, &digest, status, get, body);
    let _ = accept_response::<api::LookupResult>(keys, &Fixed, &digest, status, get, body);
    let _ = accept_response::<api::Bill>(keys, &Fixed, &digest, status, get, body);
    let _ = accept_response::<api::Resolution>(keys, &Fixed, &digest, status, get, body);
});
