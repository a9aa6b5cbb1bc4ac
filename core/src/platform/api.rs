//! Typed responses of the platform API (`docs/api/openapi.yaml`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError};

/// A name in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Names {
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

// Wire money crosses the FFI like core's `Money`, as `"268.40 CNY"`: the amount exactly as the
// platform sent it, one space, the currency.
#[cfg(feature = "uniffi")]
uniffi::custom_type!(ApiMoney, String, {
    lower: |m| format!("{} {}", m.amount, m.currency),
    try_lift: |s| {
        let (amount, currency) = s
            .split_once(' ')
            .ok_or_else(|| uniffi::deps::anyhow::anyhow!("money is \"AMOUNT CURRENCY\", got {s:?}"))?;
        Ok(ApiMoney { amount: amount.into(), currency: currency.into() })
    },
});

/// Money as the API writes it; convert with [`ApiMoney::to_money`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMoney {
    /// Decimal string.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

impl ApiMoney {
    /// Checked conversion (decimals must fit the currency).
    pub fn to_money(&self) -> Result<Money, MoneyError> {
        let currency = Currency::from_alpha(&self.currency)?;
        let amount = crate::money::parse_plain_decimal(&self.amount)?;
        Money::new(amount, currency)
    }
}

/// A sub-category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Subcategory {
    /// `category.sub`.
    pub id: String,
    /// Name in the requested language.
    pub name: String,
    /// Both names.
    pub names: Names,
}

/// A category with its sub-categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Category {
    /// Id.
    pub id: String,
    /// Name in the requested language.
    pub name: String,
    /// Both names.
    pub names: Names,
    /// Sub-categories.
    pub subcategories: Vec<Subcategory>,
}

/// The catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Catalog {
    /// Catalog version.
    pub version: String,
    /// Categories.
    pub categories: Vec<Category>,
    /// True when served from the offline cache because the platform was unreachable.
    #[serde(default, skip_serializing)]
    pub from_cache: bool,
}

/// A lookup field a biller needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LookupField {
    /// Key to send.
    pub key: String,
    /// Label.
    pub label: Names,
    /// Regex the value must match.
    pub pattern: String,
    /// Example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// How a biller's amounts are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AmountRule {
    /// `fixed`, `partial_allowed`, `payer_chosen`.
    pub kind: String,
    /// Minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<ApiMoney>,
    /// Maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<ApiMoney>,
}

/// A registered biller: the verified payee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Biller {
    /// Platform id.
    pub id: String,
    /// Name in the requested language: the payee name to show.
    pub name: String,
    /// Both names.
    pub names: Names,
    /// Sub-category.
    pub category: String,
    /// Region code.
    pub region: String,
    /// Logo URL.
    pub logo_url: String,
    /// Lookup fields.
    pub lookup_fields: Vec<LookupField>,
    /// Amount rule.
    pub amount_rule: AmountRule,
    /// What a payment to it vends besides settling the account: `sts_token` (a keypad
    /// meter's 20-digit token, in the receipt). Absent for ordinary billers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub vends: Option<String>,
}

/// A page of billers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BillerPage {
    /// Billers.
    pub items: Vec<Biller>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// A bill line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LineItem {
    /// What for.
    pub description: String,
    /// How much.
    pub amount: ApiMoney,
}

/// A bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Bill {
    /// Id.
    pub id: String,
    /// Biller id.
    pub biller_id: String,
    /// Verified payee name.
    pub biller_name: String,
    /// Masked account.
    pub account_masked: String,
    /// The account holder's name, masked as utilities print it (`张*明`), so a user can tell
    /// their own bill from another's at the same biller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name_masked: Option<String>,
    /// The address the service is delivered to (the flat the water meter is in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_address: Option<String>,
    /// `YYYYMM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Status.
    pub status: String,
    /// Amount due.
    pub amount_due: ApiMoney,
    /// Due date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// Lines.
    pub line_items: Vec<LineItem>,
    /// Penalties.
    pub penalties: Vec<LineItem>,
}

/// Lookup result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupResult {
    /// The biller.
    pub biller: Biller,
    /// Its bills for the account.
    pub bills: Vec<Bill>,
}

/// Payee resolution of one merchant account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The account that was resolved, echoed so the client can check the answer is for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The merchant-account tag that was resolved, echoed likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_tag: Option<String>,
    /// Registered with the platform.
    pub registered: bool,
    /// The biller, when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biller: Option<Biller>,
    /// Whether the code's printed name matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_matches_code: Option<bool>,
}

