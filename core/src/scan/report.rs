//! The stable JSON view of a parse result (`docs/json.md`), shared by the CLI, the benchmark
//! runner and the bindings.

use serde::Serialize;

use super::types::{BillReference, Detail, Format, ScanError, ScanProblem, Scanned, Warning};

/// The stable, flat view of a parse result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayloadReport {
    /// The format recognised (`emv_mpm`, `swiss_qr_bill`, …, `unknown`).
    pub kind: Format,
    /// Whether the payload parsed without errors.
    pub valid: bool,
    /// Why it is not valid; empty when valid.
    pub errors: Vec<ScanProblem>,
    /// Things to show the user; may be non-empty for valid payloads.
    pub warnings: Vec<Warning>,
    /// Whether billtap can pay it itself.
    pub payable: bool,
    /// Payee name printed in the code (unverified).
    pub payee_name: Option<String>,
    /// Payee name in the local language.
    pub payee_name_local: Option<String>,
    /// Payee city.
    pub payee_city: Option<String>,
    /// Amount as a decimal string with the currency's minor units (`"12.30"`).
    pub amount: Option<String>,
    /// ISO 4217 alphabetic currency code.
    pub currency: Option<String>,
    /// Bill references for lookup.
    pub references: Vec<BillReference>,
    /// Static (reusable) code; `null` when invalid.
    #[serde(rename = "static")]
    pub is_static: Option<bool>,
    /// Format-specific fields; `null` when invalid.
    pub detail: Option<Detail>,
}

impl PayloadReport {
    /// Builds the report for a parse result.
    pub fn from_result(r: &Result<Scanned, ScanError>) -> Self {
        match r {
            Ok(s) => Self::from_parts(Ok(s)),
            Err(e) => Self::from_parts(Err(&ScanProblem::from(e))),
        }
    }

    /// Builds the report for a decoded code's result.
    pub fn from_parts(r: Result<&Scanned, &ScanProblem>) -> Self {
        match r {
            Ok(s) => PayloadReport {
                kind: s.format,
                valid: true,
                errors: Vec::new(),
                warnings: s.warnings.clone(),
                payable: s.payable,
                payee_name: s.payee_name.clone(),
                payee_name_local: s.payee_name_local.clone(),
                payee_city: s.payee_city.clone(),
                amount: s.amount.map(|m| m.to_plain_string()),
                currency: s.currency.map(|c| c.alpha().to_string()),
                references: s.references.clone(),
                is_static: Some(s.is_static()),
                detail: Some(s.detail.clone()),
            },
            Err(p) => PayloadReport {
                kind: p.format,
                valid: false,
                errors: vec![p.clone()],
                warnings: Vec::new(),
                payable: false,
                payee_name: None,
                payee_name_local: None,
                payee_city: None,
                amount: None,
                currency: None,
                references: Vec::new(),
                is_static: None,
                detail: None,
            },
        }
    }
}
