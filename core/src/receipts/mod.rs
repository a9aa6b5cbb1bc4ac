//! Receipts: the platform's signed record of a completed payment, kept offline and
//! verifiable. Envelope: COSE_Sign1 (RFC 9052), EdDSA (Ed25519) with the platform key's id in
//! the protected header and `billtap-receipt-v1` as external data, so a receipt signature can
//! never pass for anything else the platform signs. The payload is CBOR with one-letter keys:
//! small enough for a QR code (decision 0009).

mod code;

pub use code::{RECEIPT_QR_PREFIX, ReceiptCode, read_receipt_qr, receipt_qr_text};

use coset::{CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, iana};
use serde::{Deserialize, Serialize};

use crate::platform::{PinnedKeys, ResponseSigner, TrustError};
use crate::store::{GENESIS_LINK, Store, StoreError, chain_link, sha256};

/// The external data every receipt signature covers: its purpose.
pub const RECEIPT_AAD: &[u8] = b"billtap-receipt-v1";
/// The largest receipt billtap reads.
pub const MAX_RECEIPT_BYTES: usize = 4096;

/// What a receipt says (the CBOR payload; one-letter keys keep the QR code small).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ReceiptBody {
    /// Format version (1).
    #[serde(rename = "v")]
    pub version: u32,
    /// The platform's transaction (payment) id.
    #[serde(rename = "p")]
    pub payment_id: String,
    /// The bill paid, if any.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub bill_id: Option<String>,
    /// The payee's platform id.
    #[serde(rename = "r")]
    pub biller_id: String,
    /// The payee's name (Chinese, as registered).
    #[serde(rename = "n")]
    pub payee_name: String,
    /// The payee's English name, if the platform has one.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub payee_name_en: Option<String>,
    /// The payee's sub-category in the platform's catalog (`utilities.water`).
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The payee's account, masked.
    #[serde(rename = "a")]
    pub payee_account_masked: String,
    /// The payer's funding account, masked.
    #[serde(rename = "y")]
    pub payer_masked: String,
    /// The amount, plain decimal (`268.40`).
    #[serde(rename = "m")]
    pub amount: String,
    /// ISO 4217 currency.
    #[serde(rename = "c")]
    pub currency: String,
    /// The fee, plain decimal.
    #[serde(rename = "f")]
    pub fee: String,
    /// When the platform accepted it (Unix seconds, platform time).
    #[serde(rename = "t")]
    pub paid_at: i64,
    /// The device that signed the payment.
    #[serde(rename = "d")]
    pub device_id: String,
    /// The token a keypad (STS) meter takes, 20 digits, when the payment vended one: signed
    /// with the rest, so it shows again offline and a counter can check it.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub sts_token: Option<String>,
}

/// Why a receipt is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a COSE_Sign1 receipt this version reads.
    #[error("not a billtap receipt: {0}")]
    Malformed(String),
    /// Larger than any receipt.
    #[error("the receipt is larger than {MAX_RECEIPT_BYTES} bytes")]
    TooLarge,
    /// The signature does not check against a pinned platform key.
    #[error("the receipt's signature does not check: {0}")]
    Untrusted(#[from] TrustError),
}

impl crate::store::NewReceipt {
    /// The store's row for a receipt: its signed bytes and the fields lists and filters read.
    pub fn from_body(body: ReceiptBody, cose: Vec<u8>, key_id: String) -> Self {
        crate::store::NewReceipt {
            payment_id: body.payment_id,
            cose,
            key_id,
            biller_id: body.biller_id,
            bill_id: body.bill_id,
            payee_name: body.payee_name,
            payee_name_en: body.payee_name_en,
            category: body.category,
            amount: body.amount,
            currency: body.currency,
            paid_at: body.paid_at,
            sts_token: body.sts_token,
        }
    }
}

/// Signs a receipt (the platform's side; the sandbox issues them).
pub fn sign_receipt(body: &ReceiptBody, signer: &ResponseSigner) -> Result<Vec<u8>, ReceiptError> {
    let mut payload = Vec::new();
    ciborium::into_writer(body, &mut payload)
        .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(signer.key_id().as_bytes().to_vec())
        .build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(RECEIPT_AAD, |m| signer.sign_bytes(m))
        .build()
        .to_vec()
        .map_err(|e| ReceiptError::Malformed(e.to_string()))
}

