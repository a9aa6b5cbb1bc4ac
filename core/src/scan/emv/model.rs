//! What an EMV merchant code holds, as parsed: accounts, profiles, additional data.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::{Currency, Money};

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
    pub(super) fn sub(&self, tag: &str) -> Option<&str> {
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
