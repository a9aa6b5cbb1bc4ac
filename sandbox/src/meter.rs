//! The sandbox's keypad-meter token generator: a SANDBOX STAND-IN, not a certified STS vending
//! module (IEC 62055-41 tokens are encrypted with the meter's decoder key by a certified
//! vending system; the sandbox has neither). It yields 20 decimal digits — the size of a real
//! token (66 bits) — derived from the meter, the payment and the amount, so the same payment
//! always shows the same token and tests can tell tokens apart.

/// The 20-digit token for `meter`'s purchase of `amount_fen` in payment `payment_id`.
pub fn sts_token(meter: &str, payment_id: &str, amount_fen: i64) -> String {
    let material = format!("billtap sandbox STS stand-in\0{meter}\0{payment_id}\0{amount_fen}");
    let digest = ring::digest::digest(&ring::digest::SHA256, material.as_bytes());
    let mut block = [0u8; 16];
    for (slot, b) in block.iter_mut().zip(digest.as_ref()) {
        *slot = *b;
    }
    // 66 bits, as a real token's block, in 20 decimal digits.
    let value = u128::from_be_bytes(block) >> 62;
    format!("{value:020}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_is_twenty_digits_and_fixed_per_payment() {
        let t = super::sts_token("01234567890", "PAY1", 5_000);
        assert_eq!(t.len(), 20);
        assert!(t.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(t, super::sts_token("01234567890", "PAY1", 5_000));
        assert_ne!(t, super::sts_token("01234567890", "PAY2", 5_000));
    }
}
