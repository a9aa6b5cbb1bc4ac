//! EPC069-12 "Quick Response Code: guidelines to enable data capture for the initiation of a
//! SEPA credit transfer" (GiroCode), versions 001 and 002.

use serde::Serialize;

use super::ScanError;
use super::checks::{iso11649_is_valid, parse_iban};
use super::types::{BillReference, Detail, Format, RefKind, Scanned, Warning, WarningCode};
use crate::money::{Currency, Money};

const F: Format = Format::Epc;

/// A parsed EPC SEPA credit transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EpcTransfer {
    /// `001` or `002`.
    pub version: String,
    /// Character set number (1 = UTF-8 … 8 = ISO 8859-15).
    pub charset: u8,
    /// `SCT` or `INST`.
    pub identification: String,
    /// BIC of the beneficiary's bank (mandatory in version 001).
    pub bic: Option<String>,
    /// Beneficiary name.
    pub name: String,
    /// Beneficiary IBAN (electronic form).
    pub iban: String,
    /// Amount in EUR, when fixed.
    pub amount: Option<Money>,
    /// ISO 20022 purpose code (4 letters).
    pub purpose: Option<String>,
    /// ISO 11649 structured reference.
    pub reference: Option<String>,
    /// Unstructured remittance information.
    pub text: Option<String>,
    /// Beneficiary-to-originator information.
    pub information: Option<String>,
}

/// The encoding an EPC charset number names.
fn charset_encoding(n: u8) -> Option<&'static encoding_rs::Encoding> {
    let label: &[u8] = match n {
        1 => b"utf-8",
        2 => b"iso-8859-1",
        3 => b"iso-8859-2",
        4 => b"iso-8859-4",
        5 => b"iso-8859-5",
        6 => b"iso-8859-7",
        7 => b"iso-8859-10",
        8 => b"iso-8859-15",
        _ => return None,
    };
    encoding_rs::Encoding::for_label(label)
}

/// Decodes EPC bytes with the charset the code declares on its third line.
pub(crate) fn decode(bytes: &[u8]) -> Option<String> {
    let charset_line = bytes.split(|b| *b == b'\n').nth(2)?;
    let n = std::str::from_utf8(charset_line)
        .ok()?
        .trim()
        .parse::<u8>()
        .ok()?;
    let (text, had_errors) = charset_encoding(n)?.decode_without_bom_handling(bytes);
    (!had_errors).then(|| text.into_owned())
}

fn bic_ok(b: &str) -> bool {
    (b.len() == 8 || b.len() == 11)
        && b.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && b.chars().take(4).all(|c| c.is_ascii_uppercase())
}

/// Parses an EPC QR (lines separated by LF or CR LF).
pub(crate) fn parse(t: &str) -> Result<Scanned, ScanError> {
    if t.len() > 331 {
        return Err(ScanError::malformed(
            F,
            format!("{} bytes, at most 331 allowed", t.len()),
        ));
    }
    let lines: Vec<&str> = t
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    if lines.len() > 12 {
        return Err(ScanError::malformed(
            F,
            format!("{} lines, at most 12 expected", lines.len()),
        ));
    }
    let line = |i: usize| lines.get(i).copied().unwrap_or("").trim();
    let mut warnings = Vec::new();
    let version = line(1).to_string();
    if version != "001" && version != "002" {
        return Err(ScanError::invalid(
            F,
            "version",
            format!("{version:?} is not 001 or 002"),
        ));
    }
    let charset: u8 = line(2)
        .parse()
        .ok()
        .filter(|n| (1..=8).contains(n))
        .ok_or_else(|| ScanError::invalid(F, "character set", "must be a number from 1 to 8"))?;
    let identification = line(3).to_string();
    if identification != "SCT" && identification != "INST" {
        return Err(ScanError::invalid(
            F,
            "identification",
            format!("{identification:?} is not SCT"),
        ));
    }
    let bic = Some(line(4).to_string()).filter(|s| !s.is_empty());
    match &bic {
        Some(b) if !bic_ok(b) => {
            return Err(ScanError::invalid(F, "BIC", format!("{b:?} is not a BIC")));
        }
        None if version == "001" => {
            return Err(ScanError::MissingField {
                format: F,
                field: "BIC (required in version 001)",
            });
        }
        _ => {}
    }
    let name = line(5).to_string();
    if name.is_empty() {
        return Err(ScanError::MissingField {
            format: F,
            field: "beneficiary name",
        });
    }
    if name.chars().count() > 70 {
        return Err(ScanError::invalid(
            F,
            "beneficiary name",
            "longer than 70 characters",
        ));
    }
    if line(6).is_empty() {
        return Err(ScanError::MissingField {
            format: F,
            field: "IBAN",
        });
    }
    let iban = parse_iban(line(6)).map_err(|e| ScanError::invalid(F, "IBAN", e))?;
    let eur = Currency::from_alpha("EUR")
        .map_err(|e| ScanError::invalid(F, "currency", e.to_string()))?;
    let amount = match line(7) {
        "" => None,
        a => {
            let digits = a
                .strip_prefix("EUR")
                .ok_or_else(|| ScanError::invalid(F, "amount", "must start with EUR"))?;
            let m = Money::parse_positive(digits, eur)
                .map_err(|e| ScanError::invalid(F, "amount", e.to_string()))?;
            if m.amount > rust_decimal::Decimal::new(99_999_999_999, 2) {
                return Err(ScanError::invalid(F, "amount", "above EUR 999,999,999.99"));
            }
            Some(m)
        }
    };
    let opt = |i: usize| Some(line(i).to_string()).filter(|s| !s.is_empty());
    let purpose = opt(8);
    if let Some(p) = &purpose
        && (p.len() != 4 || !p.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(ScanError::invalid(
            F,
            "purpose",
            "must be a 4-character ISO 20022 purpose code",
        ));
    }
    let reference = opt(9);
    let text = opt(10);
    let information = opt(11);
    if reference.is_some() && text.is_some() {
        return Err(ScanError::invalid(
            F,
            "remittance",
            "has both a structured reference and text; only one is allowed",
        ));
    }
    if let Some(r) = &reference {
        if r.chars().count() > 35 {
            return Err(ScanError::invalid(
                F,
                "reference",
                "longer than 35 characters",
            ));
        }
        if r.to_ascii_uppercase().starts_with("RF") && !iso11649_is_valid(r) {
            return Err(ScanError::invalid(
                F,
                "reference",
                "the RF creditor reference has wrong check digits",
            ));
        }
    }
    if text.as_ref().is_some_and(|t| t.chars().count() > 140) {
        return Err(ScanError::invalid(
            F,
            "remittance text",
            "longer than 140 characters",
        ));
    }
    if amount.is_none() {
        warnings.push(Warning::new(
            WarningCode::PayerInput,
            "no amount in the code: the payer enters it",
        ));
    }
    let mut refs = Vec::new();
    if let Some(r) = &reference {
        refs.push(BillReference {
            kind: RefKind::CreditorReference,
            value: r.clone(),
        });
    }
    if let Some(t) = &text {
        refs.push(BillReference {
            kind: RefKind::Message,
            value: t.clone(),
        });
    }
    if let Some(p) = &purpose {
        refs.push(BillReference {
            kind: RefKind::Purpose,
            value: p.clone(),
        });
    }
    let scanned = Scanned::transfer(
        F,
        Some(name.clone()),
        amount,
        eur,
        refs,
        warnings,
        Detail::Epc(EpcTransfer {
            version,
            charset,
            identification,
            bic,
            name,
            iban,
            amount,
            purpose,
            reference,
            text,
            information,
        }),
    );
    Ok(scanned)
}
