//! Russian GOST R 56042-2014 payment QR (`ST0001…`), used on utility and tax bills.

use serde::Serialize;

use super::ScanError;
use super::types::{
    BillReference, Detail, Format, NamedValue, RefKind, Scanned, Warning, WarningCode,
};
use crate::money::{Currency, Money};

const F: Format = Format::Gost;

/// A parsed GOST R 56042 payment document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GostPayment {
    /// Encoding the header declares: `windows-1251`, `utf-8` or `koi8-r`.
    pub encoding: String,
    /// Payee name (`Name`).
    pub name: String,
    /// Payee account (`PersonalAcc`, 20 digits).
    pub personal_acc: String,
    /// Payee bank (`BankName`).
    pub bank_name: String,
    /// Payee bank BIC (`BIC`, 9 digits).
    pub bic: String,
    /// Correspondent account (`CorrespAcc`).
    pub corresp_acc: String,
    /// Amount (`Sum`, in kopecks in the code).
    pub amount: Option<Money>,
    /// Every other requisite, in order (`Purpose`, `PayeeINN`, `PersAcc`, `PaymPeriod`, …).
    pub fields: Vec<NamedValue>,
}

impl GostPayment {
    /// An optional requisite by its name.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == key)
            .map(|f| f.value.as_str())
    }
}

/// Parses GOST R 56042 bytes, decoding with the encoding its header declares.
pub(crate) fn parse(bytes: &[u8]) -> Result<Scanned, ScanError> {
    let (enc, enc_name) = match bytes.get(6) {
        Some(b'1') => (encoding_rs::WINDOWS_1251, "windows-1251"),
        Some(b'2') => (encoding_rs::UTF_8, "utf-8"),
        Some(b'3') => (encoding_rs::KOI8_R, "koi8-r"),
        _ => {
            return Err(ScanError::invalid(
                F,
                "header",
                "encoding flag after ST0001 must be 1, 2 or 3",
            ));
        }
    };
    let body_bytes = bytes.get(7..).unwrap_or_default();
    let (text, had_errors) = enc.decode_without_bom_handling(body_bytes);
    if had_errors {
        return Err(ScanError::malformed(
            F,
            format!("the text is not valid {enc_name}"),
        ));
    }
    let text = text.trim_end_matches(['\r', '\n', '\0']);
    let mut chars = text.chars();
    let sep = chars
        .next()
        .ok_or_else(|| ScanError::malformed(F, "nothing after the header"))?;
    if sep.is_alphanumeric() || sep == '=' {
        return Err(ScanError::malformed(
            F,
            format!("{sep:?} cannot be the field separator"),
        ));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for part in chars.as_str().split(sep).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| ScanError::malformed(F, format!("field {part:?} has no '='")))?;
        let k = k.trim();
        if fields.iter().any(|(e, _)| e.eq_ignore_ascii_case(k)) {
            return Err(ScanError::malformed(F, format!("field {k} appears twice")));
        }
        fields.push((k.to_string(), v.trim().to_string()));
    }
    let mut take = |key: &'static str| -> Option<String> {
        let i = fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key))?;
        Some(fields.remove(i).1)
    };
    let need = |v: Option<String>, field: &'static str| {
        v.filter(|s| !s.is_empty())
            .ok_or(ScanError::MissingField { format: F, field })
    };
    let name = need(take("Name"), "payee name (Name)")?;
    let personal_acc = need(take("PersonalAcc"), "payee account (PersonalAcc)")?;
    let bank_name = need(take("BankName"), "bank name (BankName)")?;
    let bic = need(take("BIC"), "bank BIC (BIC)")?;
    let corresp_acc = need(take("CorrespAcc"), "correspondent account (CorrespAcc)")?;
    let sum = take("Sum");
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    if !digits(&personal_acc, 20) {
        return Err(ScanError::invalid(
            F,
            "payee account (PersonalAcc)",
            "must be 20 digits",
        ));
    }
    if !digits(&bic, 9) {
        return Err(ScanError::invalid(F, "bank BIC (BIC)", "must be 9 digits"));
    }
    if !(digits(&corresp_acc, 20) || corresp_acc == "0") {
        return Err(ScanError::invalid(
            F,
            "correspondent account (CorrespAcc)",
            "must be 20 digits or 0",
        ));
    }
    let rub = Currency::from_alpha("RUB")
        .map_err(|e| ScanError::invalid(F, "currency", e.to_string()))?;
    let amount = match sum.as_deref() {
        None | Some("") => None,
        Some(s) => {
            let kopecks = s
                .parse::<i64>()
                .ok()
                .filter(|k| *k > 0 && s.len() <= 18 && s.chars().all(|c| c.is_ascii_digit()))
                .ok_or_else(|| {
                    ScanError::invalid(
                        F,
                        "amount (Sum)",
                        "must be a positive whole number of kopecks",
                    )
                })?;
            Some(Money::from_minor_units(kopecks, rub))
        }
    };
    let mut warnings = Vec::new();
    if amount.is_none() {
        warnings.push(Warning::new(
            WarningCode::PayerInput,
            "no amount in the code: the payer enters it",
        ));
    }
    let g = GostPayment {
        encoding: enc_name.into(),
        name,
        personal_acc,
        bank_name,
        bic,
        corresp_acc,
        amount,
        fields: fields.into_iter().map(NamedValue::from).collect(),
    };
    let mut refs = Vec::new();
    for (key, kind) in [
        ("PersAcc", RefKind::AccountNumber),
        ("PersonalAccount", RefKind::AccountNumber),
        ("DocNo", RefKind::BillNumber),
        ("PaymPeriod", RefKind::Period),
        ("UIN", RefKind::PaymentId),
        ("Purpose", RefKind::Purpose),
    ] {
        if let Some(v) = g.field(key).filter(|v| !v.is_empty()) {
            refs.push(BillReference {
                kind,
                value: v.to_string(),
            });
        }
    }
    let scanned = Scanned::transfer(
        F,
        Some(g.name.clone()),
        amount,
        rub,
        refs,
        warnings,
        Detail::Gost(g),
    );
    Ok(scanned)
}
