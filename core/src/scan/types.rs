//! The one typed result of parsing a payment code, and the scan error enum.

use std::fmt;

use serde::Serialize;

use super::{
    EInvoice, EmvMerchant, EpcTransfer, GostPayment, Spayd, SwissBill, UpiPayment, WalletLink,
};
use crate::money::{Currency, Money};

/// Which payload format a code carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Format {
    /// EMVCo Merchant-Presented Mode (incl. UnionPay, PIX, PayNow, PromptPay, billtap bills…).
    EmvMpm,
    /// EMVCo Consumer-Presented Mode: a customer's own payment code.
    EmvCpm,
    /// Swiss QR-bill (SIX Implementation Guidelines 2.x).
    SwissQrBill,
    /// EPC069-12 SEPA credit transfer ("GiroCode").
    Epc,
    /// Indian UPI deep link (`upi://pay`).
    Upi,
    /// Russian GOST R 56042-2014 payment document (utility bills).
    Gost,
    /// Czech Short Payment Descriptor (`SPD*`).
    Spayd,
    /// Chinese e-invoice verification code (not payable).
    ChineseEInvoice,
    /// A link that only a named external wallet app can pay.
    Wallet,
    /// A billtap payment receipt (`BTR1:`), to verify against the platform's keys.
    Receipt,
    /// Content that is not a payment code billtap knows.
    Unknown,
}

impl Format {
    /// A stable snake_case name, as used in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::EmvMpm => "emv_mpm",
            Format::EmvCpm => "emv_cpm",
            Format::SwissQrBill => "swiss_qr_bill",
            Format::Epc => "epc",
            Format::Upi => "upi",
            Format::Gost => "gost",
            Format::Spayd => "spayd",
            Format::ChineseEInvoice => "chinese_e_invoice",
            Format::Wallet => "wallet",
            Format::Receipt => "receipt",
            Format::Unknown => "unknown",
        }
    }

    /// A human name for messages.
    pub fn human(&self) -> &'static str {
        match self {
            Format::EmvMpm => "EMV merchant QR",
            Format::EmvCpm => "EMV customer payment code",
            Format::SwissQrBill => "Swiss QR-bill",
            Format::Epc => "EPC (SEPA) QR",
            Format::Upi => "UPI QR",
            Format::Gost => "GOST R 56042 payment QR",
            Format::Spayd => "SPAYD QR",
            Format::ChineseEInvoice => "Chinese e-invoice code",
            Format::Wallet => "wallet link",
            Format::Receipt => "billtap receipt",
            Format::Unknown => "QR code",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.human())
    }
}

/// Whether a code is reusable (static) or made for one payment (dynamic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Initiation {
    /// Reusable: the payer usually enters the amount (EMV tag 01 = 11).
    Static,
    /// One payment with its amount fixed by the payee (EMV tag 01 = 12).
    Dynamic,
}

/// What a bill reference means, so the lookup step can send it to the right field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum RefKind {
    /// A bill or invoice number (EMV 62.01, Swico invoice number, GOST DocNo).
    BillNumber,
    /// A free reference label (EMV 62.05, UPI `tr`).
    Reference,
    /// The purpose of the payment (EMV 62.08, GOST Purpose).
    Purpose,
    /// The payer's account or customer number at the biller.
    AccountNumber,
    /// The platform's biller id (billtap bill profile, PromptPay biller id).
    BillerId,
    /// PromptPay / Thai bill payment reference 1.
    Ref1,
    /// PromptPay / Thai bill payment reference 2.
    Ref2,
    /// Swiss QR reference (27 digits).
    SwissQrReference,
    /// ISO 11649 creditor reference (`RF…`).
    CreditorReference,
    /// Unstructured remittance text.
    Message,
    /// A customer label (EMV 62.06).
    CustomerLabel,
    /// A terminal label (EMV 62.07).
    Terminal,
    /// A store label (EMV 62.03).
    Store,
    /// A mobile number (EMV 62.02).
    Mobile,
    /// Czech variable symbol (`X-VS`).
    VariableSymbol,
    /// Czech specific symbol (`X-SS`).
    SpecificSymbol,
    /// Czech constant symbol (`X-KS`).
    ConstantSymbol,
    /// Billing period (GOST PaymPeriod, billtap profile period).
    Period,
    /// Unique accrual identifier (GOST UIN) or similar government payment id.
    PaymentId,
    /// A specific bill id on the platform (billtap bill profile).
    BillId,
    /// Invoice date from structured billing information.
    InvoiceDate,
}

