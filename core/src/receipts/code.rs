//! The receipt as a QR code: the signed COSE bytes, zlib-compressed, in Base45 behind the
//! prefix `BTR1:` — all in QR alphanumeric mode, so a receipt fits one code a phone screen
//! shows at a counter (the EU digital COVID certificate's recipe).

use super::{MAX_RECEIPT_BYTES, ReceiptBody, ReceiptError, read_receipt};

/// The prefix of a receipt code (kind and version).
pub const RECEIPT_QR_PREFIX: &str = "BTR1:";

/// A receipt as a scanned code carries it: what it says, which key it names, the signed
/// bytes to verify. Unverified until checked against pinned keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ReceiptCode {
    /// What the receipt says (not yet verified).
    pub body: ReceiptBody,
    /// The platform key id it names.
    pub key_id: String,
    /// The COSE_Sign1 bytes, for verification.
    #[serde(skip)]
    pub cose: Vec<u8>,
}

/// The QR text of a receipt.
pub fn receipt_qr_text(cose: &[u8]) -> String {
    let packed = miniz_oxide::deflate::compress_to_vec_zlib(cose, 9);
    format!("{RECEIPT_QR_PREFIX}{}", base45::encode(packed))
}

/// Reads a receipt code's text (without verifying it).
pub fn read_receipt_qr(text: &str) -> Result<ReceiptCode, ReceiptError> {
    let payload = text
        .strip_prefix(RECEIPT_QR_PREFIX)
        .ok_or_else(|| ReceiptError::Malformed("not a receipt code".into()))?;
    if payload.len() > MAX_RECEIPT_BYTES * 2 {
        return Err(ReceiptError::TooLarge);
    }
    let packed =
        base45::decode(payload).map_err(|e| ReceiptError::Malformed(format!("Base45: {e:?}")))?;
    let cose = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&packed, MAX_RECEIPT_BYTES)
        .map_err(|_| {
            ReceiptError::Malformed("the compressed receipt is damaged or too large".into())
        })?;
    let (body, key_id) = read_receipt(&cose)?;
    Ok(ReceiptCode { body, key_id, cose })
}
