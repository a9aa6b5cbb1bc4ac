//! Keypad meters (STS, IEC 62055-41): no card — a payment to a prepaid-meter biller vends a
//! 20-digit token the user keys into the meter. The token comes inside the platform's signed
//! receipt, so it is kept with it and shown again offline, and a paid token is never lost: an
//! interrupted payment is settled like any other (`resume_pending`), and its receipt brings
//! the token.

use serde::Serialize;

use super::{PayError, PaymentRecord, PaymentTarget, Payments};
use crate::money::Money;
use crate::platform::PlatformError;
use crate::store::{PaymentState, Store};

/// Digits in an STS token (a 66-bit block, in decimal).
pub const STS_TOKEN_DIGITS: usize = 20;

/// A token as the user keys it in: `1234 5678 9012 3456 7890`. Anything that is not 20 digits
/// is shown as it is (a token is never altered to look right).
pub fn format_sts_token(digits: &str) -> String {
    if digits.len() != STS_TOKEN_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.to_owned();
    }
    let groups: Vec<&str> = digits
        .as_bytes()
        .chunks(4)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    groups.join(" ")
}

/// Whether a token is 20 decimal digits.
pub fn is_sts_token(digits: &str) -> bool {
    digits.len() == STS_TOKEN_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A vended (or kept) keypad-meter token.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MeterToken {
    /// The platform's transaction id.
    pub payment_id: String,
    /// The meter's biller.
    pub biller_id: String,
    /// The biller's name.
    pub payee_name: String,
    /// What was paid.
    pub amount: Money,
    /// The token, in groups of four, as keyed in.
    pub token: String,
    /// When (platform time, Unix seconds).
    pub paid_at: i64,
}

/// What vending a token did: the payment, and the token once it is paid. (Not exported: apps
/// pay a meter through `prepare_payment`/`confirm_payment` and read `meter_token`.)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vend {
    /// The payment (its state says where it stands: `unknown` is settled by
    /// `resume_pending`, whose receipt then brings the token).
    pub payment: PaymentRecord,
    /// The token, when the payment succeeded.
    pub token: Option<MeterToken>,
}

/// The kept tokens, newest first (offline, from the signed receipts that carry them).
pub fn meter_tokens(store: &Store) -> Result<Vec<MeterToken>, PayError> {
    store
        .sts_receipts()?
        .into_iter()
        .map(|r| {
            let x = r.receipt;
            let amount = crate::money::parse_display(&format!("{} {}", x.amount, x.currency))
                .map_err(|e| {
                    crate::store::StoreError::Corrupt(format!("receipt {}: {e}", r.seq))
                })?;
            Ok(MeterToken {
                token: format_sts_token(x.sts_token.as_deref().unwrap_or_default()),
                payment_id: x.payment_id,
                biller_id: x.biller_id,
                payee_name: x.payee_name,
                amount,
                paid_at: x.paid_at,
            })
        })
        .collect()
}

/// The kept token of one payment (the platform's transaction id).
pub fn meter_token_of(store: &Store, payment_id: &str) -> Result<Option<MeterToken>, PayError> {
    Ok(meter_tokens(store)?
        .into_iter()
        .find(|t| t.payment_id == payment_id))
}

impl Payments {
    /// Buys `amount` of prepaid electricity (or gas, water) for keypad meter `meter` from a
    /// prepaid-meter biller: quoted, device-signed, paid exactly once; the signed receipt
    /// brings the token, kept with it.
    pub async fn vend_token(
        &self,
        biller_id: &str,
        meter: &str,
        amount: Money,
    ) -> Result<Vend, PayError> {
        // A keypad meter's number (IEC 62055-41: 11 digits, 13 with its prefix) is checked
        // before anything is asked of the platform: a typo is the user's to fix, not a refusal.
        let digits = meter.bytes().all(|b| b.is_ascii_digit());
        if !digits || !matches!(meter.len(), 11 | 13) {
            return Err(PayError::Invalid(format!(
                "{meter:.20?} is not a meter number: a keypad meter's number is 11 or 13 digits"
            )));
        }
        let target = PaymentTarget::Payee {
            biller_id: biller_id.to_owned(),
            account: meter.to_owned(),
        };
        let quote = self.prepare(&target, Some(amount)).await?;
        let payment = self.confirm(&quote).await?;
        let token = match (&payment.state, &payment.platform_payment_id) {
            (PaymentState::Succeeded, Some(id)) => {
                let token = meter_token_of(&self.store, id)?;
                if token.is_none() {
                    // Paid, but the receipt named no token: the platform owes one.
                    return Err(PlatformError::Incompatible(format!(
                        "payment {id} succeeded but its receipt carries no meter token; ask the biller"
                    ))
                    .into());
                }
                token
            }
            _ => None,
        };
        Ok(Vend { payment, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_shown_in_groups_of_four_and_nothing_else_is_altered() {
        assert_eq!(
            format_sts_token("12345678901234567890"),
            "1234 5678 9012 3456 7890"
        );
        assert_eq!(format_sts_token("1234"), "1234");
        assert_eq!(
            format_sts_token("1234567890123456789x"),
            "1234567890123456789x"
        );
        assert_eq!(
            format_sts_token("１２345678901234567890"),
            "１２345678901234567890"
        );
        assert!(is_sts_token("00000000000000000000") && !is_sts_token("0000"));
    }

    proptest::proptest! {
        #[test]
        fn formatting_keeps_every_digit_in_order(d in "[0-9]{20}") {
            let shown = format_sts_token(&d);
            proptest::prop_assert_eq!(shown.len(), 24);
            proptest::prop_assert_eq!(shown.replace(' ', ""), d);
        }
    }
}
