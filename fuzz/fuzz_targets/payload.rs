//! The payload router: any bytes, with or without an ECI, must give a result or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (eci, bytes) = match data.split_first() {
        Some((e, rest)) if *e < 40 => (Some(u32::from(*e)), rest),
        _ => (None, data),
    };
    let _ = billtap_core::scan::parse_payload(bytes, eci);
});
