//! Check digits used by payment codes: IBAN (ISO 13616), ISO 11649 creditor references and
//! Swiss QR references (mod-10 recursive).

use iban::{Iban, IbanLike};

/// Validates an IBAN (spaces allowed) against ISO 13616 and the country's BBAN format,
/// returning its electronic form.
pub(crate) fn parse_iban(text: &str) -> Result<String, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.parse::<Iban>() {
        Ok(iban) => Ok(iban.electronic_str().to_string()),
        Err(iban::ParseIbanError::UnknownCountry(base)) => {
            // A valid mod-97 IBAN from a country newer than the registry copy is still an IBAN.
            Ok(base.electronic_str().to_string())
        }
        Err(iban::ParseIbanError::InvalidBban(_)) => {
            Err("the account part does not match the country's IBAN format".into())
        }
        Err(iban::ParseIbanError::InvalidBaseIban { source }) => Err(match source {
            iban::ParseBaseIbanError::InvalidChecksum => {
                "the IBAN check digits are wrong (mistyped or damaged)".into()
            }
            iban::ParseBaseIbanError::InvalidFormat => "this is not an IBAN".into(),
        }),
    }
}

/// Whether an IBAN (spaces allowed) is valid.
pub fn iban_is_valid(text: &str) -> bool {
    parse_iban(text).is_ok()
}

/// Whether a Swiss/Liechtenstein IBAN is a QR-IBAN (institution id 30000–31999), which
/// requires a QR reference.
pub(crate) fn is_qr_iban(electronic: &str) -> bool {
    electronic
        .get(4..9)
        .and_then(|iid| iid.parse::<u32>().ok())
        .is_some_and(|iid| (30000..=31999).contains(&iid))
}

/// Computes a mod-97 remainder of an alphanumeric string with letters as 10..35.
fn mod97(s: &str) -> Option<u32> {
    let mut rem: u32 = 0;
    for c in s.chars() {
        let v = c.to_digit(36)?;
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    Some(rem)
}

/// Whether an ISO 11649 creditor reference (`RF18539007547034`, spaces allowed) is valid.
pub fn iso11649_is_valid(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let upper = compact.to_ascii_uppercase();
    if !(5..=25).contains(&upper.len())
        || !upper.starts_with("RF")
        || !upper.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return false;
    }
    let (head, tail) = upper.split_at(4);
    // ISO 7064 MOD 97-10 check digits are 02–98; 00, 01 and 99 are never issued, and
    // accepting them would let two check values pass for the same reference.
    let check = head.get(2..4).and_then(|d| d.parse::<u32>().ok());
    if !check.is_some_and(|c| (2..=98).contains(&c)) {
        return false;
    }
    mod97(&format!("{tail}{head}")) == Some(1)
}

/// Mod-10 recursive check digit (Swiss QR reference / ESR) of a digit string.
pub(crate) fn mod10_recursive(digits: &str) -> Option<u32> {
    const TABLE: [u32; 10] = [0, 9, 4, 6, 8, 2, 7, 1, 3, 5];
    let mut carry = 0u32;
    for c in digits.chars() {
        let d = c.to_digit(10)?;
        carry = *TABLE.get(((carry + d) % 10) as usize)?;
    }
    Some((10 - carry) % 10)
}

/// Whether a Swiss QR reference (27 digits, spaces allowed) has a valid check digit.
pub fn qr_reference_is_valid(text: &str) -> bool {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() != 27 || !compact.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let (body, check) = compact.split_at(26);
    mod10_recursive(body)
        .is_some_and(|d| check.chars().next().and_then(|c| c.to_digit(10)) == Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans() {
        assert!(iban_is_valid("CH44 3199 9123 0008 8901 2"));
        assert!(iban_is_valid("DE89370400440532013000"));
        assert!(!iban_is_valid("DE89370400440532013001"));
        assert!(!iban_is_valid("hello"));
        assert!(is_qr_iban("CH4431999123000889012"));
        assert!(!is_qr_iban("CH9300762011623852957"));
    }

    #[test]
    fn creditor_references() {
        assert!(iso11649_is_valid("RF18 5390 0754 7034"));
        assert!(iso11649_is_valid("RF18000000000539007547034"));
        assert!(!iso11649_is_valid("RF19 5390 0754 7034"));
        assert!(!iso11649_is_valid("RF1"));
    }

    #[test]
    fn qr_references() {
        assert!(qr_reference_is_valid("21 00000 00003 13947 14300 09017"));
        assert!(qr_reference_is_valid("210000000003139471430009017"));
        assert!(!qr_reference_is_valid("210000000003139471430009018"));
        assert!(!qr_reference_is_valid("2100000000031394714300090"));
    }
}