/// Reads a receipt without verifying it: what it says and the key id it names.
pub fn read_receipt(cose: &[u8]) -> Result<(ReceiptBody, String), ReceiptError> {
    let (_, body, key_id) = parse(cose)?;
    Ok((body, key_id))
}

fn parse(cose: &[u8]) -> Result<(CoseSign1, ReceiptBody, String), ReceiptError> {
    if cose.len() > MAX_RECEIPT_BYTES {
        return Err(ReceiptError::TooLarge);
    }
    let sign1 =
        CoseSign1::from_slice(cose).map_err(|e| ReceiptError::Malformed(format!("{e:?}")))?;
    let alg_ok = matches!(
        sign1.protected.header.alg,
        Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA
        ))
    );
    if !alg_ok {
        return Err(ReceiptError::Malformed("the algorithm is not EdDSA".into()));
    }
    let key_id = String::from_utf8(sign1.protected.header.key_id.clone())
        .map_err(|_| ReceiptError::Malformed("the key id is not text".into()))?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or_else(|| ReceiptError::Malformed("no payload".into()))?;
    let body: ReceiptBody = ciborium::from_reader(payload)
        .map_err(|e| ReceiptError::Malformed(format!("payload: {e}")))?;
    if body.version != 1 {
        return Err(ReceiptError::Malformed(format!(
            "receipt version {} (this billtap reads 1)",
            body.version
        )));
    }
    // Amounts are what lists, filters and totals compute with: refuse what cannot be money.
    for (what, text) in [("amount", &body.amount), ("fee", &body.fee)] {
        crate::money::parse_display(&format!("{text} {}", body.currency))
            .map_err(|e| ReceiptError::Malformed(format!("the {what} {text:?}: {e}")))?;
    }
    Ok((sign1, body, key_id))
}

/// Verifies a receipt against the pinned platform keys and returns what it says, with the id
/// of the key that signed it.
pub fn verify_receipt(
    cose: &[u8],
    keys: &PinnedKeys,
) -> Result<(ReceiptBody, String), ReceiptError> {
    let (sign1, body, key_id) = parse(cose)?;
    sign1.verify_signature(RECEIPT_AAD, |sig, data| {
        keys.verify_bytes(&key_id, data, sig, body.paid_at)
    })?;
    Ok((body, key_id))
}

/// A kept receipt as a list shows it (verified when it was stored; `verify_history` checks
/// the whole history again).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StoredReceipt {
    /// Its position in the history (1, 2, 3…).
    pub seq: i64,
    /// The platform's transaction id.
    pub payment_id: String,
    /// billtap's payment id, when paid from this store.
    pub local_payment_id: Option<String>,
    /// The bill paid, if any.
    pub bill_id: Option<String>,
    /// The payee's platform id.
    pub biller_id: String,
    /// The payee's name.
    pub payee_name: String,
    /// The payee's English name, if the receipt carries one.
    pub payee_name_en: Option<String>,
    /// The payee's sub-category (`utilities.water`), if the receipt carries one.
    pub category: Option<String>,
    /// The amount.
    pub amount: crate::money::Money,
    /// When (platform time, Unix seconds).
    pub paid_at: i64,
    /// The platform key that signed it.
    pub key_id: String,
    /// Where the invoice requested for it stands, if one was.
    pub invoice_state: Option<crate::platform::api::InvoiceState>,
    /// The keypad meter token it vended, formatted in groups of four, if any.
    pub sts_token: Option<String>,
}

/// The state of the newest invoice kept for a payment (platform transaction id).
pub fn invoice_state_of(
    store: &Store,
    payment_id: &str,
) -> Result<Option<crate::platform::api::InvoiceState>, StoreError> {
    #[derive(serde::Deserialize)]
    struct StateOnly {
        state: crate::platform::api::InvoiceState,
    }
    store
        .invoice_records(Some(payment_id))?
        .first()
        .map(|text| {
            serde_json::from_slice::<StateOnly>(text.as_bytes())
                .map(|s| s.state)
                .map_err(|e| StoreError::Corrupt(format!("an invoice record: {e}")))
        })
        .transpose()
}