/// An RFC 9457 problem body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Type URI.
    #[serde(rename = "type")]
    pub kind: String,
    /// Title.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Field errors.
    #[serde(default)]
    pub errors: Vec<FieldError>,
}

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Field key.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// `POST /v1/bills/lookup` body: an account's bills, by the biller's lookup fields or by the
/// references a scanned bill code carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupRequest {
    /// Biller.
    pub biller_id: String,
    /// Field key → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Scanned references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

/// A reference scanned from a code, as sent to the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// Kind (docs/json.md, e.g. `account_number`).
    pub kind: String,
    /// Value.
    pub value: String,
}

/// `POST /v1/payees/resolve` body: one merchant account of a scanned code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveRequest {
    /// Payload format (`emv_mpm`, …).
    pub scheme: String,
    /// EMV merchant account tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_account_tag: Option<String>,
    /// Merchant account GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    /// Account (billtap profile: the biller id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Name printed in the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee_name_in_code: Option<String>,
}

/// Fails with the first field longer than its `maxLength` in docs/api/openapi.yaml (JSON
/// Schema counts characters, not bytes).
fn check_len(name: &str, value: Option<&str>, max: usize) -> Result<(), String> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(format!("{name} is longer than {max} characters"))
        }
        _ => Ok(()),
    }
}

impl LookupRequest {
    /// The spec's limits on this body; the error says which one is broken.
    pub fn validate(&self) -> Result<(), String> {
        check_len("biller_id", Some(&self.biller_id), 32)?;
        if self.fields.len() > 16 {
            return Err("at most 16 fields".into());
        }
        for (key, value) in &self.fields {
            check_len("fields (key)", Some(key), 32)?;
            check_len(&format!("fields.{key}"), Some(value), 64)?;
        }
        if self.references.len() > 16 {
            return Err("at most 16 references".into());
        }
        for r in &self.references {
            check_len("references.kind", Some(&r.kind), 32)?;
            check_len("references.value", Some(&r.value), 140)?;
        }
        Ok(())
    }
}

impl ResolveRequest {
    /// The spec's limits on this body; the error says which one is broken.
    pub fn validate(&self) -> Result<(), String> {
        check_len("scheme", Some(&self.scheme), 32)?;
        if let Some(tag) = &self.merchant_account_tag
            && !(tag.len() == 2 && tag.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err("merchant_account_tag must be two digits".into());
        }
        check_len("guid", self.guid.as_deref(), 64)?;
        check_len("account", self.account.as_deref(), 99)?;
        check_len("payee_name_in_code", self.payee_name_in_code.as_deref(), 99)
    }
}

/// `POST /v1/devices`: a device announces its payment key (the request is signed with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRegistration {
    /// The device's id (random, chosen by the device).
    pub device_id: String,
    /// Base64 of the uncompressed SEC1 P-256 public key.
    pub public_key: String,
    /// `android`, `ios`, `desktop`, …
    pub platform: String,
    /// The bank customer the device acts for (its funding account, as the bank's login
    /// established it): saved bill accounts are kept per customer, so a new phone gets them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

/// The platform's record of a registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RegisteredDevice {
    /// The device's id.
    pub device_id: String,
    /// When the platform registered it (Unix seconds, platform time).
    pub registered_at: i64,
}

/// `POST /v1/payments/quotes`: what is to be paid, from which account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteRequest {
    /// The bill, when paying one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    /// The verified payee, when paying a payee without a bill (donations, top-ups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biller_id: Option<String>,
    /// The payee's verified account, with `biller_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee_account: Option<String>,
    /// The amount, when the payer chooses it (partial payments, donations); none = the bill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<ApiMoney>,
    /// The payer's account at the bank the money comes from.
    pub funding_account: String,
}

/// A quote: exactly what will be paid, to whom, from where, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Quote {
    /// The quote's id, named in the payment.
    pub quote_id: String,
    /// The bill, when paying one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    /// The payee's platform id.
    pub biller_id: String,
    /// The verified payee name (configured language).
    pub payee_name: String,
    /// The verified account the money goes to.
    pub payee_account: String,
    /// The amount to the payee.
    pub amount: ApiMoney,
    /// The fee on top.
    pub fee: ApiMoney,
    /// The payer's account, masked.
    pub funding_account_masked: String,
    /// Valid until (Unix seconds, platform time).
    pub expires_at: i64,
}

/// `POST /v1/payments`: the device-signed order to pay a quote. The body names the payee
/// account, bill, amount and currency, so the signature covers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    /// The quote paid.
    pub quote_id: String,
    /// The bill, when paying one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    /// The payee.
    pub biller_id: String,
    /// The verified account the money goes to.
    pub payee_account: String,
    /// The amount and currency.
    pub amount: ApiMoney,
    /// The payer's account.
    pub funding_account: String,
}

