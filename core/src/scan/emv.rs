//! EMVCo Merchant-Presented Mode QR (EMV QRCPS-MPM 1.1) and the national profiles built on it.
//!
//! Lengths count characters, not bytes: the spec's own example carries a Chinese language
//! template whose 20 characters are 32 UTF-8 bytes. The CRC covers the UTF-8 bytes.

use rust_decimal::Decimal;
use serde::Serialize;

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

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as EMV QR tag 63 requires.
pub fn crc16_ccitt_false(bytes: &[u8]) -> u16 {
    crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740).checksum(bytes)
}

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

/// One TLV element: tag 00–99, value as characters.
#[derive(Debug, Clone)]
struct Tlv {
    tag: u8,
    value: String,
}

fn two_digits(chars: &[char], at: usize) -> Option<u8> {
    let a = chars.get(at)?.to_digit(10)?;
    let b = chars.get(at + 1)?.to_digit(10)?;
    u8::try_from(a * 10 + b).ok()
}

/// Splits a TLV string into elements; lengths count characters.
fn parse_tlv(chars: &[char], base: usize) -> Result<Vec<Tlv>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let pos = base + i;
        let tag = two_digits(chars, i)
            .ok_or_else(|| format!("expected a two-digit tag at character {pos}"))?;
        let len = two_digits(chars, i + 2).ok_or_else(|| {
            format!(
                "expected a two-digit length for tag {tag:02} at character {}",
                pos + 2
            )
        })? as usize;
        let start = i + 4;
        let value: String = chars
            .get(start..start + len)
            .ok_or_else(|| {
                format!(
                    "tag {tag:02} says {len} characters but only {} remain",
                    chars.len().saturating_sub(start)
                )
            })?
            .iter()
            .collect();
        out.push(Tlv { tag, value });
        i = start + len;
    }
    Ok(out)
}

fn parse_template(value: &str, tag: &str, depth: usize) -> Result<Vec<Tlv>, ScanError> {
    if depth > MAX_DEPTH {
        return Err(ScanError::malformed(
            F,
            format!("template {tag} is nested too deeply"),
        ));
    }
    let chars: Vec<char> = value.chars().collect();
    let fields = parse_tlv(&chars, 0)
        .map_err(|e| ScanError::malformed(F, format!("inside template {tag}: {e}")))?;
    check_unique(&fields, tag)?;
    Ok(fields)
}

fn check_unique(fields: &[Tlv], within: &str) -> Result<(), ScanError> {
    let mut seen = [false; 100];
    for f in fields {
        let slot = seen.get_mut(usize::from(f.tag));
        match slot {
            Some(s) if *s => {
                return Err(ScanError::malformed(
                    F,
                    if within.is_empty() {
                        format!("tag {:02} appears twice", f.tag)
                    } else {
                        format!("tag {:02} appears twice inside template {within}", f.tag)
                    },
                ));
            }
            Some(s) => *s = true,
            None => {}
        }
    }
    Ok(())
}

/// A sub-field of a template: tag and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SubField {
    /// Two-digit tag.
    pub tag: String,
    /// Value as written.
    pub value: String,
}

/// A merchant account (tags 02–51): a plain value for card networks (02–25) or a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MerchantAccount {
    /// Two-digit tag.
    pub tag: String,
    /// The globally unique identifier (sub-tag 00) of a template.
    pub guid: Option<String>,
    /// The plain value of tags 02–25.
    pub value: Option<String>,
    /// The template's other sub-fields.
    pub fields: Vec<SubField>,
}

impl MerchantAccount {
    fn sub(&self, tag: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.tag == tag)
            .map(|f| f.value.as_str())
    }
}

