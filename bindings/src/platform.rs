//! The platform for the host: catalog, biller search, bill lookup and resolving a scanned
//! code to a verified payee, all async (Kotlin `suspend`, Swift `async`).

use std::collections::HashMap;

use billtap_core::platform::{self as core_platform, api};

/// Why a response was not trusted: act on it (e.g. tell the user the network may be hostile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum UntrustedReason {
    /// Not signed, but posing as the platform's answer.
    Unsigned,
    /// A signature header is malformed.
    Malformed,
    /// Signed with a key the app does not pin.
    UnknownKey,
    /// Signed with a pinned key whose pin expired.
    KeyExpired,
    /// Forged or altered in transit.
    BadSignature,
    /// A genuine answer to another request: replayed or swapped.
    NotForThisRequest,
    /// Larger than the call allows; not read to the end.
    TooLarge,
}

/// Why a platform call failed. Nothing from an untrusted response reaches the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The platform could not be reached: no network, timeout, or an intermediary (load
    /// balancer, captive portal) answered. Retry later; the offline catalog may be shown.
    #[error("{reason}")]
    Unreachable {
        /// What to tell the user.
        reason: String,
    },
    /// A response was refused (forged, replayed, unknown key, too large): never shown.
    #[error("{reason}")]
    Untrusted {
        /// Machine-readable cause (`cause` is taken by Kotlin's `Throwable`).
        code: UntrustedReason,
        /// What to tell the user.
        reason: String,
    },
    /// A genuinely signed answer this version cannot read: update the app.
    #[error("{reason}")]
    Incompatible {
        /// What to tell the user.
        reason: String,
    },
    /// The platform refused the request (unknown biller or account, invalid fields…).
    #[error("{reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable problem kind (`unknown-biller`, `unknown-account`, `validation`…).
        kind: String,
        /// What to tell the user.
        reason: String,
        /// Invalid lookup fields (key → message).
        fields: HashMap<String, String>,
    },
    /// Bad input from the host (an id or payload that cannot be sent, a bad configuration).
    #[error("{reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
}

impl From<core_platform::PlatformError> for PlatformError {
    fn from(e: core_platform::PlatformError) -> Self {
        use core_platform::{FailureKind, PlatformError as E, TrustError as T};
        let reason = e.to_string();
        match (e.kind(), e) {
            (FailureKind::Unreachable, _) => PlatformError::Unreachable { reason },
            (FailureKind::Untrusted, E::Untrusted(t)) => PlatformError::Untrusted {
                code: match t {
                    T::Unsigned => UntrustedReason::Unsigned,
                    T::UnknownKey { .. } => UntrustedReason::UnknownKey,
                    T::KeyExpired { .. } => UntrustedReason::KeyExpired,
                    T::BadSignature => UntrustedReason::BadSignature,
                    T::NotForThisRequest => UntrustedReason::NotForThisRequest,
                    T::TooLarge { .. } => UntrustedReason::TooLarge,
                    _ => UntrustedReason::Malformed,
                },
                reason,
            },
            (FailureKind::Incompatible, _) => PlatformError::Incompatible { reason },
            (
                FailureKind::Refused,
                E::Refused {
                    status,
                    kind,
                    fields,
                    ..
                },
            ) => PlatformError::Refused {
                status,
                kind,
                reason,
                fields: fields.into_iter().collect(),
            },
            _ => PlatformError::Invalid { reason },
        }
    }
}

/// A catalog category with its sub-categories (names in the configured language).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Category {
    /// Id, e.g. `utilities`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Sub-categories: id and name.
    pub subcategories: Vec<Subcategory>,
}

/// A sub-category.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Subcategory {
    /// Id, e.g. `utilities.water`.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A field the biller needs to find an account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LookupField {
    /// Key to send.
    pub key: String,
    /// Label in the configured language.
    pub label: String,
    /// Regex the value must match.
    pub pattern: String,
    /// Example value.
    pub example: Option<String>,
}

