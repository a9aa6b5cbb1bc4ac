//! EMVCo Merchant-Presented Mode QR (EMV QRCPS-MPM 1.1) and the national profiles built on it.
//!
//! Lengths count characters, not bytes: the spec's own example carries a Chinese language
//! template whose 20 characters are 32 UTF-8 bytes. The CRC covers the UTF-8 bytes.
//!
//! `tlv` reads the wire layer (tags, lengths, templates, CRC), `model` is what a code holds,
//! `profiles` recognises national schemes inside merchant-account templates, `writer` prints
//! codes; this file turns fields into the model and the common view.

use rust_decimal::Decimal;

use super::ScanError;
use super::types::{
    BillReference, Detail, Format, Initiation, RefKind, Scanned, Warning, WarningCode,
};
use crate::money::{Currency, Money, parse_plain_decimal};

const F: Format = Format::EmvMpm;

/// The merchant-account GUID of billtap's own bill profile (see `docs/bill-qr-profile.md`).
pub const BILLTAP_BILL_GUID: &str = "COM.BILLTAP.BILL";

/// Deepest nesting of templates we parse; the spec needs 2, the issue allows 3.
const MAX_DEPTH: usize = 3;

mod model;
mod profiles;
mod tlv;
mod writer;

pub use model::*;
pub use tlv::crc16_ccitt_false;

use profiles::profile_of;
use tlv::{Tlv, check_unique, parse_template, parse_tlv, verify_crc};
pub use writer::EmvWriter;

/// Whether text looks like an EMV MPM payload: starts with the format indicator tag, or is a
/// complete TLV sequence ending in a CRC (fields may come in any order).
pub(crate) fn looks_like(t: &str) -> bool {
    if t.starts_with("0002") {
        return true;
    }
    let chars: Vec<char> = t.chars().collect();
    parse_tlv(&chars, 0).is_ok_and(|fields| {
        fields.iter().any(|f| f.tag == 0) && fields.last().is_some_and(|f| f.tag == 63)
    })
}

fn is_template(tag: u8) -> bool {
    (26..=51).contains(&tag) || tag == 62 || tag == 64 || (80..=99).contains(&tag)
}

fn sub_fields(fields: Vec<Tlv>) -> Vec<SubField> {
    fields
        .into_iter()
        .map(|f| SubField {
            tag: format!("{:02}", f.tag),
            value: f.value,
        })
        .collect()
}