/// The platform's record of a payment it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Payment {
    /// The platform's payment id.
    pub payment_id: String,
    /// The idempotency key it was made under.
    pub idempotency_key: String,
    /// `succeeded`, or `failed` (refused: nothing was taken; see `failure`).
    pub status: String,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The bill paid, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    /// The payee.
    pub biller_id: String,
    /// The payee's account, masked.
    pub payee_account_masked: String,
    /// The amount paid.
    pub amount: ApiMoney,
    /// The fee charged.
    pub fee: ApiMoney,
    /// When it was accepted (Unix seconds, platform time).
    pub created_at: i64,
    /// The platform's signed receipt (base64url of a COSE_Sign1), for a succeeded payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// How an invoice (fapiao) is to reach the payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum InvoiceDelivery {
    /// An electronic invoice sent to an e-mail address.
    Email {
        /// The address.
        address: String,
    },
    /// A paper invoice to pick up at an outlet (post office) with a pick-up code.
    Outlet {
        /// The outlet; none: the platform picks the payee's nearest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outlet_id: Option<String>,
    },
    /// A paper invoice sent by express post.
    Express {
        /// Who receives it.
        recipient: String,
        /// Their phone number (for the courier).
        phone: String,
        /// The postal address.
        address: String,
    },
}

/// `POST /v1/invoices`: an invoice for a completed payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    /// The platform's transaction id of the payment.
    pub payment_id: String,
    /// The buyer's name on the invoice (a person's name, or a company's).
    pub title: String,
    /// The buyer's taxpayer id, for a company's invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// How it is delivered.
    pub delivery: InvoiceDelivery,
}

/// Where an invoice request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum InvoiceState {
    /// Asked for; the payee has not issued it yet.
    Requested,
    /// Issued: it has an invoice number.
    Issued,
    /// Sent (by e-mail, or handed to the courier).
    Sent,
    /// Waiting at the outlet for its pick-up code.
    ReadyForPickup,
    /// Delivered, or picked up.
    Delivered,
}

impl InvoiceState {
    /// The wire name (`ready_for_pickup`).
    pub fn as_str(&self) -> &'static str {
        match self {
            InvoiceState::Requested => "requested",
            InvoiceState::Issued => "issued",
            InvoiceState::Sent => "sent",
            InvoiceState::ReadyForPickup => "ready_for_pickup",
            InvoiceState::Delivered => "delivered",
        }
    }
}

/// A post-office outlet where paper invoices are picked up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Outlet {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Opening hours.
    pub hours: String,
}

/// The platform's record of an invoice request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Invoice {
    /// Id.
    pub invoice_id: String,
    /// The payment's platform transaction id.
    pub payment_id: String,
    /// The buyer's name on it.
    pub title: String,
    /// `email`, `outlet` or `express`.
    pub delivery_kind: String,
    /// Where it goes, masked (`z***@example.com`, the outlet, `北京市海淀区…`).
    pub destination: String,
    /// Where it stands.
    pub state: InvoiceState,
    /// The invoice number, once issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<String>,
    /// The outlet, for pick-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlet: Option<Outlet>,
    /// The pick-up code the outlet asks for (shown as a QR code), for pick-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pickup_code: Option<String>,
    /// The courier's tracking number, once sent by express.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// The amount invoiced.
    pub amount: ApiMoney,
    /// When it was requested (platform time).
    pub requested_at: i64,
    /// When its state last changed.
    pub updated_at: i64,
}

/// `PUT /v1/saved-accounts/{account_id}`: a bill account to remember.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAccountInput {
    /// The biller.
    pub biller_id: String,
    /// The account at the biller.
    pub account: String,
    /// The family's name for it (`家里的水费`).
    pub nickname: String,
}

/// A saved bill account ("my accounts").
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SavedAccount {
    /// Id (chosen by the device that saved it; stable across devices).
    pub account_id: String,
    /// The biller.
    pub biller_id: String,
    /// The account at the biller.
    pub account: String,
    /// The family's name for it.
    pub nickname: String,
    /// When it was last changed (platform time).
    pub updated_at: i64,
}

impl std::fmt::Debug for SavedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedAccount")
            .field("account_id", &self.account_id)
            .field("biller_id", &self.biller_id)
            .field("account", &crate::platform::mask_account(&self.account))
            .field("nickname", &self.nickname)
            .finish()
    }
}

/// `GET /v1/saved-accounts`: the customer's saved accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAccountList {
    /// The accounts, oldest first.
    pub items: Vec<SavedAccount>,
}

