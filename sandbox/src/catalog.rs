//! The seeded catalog: the category tree (9 categories, 50+ sub-categories), the eight cities
//! billers are seeded in and the lookup fields they ask for, all read from
//! `sandbox/data/catalog.json` (compiled in) so the data can be read and edited as data.

use std::sync::LazyLock;

use serde::Deserialize;

pub use billtap_core::platform::api::{LookupField, Names};

/// The data file, checked when first used (a test loads it: a broken file fails the build's
/// tests, never a running sandbox silently).
static DATA: LazyLock<Data> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../data/catalog.json")).unwrap_or_else(|e| Data {
        version: format!("unreadable catalog.json: {e}"),
        ..Data::default()
    })
});

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    version: String,
    cities: Vec<City>,
    fields: Vec<Field>,
    categories: Vec<Category>,
}

/// A city billers are seeded in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct City {
    /// Region code prefix (GB/T 2260), e.g. `11`, `4401`.
    pub region: String,
    /// Short id used in biller ids (`BJ`).
    pub id: String,
    /// Chinese name (`北京市`).
    pub zh: String,
    /// English name (`Beijing`).
    pub en: String,
}

/// A kind of account identifier and how billers ask for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Field {
    kind: String,
    key: String,
    label: Names,
    pattern: String,
    example: String,
}

/// A top-level category.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Id.
    pub id: String,
    /// Names.
    pub names: Names,
    /// Its sub-categories.
    pub subs: Vec<Sub>,
}

/// A sub-category of the catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sub {
    /// Id within its category (`water`); the API's id is `category.sub`.
    pub id: String,
    /// Names.
    pub names: Names,
    /// What billers of this kind are called (after the city).
    pub biller_noun: Names,
    /// Which lookup field its billers need (a `fields` kind).
    pub field: String,
    /// How amounts are set.
    pub rule: RuleKind,
    /// What a payment vends (`sts_token`: keypad prepaid meters). Such billers are seeded
    /// after all others, so the ones before keep their ids and registered accounts.
    #[serde(default)]
    pub vends: Option<String>,
}

/// How a biller's amounts are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// Pay exactly the bill.
    Fixed,
    /// Part payments allowed (utilities).
    Partial,
    /// The payer chooses within min/max (donations, top-ups).
    PayerChosen {
        /// Minimum, in fen.
        min_fen: i64,
        /// Maximum, in fen.
        max_fen: i64,
    },
}

/// The catalog version the API reports.
pub fn version() -> &'static str {
    &DATA.version
}

/// The category tree.
pub fn categories() -> &'static [Category] {
    &DATA.categories
}

/// The cities billers are seeded in.
pub fn cities() -> &'static [City] {
    &DATA.cities
}

/// The city of a region code.
pub fn city(region: &str) -> Option<&'static City> {
    DATA.cities.iter().find(|c| c.region == region)
}

/// The lookup field a sub-category's billers ask for.
pub fn lookup_field(sub: &Sub) -> Option<LookupField> {
    let f = DATA.fields.iter().find(|f| f.kind == sub.field)?;
    Some(LookupField {
        key: f.key.clone(),
        label: f.label.clone(),
        pattern: f.pattern.clone(),
        example: Some(f.example.clone()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_data_file_is_whole() {
        let data: Data = serde_json::from_str(include_str!("../data/catalog.json")).unwrap();
        assert_eq!(data.version, version());
        assert_eq!(categories().len(), 9);
        assert!(categories().iter().map(|c| c.subs.len()).sum::<usize>() >= 50);
        assert_eq!(cities().len(), 8);
        for cat in categories() {
            for sub in &cat.subs {
                let field = lookup_field(sub).expect(&sub.field);
                assert!(anchored(&field.pattern), "{}", field.pattern);
            }
        }
    }

    fn anchored(p: &str) -> bool {
        p.starts_with('^') && p.ends_with('$')
    }
}