/// A recognised national or scheme profile, from a merchant account's GUID or tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "profile", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum NationalProfile {
    /// China UnionPay (tag 15 or 16): acquirer IIN, forwarding IIN, merchant id.
    UnionPay {
        /// Acquirer institution id (8 digits).
        acquirer_iin: String,
        /// Forwarding institution id (8 digits).
        forwarding_iin: String,
        /// Merchant id (15 characters).
        merchant_id: String,
    },
    /// Brazil PIX (`br.gov.bcb.pix`).
    Pix {
        /// The PIX key (static) — e-mail, phone, CPF/CNPJ or random key.
        key: Option<String>,
        /// Free text for the payer.
        info: Option<String>,
        /// The dynamic-charge URL (dynamic codes).
        url: Option<String>,
    },
    /// Singapore PayNow (`SG.PAYNOW`).
    PayNow {
        /// Proxy type: 0 mobile, 2 UEN.
        proxy_type: Option<String>,
        /// Mobile number or UEN.
        proxy_value: Option<String>,
        /// Whether the payer may edit the amount.
        amount_editable: Option<bool>,
        /// Expiry date (YYYYMMDD).
        expiry: Option<String>,
    },
    /// Thailand PromptPay credit transfer (`A000000677010111` / `…0114`).
    PromptPayTransfer {
        /// Mobile, national id / tax id, or e-wallet id.
        account_type: String,
        /// The account.
        account: String,
    },
    /// Thailand PromptPay bill payment (`A000000677010112`).
    PromptPayBill {
        /// Biller id (tax id + suffix).
        biller_id: Option<String>,
        /// Reference 1.
        ref1: Option<String>,
        /// Reference 2.
        ref2: Option<String>,
    },
    /// Malaysia DuitNow (`A0000006150001`).
    DuitNow {
        /// Account or proxy fields as given.
        fields: Vec<SubField>,
    },
    /// Indonesia QRIS (`ID.CO.QRIS.WWW`).
    Qris {
        /// National merchant id.
        nmid: Option<String>,
        /// Merchant criteria (UMI, UKE, UME, UBE, URE).
        criteria: Option<String>,
    },
    /// Vietnam VietQR / NAPAS 247 (`A000000727`).
    VietQr {
        /// Acquirer bank BIN.
        acquirer_bin: Option<String>,
        /// Beneficiary account or card number.
        account: Option<String>,
        /// Service code: `QRIBFTTA` to account, `QRIBFTTC` to card.
        service: Option<String>,
    },
    /// billtap's own bill profile: a printed bill that any EMV reader can read.
    Billtap(BilltapBill),
}

/// The billtap bill profile's fields (merchant-account template, GUID [`BILLTAP_BILL_GUID`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BilltapBill {
    /// The platform's biller id (sub-tag 01).
    pub biller_id: String,
    /// The payer's account number at the biller (sub-tag 02).
    pub account: String,
    /// A specific bill on the platform (sub-tag 03), when the code is for one bill.
    pub bill_id: Option<String>,
    /// The billing period, `YYYYMM` (sub-tag 04).
    pub period: Option<String>,
}

/// How a tip or convenience fee is taken (tags 55–57).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", content = "value", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum TipRule {
    /// The payer is asked for a tip.
    Prompt,
    /// A fixed convenience fee.
    FixedFee(Money),
    /// A percentage convenience fee.
    Percentage(Decimal),
}

/// Additional data (tag 62), sub-fields 01–11 by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AdditionalData {
    /// 01 bill number.
    pub bill_number: Option<String>,
    /// 02 mobile number.
    pub mobile_number: Option<String>,
    /// 03 store label.
    pub store_label: Option<String>,
    /// 04 loyalty number.
    pub loyalty_number: Option<String>,
    /// 05 reference label.
    pub reference_label: Option<String>,
    /// 06 customer label.
    pub customer_label: Option<String>,
    /// 07 terminal label.
    pub terminal_label: Option<String>,
    /// 08 purpose of transaction.
    pub purpose: Option<String>,
    /// 09 additional consumer data request (A address, M mobile, E e-mail).
    pub consumer_data_request: Option<String>,
    /// 10 merchant tax id.
    pub merchant_tax_id: Option<String>,
    /// 11 merchant channel.
    pub merchant_channel: Option<String>,
    /// Other sub-fields (RFU and payment-system templates 50–99), as written.
    pub other: Vec<SubField>,
}

/// The merchant's name and city in a local language (tag 64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LanguageTemplate {
    /// 00 language preference (ISO 639-1, e.g. `ZH`).
    pub language: Option<String>,
    /// 01 merchant name in that language.
    pub name: Option<String>,
    /// 02 merchant city in that language.
    pub city: Option<String>,
}

