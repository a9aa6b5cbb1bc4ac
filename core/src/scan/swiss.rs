//! Swiss QR-bill (SIX "Swiss Implementation Guidelines for the QR-bill", version 2.x).

use serde::Serialize;

use super::ScanError;
use super::checks::{is_qr_iban, iso11649_is_valid, parse_iban, qr_reference_is_valid};
use super::types::{BillReference, Detail, Format, RefKind, Scanned, Warning, WarningCode};
use crate::money::{Currency, Money};

const F: Format = Format::SwissQrBill;

/// A structured (`S`) or, before November 2025, combined (`K`) address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SwissAddress {
    /// `S` structured, `K` combined (deprecated).
    pub kind: String,
    /// Name or company.
    pub name: String,
    /// Street (S) or address line 1 (K).
    pub street_or_line1: String,
    /// Building number (S) or address line 2 with postcode and town (K).
    pub building_or_line2: String,
    /// Postal code (S only).
    pub postal_code: String,
    /// Town (S only).
    pub town: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
}

/// The payment reference of a QR-bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum SwissReference {
    /// `QRR`: 27-digit QR reference (requires a QR-IBAN).
    #[serde(rename = "QRR")]
    Qr(String),
    /// `SCOR`: ISO 11649 creditor reference.
    #[serde(rename = "SCOR")]
    Creditor(String),
    /// `NON`: no reference.
    #[serde(rename = "NON")]
    None,
}

/// Swico `//S1/` structured billing information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Swico {
    /// 10 invoice number.
    pub invoice_number: Option<String>,
    /// 11 invoice date (YYMMDD).
    pub invoice_date: Option<String>,
    /// 20 customer reference.
    pub customer_reference: Option<String>,
    /// 30 creditor's VAT UID.
    pub vat_uid: Option<String>,
    /// 31 VAT date(s).
    pub vat_date: Option<String>,
    /// 32 VAT rates and amounts.
    pub vat_details: Option<String>,
    /// 33 VAT on import.
    pub vat_import: Option<String>,
    /// 40 payment conditions (`discount%:days;…`).
    pub conditions: Option<String>,
}

/// A parsed Swiss QR-bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SwissBill {
    /// Version (`0200`).
    pub version: String,
    /// IBAN or QR-IBAN of the creditor (electronic form).
    pub iban: String,
    /// Whether the IBAN is a QR-IBAN.
    pub qr_iban: bool,
    /// The creditor.
    pub creditor: SwissAddress,
    /// The amount, when fixed.
    pub amount: Option<Money>,
    /// CHF or EUR.
    pub currency: Currency,
    /// The debtor, when printed.
    pub debtor: Option<SwissAddress>,
    /// The reference.
    pub reference: SwissReference,
    /// Unstructured message.
    pub message: Option<String>,
    /// Billing information, as written.
    pub billing_information: Option<String>,
    /// Swico S1 billing information, when present.
    pub swico: Option<Swico>,
    /// Alternative procedures (up to two), as written.
    pub alternative_procedures: Vec<String>,
}

fn address(
    lines: &[&str],
    at: usize,
    role: &'static str,
    warnings: &mut Vec<Warning>,
) -> Result<Option<SwissAddress>, ScanError> {
    let get = |i: usize| {
        lines
            .get(at + i)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let a = SwissAddress {
        kind: get(0),
        name: get(1),
        street_or_line1: get(2),
        building_or_line2: get(3),
        postal_code: get(4),
        town: get(5),
        country: get(6),
    };
    let empty = [
        &a.kind,
        &a.name,
        &a.street_or_line1,
        &a.building_or_line2,
        &a.postal_code,
        &a.town,
        &a.country,
    ]
    .iter()
    .all(|s| s.is_empty());
    if empty {
        return Ok(None);
    }
    match a.kind.as_str() {
        "S" => {
            if a.postal_code.is_empty() || a.town.is_empty() {
                return Err(ScanError::invalid(
                    F,
                    role,
                    "a structured address needs postal code and town",
                ));
            }
        }
        "K" => {
            if a.building_or_line2.is_empty() || !a.postal_code.is_empty() || !a.town.is_empty() {
                return Err(ScanError::invalid(
                    F,
                    role,
                    "a combined address needs address line 2 and no separate postal code or town",
                ));
            }
            warnings.push(Warning::new(
                WarningCode::Deprecated,
                format!(
                    "the {role} uses a combined (K) address, no longer allowed since November 2025"
                ),
            ));
        }
        other => {
            return Err(ScanError::invalid(
                F,
                role,
                format!("address type {other:?} is neither S nor K"),
            ));
        }
    }
    if a.name.is_empty() {
        return Err(ScanError::invalid(F, role, "the name is empty"));
    }
    if a.country.len() != 2 || !a.country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ScanError::invalid(
            F,
            role,
            "the country must be a two-letter ISO code",
        ));
    }
    Ok(Some(a))
}