/// Parses an EMV MPM payload.
pub(crate) fn parse(t: &str) -> Result<Scanned, ScanError> {
    let chars: Vec<char> = t.chars().collect();
    let top = parse_tlv(&chars, 0).map_err(|e| ScanError::malformed(F, e))?;
    check_unique(&top, "")?;
    verify_crc(t, &top)?;

    let mut warnings = Vec::new();
    let mut m = EmvMerchant {
        payload_format: None,
        point_of_initiation: None,
        merchant_accounts: Vec::new(),
        profiles: Vec::new(),
        mcc: None,
        currency: None,
        amount: None,
        tip: None,
        country: None,
        merchant_name: None,
        merchant_city: None,
        postal_code: None,
        additional: AdditionalData::default(),
        language: None,
        unreserved: Vec::new(),
        crc: String::new(),
    };
    let mut amount_text = None;
    let (mut tip_ind, mut fee_fixed, mut fee_pct) = (None, None, None);

    for f in &top {
        let tag_s = format!("{:02}", f.tag);
        if matches!(f.tag, 52 | 54..=61) && is_placeholder(&f.value) {
            warnings.push(Warning::new(
                WarningCode::UnexpectedValue,
                format!(
                    "tag {tag_s} holds the placeholder {:?} instead of a value; ignored",
                    f.value
                ),
            ));
            continue;
        }
        let children = if !is_template(f.tag) {
            None
        } else {
            match parse_template(&f.value, &tag_s, 1) {
                Ok(ch) => Some(ch),
                Err(e) if !(80..=99).contains(&f.tag) => return Err(e),
                Err(_) => {
                    // Unreserved templates belong to whoever printed the code; some fill them
                    // with their own non-TLV data. The checksum covered them: keep them as
                    // written rather than refuse a code whose payment part is sound.
                    warnings.push(Warning::new(
                        WarningCode::UnexpectedValue,
                        format!("unreserved template {tag_s} is not in TLV form; kept as written"),
                    ));
                    m.unreserved.push(MerchantAccount {
                        tag: tag_s,
                        guid: None,
                        value: Some(f.value.clone()),
                        fields: Vec::new(),
                    });
                    continue;
                }
            }
        };
        match (f.tag, children) {
            (0, _) => m.payload_format = Some(f.value.clone()),
            (1, _) => m.point_of_initiation = Some(f.value.clone()),
            (2..=25, _) => m.merchant_accounts.push(MerchantAccount {
                tag: tag_s,
                guid: None,
                value: Some(f.value.clone()),
                fields: Vec::new(),
            }),
            (26..=51, Some(ch)) => m.merchant_accounts.push(account_from(tag_s, ch)),
            (52, _) => m.mcc = Some(f.value.clone()),
            (53, _) => {
                m.currency = Some(
                    Currency::from_numeric_str(&f.value)
                        .map_err(|e| ScanError::invalid(F, "currency (tag 53)", e.to_string()))?,
                );
            }
            (54, _) => amount_text = Some(f.value.clone()),
            (55, _) => tip_ind = Some(f.value.clone()),
            (56, _) => fee_fixed = Some(f.value.clone()),
            (57, _) => fee_pct = Some(f.value.clone()),
            (58, _) => m.country = Some(f.value.clone()),
            (59, _) => m.merchant_name = Some(f.value.clone()),
            (60, _) => m.merchant_city = Some(f.value.clone()),
            (61, _) => m.postal_code = Some(f.value.clone()),
            (62, Some(ch)) => m.additional = additional_from(ch, &mut warnings)?,
            (63, _) => m.crc = f.value.to_ascii_uppercase(),
            (64, Some(ch)) => {
                let get = |t: u8| {
                    ch.iter()
                        .find(|c| c.tag == t && !is_placeholder(&c.value))
                        .map(|c| c.value.clone())
                };
                m.language = Some(LanguageTemplate {
                    language: get(0),
                    name: get(1),
                    city: get(2),
                });
            }
            (80..=99, Some(ch)) => m.unreserved.push(account_from(tag_s, ch)),
            _ => warnings.push(Warning::new(
                WarningCode::UnexpectedValue,
                format!("ignored reserved tag {tag_s}"),
            )),
        }
    }

    match m.payload_format.as_deref() {
        Some("01") => {}
        Some(other) => warnings.push(Warning::new(
            WarningCode::UnknownVersion,
            format!("payload format indicator is {other:?}, expected \"01\"; read as version 01"),
        )),
        None => warnings.push(Warning::new(
            WarningCode::MissingField,
            "payload format indicator (tag 00) is missing",
        )),
    }
    let initiation = match m.point_of_initiation.as_deref() {
        Some("11") => Some(Initiation::Static),
        Some("12") => Some(Initiation::Dynamic),
        Some(other) => {
            warnings.push(Warning::new(
                WarningCode::UnexpectedValue,
                format!("point of initiation {other:?} is neither 11 (static) nor 12 (dynamic)"),
            ));
            None
        }
        None => None,
    };
    if m.merchant_accounts.is_empty() {
        return Err(ScanError::MissingField {
            format: F,
            field: "merchant account (tags 02–51)",
        });
    }
    let currency = m.currency.ok_or(ScanError::MissingField {
        format: F,
        field: "currency (tag 53)",
    })?;
    if let Some(a) = amount_text {
        if a.chars().count() > 13 {
            return Err(ScanError::invalid(
                F,
                "amount (tag 54)",
                "longer than 13 characters",
            ));
        }
        m.amount = Some(
            Money::parse_positive(&a, currency)
                .map_err(|e| ScanError::invalid(F, "amount (tag 54)", e.to_string()))?,
        );
    }
    m.tip = tip_rule(tip_ind, fee_fixed, fee_pct, currency, &mut warnings)?;
    for (present, what) in [
        (m.mcc.is_some(), "merchant category code (tag 52)"),
        (m.country.is_some(), "country code (tag 58)"),
        (m.merchant_name.is_some(), "merchant name (tag 59)"),
        (m.merchant_city.is_some(), "merchant city (tag 60)"),
    ] {
        if !present {
            warnings.push(Warning::new(
                WarningCode::MissingField,
                format!("{what} is missing"),
            ));
        }
    }

    let mut profiles = Vec::new();
    for acct in &m.merchant_accounts {
        if let Some(p) = profile_of(acct, &mut warnings)? {
            profiles.push(p);
        }
    }
    m.profiles = profiles;

    let mut refs = Vec::new();
    let mut push = |kind: RefKind, v: &Option<String>, warnings: &mut Vec<Warning>| {
        if let Some(v) = v {
            if v == "***" {
                warnings.push(Warning::new(
                    WarningCode::PayerInput,
                    format!("the code asks the payer to enter the {}", kind.label()),
                ));
            } else if !v.is_empty() {
                refs.push(BillReference {
                    kind,
                    value: v.clone(),
                });
            }
        }
    };
    for p in &m.profiles {
        match p {
            NationalProfile::Billtap(b) => {
                push(RefKind::BillerId, &Some(b.biller_id.clone()), &mut warnings);
                push(
                    RefKind::AccountNumber,
                    &Some(b.account.clone()),
                    &mut warnings,
                );
                push(RefKind::BillId, &b.bill_id, &mut warnings);
                push(RefKind::Period, &b.period, &mut warnings);
            }
            NationalProfile::PromptPayBill {
                biller_id,
                ref1,
                ref2,
            } => {
                push(RefKind::BillerId, biller_id, &mut warnings);
                push(RefKind::Ref1, ref1, &mut warnings);
                push(RefKind::Ref2, ref2, &mut warnings);
            }
            _ => {}
        }
    }
    let a = &m.additional;
    push(RefKind::BillNumber, &a.bill_number, &mut warnings);
    push(RefKind::Reference, &a.reference_label, &mut warnings);
    push(RefKind::Purpose, &a.purpose, &mut warnings);
    push(RefKind::CustomerLabel, &a.customer_label, &mut warnings);
    push(RefKind::Store, &a.store_label, &mut warnings);
    push(RefKind::Terminal, &a.terminal_label, &mut warnings);
    push(RefKind::Mobile, &a.mobile_number, &mut warnings);

    let initiation = initiation.unwrap_or_else(|| Scanned::initiation_from_amount(&m.amount));
    Ok(Scanned {
        format: F,
        payable: true,
        payee_name: m.merchant_name.clone(),
        payee_name_local: m.language.as_ref().and_then(|l| l.name.clone()),
        payee_city: m.merchant_city.clone(),
        amount: m.amount,
        currency: Some(currency),
        references: refs,
        initiation,
        warnings,
        detail: Detail::EmvMpm(m),
    })
}