/// Receipts matching `filter`, newest first.
pub fn list_receipts(
    store: &Store,
    filter: &crate::store::ReceiptFilter,
) -> Result<Vec<StoredReceipt>, StoreError> {
    store
        .receipts(filter)?
        .into_iter()
        .map(|r| {
            let x = r.receipt;
            let amount = crate::money::parse_display(&format!("{} {}", x.amount, x.currency))
                .map_err(|e| StoreError::Corrupt(format!("receipt {}: {e}", r.seq)))?;
            let invoice_state = invoice_state_of(store, &x.payment_id)?;
            Ok(StoredReceipt {
                invoice_state,
                seq: r.seq,
                payment_id: x.payment_id,
                local_payment_id: r.local_payment,
                bill_id: x.bill_id,
                biller_id: x.biller_id,
                payee_name: x.payee_name,
                payee_name_en: x.payee_name_en,
                category: x.category,
                amount,
                paid_at: x.paid_at,
                key_id: x.key_id,
                sts_token: x.sts_token.as_deref().map(crate::pay::format_sts_token),
            })
        })
        .collect()
}

/// One receipt an import refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RefusedReceipt {
    /// Its position in the input (0-based).
    pub index: u64,
    /// Why: malformed, or its signature does not check against the platform keys.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ImportReport {
    /// Receipts verified and appended to the history.
    pub added: u64,
    /// Receipts verified but already kept.
    pub already_kept: u64,
    /// Receipts refused (forged, wrong key, malformed); nothing of theirs is stored.
    pub refused: Vec<RefusedReceipt>,
}

/// Imports receipts (a restored backup, another phone's export): each is verified against the
/// keys before anything is stored, the good ones appended in one transaction in the order
/// given; refused ones are reported, never stored. Verification runs on every core.
pub fn import_receipts(
    store: &Store,
    keys: &PinnedKeys,
    coses: &[Vec<u8>],
) -> Result<ImportReport, StoreError> {
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = coses.len().div_ceil(threads).max(1);
    let checked: Vec<Result<(ReceiptBody, String), ReceiptError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = coses
            .chunks(chunk)
            .map(|part| {
                let n = part.len();
                let worker = scope.spawn(move || {
                    part.iter()
                        .map(|c| verify_receipt(c, keys))
                        .collect::<Vec<_>>()
                });
                (n, worker)
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|(n, w)| {
                // One result per receipt even if a worker died, so results stay in place.
                w.join().unwrap_or_else(|_| {
                    vec![Err(ReceiptError::Malformed("verification failed".into())); n]
                })
            })
            .collect()
    });
    let mut refused = Vec::new();
    let mut good = Vec::with_capacity(coses.len());
    let mut used_keys = std::collections::BTreeSet::new();
    for (i, (result, cose)) in checked.into_iter().zip(coses).enumerate() {
        match result {
            Ok((body, key_id)) => {
                used_keys.insert(key_id.clone());
                good.push(crate::store::NewReceipt::from_body(
                    body,
                    cose.clone(),
                    key_id,
                ));
            }
            Err(e) => refused.push(RefusedReceipt {
                index: i as u64,
                reason: e.to_string(),
            }),
        }
    }
    for k in keys.keys().iter().filter(|k| used_keys.contains(&k.id)) {
        store.save_key(&k.id, &k.public_key)?;
    }
    let added = store.import_receipts(&good)?;
    Ok(ImportReport {
        added: added as u64,
        already_kept: (good.len() - added) as u64,
        refused,
    })
}

/// How much was paid in one month or one category, in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ReceiptTotal {
    /// The month (`2026-11`, China time) or the top-level category (`utilities`; empty for
    /// receipts that name none).
    pub key: String,
    /// The sum.
    pub amount: crate::money::Money,
    /// How many receipts.
    pub count: u64,
}

