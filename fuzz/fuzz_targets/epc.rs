//! The epc parser: its format prefix followed by fuzzed bytes, so every input reaches it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"BCD\n002\n1\nSCT\n".to_vec();
    bytes.extend_from_slice(data);
    let _ = billtap_core::scan::parse_payload(&bytes, None);
});
