//! Chinese VAT e-invoice verification codes (`01,32,,<number>,<amount>,<date>,,<check>`),
//! printed on 增值税发票 and 数电票 so a buyer can check the invoice with the tax bureau.
//! They prove a purchase; they are not payable.

use serde::Serialize;

use super::ScanError;
use super::types::{
    BillReference, Detail, Format, Initiation, RefKind, Scanned, Warning, WarningCode,
};
use crate::money::{Currency, Money};

const F: Format = Format::ChineseEInvoice;

/// A parsed Chinese e-invoice verification code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EInvoice {
    /// Invoice type code (`01` special VAT, `04` ordinary, `10` e-ordinary, `31`/`32` fully digital…).
    pub invoice_type: String,
    /// The invoice type in words, when known.
    pub invoice_type_name: Option<String>,
    /// Invoice code (empty for fully digital invoices).
    pub invoice_code: Option<String>,
    /// Invoice number.
    pub invoice_number: String,
    /// Amount before tax.
    pub amount: Option<Money>,
    /// Issue date, `YYYYMMDD`.
    pub date: String,
    /// Check code (last six digits), when printed.
    pub check_code: Option<String>,
    /// Trailing verification value, as written.
    pub trailer: Option<String>,
}

/// Whether text has the shape of an e-invoice code: `01,` then a two-digit type.
pub(crate) fn looks_like(t: &str) -> bool {
    let normalised = t.replace('，', ",");
    let b = normalised.as_bytes();
    b.len() > 6
        && b.starts_with(b"01,")
        && b.get(3..5)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        && b.get(5) == Some(&b',')
}

fn type_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "01" => "增值税专用发票 (special VAT invoice)",
        "04" => "增值税普通发票 (ordinary VAT invoice)",
        "08" => "增值税电子专用发票 (electronic special VAT invoice)",
        "10" => "增值税电子普通发票 (electronic ordinary VAT invoice)",
        "11" => "增值税普通发票（卷式）(roll VAT invoice)",
        "14" => "增值税电子普通发票（通行费）(toll e-invoice)",
        "31" => "电子发票（增值税专用发票）(fully digital special invoice)",
        "32" => "电子发票（普通发票）(fully digital ordinary invoice)",
        _ => return None,
    })
}

/// Parses an e-invoice verification code.
pub(crate) fn parse(t: &str) -> Result<Scanned, ScanError> {
    // Some OCR and clipboard paths turn the commas into full-width ones (，).
    let normalised = t.replace('，', ",");
    let parts: Vec<&str> = normalised.split(',').map(str::trim).collect();
    if parts.len() < 7 || parts.len() > 9 {
        return Err(ScanError::malformed(
            F,
            format!("{} comma-separated fields, 7 to 9 expected", parts.len()),
        ));
    }
    let p = |i: usize| parts.get(i).copied().unwrap_or("");
    let invoice_type = p(1).to_string();
    let invoice_code = Some(p(2).to_string()).filter(|s| !s.is_empty());
    if let Some(c) = &invoice_code
        && (!(c.len() == 10 || c.len() == 12) || !c.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(ScanError::invalid(
            F,
            "invoice code",
            "must be 10 or 12 digits",
        ));
    }
    let invoice_number = p(3).to_string();
    if !(8..=20).contains(&invoice_number.len())
        || !invoice_number.chars().all(|c| c.is_ascii_digit())
    {
        return Err(ScanError::invalid(
            F,
            "invoice number",
            "must be 8 to 20 digits",
        ));
    }
    let cny = Currency::from_alpha("CNY")
        .map_err(|e| ScanError::invalid(F, "currency", e.to_string()))?;
    let amount = match p(4) {
        "" => None,
        a => Some(
            Money::parse_positive(a, cny)
                .map_err(|e| ScanError::invalid(F, "amount", e.to_string()))?,
        ),
    };
    let date = p(5).to_string();
    let date_ok = date.len() == 8
        && date.chars().all(|c| c.is_ascii_digit())
        && date
            .get(4..6)
            .and_then(|m| m.parse::<u8>().ok())
            .is_some_and(|m| (1..=12).contains(&m))
        && date
            .get(6..8)
            .and_then(|d| d.parse::<u8>().ok())
            .is_some_and(|d| (1..=31).contains(&d));
    if !date_ok {
        return Err(ScanError::invalid(
            F,
            "date",
            "must be a date written YYYYMMDD",
        ));
    }
    let check_code = Some(p(6).to_string()).filter(|s| !s.is_empty());
    let trailer = Some(p(7).to_string()).filter(|s| !s.is_empty());
    let inv = EInvoice {
        invoice_type_name: type_name(&invoice_type).map(str::to_string),
        invoice_type,
        invoice_code,
        invoice_number,
        amount,
        date,
        check_code,
        trailer,
    };
    Ok(Scanned {
        format: F,
        payable: false,
        payee_name: None,
        payee_name_local: None,
        payee_city: None,
        amount,
        currency: Some(cny),
        references: vec![BillReference {
            kind: RefKind::BillNumber,
            value: inv.invoice_number.clone(),
        }],
        initiation: Initiation::Dynamic,
        warnings: vec![Warning::new(
            WarningCode::UnexpectedValue,
            "this is an e-invoice verification code: it proves a purchase and cannot be paid",
        )],
        detail: Detail::ChineseEInvoice(inv),
    })
}
