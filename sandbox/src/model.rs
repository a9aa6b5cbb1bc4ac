//! The JSON shapes of `docs/api/openapi.yaml`, and the seeded billers.

use serde::{Deserialize, Serialize};

// The wire types are the client's own (billtap-core), so the server cannot drift from what
// the app decodes.
pub use billtap_core::platform::api::{
    AmountRule, ApiMoney, Bill, Biller, LineItem, LookupRequest, ResolveRequest,
};

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
    let subs = || {
        catalog::categories()
            .iter()
            .flat_map(|c| c.subs.iter().map(move |s| (c, s)))
    };
    // Vending billers last: every other biller keeps its place (its UnionPay account).
    let ordered = subs()
        .filter(|(_, s)| s.vends.is_none())
        .chain(subs().filter(|(_, s)| s.vends.is_some()));
    for (cat, sub) in ordered {
        let short = sub.id.to_ascii_uppercase().replace('_', "-");
        let Some(field) = catalog::lookup_field(sub) else {
            continue;
        };
        for city in catalog::cities() {
            let id = format!("{}-{short}-001", city.id);
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
                name: format!("{}{}", city.zh, sub.biller_noun.zh),
                names: Names {
                    zh: format!("{}{}", city.zh, sub.biller_noun.zh),
                    en: format!("{} {}", city.en, sub.biller_noun.en),
                },
                category: format!("{}.{}", cat.id, sub.id),
                region: city.region.clone(),
                logo_url: format!("{base_url}/static/logos/{id}.png"),
                lookup_fields: vec![field.clone()],
                amount_rule,
                vends: sub.vends.clone(),
                id,
            });
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

/// Masks all but the last four characters (account numbers never leave in full): the client's
/// own rule, so what the sandbox masks is what the client checks.
pub use billtap_core::platform::mask_account as mask;

/// A request body with limits beyond what its JSON shape enforces.
pub trait Checked {
    /// The spec's limits on this body; the error says which one is broken.
    fn validate(&self) -> Result<(), String>;
}

impl Checked for LookupRequest {
    fn validate(&self) -> Result<(), String> {
        LookupRequest::validate(self)
    }
}

impl Checked for ResolveRequest {
    fn validate(&self) -> Result<(), String> {
        ResolveRequest::validate(self)
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
    /// The account holder's full name (the API shows it masked).
    #[serde(default)]
    pub holder: Option<String>,
    /// The service address.
    #[serde(default)]
    pub address: Option<String>,
}

/// `POST /admin/bills` answer.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedBill {
    /// The new bill's id.
    pub id: String,
}

/// `POST /admin/keys/…` answer: the key entry apps pin.
#[derive(Debug, Clone, Serialize)]
pub struct PinnedKeyEntry {
    /// `KEY_ID:BASE64`.
    pub pinned_key: String,
}

/// Masks a holder's name as utilities print it: the first and last characters kept (`张*明`,
/// `李*`), Latin names to their initials' first letters (`W*** L**`).
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    if chars.iter().any(|c| c.is_whitespace()) {
        return name
            .split_whitespace()
            .map(|w| {
                w.chars()
                    .enumerate()
                    .map(|(i, c)| if i == 0 { c } else { '*' })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    match chars.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [first, _] => format!("{first}*"),
        [first, middle @ .., last] => {
            format!("{first}{}{last}", "*".repeat(middle.len()))
        }
    }
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
    /// `delay:MS`, `delay_after:MS`, `status_500`, `drop`, `drop_after_commit`,
    /// `duplicate`, `bad_signature`, `stale`, `replay`, `unsigned_503`.
    pub fault: String,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// Match the path exactly instead of as a prefix (`/v1/payments` without its quotes).
    #[serde(default)]
    pub exact: bool,
}

fn one() -> u32 {
    1
}