/// Parses a Swiss QR-bill (lines separated by LF or CR LF).
pub(crate) fn parse(t: &str) -> Result<Scanned, ScanError> {
    let lines: Vec<&str> = t
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let line = |i: usize| lines.get(i).copied().unwrap_or("").trim();
    let mut warnings = Vec::new();
    if lines.len() < 31 {
        return Err(ScanError::malformed(
            F,
            format!("{} lines, at least 31 expected", lines.len()),
        ));
    }
    if lines.len() > 35 || lines.iter().skip(34).any(|l| !l.is_empty()) {
        return Err(ScanError::malformed(
            F,
            format!("{} lines, at most 34 expected", lines.len()),
        ));
    }
    let version = line(1).to_string();
    if !version.starts_with("02") || version.len() != 4 {
        return Err(ScanError::invalid(
            F,
            "version",
            format!("{version:?} is not a 02xx version"),
        ));
    }
    if version != "0200" {
        warnings.push(Warning::new(
            WarningCode::UnknownVersion,
            format!("version {version}, read as 0200"),
        ));
    }
    if line(2) != "1" {
        return Err(ScanError::invalid(
            F,
            "coding type",
            "must be 1 (UTF-8, Latin character set)",
        ));
    }
    let iban = parse_iban(line(3)).map_err(|e| ScanError::invalid(F, "IBAN", e))?;
    if !(iban.starts_with("CH") || iban.starts_with("LI")) {
        return Err(ScanError::invalid(
            F,
            "IBAN",
            "only CH and LI IBANs are allowed",
        ));
    }
    let qr_iban = is_qr_iban(&iban);
    let creditor =
        address(&lines, 4, "creditor", &mut warnings)?.ok_or(ScanError::MissingField {
            format: F,
            field: "creditor",
        })?;
    if (11..18).any(|i| !line(i).is_empty()) {
        return Err(ScanError::invalid(
            F,
            "ultimate creditor",
            "must be empty (reserved for future use)",
        ));
    }
    let currency_text = line(19);
    if currency_text != "CHF" && currency_text != "EUR" {
        return Err(ScanError::invalid(
            F,
            "currency",
            format!("{currency_text:?} is not CHF or EUR"),
        ));
    }
    let currency = Currency::from_alpha(currency_text)
        .map_err(|e| ScanError::invalid(F, "currency", e.to_string()))?;
    let amount = match line(18) {
        "" => None,
        a => {
            let m = Money::parse_positive(a, currency)
                .map_err(|e| ScanError::invalid(F, "amount", e.to_string()))?;
            if m.amount > rust_decimal::Decimal::new(99_999_999_999, 2) {
                return Err(ScanError::invalid(F, "amount", "above 999,999,999.99"));
            }
            Some(m)
        }
    };
    let debtor = address(&lines, 20, "debtor", &mut warnings)?;
    let reference_text: String = line(28).chars().filter(|c| !c.is_whitespace()).collect();
    let reference = match line(27) {
        "QRR" => {
            if !qr_reference_is_valid(&reference_text) {
                return Err(ScanError::invalid(
                    F,
                    "QR reference",
                    "must be 27 digits with a valid check digit",
                ));
            }
            SwissReference::Qr(reference_text)
        }
        "SCOR" => {
            if !iso11649_is_valid(&reference_text) {
                return Err(ScanError::invalid(
                    F,
                    "creditor reference",
                    "is not a valid ISO 11649 (RF) reference",
                ));
            }
            SwissReference::Creditor(reference_text)
        }
        "NON" => {
            if !reference_text.is_empty() {
                return Err(ScanError::invalid(
                    F,
                    "reference",
                    "reference type NON must have no reference",
                ));
            }
            SwissReference::None
        }
        other => {
            return Err(ScanError::invalid(
                F,
                "reference type",
                format!("{other:?} is not QRR, SCOR or NON"),
            ));
        }
    };
    match (&reference, qr_iban) {
        (SwissReference::Qr(_), false) => {
            return Err(ScanError::invalid(
                F,
                "reference",
                "a QR reference needs a QR-IBAN",
            ));
        }
        (SwissReference::Creditor(_) | SwissReference::None, true) => {
            return Err(ScanError::invalid(
                F,
                "reference",
                "a QR-IBAN needs a QR reference (type QRR)",
            ));
        }
        _ => {}
    }
    let message = Some(line(29).to_string()).filter(|s| !s.is_empty());
    if line(30) != "EPD" {
        return Err(ScanError::malformed(F, "the trailer line must be EPD"));
    }
    let billing_information = Some(line(31).to_string()).filter(|s| !s.is_empty());
    let info_len = message.as_ref().map_or(0, |m| m.chars().count())
        + billing_information
            .as_ref()
            .map_or(0, |b| b.chars().count());
    if info_len > 140 {
        return Err(ScanError::invalid(
            F,
            "message",
            "message and billing information exceed 140 characters together",
        ));
    }
    let swico = billing_information
        .as_deref()
        .and_then(|b| parse_swico(b, &mut warnings));
    let alternative_procedures: Vec<String> = (32..34)
        .map(line)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();

    let mut refs = Vec::new();
    match &reference {
        SwissReference::Qr(r) => refs.push(BillReference {
            kind: RefKind::SwissQrReference,
            value: r.clone(),
        }),
        SwissReference::Creditor(r) => refs.push(BillReference {
            kind: RefKind::CreditorReference,
            value: r.clone(),
        }),
        SwissReference::None => {}
    }
    if let Some(s) = &swico {
        if let Some(n) = &s.invoice_number {
            refs.push(BillReference {
                kind: RefKind::BillNumber,
                value: n.clone(),
            });
        }
        if let Some(d) = &s.invoice_date {
            refs.push(BillReference {
                kind: RefKind::InvoiceDate,
                value: d.clone(),
            });
        }
    }
    if let Some(m) = &message {
        refs.push(BillReference {
            kind: RefKind::Message,
            value: m.clone(),
        });
    }
    let town = creditor.town.clone();
    let scanned = Scanned::transfer(
        F,
        Some(creditor.name.clone()),
        amount,
        currency,
        refs,
        warnings,
        Detail::SwissQrBill(SwissBill {
            version,
            iban,
            qr_iban,
            creditor,
            amount,
            currency,
            debtor,
            reference,
            message,
            billing_information,
            swico,
            alternative_procedures,
        }),
    );
    Ok(Scanned {
        payee_city: Some(town).filter(|s| !s.is_empty()),
        ..scanned
    })
}

/// Parses Swico `//S1/` billing information; other syntaxes are kept as written.
fn parse_swico(info: &str, warnings: &mut Vec<Warning>) -> Option<Swico> {
    let body = info.strip_prefix("//S1/")?;
    // Values escape '/' as "\/" and '\' as "\\".
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '/' => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    let mut s = Swico::default();
    let mut it = parts.into_iter();
    while let (Some(tag), Some(value)) = (it.next(), it.next()) {
        let v = Some(value);
        match tag.as_str() {
            "10" => s.invoice_number = v,
            "11" => s.invoice_date = v,
            "20" => s.customer_reference = v,
            "30" => s.vat_uid = v,
            "31" => s.vat_date = v,
            "32" => s.vat_details = v,
            "33" => s.vat_import = v,
            "40" => s.conditions = v,
            other => warnings.push(Warning::new(
                WarningCode::UnexpectedValue,
                format!("unknown Swico tag {other:?} ignored"),
            )),
        }
    }
    Some(s)
}
