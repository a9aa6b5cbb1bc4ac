//! Typed responses of the platform API (`docs/api/openapi.yaml`).

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError};

/// A name in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names {
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

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
}

/// A page of billers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerPage {
    /// Billers.
    pub items: Vec<Biller>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// A bill line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// What for.
    pub description: String,
    /// How much.
    pub amount: ApiMoney,
}

/// A bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    /// Id.
    pub id: String,
    /// Biller id.
    pub biller_id: String,
    /// Verified payee name.
    pub biller_name: String,
    /// Masked account.
    pub account_masked: String,
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

/// Payee resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
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