/// A parsed EMV merchant-presented QR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EmvMerchant {
    /// 00 payload format indicator (`01`).
    pub payload_format: Option<String>,
    /// 01 point of initiation (`11` static, `12` dynamic).
    pub point_of_initiation: Option<String>,
    /// 02–51 merchant accounts.
    pub merchant_accounts: Vec<MerchantAccount>,
    /// Profiles recognised among the merchant accounts.
    pub profiles: Vec<NationalProfile>,
    /// 52 merchant category code.
    pub mcc: Option<String>,
    /// 53 transaction currency.
    pub currency: Option<Currency>,
    /// 54 transaction amount.
    pub amount: Option<Money>,
    /// 55–57 tip or convenience fee.
    pub tip: Option<TipRule>,
    /// 58 country code (ISO 3166-1 alpha-2).
    pub country: Option<String>,
    /// 59 merchant name.
    pub merchant_name: Option<String>,
    /// 60 merchant city.
    pub merchant_city: Option<String>,
    /// 61 postal code.
    pub postal_code: Option<String>,
    /// 62 additional data.
    pub additional: AdditionalData,
    /// 64 language template.
    pub language: Option<LanguageTemplate>,
    /// 80–99 unreserved templates (GUID first).
    pub unreserved: Vec<MerchantAccount>,
    /// 63 CRC as written.
    pub crc: String,
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

fn verify_crc(t: &str, top: &[Tlv]) -> Result<(), ScanError> {
    let last = top
        .last()
        .ok_or_else(|| ScanError::malformed(F, "no fields"))?;
    if last.tag != 63 {
        if top.iter().any(|f| f.tag == 63) {
            return Err(ScanError::malformed(
                F,
                "the CRC (tag 63) must be the last field",
            ));
        }
        return Err(ScanError::MissingField {
            format: F,
            field: "CRC (tag 63)",
        });
    }
    if last.value.len() != 4 || !last.value.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ScanError::invalid(
            F,
            "CRC (tag 63)",
            "must be exactly 4 hexadecimal digits",
        ));
    }
    // Tag 63 is the last field and its value is 4 ASCII characters, so the covered bytes are
    // everything but the last 4 bytes.
    let covered = t.len().saturating_sub(4);
    let bytes = t
        .as_bytes()
        .get(..covered)
        .ok_or_else(|| ScanError::malformed(F, "too short"))?;
    let computed = format!("{:04X}", crc16_ccitt_false(bytes));
    if !computed.eq_ignore_ascii_case(&last.value) {
        return Err(ScanError::Checksum {
            format: F,
            stated: last.value.to_ascii_uppercase(),
            computed,
        });
    }
    Ok(())
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