fn account_from(tag: String, ch: Vec<Tlv>) -> MerchantAccount {
    let guid = ch.iter().find(|c| c.tag == 0).map(|c| c.value.clone());
    let fields = sub_fields(ch.into_iter().filter(|c| c.tag != 0).collect());
    MerchantAccount {
        tag,
        guid,
        value: None,
        fields,
    }
}

/// A value real apps write into optional fields they have nothing for (`null` from a
/// serialised JSON null, `undefined` from JavaScript): not data, whatever the field.
fn is_placeholder(v: &str) -> bool {
    v.eq_ignore_ascii_case("null") || v.eq_ignore_ascii_case("undefined")
}

fn additional_from(ch: Vec<Tlv>, warnings: &mut Vec<Warning>) -> Result<AdditionalData, ScanError> {
    let mut a = AdditionalData::default();
    for c in ch {
        if (1..=11).contains(&c.tag) && is_placeholder(&c.value) {
            warnings.push(Warning::new(
                WarningCode::UnexpectedValue,
                format!(
                    "additional data field 62.{:02} holds the placeholder {:?}; ignored",
                    c.tag, c.value
                ),
            ));
            continue;
        }
        let v = Some(c.value.clone());
        match c.tag {
            1 => a.bill_number = v,
            2 => a.mobile_number = v,
            3 => a.store_label = v,
            4 => a.loyalty_number = v,
            5 => a.reference_label = v,
            6 => a.customer_label = v,
            7 => a.terminal_label = v,
            8 => a.purpose = v,
            9 => {
                if !c.value.chars().all(|ch| matches!(ch, 'A' | 'M' | 'E')) {
                    return Err(ScanError::invalid(
                        F,
                        "consumer data request (tag 62.09)",
                        "may only contain A, M and E",
                    ));
                }
                a.consumer_data_request = v;
            }
            10 => a.merchant_tax_id = v,
            11 => a.merchant_channel = v,
            tag @ 50..=99 => {
                // Payment-system templates: validate their structure, keep them as written.
                parse_template(&c.value, &format!("62.{tag:02}"), 2)?;
                a.other.push(SubField {
                    tag: format!("{tag:02}"),
                    value: c.value,
                });
            }
            tag => a.other.push(SubField {
                tag: format!("{tag:02}"),
                value: c.value,
            }),
        }
    }
    Ok(a)
}

fn tip_rule(
    indicator: Option<String>,
    fixed: Option<String>,
    pct: Option<String>,
    currency: Currency,
    warnings: &mut Vec<Warning>,
) -> Result<Option<TipRule>, ScanError> {
    let Some(ind) = indicator else {
        if fixed.is_some() || pct.is_some() {
            warnings.push(Warning::new(
                WarningCode::UnexpectedValue,
                "convenience fee given without an indicator (tag 55); ignored",
            ));
        }
        return Ok(None);
    };
    match ind.as_str() {
        "01" => Ok(Some(TipRule::Prompt)),
        "02" => {
            let v = fixed.ok_or(ScanError::MissingField {
                format: F,
                field: "fixed convenience fee (tag 56)",
            })?;
            let fee = Money::parse_positive(&v, currency)
                .map_err(|e| ScanError::invalid(F, "convenience fee (tag 56)", e.to_string()))?;
            Ok(Some(TipRule::FixedFee(fee)))
        }
        "03" => {
            let v = pct.ok_or(ScanError::MissingField {
                format: F,
                field: "percentage convenience fee (tag 57)",
            })?;
            let p = parse_plain_decimal(&v)
                .ok()
                .filter(|p| *p > Decimal::ZERO && *p < Decimal::ONE_HUNDRED)
                .ok_or_else(|| {
                    ScanError::invalid(
                        F,
                        "convenience fee (tag 57)",
                        "must be a percentage between 0 and 100",
                    )
                })?;
            Ok(Some(TipRule::Percentage(p)))
        }
        other => Err(ScanError::invalid(
            F,
            "tip indicator (tag 55)",
            format!("{other:?} is not 01, 02 or 03"),
        )),
    }
}