/// A registered biller: the verified payee.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Biller {
    /// Platform id.
    pub id: String,
    /// Name to show (configured language).
    pub name: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Sub-category id.
    pub category: String,
    /// Region code.
    pub region: String,
    /// Logo URL.
    pub logo_url: String,
    /// Fields needed for lookup.
    pub lookup_fields: Vec<LookupField>,
    /// `fixed`, `partial_allowed` or `payer_chosen`.
    pub amount_rule: String,
    /// The least a payer may pay, e.g. `"1.00 CNY"`.
    pub amount_min: Option<String>,
    /// The most a payer may pay, e.g. `"5000.00 CNY"`.
    pub amount_max: Option<String>,
}

/// One line of a bill (a charge or a penalty).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LineItem {
    /// What for.
    pub description: String,
    /// How much, e.g. `"268.40 CNY"`.
    pub amount: String,
}

/// The merchant account a payee was verified by; a payment uses exactly this one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PayeeAccount {
    /// EMV merchant-account tag (`15`, `26`…).
    pub merchant_account_tag: Option<String>,
    /// The template's GUID.
    pub guid: Option<String>,
    /// The account.
    pub account: String,
}

/// A bill.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Bill {
    /// Id.
    pub id: String,
    /// The biller's id.
    pub biller_id: String,
    /// Verified payee name.
    pub biller_name: String,
    /// Account, masked.
    pub account_masked: String,
    /// The account holder's name, masked (`张*明`): tells the user's own bill from another's.
    pub holder_name_masked: Option<String>,
    /// The address the service is delivered to.
    pub service_address: Option<String>,
    /// `YYYYMM`.
    pub period: Option<String>,
    /// `open`, `paid`, `overdue`, `cancelled`.
    pub status: String,
    /// Amount due, decimal string.
    pub amount_due: String,
    /// Currency.
    pub currency: String,
    /// Due date `YYYY-MM-DD`.
    pub due_date: Option<String>,
    /// What the amount is made of.
    pub line_items: Vec<LineItem>,
    /// Late fees and other penalties.
    pub penalties: Vec<LineItem>,
}

/// What the user sees after scanning: the platform's payee, bills and warnings.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BillView {
    /// The verified payee, when the platform knows it.
    pub payee: Option<Biller>,
    /// The account the payee was verified by.
    pub payee_account: Option<PayeeAccount>,
    /// Open bills for the code.
    pub bills: Vec<Bill>,
    /// The amount the code asks for, e.g. `"268.40 CNY"`.
    pub amount_in_code: Option<String>,
    /// The payee name printed in the code (unverified; compared only).
    pub name_in_code: Option<String>,
    /// Cautions to show before paying, in the configured language.
    pub warnings: Vec<PayeeWarning>,
}

/// Why the user is cautioned about a payee (mirrors `billtap_core::platform::PayeeWarningCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PayeeWarningCode {
    /// The platform does not know the payee, so its name could not be verified.
    Unregistered,
    /// The name printed in the code is not the registered payee's (a swapped sticker?).
    NameMismatch,
    /// A reusable (static) code asks for more than the configured `static_code_limit`.
    StaticAmountAboveLimit,
    /// Some of the code's merchant accounts are not registered; the verified one is used.
    SomeAccountsUnregistered,
    /// The code's merchant accounts are registered to different payees: do not pay.
    PayeesDiffer,
}

/// A caution to show with a resolved code: act on `code`, show `message` (zh-CN or en).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PayeeWarning {
    /// Machine-readable reason.
    pub code: PayeeWarningCode,
    /// A sentence for the user, in the configured locale.
    pub message: String,
}