impl RefKind {
    /// The reference's name in words, for messages.
    pub fn label(&self) -> &'static str {
        match self {
            RefKind::BillNumber => "bill number",
            RefKind::Reference => "reference",
            RefKind::Purpose => "purpose",
            RefKind::AccountNumber => "account number",
            RefKind::BillerId => "biller id",
            RefKind::Ref1 => "reference 1",
            RefKind::Ref2 => "reference 2",
            RefKind::SwissQrReference => "QR reference",
            RefKind::CreditorReference => "creditor reference",
            RefKind::Message => "message",
            RefKind::CustomerLabel => "customer label",
            RefKind::Terminal => "terminal label",
            RefKind::Store => "store label",
            RefKind::Mobile => "mobile number",
            RefKind::VariableSymbol => "variable symbol",
            RefKind::SpecificSymbol => "specific symbol",
            RefKind::ConstantSymbol => "constant symbol",
            RefKind::Period => "billing period",
            RefKind::PaymentId => "payment id",
            RefKind::BillId => "bill id",
            RefKind::InvoiceDate => "invoice date",
        }
    }
}

/// One bill reference carried by a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BillReference {
    /// What it means.
    pub kind: RefKind,
    /// Its value as printed.
    pub value: String,
}

/// One named value of a format's own (a GOST requisite, a UPI or SPAYD parameter), in the
/// order the code gives them. Serialized as a `[name, value]` pair (docs/json.md).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NamedValue {
    /// The name as written in the code.
    pub name: String,
    /// The value.
    pub value: String,
}

impl From<(String, String)> for NamedValue {
    fn from((name, value): (String, String)) -> Self {
        NamedValue { name, value }
    }
}

impl Serialize for NamedValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.name, &self.value).serialize(s)
    }
}

/// Why a warning was raised, for hosts that want to react to a specific one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum WarningCode {
    /// A version or format indicator this parser does not know.
    UnknownVersion,
    /// A mandatory field is missing, but the code can still be used.
    MissingField,
    /// A field has an unexpected value that was ignored.
    UnexpectedValue,
    /// A construct the standard no longer allows (e.g. Swiss combined addresses).
    Deprecated,
    /// A value must be confirmed or entered by the payer.
    PayerInput,
    /// A checksum could not be verified.
    Unverified,
}

/// Something odd about a code that does not stop it being used; shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Warning {
    /// Machine-readable reason.
    pub code: WarningCode,
    /// A sentence a person can read.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(code: WarningCode, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
        }
    }
}

/// The format-specific details behind the common view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "format", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Detail {
    /// EMVCo merchant QR.
    EmvMpm(EmvMerchant),
    /// Swiss QR-bill.
    SwissQrBill(SwissBill),
    /// EPC SEPA transfer.
    Epc(EpcTransfer),
    /// UPI deep link.
    Upi(UpiPayment),
    /// GOST R 56042.
    Gost(GostPayment),
    /// SPAYD.
    Spayd(Spayd),
    /// Chinese e-invoice verification code.
    ChineseEInvoice(EInvoice),
    /// External wallet link.
    Wallet(WalletLink),
    /// A payment receipt (unverified until checked against pinned keys).
    Receipt(crate::receipts::ReceiptCode),
}

/// A parsed payment code: one common view for bill lookup plus the format's own details.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Scanned {
    /// The format the code carries.
    pub format: Format,
    /// Whether billtap can pay it itself (false for e-invoices and external wallets).
    pub payable: bool,
    /// The payee name printed in the code; never shown as verified (the platform verifies it).
    pub payee_name: Option<String>,
    /// The payee name in the local language (EMV tag 64), when given.
    pub payee_name_local: Option<String>,
    /// The payee's city, when given.
    pub payee_city: Option<String>,
    /// The amount, if the code fixes one.
    pub amount: Option<Money>,
    /// The currency, even when no amount is fixed.
    pub currency: Option<Currency>,
    /// Bill references for the lookup step, in the order the code gives them.
    pub references: Vec<BillReference>,
    /// Static (reusable) or dynamic (one payment).
    pub initiation: Initiation,
    /// Things the user should know; empty for a clean code.
    pub warnings: Vec<Warning>,
    /// The format's own fields.
    pub detail: Detail,
}

impl Scanned {
    /// The first reference of a kind, if any.
    pub fn reference(&self, kind: RefKind) -> Option<&str> {
        self.references
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.value.as_str())
    }

    /// The payee name to compare with the platform's record: the local-language name when
    /// the code has one (Latin transliterations vary between printers), else the Latin one.
    pub fn printed_payee_name(&self) -> Option<&str> {
        self.payee_name_local
            .as_deref()
            .or(self.payee_name.as_deref())
    }

    /// Whether the code is static (reusable, amount usually entered by the payer).
    pub fn is_static(&self) -> bool {
        self.initiation == Initiation::Static
    }

    /// Static unless the code fixes an amount: for formats without an explicit indicator.
    pub(crate) fn initiation_from_amount(amount: &Option<Money>) -> Initiation {
        if amount.is_some() {
            Initiation::Dynamic
        } else {
            Initiation::Static
        }
    }

    /// A payable credit transfer (Swiss, EPC, UPI, GOST, SPAYD): no local-language name, and
    /// static exactly when the payer enters the amount.
    pub(crate) fn transfer(
        format: Format,
        payee_name: Option<String>,
        amount: Option<Money>,
        currency: Currency,
        references: Vec<BillReference>,
        warnings: Vec<Warning>,
        detail: Detail,
    ) -> Scanned {
        Scanned {
            format,
            payable: true,
            payee_name,
            payee_name_local: None,
            payee_city: None,
            amount,
            currency: Some(currency),
            references,
            initiation: Scanned::initiation_from_amount(&amount),
            warnings,
            detail,
        }
    }
}