/// What a card answered to INITIALIZE FOR LOAD, as the platform checks it (MAC1 proves the
/// card's balance and counter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardLoadInit {
    /// Balance before the load (fen).
    pub old_balance: u32,
    /// The e-purse's online counter before the load.
    pub counter: u16,
    /// The card's key version.
    pub key_version: u8,
    /// 1: DES/3DES; 4: SM4.
    pub algorithm: u8,
    /// The card's random, hex (4 bytes).
    pub random: String,
    /// MAC1, hex (4 bytes).
    pub mac1: String,
}

/// `POST /v1/topups`: load `amount` onto the card, from the funding account (device-signed,
/// idempotent by key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopupRequest {
    /// The card's application serial number, hex (10 bytes).
    pub card_serial: String,
    /// How much to load.
    pub amount: ApiMoney,
    /// The payer's funding account.
    pub funding_account: String,
    /// The terminal (this phone) id, hex (6 bytes).
    pub terminal: String,
    /// The card's INITIALIZE FOR LOAD answer for this amount and terminal.
    pub init: CardLoadInit,
}

/// `POST /v1/topups/{order_id}/complete`: the card's TAC after CREDIT FOR LOAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopupCompletion {
    /// TAC, hex (4 bytes).
    pub tac: String,
}

/// `POST /v1/topups/{order_id}/settle`: a fresh INITIALIZE FOR LOAD (same amount and
/// terminal) proving whether the card was loaded; `reverse` asks for the money back when it
/// was not (else the platform authorises the load again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopupSettle {
    /// The card's fresh answer.
    pub init: CardLoadInit,
    /// Give the money back instead of authorising again (only when the card proves it was
    /// not loaded).
    #[serde(default)]
    pub reverse: bool,
}

/// A file-based meter card's purchase as the phone asks for it (device-signed, with an
/// idempotency key): the card as read and the challenge its write must be MAC'd over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterCardRequest {
    /// The card's serial (EF 01), 8 bytes of hex.
    pub card_serial: String,
    /// The meter number the card is for.
    pub meter: String,
    /// How much.
    pub amount: ApiMoney,
    /// The payer's funding account.
    pub funding_account: String,
    /// EF 02 as read, 12 bytes of hex.
    pub record: String,
    /// The card's GET CHALLENGE answer, 8 bytes of hex.
    pub challenge: String,
}

/// One command of an APDU script and the status word it must answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptCommand {
    /// The command APDU, hex.
    pub apdu: String,
    /// The status word it must answer, hex (`9000`).
    pub expect: String,
}

/// The platform's record of a meter-card purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterCardOrder {
    /// Id.
    pub order_id: String,
    /// `authorised`, `completed`, `reversed`.
    pub state: String,
    /// Amount.
    pub amount: ApiMoney,
    /// For an authorised order: the script that writes the purchase, for the card's current
    /// challenge (run in order; stop at the first status word that differs).
    #[serde(default)]
    pub script: Vec<ScriptCommand>,
    /// What EF 02 reads once the purchase is on the card, 12 bytes of hex.
    pub expected_record: String,
    /// The signed receipt, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// What the card's EF 02 reads after a script or at the next tap; with a fresh challenge the
/// platform answers a purchase the card does not hold yet with a new script for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterCardReport {
    /// EF 02, 12 bytes of hex.
    pub record: String,
    /// A fresh GET CHALLENGE answer, 8 bytes of hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

/// The platform's record of a top-up order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopupOrder {
    /// Id.
    pub order_id: String,
    /// `authorised` (MAC2 issued, the card may be credited), `completed` (the card is loaded),
    /// `reversed` (not loaded; the money returned).
    pub state: String,
    /// The card, masked.
    pub card_serial_masked: String,
    /// The amount.
    pub amount: ApiMoney,
    /// The card's online counter the authorisation is for.
    pub counter: u16,
    /// MAC2, hex, while authorised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac2: Option<String>,
    /// The load's date `YYYYMMDD`, while authorised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The load's time `hhmmss`, while authorised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The signed receipt (base64url COSE_Sign1), once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// One accepted payment as `GET /admin/ledger` lists it (tests count these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The platform's payment id.
    pub payment_id: String,
    /// The bill, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    /// The payee's account, in full (admin only).
    pub payee_account: String,
    /// The amount.
    pub amount: String,
    /// The currency.
    pub currency: String,
    /// The idempotency key.
    pub idempotency_key: String,
    /// The device that signed it.
    pub device_id: String,
    /// `succeeded` for a payment; a top-up's `authorised`, `completed` or `reversed`.
    pub status: String,
    /// `topup` for a card load (the card's serial in `payee_account`); absent for payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}