impl From<core_platform::PayeeWarning> for PayeeWarning {
    fn from(w: core_platform::PayeeWarning) -> Self {
        PayeeWarning {
            code: match w.code {
                core_platform::PayeeWarningCode::Unregistered => PayeeWarningCode::Unregistered,
                core_platform::PayeeWarningCode::NameMismatch => PayeeWarningCode::NameMismatch,
                core_platform::PayeeWarningCode::StaticAmountAboveLimit => {
                    PayeeWarningCode::StaticAmountAboveLimit
                }
                core_platform::PayeeWarningCode::SomeAccountsUnregistered => {
                    PayeeWarningCode::SomeAccountsUnregistered
                }
                core_platform::PayeeWarningCode::PayeesDiffer => PayeeWarningCode::PayeesDiffer,
            },
            message: w.message,
        }
    }
}

/// A page of billers.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BillerPage {
    /// Billers.
    pub items: Vec<Biller>,
    /// Token for the next page.
    pub next_page_token: Option<String>,
}

/// Biller search filters.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BillerQuery {
    /// Text in names.
    pub text: Option<String>,
    /// Category or sub-category id.
    pub category: Option<String>,
    /// Region code prefix.
    pub region: Option<String>,
    /// Page size 1–100.
    pub page_size: Option<u32>,
    /// Next-page token.
    pub page_token: Option<String>,
}

pub(crate) fn biller(b: api::Biller, zh: bool) -> Biller {
    Biller {
        name: b.name,
        name_zh: b.names.zh,
        name_en: b.names.en,
        lookup_fields: b
            .lookup_fields
            .into_iter()
            .map(|f| LookupField {
                key: f.key,
                label: if zh { f.label.zh } else { f.label.en },
                pattern: f.pattern,
                example: f.example,
            })
            .collect(),
        amount_min: b.amount_rule.min.as_ref().map(money),
        amount_max: b.amount_rule.max.as_ref().map(money),
        amount_rule: b.amount_rule.kind,
        id: b.id,
        category: b.category,
        region: b.region,
        logo_url: b.logo_url,
    }
}

fn money(m: &api::ApiMoney) -> String {
    format!("{} {}", m.amount, m.currency)
}

fn lines(items: &[api::LineItem]) -> Vec<LineItem> {
    items
        .iter()
        .map(|l| LineItem {
            description: l.description.clone(),
            amount: money(&l.amount),
        })
        .collect()
}

pub(crate) fn bill(b: api::Bill) -> Bill {
    Bill {
        line_items: lines(&b.line_items),
        penalties: lines(&b.penalties),
        id: b.id,
        biller_id: b.biller_id,
        biller_name: b.biller_name,
        account_masked: b.account_masked,
        holder_name_masked: b.holder_name_masked,
        service_address: b.service_address,
        period: b.period,
        status: b.status,
        amount_due: b.amount_due.amount,
        currency: b.amount_due.currency,
        due_date: b.due_date,
    }
}

pub(crate) fn category(c: api::Category) -> Category {
    Category {
        id: c.id,
        name: c.name,
        subcategories: c
            .subcategories
            .into_iter()
            .map(|s| Subcategory {
                id: s.id,
                name: s.name,
            })
            .collect(),
    }
}

pub(crate) fn query(q: BillerQuery) -> core_platform::BillerQuery {
    core_platform::BillerQuery {
        text: q.text,
        category: q.category,
        region: q.region,
        page_size: q.page_size,
        page_token: q.page_token,
    }
}

pub(crate) fn view(v: core_platform::BillView, zh: bool) -> BillView {
    BillView {
        payee: v.payee.map(|b| biller(b, zh)),
        payee_account: v.payee_account.map(|a| PayeeAccount {
            merchant_account_tag: a.merchant_account_tag,
            guid: a.guid,
            account: a.account,
        }),
        bills: v.bills.into_iter().map(bill).collect(),
        amount_in_code: v.amount_in_code.map(|m| m.to_string()),
        name_in_code: v.name_in_code,
        warnings: v.warnings.into_iter().map(Into::into).collect(),
    }
}