/// Why a decoded code's content is not a usable payment (a code was found; its content
/// failed): the form a [`ScanError`] takes inside a result, in JSON and across the FFI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ScanProblem {
    /// Stable snake_case code (`checksum`, `invalid_field`, …; [`ScanError::code`]).
    pub code: String,
    /// The format recognised ([`Format::Unknown`] when none was).
    pub format: Format,
    /// A sentence a person can act on.
    pub message: String,
}

impl From<&ScanError> for ScanProblem {
    fn from(e: &ScanError) -> Self {
        ScanProblem {
            code: e.code().to_string(),
            format: e.format(),
            message: e.to_string(),
        }
    }
}

/// Why a code could not be used, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// No content at all.
    #[error("the QR code is empty")]
    Empty,
    /// The bytes are not text in any encoding billtap reads.
    #[error("the QR code's content is not readable text (tried UTF-8 and GB18030)")]
    Undecodable,
    /// A customer-presented code was scanned where a bill was expected.
    #[error(
        "this is a customer's payment code, not a bill: it is for a shop's till to scan, not for paying from this app"
    )]
    ConsumerPresented,
    /// Content billtap does not recognise as a payment.
    #[error("this QR code is not a payment code billtap knows (it starts with {preview:?})")]
    NotPayment {
        /// The first characters, control characters removed.
        preview: String,
    },
    /// A checksum in the code does not match its content.
    #[error(
        "{format}: the checksum does not match (the code says {stated}, its content gives {computed}); the code is damaged or was altered, do not pay from it"
    )]
    Checksum {
        /// The format.
        format: Format,
        /// The checksum written in the code.
        stated: String,
        /// The checksum computed over the content.
        computed: String,
    },
    /// The structure is broken (bad length, truncated, wrong line count…).
    #[error("{format}: the code is malformed: {reason}")]
    Malformed {
        /// The format.
        format: Format,
        /// What is broken.
        reason: String,
    },
    /// A field needed to pay is missing.
    #[error("{format}: the {field} is missing")]
    MissingField {
        /// The format.
        format: Format,
        /// The field, in words.
        field: &'static str,
    },
    /// A field has a value that cannot be right.
    #[error("{format}: the {field} is invalid: {reason}")]
    InvalidField {
        /// The format.
        format: Format,
        /// The field, in words.
        field: &'static str,
        /// Why it is wrong.
        reason: String,
    },
    /// The frame given for decoding is inconsistent (size, stride, region).
    #[error("the camera frame is invalid: {0}")]
    BadFrame(String),
    /// A QR code could not be rendered (too much data, …).
    #[error("cannot render a QR code: {0}")]
    Render(String),
}

impl ScanError {
    /// The format the error is about ([`Format::Unknown`] when none was recognised).
    pub fn format(&self) -> Format {
        match self {
            ScanError::ConsumerPresented => Format::EmvCpm,
            ScanError::Checksum { format, .. }
            | ScanError::Malformed { format, .. }
            | ScanError::MissingField { format, .. }
            | ScanError::InvalidField { format, .. } => *format,
            _ => Format::Unknown,
        }
    }

    /// A stable snake_case code for JSON and host-side handling.
    pub fn code(&self) -> &'static str {
        match self {
            ScanError::Empty => "empty",
            ScanError::Undecodable => "undecodable",
            ScanError::ConsumerPresented => "consumer_presented",
            ScanError::NotPayment { .. } => "not_payment",
            ScanError::Checksum { .. } => "checksum",
            ScanError::Malformed { .. } => "malformed",
            ScanError::MissingField { .. } => "missing_field",
            ScanError::InvalidField { .. } => "invalid_field",
            ScanError::BadFrame(_) => "bad_frame",
            ScanError::Render(_) => "render",
        }
    }

    pub(crate) fn malformed(format: Format, reason: impl Into<String>) -> Self {
        ScanError::Malformed {
            format,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(format: Format, field: &'static str, reason: impl Into<String>) -> Self {
        ScanError::InvalidField {
            format,
            field,
            reason: reason.into(),
        }
    }
}