fn profile_of(
    acct: &MerchantAccount,
    warnings: &mut Vec<Warning>,
) -> Result<Option<NationalProfile>, ScanError> {
    let own = |t: &str| acct.sub(t).map(str::to_string);
    if let Some(v) = &acct.value {
        if acct.tag == "15" || acct.tag == "16" {
            let c: Vec<char> = v.chars().collect();
            if c.len() != 31 || !c.iter().all(char::is_ascii_alphanumeric) {
                warnings.push(Warning::new(
                    WarningCode::UnexpectedValue,
                    format!(
                        "UnionPay merchant account has {} characters, expected 31",
                        c.len()
                    ),
                ));
                return Ok(None);
            }
            let s =
                |a: usize, b: usize| c.get(a..b).map(|x| x.iter().collect()).unwrap_or_default();
            return Ok(Some(NationalProfile::UnionPay {
                acquirer_iin: s(0, 8),
                forwarding_iin: s(8, 16),
                merchant_id: s(16, 31),
            }));
        }
        return Ok(None);
    }
    let Some(guid) = acct.guid.as_deref() else {
        return Ok(None);
    };
    let g = guid.to_ascii_uppercase();
    let p = if g == "BR.GOV.BCB.PIX" {
        NationalProfile::Pix {
            key: own("01"),
            info: own("02"),
            url: own("25"),
        }
    } else if g == "SG.PAYNOW" {
        NationalProfile::PayNow {
            proxy_type: own("01"),
            proxy_value: own("02"),
            amount_editable: acct.sub("03").map(|v| v == "1"),
            expiry: own("04"),
        }
    } else if g == "A000000677010111" || g == "A000000677010114" {
        let (account_type, account) = [("01", "mobile"), ("02", "national_id"), ("03", "e_wallet")]
            .iter()
            .find_map(|(t, name)| acct.sub(t).map(|v| (name.to_string(), v.to_string())))
            .ok_or(ScanError::MissingField {
                format: F,
                field: "PromptPay account",
            })?;
        NationalProfile::PromptPayTransfer {
            account_type,
            account,
        }
    } else if g == "A000000677010112" {
        NationalProfile::PromptPayBill {
            biller_id: own("01"),
            ref1: own("02"),
            ref2: own("03"),
        }
    } else if g == "A0000006150001" {
        NationalProfile::DuitNow {
            fields: acct.fields.clone(),
        }
    } else if g == "ID.CO.QRIS.WWW" {
        NationalProfile::Qris {
            nmid: own("02"),
            criteria: own("03"),
        }
    } else if g == "A000000727" {
        let inner = match acct.sub("01") {
            Some(v) => parse_template(v, &format!("{}.01", acct.tag), 2)?,
            None => Vec::new(),
        };
        let get = |t: u8| inner.iter().find(|c| c.tag == t).map(|c| c.value.clone());
        NationalProfile::VietQr {
            acquirer_bin: get(0),
            account: get(1),
            service: own("02"),
        }
    } else if g == BILLTAP_BILL_GUID {
        let biller_id = own("01")
            .filter(|v| !v.is_empty())
            .ok_or(ScanError::MissingField {
                format: F,
                field: "billtap biller id (sub-tag 01)",
            })?;
        let account = own("02")
            .filter(|v| !v.is_empty())
            .ok_or(ScanError::MissingField {
                format: F,
                field: "billtap account number (sub-tag 02)",
            })?;
        let period = own("04");
        if let Some(p) = &period {
            let ok = p.len() == 6
                && p.chars().all(|c| c.is_ascii_digit())
                && p.get(4..6)
                    .and_then(|m| m.parse::<u8>().ok())
                    .is_some_and(|m| (1..=12).contains(&m));
            if !ok {
                return Err(ScanError::invalid(
                    F,
                    "billtap billing period (sub-tag 04)",
                    "must be YYYYMM",
                ));
            }
        }
        NationalProfile::Billtap(BilltapBill {
            biller_id,
            account,
            bill_id: own("03"),
            period,
        })
    } else {
        return Ok(None);
    };
    Ok(Some(p))
}

/// Builds EMV MPM payloads (format indicator first, CRC last) for printing bills and tests.
#[derive(Debug, Clone, Default)]
pub struct EmvWriter {
    fields: Vec<(u8, String)>,
}

impl EmvWriter {
    /// Starts a payload with format indicator `01` and the given point of initiation.
    pub fn new(initiation: Initiation) -> Self {
        let poi = match initiation {
            Initiation::Static => "11",
            Initiation::Dynamic => "12",
        };
        EmvWriter {
            fields: vec![(0, "01".into()), (1, poi.into())],
        }
    }

    /// Adds a plain field.
    pub fn field(mut self, tag: u8, value: impl Into<String>) -> Self {
        self.fields.push((tag, value.into()));
        self
    }

    /// Adds a template built from sub-fields.
    pub fn template(mut self, tag: u8, subs: &[(u8, &str)]) -> Self {
        let mut v = String::new();
        for (t, s) in subs {
            v.push_str(&format!("{t:02}{:02}{s}", s.chars().count()));
        }
        self.fields.push((tag, v));
        self
    }

    /// Adds billtap's bill template (tag 26) for a biller, account and optional bill/period.
    pub fn billtap_bill(self, bill: &BilltapBill) -> Self {
        let mut subs: Vec<(u8, &str)> = vec![
            (0, BILLTAP_BILL_GUID),
            (1, &bill.biller_id),
            (2, &bill.account),
        ];
        if let Some(b) = &bill.bill_id {
            subs.push((3, b));
        }
        if let Some(p) = &bill.period {
            subs.push((4, p));
        }
        self.template(26, &subs)
    }

    /// Serialises the fields and appends the CRC; refuses values over 99 characters.
    pub fn build(self) -> Result<String, ScanError> {
        let mut out = String::new();
        for (tag, v) in &self.fields {
            let n = v.chars().count();
            if n > 99 || *tag > 99 {
                return Err(ScanError::invalid(
                    F,
                    "field",
                    format!("tag {tag:02} value has {n} characters; at most 99"),
                ));
            }
            out.push_str(&format!("{tag:02}{n:02}{v}"));
        }
        out.push_str("6304");
        let crc = crc16_ccitt_false(out.as_bytes());
        out.push_str(&format!("{crc:04X}"));
        Ok(out)
    }
}
