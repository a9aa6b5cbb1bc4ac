//! Scan: QR payload bytes → one typed [`Scanned`] result, and camera frames → codes.
//!
//! Parsing never panics on input: every failure is a [`ScanError`] naming the format and what
//! is wrong, in words a person can act on.

mod binarize;
mod checks;
mod einvoice;
mod emv;
mod epc;
mod frame;
mod gost;
mod render;
mod report;
mod spayd;
mod swiss;
#[cfg(feature = "synth")]
pub mod synth;
mod text;
mod types;
mod upi;
mod wallet;

pub use checks::{iban_is_valid, iso11649_is_valid, qr_reference_is_valid};
pub use einvoice::EInvoice;
pub use emv::{
    AdditionalData, BILLTAP_BILL_GUID, BilltapBill, EmvMerchant, EmvWriter, MerchantAccount,
    NationalProfile, TipRule, crc16_ccitt_false,
};
pub use epc::EpcTransfer;
pub use frame::{
    DecodedCode, Engine, Frame, LumaFrame, Point, Region, ScanOptions, scan_frame, scan_frame_with,
};
pub use gost::GostPayment;
pub use render::{QrImage, render_matrix, render_png_luma, render_svg, render_terminal};
pub use report::PayloadReport;
pub use spayd::Spayd;
pub use swiss::{Swico, SwissAddress, SwissBill, SwissReference};
pub use text::{decode_text, eci_to_encoding};
pub use types::{
    BillReference, Detail, Format, Initiation, NamedValue, RefKind, ScanError, ScanProblem,
    Scanned, Warning, WarningCode,
};
pub use upi::UpiPayment;
pub use wallet::{WalletLink, WalletProvider};

/// Parses the bytes of one QR code into a typed payment payload.
///
/// `eci` is the ECI designator the decoder reported, if any (e.g. 26 = UTF-8, 29 = GB18030);
/// without it, text is read as UTF-8 and then as GB18030. This is the only entry point for
/// payload parsing: route by content, never panic.
pub fn parse_payload(bytes: &[u8], eci: Option<u32>) -> Result<Scanned, ScanError> {
    logged(route_bytes(bytes, eci))
}

/// Logs the outcome: formats and error codes only, never payload content (accounts, names).
fn logged(result: Result<Scanned, ScanError>) -> Result<Scanned, ScanError> {
    match &result {
        Ok(s) => tracing::debug!(
            format = s.format.as_str(),
            warnings = s.warnings.len(),
            "payload parsed"
        ),
        Err(e) => tracing::info!(
            format = e.format().as_str(),
            error = e.code(),
            "payload refused"
        ),
    }
    result
}

fn route_bytes(bytes: &[u8], eci: Option<u32>) -> Result<Scanned, ScanError> {
    // GOST R 56042 declares its own encoding (often Windows-1251) in its header, so it must see
    // the raw bytes before any generic text decoding guesses wrong.
    if bytes.starts_with(b"ST0001") {
        return gost::parse(bytes);
    }
    // EPC declares its character set (often ISO 8859-1) on its third line.
    if (bytes.starts_with(b"BCD\n") || bytes.starts_with(b"BCD\r\n"))
        && eci.is_none()
        && let Some(text) = epc::decode(bytes)
    {
        return route_text(&text);
    }
    let text = text::decode_text(bytes, eci)?;
    route_text(&text)
}

/// Parses already-decoded text (from a typed-in code or a decoder that returns strings).
pub fn parse_text(text: &str) -> Result<Scanned, ScanError> {
    logged(route_text(text))
}

fn route_text(text: &str) -> Result<Scanned, ScanError> {
    // Scanners and clipboards add a trailing newline or BOM; content never starts with spaces.
    let t = text
        .trim_start_matches('\u{feff}')
        .trim_end_matches(['\r', '\n', '\0']);
    if t.trim().is_empty() {
        return Err(ScanError::Empty);
    }
    if is_consumer_presented(t) {
        return Err(ScanError::ConsumerPresented);
    }
    if t.starts_with(crate::receipts::RECEIPT_QR_PREFIX) {
        return receipt(t);
    }
    if t.starts_with("SPC\n") || t.starts_with("SPC\r\n") {
        return swiss::parse(t);
    }
    if t.starts_with("BCD\n") || t.starts_with("BCD\r\n") {
        return epc::parse(t);
    }
    if t.starts_with("ST0001") {
        return gost::parse(t.as_bytes());
    }
    if t.starts_with("SPD*") {
        return spayd::parse(t);
    }
    let lower_prefix: String = t.chars().take(12).collect::<String>().to_ascii_lowercase();
    if lower_prefix.starts_with("upi://pay") {
        return upi::parse(t);
    }
    if let Some(found) = wallet::recognise(t) {
        return Ok(found);
    }
    if einvoice::looks_like(t) {
        return einvoice::parse(t);
    }
    if emv::looks_like(t) {
        return emv::parse(t);
    }
    Err(ScanError::NotPayment {
        preview: preview(t),
    })
}

/// EMV CPM codes are base64 of BER-TLV starting with tag 85 "CPV01"; the first 9 base64
/// characters are always `hQVDUFYwM`, the 10th depends on the next tag.
fn is_consumer_presented(t: &str) -> bool {
    use base64::Engine;
    if !t.starts_with("hQVDUFYwM") {
        return false;
    }
    let head: String = t.chars().take(12).collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(head.trim_end_matches('='))
        .is_ok_and(|b| b.starts_with(&[0x85, 0x05, b'C', b'P', b'V', b'0', b'1']))
}

/// A short, safe preview of unknown content for error messages.
fn preview(t: &str) -> String {
    let mut p: String = t.chars().take(32).filter(|c| !c.is_control()).collect();
    if t.chars().count() > 32 {
        p.push('…');
    }
    p
}

/// A receipt code: what it says, shown as unverified until the caller checks its signature
/// (`receipts::verify_receipt`) against the platform's pinned keys.
fn receipt(t: &str) -> Result<Scanned, ScanError> {
    let code = crate::receipts::read_receipt_qr(t)
        .map_err(|e| ScanError::malformed(Format::Receipt, e.to_string()))?;
    let b = &code.body;
    let currency = crate::money::Currency::from_alpha(&b.currency)
        .map_err(|e| ScanError::invalid(Format::Receipt, "currency", e.to_string()))?;
    let amount = crate::money::parse_display(&format!("{} {}", b.amount, b.currency))
        .map_err(|e| ScanError::invalid(Format::Receipt, "amount", e.to_string()))?;
    let mut references = vec![BillReference {
        kind: RefKind::PaymentId,
        value: b.payment_id.clone(),
    }];
    if let Some(bill) = &b.bill_id {
        references.push(BillReference {
            kind: RefKind::BillId,
            value: bill.clone(),
        });
    }
    Ok(Scanned {
        format: Format::Receipt,
        payable: false,
        payee_name: None,
        payee_name_local: Some(b.payee_name.clone()),
        payee_city: None,
        amount: Some(amount),
        currency: Some(currency),
        references,
        initiation: Initiation::Dynamic,
        warnings: vec![Warning::new(
            WarningCode::Unverified,
            "a payment receipt: check its signature against the platform's keys before trusting it",
        )],
        detail: Detail::Receipt(code),
    })
}
