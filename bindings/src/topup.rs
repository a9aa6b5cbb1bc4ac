//! Top-up for the host: what the boundary adds to core's top-up and meter types.

/// A keypad-meter token as the user keys it in: 20 digits in groups of four (anything else is
/// returned as it is).
#[uniffi::export]
pub fn format_sts_token(digits: String) -> String {
    billtap_core::pay::format_sts_token(&digits)
}
