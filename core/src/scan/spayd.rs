//! Czech Short Payment Descriptor (`SPD*1.0*ACC:…*AM:…*CC:CZK*…`), ČBA standard.

use serde::Serialize;

use super::ScanError;
use super::checks::parse_iban;
use super::types::{
    BillReference, Detail, Format, NamedValue, RefKind, Scanned, Warning, WarningCode,
};
use crate::money::{Currency, Money};

const F: Format = Format::Spayd;

/// A parsed SPAYD payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Spayd {
    /// Version (`1.0`).
    pub version: String,
    /// Payee IBAN (`ACC`, electronic form).
    pub iban: String,
    /// Payee BIC, when given after `+`.
    pub bic: Option<String>,
    /// Amount (`AM`).
    pub amount: Option<Money>,
    /// Recipient name (`RN`).
    pub recipient: Option<String>,
    /// Message for the payee (`MSG`).
    pub message: Option<String>,
    /// Due date (`DT`, YYYYMMDD).
    pub due_date: Option<String>,
    /// Every key and value, percent-decoded, in order.
    pub fields: Vec<NamedValue>,
}

/// Parses a SPAYD string.
pub(crate) fn parse(t: &str) -> Result<Scanned, ScanError> {
    let mut parts = t.split('*');
    parts.next(); // "SPD"
    let version = parts.next().unwrap_or("").to_string();
    if !version.starts_with("1.") {
        return Err(ScanError::invalid(
            F,
            "version",
            format!("{version:?} is not 1.x"),
        ));
    }
    let mut raw: Vec<(String, String)> = Vec::new();
    // The CRC32 covers the canonical form: keys sorted, values as written (still encoded).
    let mut encoded: Vec<(String, String)> = Vec::new();
    for p in parts.filter(|p| !p.is_empty()) {
        let (k, v) = p
            .split_once(':')
            .ok_or_else(|| ScanError::malformed(F, format!("field {p:?} has no ':'")))?;
        let v_raw = v;
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8()
            .map_err(|_| {
                ScanError::malformed(
                    F,
                    format!("field {k} is not valid UTF-8 after percent-decoding"),
                )
            })?;
        if raw.iter().any(|(e, _)| e == k) {
            return Err(ScanError::malformed(F, format!("field {k} appears twice")));
        }
        raw.push((k.to_string(), v.into_owned()));
        encoded.push((k.to_string(), v_raw.to_string()));
    }
    let get = |k: &str| raw.iter().find(|(e, _)| e == k).map(|(_, v)| v.clone());
    let mut warnings = Vec::new();
    if let Some(stated) = get("CRC32") {
        let mut canon: Vec<&(String, String)> =
            encoded.iter().filter(|(k, _)| k != "CRC32").collect();
        canon.sort();
        let body = canon
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join("*");
        let computed = format!(
            "{:08X}",
            crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC)
                .checksum(format!("SPD*{version}*{body}").as_bytes())
        );
        if !computed.eq_ignore_ascii_case(&stated) {
            return Err(ScanError::Checksum {
                format: F,
                stated,
                computed,
            });
        }
    }
    let acc = get("ACC").ok_or(ScanError::MissingField {
        format: F,
        field: "account (ACC)",
    })?;
    let (iban_text, bic) = match acc.split_once('+') {
        Some((i, b)) => (i.to_string(), Some(b.to_string())),
        None => (acc, None),
    };
    let iban = parse_iban(&iban_text).map_err(|e| ScanError::invalid(F, "account (ACC)", e))?;
    let cc = get("CC").unwrap_or_else(|| "CZK".into());
    let currency = Currency::from_alpha(&cc)
        .map_err(|e| ScanError::invalid(F, "currency (CC)", e.to_string()))?;
    let amount = get("AM")
        .map(|a| {
            Money::parse_positive(&a, currency)
                .map_err(|e| ScanError::invalid(F, "amount (AM)", e.to_string()))
        })
        .transpose()?;
    let due_date = get("DT");
    if let Some(d) = &due_date
        && (d.len() != 8 || !d.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(ScanError::invalid(F, "due date (DT)", "must be YYYYMMDD"));
    }
    if amount.is_none() {
        warnings.push(Warning::new(
            WarningCode::PayerInput,
            "no amount in the code: the payer enters it",
        ));
    }
    let mut refs = Vec::new();
    for (key, kind) in [
        ("X-VS", RefKind::VariableSymbol),
        ("X-SS", RefKind::SpecificSymbol),
        ("X-KS", RefKind::ConstantSymbol),
        ("RF", RefKind::Reference),
        ("MSG", RefKind::Message),
    ] {
        if let Some(v) = get(key).filter(|v| !v.is_empty()) {
            refs.push(BillReference { kind, value: v });
        }
    }
    let s = Spayd {
        version,
        iban,
        bic,
        amount,
        recipient: get("RN"),
        message: get("MSG"),
        due_date,
        fields: raw.into_iter().map(NamedValue::from).collect(),
    };
    let scanned = Scanned::transfer(
        F,
        s.recipient.clone(),
        amount,
        currency,
        refs,
        warnings,
        Detail::Spayd(s),
    );
    Ok(scanned)
}
