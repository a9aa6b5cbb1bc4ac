//! The JSON shapes of `docs/api/openapi.yaml`, and the seeded billers.

use serde::{Deserialize, Serialize};

use crate::catalog::{self, Names, RuleKind};

/// Money as the API carries it: a decimal string and a currency.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Money {
    /// Decimal string with two decimals for CNY.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

impl Money {
    /// CNY from fen.
    pub fn cny(fen: i64) -> Self {
        Money {
            amount: format!("{}.{:02}", fen / 100, fen % 100),
            currency: "CNY".into(),
        }
    }
}

/// A lookup field a biller needs.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LookupField {
    /// Field key.
    pub key: String,
    /// Label in both languages.
    pub label: Names,
    /// Regex the value must match in full.
    pub pattern: String,
    /// An example value.
    pub example: String,
}

/// How amounts are set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AmountRule {
    /// `fixed`, `partial_allowed` or `payer_chosen`.
    pub kind: String,
    /// Minimum (payer-chosen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<Money>,
    /// Maximum (payer-chosen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<Money>,
}

/// A registered biller.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Biller {
    /// Platform id, e.g. `BJ-WATER-001`.
    pub id: String,
    /// Name in the requested language.
    pub name: String,
    /// Both names.
    pub names: Names,
    /// Sub-category id.
    pub category: String,
    /// GB/T 2260 region code.
    pub region: String,
    /// Logo URL.
    pub logo_url: String,
    /// Lookup fields.
    pub lookup_fields: Vec<LookupField>,
    /// Amount rule.
    pub amount_rule: AmountRule,
}

impl Biller {
    /// The same biller with `name` in the requested language.
    pub fn localized(&self, zh: bool) -> Biller {
        Biller {
            name: if zh {
                self.names.zh.clone()
            } else {
                self.names.en.clone()
            },
            ..self.clone()
        }
    }
}

/// Every seeded biller: each sub-category in each of the eight cities.
pub fn billers(base_url: &str) -> Vec<Biller> {
    let mut out = Vec::new();
    for cat in catalog::categories() {
        for sub in &cat.subs {
            let short = sub
                .id
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase()
                .replace('_', "-");
            for (region, city, city_zh, city_en) in catalog::CITIES {
                let id = format!("{city}-{short}-001");
                let (key, zh, en, pattern, example) = sub.field.spec();
                let amount_rule = match sub.rule {
                    RuleKind::Fixed => AmountRule {
                        kind: "fixed".into(),
                        min: None,
                        max: None,
                    },
                    RuleKind::Partial => AmountRule {
                        kind: "partial_allowed".into(),
                        min: Some(Money::cny(1)),
                        max: None,
                    },
                    RuleKind::PayerChosen { min_fen, max_fen } => AmountRule {
                        kind: "payer_chosen".into(),
                        min: Some(Money::cny(min_fen)),
                        max: Some(Money::cny(max_fen)),
                    },
                };
                out.push(Biller {
                    name: format!("{city_zh}{}", sub.biller_noun.0),
                    names: Names {
                        zh: format!("{city_zh}{}", sub.biller_noun.0),
                        en: format!("{city_en} {}", sub.biller_noun.1),
                    },
                    category: sub.id.clone(),
                    region: region.into(),
                    logo_url: format!("{base_url}/static/logos/{id}.png"),
                    lookup_fields: vec![LookupField {
                        key: key.into(),
                        label: Names {
                            zh: zh.into(),
                            en: en.into(),
                        },
                        pattern: pattern.into(),
                        example: example.into(),
                    }],
                    amount_rule,
                    id,
                });
            }
        }
    }
    out
}

/// A bill line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LineItem {
    /// What it is for.
    pub description: String,
    /// How much.
    pub amount: Money,
}

/// A bill.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Bill {
    /// Platform bill id.
    pub id: String,
    /// Biller id.
    pub biller_id: String,
    /// Verified payee name, in the requested language.
    pub biller_name: String,
    /// Account with all but the last 4 characters masked.
    pub account_masked: String,
    /// `YYYYMM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// `open`, `paid`, `overdue`, `cancelled`.
    pub status: String,
    /// Amount due.
    pub amount_due: Money,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// Lines.
    pub line_items: Vec<LineItem>,
    /// Late fees.
    pub penalties: Vec<LineItem>,
}

/// Masks all but the last four characters (account numbers never leave in full).
pub fn mask(account: &str) -> String {
    let n = account.chars().count();
    account
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i + 4 < n && c.is_alphanumeric() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// `POST /v1/bills/lookup` body.
#[derive(Debug, Clone, Deserialize)]
pub struct LookupRequest {
    /// Biller.
    pub biller_id: String,
    /// Field key → value.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
    /// Scanned references.
    #[serde(default)]
    pub references: Vec<Reference>,
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
    /// The spec's limits on this body.
    pub fn validate(&self) -> Result<(), String> {
        check_len("biller_id", Some(&self.biller_id), 32)?;
        for (key, value) in &self.fields {
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

/// A scanned reference.
#[derive(Debug, Clone, Deserialize)]
pub struct Reference {
    /// Kind (docs/json.md).
    pub kind: String,
    /// Value.
    pub value: String,
}

/// `POST /v1/payees/resolve` body.
#[derive(Debug, Clone, Deserialize)]
pub struct ResolveRequest {
    /// Payload format.
    pub scheme: String,
    /// EMV merchant account tag.
    #[serde(default)]
    pub merchant_account_tag: Option<String>,
    /// Merchant account GUID.
    #[serde(default)]
    pub guid: Option<String>,
    /// Account (billtap profile: the biller id).
    #[serde(default)]
    pub account: Option<String>,
    /// Name printed in the code.
    #[serde(default)]
    pub payee_name_in_code: Option<String>,
}

impl ResolveRequest {
    /// The spec's limits on this body.
    pub fn validate(&self) -> Result<(), String> {
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

/// `POST /admin/bills` body: create a bill for tests.
#[derive(Debug, Clone, Deserialize)]
pub struct NewBill {
    /// Optional id (generated if absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Biller.
    pub biller_id: String,
    /// Account at the biller.
    pub account: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// `YYYYMM`.
    #[serde(default)]
    pub period: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub due_date: Option<String>,
    /// `open` (default), `paid`, `overdue`.
    #[serde(default)]
    pub status: Option<String>,
}

/// `POST /admin/faults` body: make the next `count` requests under `path_prefix` fail.
#[derive(Debug, Clone, Deserialize)]
pub struct FaultRule {
    /// Path prefix, e.g. `/v1/catalog`.
    pub path_prefix: String,
    /// `delay:MS`, `status_500`, `drop`, `bad_signature`, `stale`.
    pub fault: String,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}