/// Totals of the kept receipts a filter selects, newest month and category name first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ReceiptTotals {
    /// Per month.
    pub by_month: Vec<ReceiptTotal>,
    /// Per top-level category.
    pub by_category: Vec<ReceiptTotal>,
}

/// Totals per month and per category of the receipts `filter` selects (its search and limit
/// aside), offline.
pub fn receipt_totals(
    store: &Store,
    filter: &crate::store::ReceiptFilter,
) -> Result<ReceiptTotals, StoreError> {
    let mut totals = ReceiptTotals {
        by_month: Vec::new(),
        by_category: Vec::new(),
    };
    for row in store.receipt_totals(filter)? {
        let currency = crate::money::Currency::from_alpha(&row.currency)
            .map_err(|e| StoreError::Corrupt(format!("a receipt's currency: {e}")))?;
        // A sum of amounts in the currency's minor units has no finer digits: exact.
        let mut sum = rust_decimal::Decimal::new(row.sum_e4, 4);
        sum.rescale(currency.minor_units());
        let amount = crate::money::Money::new(sum, currency)
            .map_err(|e| StoreError::Corrupt(format!("a receipt total: {e}")))?;
        let total = ReceiptTotal {
            key: row.key,
            amount,
            count: u64::try_from(row.count).unwrap_or(0),
        };
        match row.by {
            crate::store::TotalBy::Month => totals.by_month.push(total),
            crate::store::TotalBy::Category => totals.by_category.push(total),
        }
    }
    Ok(totals)
}

/// What went wrong with one history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum HistoryProblemKind {
    /// The entry's bytes or fields were changed after it was written.
    Edited,
    /// The receipt's signature does not check against the platform keys.
    Forged,
    /// An entry is missing (deleted).
    Missing,
    /// The entry is not where it was written (reordered, or one before it was removed and the
    /// rest renumbered).
    OutOfPlace,
}

/// The first entry of the history that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HistoryProblem {
    /// Its position (1, 2, 3…).
    pub seq: i64,
    /// The platform transaction id it names (empty for a missing entry).
    pub payment_id: String,
    /// What is wrong.
    pub kind: HistoryProblemKind,
    /// A sentence for a person.
    pub message: String,
}

/// The outcome of verifying the whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HistoryReport {
    /// Entries in the store.
    pub entries: u64,
    /// Entries verified, in order, before the first problem (all when there is none).
    pub verified: u64,
    /// The first problem, if any. Nothing is removed or changed by verifying.
    pub problem: Option<HistoryProblem>,
}

/// The keys to verify stored receipts with: the pinned ones and those the store remembers
/// from earlier receipts (rotated-out keys, an embedded sandbox's); `None` when there are none.
pub fn history_keys(
    store: &Store,
    pinned: Option<&PinnedKeys>,
) -> Result<Option<PinnedKeys>, StoreError> {
    use base64::Engine as _;
    let pinned_keys = pinned.map(PinnedKeys::keys).unwrap_or_default();
    let mut entries: Vec<String> = pinned_keys.iter().map(|k| k.to_entry()).collect();
    for (id, key) in store.saved_keys()? {
        if !pinned_keys.iter().any(|k| k.id == id) {
            entries.push(format!(
                "{id}:{}",
                base64::engine::general_purpose::STANDARD.encode(key)
            ));
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    PinnedKeys::parse(&entries)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("a remembered platform key: {e}")))
}

