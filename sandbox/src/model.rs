//! The JSON shapes of `docs/api/openapi.yaml`, and the seeded billers.

use serde::Deserialize;

// The wire types are the client's own (billtap-core), so the server cannot drift from what
// the app decodes.
pub use billtap_core::platform::api::{AmountRule, ApiMoney, Bill, Biller, LineItem, LookupField};

use crate::catalog::{self, Names, RuleKind};

/// CNY from fen, as the API writes money.
pub fn cny(fen: i64) -> ApiMoney {
    ApiMoney {
        amount: format!("{}.{:02}", fen / 100, fen % 100),
        currency: "CNY".into(),
    }
}

/// The same biller with `name` in the requested language.
pub fn localized(b: &Biller, zh: bool) -> Biller {
    Biller {
        name: if zh {
            b.names.zh.clone()
        } else {
            b.names.en.clone()
        },
        ..b.clone()
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
                        min: Some(cny(1)),
                        max: None,
                    },
                    RuleKind::PayerChosen { min_fen, max_fen } => AmountRule {
                        kind: "payer_chosen".into(),
                        min: Some(cny(min_fen)),
                        max: Some(cny(max_fen)),
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
                        example: Some(example.into()),
                    }],
                    amount_rule,
                    id,
                });
            }
        }
    }
    out
}

/// The sandbox's test institution id, acquirer and forwarding, in UnionPay merchant accounts.
const SANDBOX_IIN: &str = "99990000";

/// The UnionPay merchant account (EMV tag 15: acquirer IIN, forwarding IIN, 15-character
/// merchant id) the sandbox registers for the biller at `index` of the seed: merchant id
/// `898`, the region code padded to 4, `0`, the index padded to 7 — deterministic, so tests
/// and printed codes agree across starts.
pub fn unionpay_account(index: usize, region: &str) -> String {
    format!("{SANDBOX_IIN}{SANDBOX_IIN}898{region:0<4.4}0{index:07}")
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

/// A request body with limits beyond what its JSON shape enforces.
pub trait Checked {
    /// The spec's limits on this body; the error says which one is broken.
    fn validate(&self) -> Result<(), String>;
}

impl Checked for LookupRequest {
    fn validate(&self) -> Result<(), String> {
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

impl Checked for ResolveRequest {
    fn validate(&self) -> Result<(), String> {
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

/// `POST /admin/keys/next` body: announce the key the platform will sign with after the next
/// rotation, so apps can pin it before the switch.
#[derive(Debug, Clone, Deserialize)]
pub struct NextKey {
    /// Its key id (`Billtap-Key-Id`); must differ from the current one.
    pub key_id: String,
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
