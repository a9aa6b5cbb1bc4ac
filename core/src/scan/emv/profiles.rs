//! National profiles recognised in merchant-account templates (UnionPay, PIX, PayNow,
//! PromptPay, billtap's bill profile…).

use super::tlv::parse_template;
use super::{BILLTAP_BILL_GUID, BilltapBill, F, MerchantAccount, NationalProfile};
use crate::scan::ScanError;
use crate::scan::types::{Warning, WarningCode};

pub(super) fn profile_of(
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
