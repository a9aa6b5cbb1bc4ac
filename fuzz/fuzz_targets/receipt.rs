//! What keep reads from outside: a receipt's COSE bytes (an import, a payment answer), a
//! scanned receipt code's text, kept invoice and saved-account records, and due dates.
#![no_main]
use billtap_core::dates::parse_day;
use billtap_core::platform::api::{Invoice, SavedAccountList};
use billtap_core::platform::decode_verified;
use billtap_core::receipts::{read_receipt, read_receipt_qr};
use billtap_core::store::amount_e4;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_receipt(data);
    let text = String::from_utf8_lossy(data);
    let _ = read_receipt_qr(&text);
    let _ = read_receipt_qr(&format!("BTR1:{text}"));
    let _ = parse_day(&text);
    let _ = amount_e4(&text);
    let _ = decode_verified::<Invoice>(200, data);
    let _ = decode_verified::<SavedAccountList>(200, data);
});