/// Verifies the whole history: each entry's receipt against the keys, its fields against the
/// receipt, its place in the chain, and that no succeeded payment's receipt is missing. Says
/// which entry first fails and why; changes nothing.
pub fn verify_history(store: &Store, keys: &PinnedKeys) -> Result<HistoryReport, StoreError> {
    let rows = store.history()?;
    let entries = rows.len() as u64;
    let mut prev = GENESIS_LINK.to_vec();
    let mut verified = 0u64;
    let problem = |seq: i64, payment_id: &str, kind, message: String| HistoryProblem {
        seq,
        payment_id: payment_id.into(),
        kind,
        message,
    };
    for (expected, row) in (1i64..).zip(&rows) {
        let r = &row.receipt;
        let found = if row.seq != expected {
            Some(problem(
                expected,
                "",
                HistoryProblemKind::Missing,
                format!("entry {expected} is missing: deleted from the history"),
            ))
        } else if sha256(&r.cose) != row.receipt_hash {
            Some(problem(
                row.seq,
                &r.payment_id,
                HistoryProblemKind::Edited,
                format!("entry {}: the receipt's bytes were changed", row.seq),
            ))
        } else {
            match verify_receipt(&r.cose, keys) {
                Err(e) => Some(problem(
                    row.seq,
                    &r.payment_id,
                    HistoryProblemKind::Forged,
                    format!("entry {}: {e}", row.seq),
                )),
                Ok((body, key_id)) => {
                    let same = body.payment_id == r.payment_id
                        && key_id == r.key_id
                        && body.biller_id == r.biller_id
                        && body.bill_id == r.bill_id
                        && body.payee_name == r.payee_name
                        && body.payee_name_en == r.payee_name_en
                        && body.category == r.category
                        && body.amount == r.amount
                        && body.currency == r.currency
                        && body.paid_at == r.paid_at;
                    if !same {
                        Some(problem(
                            row.seq,
                            &r.payment_id,
                            HistoryProblemKind::Edited,
                            format!(
                                "entry {}: its listed fields differ from its signed receipt",
                                row.seq
                            ),
                        ))
                    } else if row.prev_link != prev {
                        Some(problem(
                            row.seq,
                            &r.payment_id,
                            HistoryProblemKind::OutOfPlace,
                            format!(
                                "entry {} is not where it was written: entries were reordered or removed before it",
                                row.seq
                            ),
                        ))
                    } else if chain_link(row.seq, &prev, &row.receipt_hash) != row.link {
                        Some(problem(
                            row.seq,
                            &r.payment_id,
                            HistoryProblemKind::Edited,
                            format!("entry {}: its chain link was changed", row.seq),
                        ))
                    } else {
                        None
                    }
                }
            }
        };
        if let Some(p) = found {
            return Ok(HistoryReport {
                entries,
                verified,
                problem: Some(p),
            });
        }
        prev.clone_from(&row.link);
        verified += 1;
    }
    // A deleted last entry leaves no gap in the chain, but its payment still names it.
    let last = rows.last().map_or(0, |r| r.seq);
    if let Some((payment, seq)) = store
        .receipt_claims()?
        .into_iter()
        .filter(|(_, seq)| *seq > last)
        .min_by_key(|(_, seq)| *seq)
    {
        return Ok(HistoryReport {
            entries,
            verified,
            problem: Some(problem(
                seq,
                "",
                HistoryProblemKind::Missing,
                format!(
                    "entry {seq} (the receipt of payment {payment}) is missing: deleted from the history"
                ),
            )),
        });
    }
    Ok(HistoryReport {
        entries,
        verified,
        problem: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    pub(crate) fn body() -> ReceiptBody {
        ReceiptBody {
            version: 1,
            payment_id: "PAY0123456789ABCDEF".into(),
            bill_id: Some("W202610-0088123".into()),
            biller_id: "BJ-WATER-001".into(),
            payee_name: "北京市自来水集团".into(),
            payee_name_en: Some("Beijing Waterworks Group".into()),
            category: Some("utilities.water".into()),
            payee_account_masked: "*************************0000".into(),
            payer_masked: "***************0001".into(),
            amount: "268.40".into(),
            currency: "CNY".into(),
            fee: "0.00".into(),
            paid_at: 1_800_000_000,
            device_id: "75syJHsHTTp6NwkT_TKA1A".into(),
            sts_token: None,
        }
    }

    fn stored(name: &str, n: usize) -> (std::path::PathBuf, Store, PinnedKeys) {
        let dir =
            std::env::temp_dir().join(format!("billtap-receipts-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("s.sqlite");
        let store = Store::open(&path).unwrap();
        let signer = ResponseSigner::generate("platform-1").unwrap();
        let keys = PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        for i in 0..n {
            let mut b = body();
            b.payment_id = format!("PAY{i:04}");
            b.amount = format!("{}.00", 10 + i);
            b.paid_at += i as i64;
            let cose = sign_receipt(&b, &signer).unwrap();
            store
                .import_receipt(&crate::store::NewReceipt::from_body(
                    b,
                    cose,
                    "platform-1".into(),
                ))
                .unwrap();
        }
        (path, store, keys)
    }

    /// Tampering through SQLite itself, as someone with the file would (triggers dropped).
    fn tamper(path: &std::path::Path, sql: &str) {
        let c = rusqlite::Connection::open(path).unwrap();
        c.execute_batch(&format!(
            "DROP TRIGGER receipts_are_append_only_update; DROP TRIGGER receipts_are_append_only_delete; {sql}"
        ))
        .unwrap();
    }

    fn problem_of(store: &Store, keys: &PinnedKeys) -> (i64, HistoryProblemKind, u64) {
        let r = verify_history(store, keys).unwrap();
        let p = r.problem.unwrap();
        (p.seq, p.kind, r.verified)
    }

    #[test]
    fn an_intact_history_verifies_and_the_store_refuses_edits() {
        let (path, store, keys) = stored("intact", 4);
        let r = verify_history(&store, &keys).unwrap();
        assert_eq!((r.entries, r.verified, r.problem), (4, 4, None));
        let c = rusqlite::Connection::open(&path).unwrap();
        assert!(c.execute("DELETE FROM receipts WHERE seq = 2", []).is_err());
        assert!(
            c.execute("UPDATE receipts SET amount = '1.00'", [])
                .is_err()
        );
    }

    #[test]
    fn a_changed_byte_a_deleted_and_a_reordered_entry_are_each_named() {
        let (path, store, keys) = stored("byte", 4);
        tamper(
            &path,
            "UPDATE receipts SET cose = CAST(replace(CAST(cose AS TEXT), 'PAY0002', 'PAY0009') AS BLOB) WHERE seq = 3",
        );
        assert_eq!(
            problem_of(&store, &keys),
            (3, HistoryProblemKind::Edited, 2)
        );

        let (path, store, keys) = stored("deleted", 4);
        tamper(&path, "DELETE FROM receipts WHERE seq = 2");
        assert_eq!(
            problem_of(&store, &keys),
            (2, HistoryProblemKind::Missing, 1)
        );

        let (path, store, keys) = stored("reordered", 4);
        tamper(
            &path,
            "UPDATE receipts SET seq = -2 WHERE seq = 2; UPDATE receipts SET seq = 2 WHERE seq = 3; UPDATE receipts SET seq = 3 WHERE seq = -2;",
        );
        assert_eq!(
            problem_of(&store, &keys),
            (2, HistoryProblemKind::OutOfPlace, 1)
        );

        let (path, store, keys) = stored("amount", 4);
        tamper(&path, "UPDATE receipts SET amount = '1.00' WHERE seq = 4");
        assert_eq!(
            problem_of(&store, &keys),
            (4, HistoryProblemKind::Edited, 3)
        );

        // Nothing that still verifies is lost: the entries before the problem all remain.
        assert_eq!(store.history().unwrap().len(), 4);
    }

    #[test]
    fn a_receipt_code_round_trips_through_a_rendered_qr_and_verifies_offline() {
        let signer = ResponseSigner::generate("platform-1").unwrap();
        let keys = PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        let cose = sign_receipt(&body(), &signer).unwrap();
        let text = receipt_qr_text(&cose);
        assert!(text.starts_with("BTR1:"));
        // Alphanumeric mode only: digits, upper case, space and $%*+-./:
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b" $%*+-./:".contains(&b))
        );
        let qr = crate::scan::render_png_luma(&text, 4).unwrap();
        let frame = crate::scan::LumaFrame::new(&qr.pixels, qr.width, qr.height, qr.width).unwrap();
        let codes = crate::scan::scan_frame(&frame).unwrap();
        let scanned = codes[0].payload.as_ref().unwrap();
        assert_eq!(scanned.format, crate::scan::Format::Receipt);
        assert!(!scanned.payable);
        let crate::scan::Detail::Receipt(code) = &scanned.detail else {
            panic!("not a receipt")
        };
        assert_eq!(code.body, body());
        assert_eq!(verify_receipt(&code.cose, &keys).unwrap().0, body());
        // A receipt code made with another key reads, but does not verify.
        let other = ResponseSigner::generate("platform-1").unwrap();
        let forged =
            read_receipt_qr(&receipt_qr_text(&sign_receipt(&body(), &other).unwrap())).unwrap();
        assert!(verify_receipt(&forged.cose, &keys).is_err());
        // Damaged codes are typed errors.
        for bad in ["BTR1:", "BTR1:%%%", "BTR1:00000", &text[..text.len() - 3]] {
            assert!(read_receipt_qr(bad).is_err(), "{bad}");
            assert!(crate::scan::parse_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_import_keeps_what_verifies_in_order_and_refuses_forged_and_wrong_key_receipts() {
        let (_, store, _) = stored("import", 1);
        let signer = ResponseSigner::generate("platform-1").unwrap();
        let keys_of_signer = PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        let receipt = |i: usize, s: &ResponseSigner| {
            let mut b = body();
            b.payment_id = format!("IMP{i:04}");
            b.paid_at += 1_000 + i as i64;
            sign_receipt(&b, s).unwrap()
        };
        let impostor = ResponseSigner::generate("platform-1").unwrap(); // same key id, other key
        let stranger = ResponseSigner::generate("unknown-key").unwrap();
        let genuine = receipt(1, &signer);
        let mut flipped = receipt(2, &signer);
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        let batch = vec![
            genuine.clone(),
            receipt(3, &impostor),
            flipped,
            receipt(4, &stranger),
            b"not a receipt".to_vec(),
            vec![0u8; MAX_RECEIPT_BYTES + 1],
            genuine.clone(),
            receipt(5, &signer),
        ];
        let report = import_receipts(&store, &keys_of_signer, &batch).unwrap();
        let refused: Vec<u64> = report.refused.iter().map(|r| r.index).collect();
        assert_eq!(refused, [1, 2, 3, 4, 5]);
        assert_eq!(
            (report.added, report.already_kept),
            (2, 1),
            "a repeat in the batch is kept once"
        );
        let ids: Vec<String> = store
            .history()
            .unwrap()
            .into_iter()
            .map(|r| r.receipt.payment_id)
            .collect();
        assert_eq!(
            ids,
            ["PAY0000", "IMP0001", "IMP0005"],
            "appended in the order given"
        );
        // Importing the same again adds nothing and loses nothing.
        let again = import_receipts(&store, &keys_of_signer, &batch[..1]).unwrap();
        assert_eq!((again.added, again.already_kept), (0, 1));
        assert_eq!(store.history().unwrap().len(), 3);
    }

    #[test]
    fn a_signed_receipt_verifies_and_any_change_or_other_key_is_refused() {
        let signer = ResponseSigner::generate("platform-1").unwrap();
        let keys = PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        let cose = sign_receipt(&body(), &signer).unwrap();
        assert!(cose.len() < 400, "{} bytes", cose.len());
        let (got, kid) = verify_receipt(&cose, &keys).unwrap();
        assert_eq!((got, kid.as_str()), (body(), "platform-1"));
        // One byte changed anywhere: refused (malformed or bad signature), never accepted.
        for i in 0..cose.len() {
            let mut bad = cose.clone();
            bad[i] ^= 0x01;
            assert!(verify_receipt(&bad, &keys).is_err(), "byte {i}");
        }
        let other = ResponseSigner::generate("platform-1").unwrap();
        let forged = sign_receipt(&body(), &other).unwrap();
        assert!(matches!(
            verify_receipt(&forged, &keys),
            Err(ReceiptError::Untrusted(TrustError::BadSignature))
        ));
        let stranger = ResponseSigner::generate("someone").unwrap();
        assert!(matches!(
            verify_receipt(&sign_receipt(&body(), &stranger).unwrap(), &keys),
            Err(ReceiptError::Untrusted(TrustError::UnknownKey { .. }))
        ));
        assert!(matches!(
            verify_receipt(&[0u8; 5000], &keys),
            Err(ReceiptError::TooLarge)
        ));
        assert!(verify_receipt(b"", &keys).is_err());
    }
}
