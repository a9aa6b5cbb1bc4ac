//! The store: one SQLite file for the device identity and its payments (receipts join with
//! their issue). WAL with `synchronous=FULL`, so a committed row survives a killed process and
//! a lost battery; `.sql` migrations numbered by `user_version`; one writer (a mutex around
//! the one connection).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

mod keep;
mod topup;

pub use keep::AccountRow;
pub use topup::TopupRow;

/// The migrations, in order; `user_version` is how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_payments.sql"),
    include_str!("migrations/0002_receipts.sql"),
    include_str!("migrations/0003_keep.sql"),
    include_str!("migrations/0004_topups.sql"),
    include_str!("migrations/0005_meter_tokens.sql"),
];

/// The link before the first receipt.
pub const GENESIS_LINK: [u8; 32] = [0; 32];

/// The chain link of entry `seq`: SHA-256 over a tag, the sequence number, the previous link
/// and the receipt's hash.
pub fn chain_link(seq: i64, prev_link: &[u8], receipt_hash: &[u8]) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"billtap-history-v1");
    ctx.update(&seq.to_be_bytes());
    ctx.update(prev_link);
    ctx.update(receipt_hash);
    ctx.finish().as_ref().to_vec()
}

/// SHA-256.
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// A receipt to append: the signed bytes and what the filters read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// The platform's transaction id.
    pub payment_id: String,
    /// The COSE_Sign1 bytes.
    pub cose: Vec<u8>,
    /// The key that signed it.
    pub key_id: String,
    /// The payee.
    pub biller_id: String,
    /// The bill.
    pub bill_id: Option<String>,
    /// The payee's name.
    pub payee_name: String,
    /// The payee's English name, when the receipt carries one.
    pub payee_name_en: Option<String>,
    /// The payee's sub-category (`utilities.water`), when the receipt carries one.
    pub category: Option<String>,
    /// Amount, plain decimal.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// Platform time of payment.
    pub paid_at: i64,
    /// A keypad meter's STS token (20 digits), when the receipt vends one.
    pub sts_token: Option<String>,
}

/// A stored receipt with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRow {
    /// Position in the history (1, 2, 3…).
    pub seq: i64,
    /// billtap's payment id, when paid from this store.
    pub local_payment: Option<String>,
    /// The receipt as stored.
    pub receipt: NewReceipt,
    /// Stored SHA-256 of the receipt.
    pub receipt_hash: Vec<u8>,
    /// Stored link of the entry before.
    pub prev_link: Vec<u8>,
    /// Stored link of this entry.
    pub link: Vec<u8>,
}

/// Filters for listing receipts (all optional; newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ReceiptFilter {
    /// Only this payee.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub biller_id: Option<String>,
    /// Paid at or after (Unix seconds).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub since: Option<i64>,
    /// Paid before (Unix seconds).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub until: Option<i64>,
    /// Only this category (`utilities`) or sub-category (`utilities.water`).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub category: Option<String>,
    /// At least this amount.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub min_amount: Option<rust_decimal::Decimal>,
    /// At most this amount.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub max_amount: Option<rust_decimal::Decimal>,
    /// Every word of it (Chinese or English) appears in the payee's name.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub search: Option<String>,
    /// At most this many (default 50).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub limit: Option<u32>,
}

/// Why the store failed. Nothing already stored is lost: every change is one transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be opened or created.
    #[error("cannot open the store {path}: {reason}")]
    Open {
        /// The file.
        path: String,
        /// What SQLite said.
        reason: String,
    },
    /// The file was written by a newer billtap.
    #[error(
        "the store was written by a newer version of billtap (schema {found}, this one knows {known}); update the app"
    )]
    TooNew {
        /// The file's schema version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// A payment for this bill is still in flight.
    #[error("a payment for bill {bill_id} is still being settled; wait for it before paying again")]
    InFlight {
        /// The bill.
        bill_id: String,
    },
    /// A stored value is not what billtap wrote (edited or damaged file).
    #[error("the store holds a damaged record: {0}")]
    Corrupt(String),
    /// A value handed to the store is not acceptable (an amount bound, a nickname).
    #[error("{0}")]
    Invalid(String),
    /// SQLite failed (disk full, I/O error).
    #[error("the store failed: {0}")]
    Sql(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sql(e.to_string())
    }
}

/// The device row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// The device's id.
    pub device_id: String,
    /// Its public key, uncompressed SEC1.
    pub public_key: Vec<u8>,
    /// The software key's PKCS#8, when billtap signs itself.
    pub software_key: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// When the platform registered it.
    pub registered_at: Option<i64>,
    /// Which platform it is registered with.
    pub platform_url: Option<String>,
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PaymentState {
    /// Signed and stored; not sent yet.
    Ready,
    /// Sent (perhaps more than once, always the same bytes); no answer kept yet.
    Submitted,
    /// The platform accepted it: the bill is paid.
    Succeeded,
    /// The platform refused it: nothing was taken.
    Failed,
    /// No trustworthy answer yet (timeout, dropped response): settled by asking the platform
    /// with the same idempotency key.
    Unknown,
    /// Still unsettled after the platform's key retention window: a person must look (never
    /// re-sent under a new key).
    NeedsReconciliation,
}

impl PaymentState {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentState::Ready => "ready",
            PaymentState::Submitted => "submitted",
            PaymentState::Succeeded => "succeeded",
            PaymentState::Failed => "failed",
            PaymentState::Unknown => "unknown",
            PaymentState::NeedsReconciliation => "needs_reconciliation",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "ready" => PaymentState::Ready,
            "submitted" => PaymentState::Submitted,
            "succeeded" => PaymentState::Succeeded,
            "failed" => PaymentState::Failed,
            "unknown" => PaymentState::Unknown,
            "needs_reconciliation" => PaymentState::NeedsReconciliation,
            other => return Err(StoreError::Corrupt(format!("payment state {other:?}"))),
        })
    }

    /// Whether the outcome is settled (succeeded or failed).
    pub fn is_final(&self) -> bool {
        matches!(self, PaymentState::Succeeded | PaymentState::Failed)
    }

    /// Whether `resume` still has work to do on it.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            PaymentState::Ready | PaymentState::Submitted | PaymentState::Unknown
        )
    }
}

/// One payment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    /// billtap's id for it.
    pub payment_id: String,
    /// The idempotency key: one per payment, for its whole life.
    pub idempotency_key: String,
    /// The quote it pays.
    pub quote_id: String,
    /// The bill, if any.
    pub bill_id: Option<String>,
    /// The payee.
    pub biller_id: String,
    /// The verified payee name.
    pub payee_name: String,
    /// The verified account the money goes to (in full: it is paid to).
    pub payee_account: String,
    /// Amount, plain decimal.
    pub amount: String,
    /// Fee, plain decimal.
    pub fee: String,
    /// Currency.
    pub currency: String,
    /// Where it stands.
    pub state: PaymentState,
    /// The exact signed request, JSON of `platform::PreparedRequest`.
    pub request: String,
    /// The device timestamp the request was signed with.
    pub request_timestamp: i64,
    /// The platform's id, once accepted.
    pub platform_payment_id: Option<String>,
    /// Why it failed or is not settled.
    pub failure: Option<String>,
    /// How many times it was sent.
    pub attempts: i64,
    /// Created (device clock).
    pub created_at: i64,
    /// Last changed (device clock).
    pub updated_at: i64,
}

/// The store.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(&e))?;
        }
        let mut conn = Connection::open(path).map_err(|e| open_err(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| open_err(&e))?;
        // WAL: readers never block the writer; FULL: a commit is on disk before it returns.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| open_err(&e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| open_err(&e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| open_err(&e))?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock still guards a consistent connection: SQLite rolled back whatever
        // transaction the panicking holder had open.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Turns durability off: only for the store benchmark's baseline, never for payments.
    pub fn set_synchronous_off_for_benchmark(&self) -> Result<(), StoreError> {
        self.conn().pragma_update(None, "synchronous", "OFF")?;
        Ok(())
    }

    /// `PRAGMA integrity_check`: `ok` for a sound file.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// The device row, if the device has an identity yet.
    pub fn device(&self) -> Result<Option<DeviceRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT device_id, public_key, software_key, registered_at, platform_url FROM device WHERE id = 1",
                [],
                |r| {
                    Ok(DeviceRow {
                        device_id: r.get(0)?,
                        public_key: r.get(1)?,
                        software_key: r.get::<_, Option<Vec<u8>>>(2)?.map(zeroize::Zeroizing::new),
                        registered_at: r.get(3)?,
                        platform_url: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    /// Stores the device identity (once; an existing one is kept and returned).
    pub fn create_device(&self, d: &DeviceRow) -> Result<DeviceRow, StoreError> {
        {
            let conn = self.conn();
            conn.execute(
                "INSERT OR IGNORE INTO device (id, device_id, public_key, software_key) VALUES (1, ?1, ?2, ?3)",
                params![d.device_id, d.public_key, d.software_key.as_ref().map(|k| k.as_slice())],
            )?;
        }
        self.device()?
            .ok_or_else(|| StoreError::Corrupt("the device row vanished".into()))
    }

    /// Records the registration with a platform.
    pub fn set_registered(&self, platform_url: &str, at: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE device SET registered_at = ?1, platform_url = ?2 WHERE id = 1",
            params![at, platform_url],
        )?;
        Ok(())
    }

    /// Inserts a new payment, refusing a second one in flight for the same bill.
    pub fn insert_payment(&self, p: &PaymentRow) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(bill) = &p.bill_id {
            let busy: Option<String> = tx
                .query_row(
                    "SELECT payment_id FROM payments WHERE bill_id = ?1 AND state IN ('ready','submitted','unknown')",
                    [bill],
                    |r| r.get(0),
                )
                .optional()?;
            if busy.is_some() {
                return Err(StoreError::InFlight {
                    bill_id: bill.clone(),
                });
            }
        }
        tx.execute(
            "INSERT INTO payments (payment_id, idempotency_key, quote_id, bill_id, biller_id, payee_name, payee_account, amount, fee, currency, state, request, request_timestamp, platform_payment_id, failure, attempts, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            params![
                p.payment_id,
                p.idempotency_key,
                p.quote_id,
                p.bill_id,
                p.biller_id,
                p.payee_name,
                p.payee_account,
                p.amount,
                p.fee,
                p.currency,
                p.state.as_str(),
                p.request,
                p.request_timestamp,
                p.platform_payment_id,
                p.failure,
                p.attempts,
                p.created_at,
                p.updated_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Moves a payment to `state` (with the platform's id or a failure reason).
    pub fn set_state(
        &self,
        payment_id: &str,
        state: PaymentState,
        platform_payment_id: Option<&str>,
        failure: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE payments SET state = ?2, platform_payment_id = COALESCE(?3, platform_payment_id), failure = ?4, updated_at = ?5 WHERE payment_id = ?1",
            params![payment_id, state.as_str(), platform_payment_id, failure, now],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!("no payment {payment_id}")))
        }
    }

    /// Marks one more send of the stored bytes (state `submitted`).
    pub fn mark_sent(&self, payment_id: &str, now: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE payments SET state = 'submitted', attempts = attempts + 1, updated_at = ?2 WHERE payment_id = ?1",
            params![payment_id, now],
        )?;
        Ok(())
    }

    /// Replaces the stored request with a re-signed one (same key, same body; a new nonce and
    /// timestamp when the old signature has gone stale).
    pub fn replace_request(
        &self,
        payment_id: &str,
        request: &str,
        timestamp: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE payments SET request = ?2, request_timestamp = ?3, updated_at = ?4 WHERE payment_id = ?1",
            params![payment_id, request, timestamp, now],
        )?;
        Ok(())
    }

    /// Marks a payment succeeded and appends its receipt (if the platform sent one that
    /// verified), in one transaction.
    pub fn succeed(
        &self,
        payment_id: &str,
        platform_payment_id: &str,
        receipt: Option<&NewReceipt>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = {
            let mut chain = Appender::new(&tx)?;
            match (receipt, chain.known(platform_payment_id)?) {
                (_, Some(seq)) => Some(seq),
                (Some(r), None) => Some(chain.append(Some(payment_id), r)?),
                (None, None) => None,
            }
        };
        let n = tx.execute(
            "UPDATE payments SET state = 'succeeded', platform_payment_id = ?2, failure = NULL, receipt_seq = ?3, updated_at = ?4 WHERE payment_id = ?1",
            params![payment_id, platform_payment_id, seq, now],
        )?;
        if n != 1 {
            return Err(StoreError::Corrupt(format!("no payment {payment_id}")));
        }
        tx.commit()?;
        Ok(())
    }

    /// Appends a receipt that was not paid from this store (an import); its sequence number.
    pub fn import_receipt(&self, r: &NewReceipt) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = {
            let mut chain = Appender::new(&tx)?;
            match chain.known(&r.payment_id)? {
                Some(seq) => seq,
                None => chain.append(None, r)?,
            }
        };
        tx.commit()?;
        Ok(seq)
    }

    /// Appends many receipts (already verified) in one transaction; those already kept are
    /// skipped. How many were appended.
    pub fn import_receipts(&self, receipts: &[NewReceipt]) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut added = 0;
        {
            let mut chain = Appender::new(&tx)?;
            let mut seen = std::collections::HashSet::new();
            for r in receipts {
                if seen.insert(r.payment_id.as_str()) && chain.known(&r.payment_id)?.is_none() {
                    chain.append(None, r)?;
                    added += 1;
                }
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// Remembers a platform key receipts were verified with.
    pub fn save_key(&self, key_id: &str, public_key: &[u8]) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO platform_keys (key_id, public_key) VALUES (?1, ?2)",
            params![key_id, public_key],
        )?;
        Ok(())
    }

    /// The remembered platform keys, `KEY_ID:BASE64` entries.
    pub fn saved_keys(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let conn = self.conn();
        let mut st =
            conn.prepare("SELECT key_id, public_key FROM platform_keys ORDER BY key_id")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Receipts matching `f`, newest first. A search first finds the payees whose Chinese or
    /// English name holds every word (a few thousand names at most), then reads each one's
    /// newest receipts through its index: fast however many receipts there are.
    pub fn receipts(&self, f: &ReceiptFilter) -> Result<Vec<ReceiptRow>, StoreError> {
        let conn = self.conn();
        let limit = i64::from(f.limit.unwrap_or(50));
        let (mut clause, mut args) = filter_clause(f)?;
        let Some(search) = f.search.as_deref().filter(|s| !s.trim().is_empty()) else {
            if let Some(c) = &f.category {
                // Few sub-categories, many receipts: each one's newest through its index.
                let (cat_clause, cat_args) = category_clause(c);
                let mut st = conn.prepare(&format!(
                    "SELECT category FROM receipt_categories WHERE {cat_clause}"
                ))?;
                let cats = st
                    .query_map(rusqlite::params_from_iter(&cat_args), |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                return newest_per_value(&conn, &mut clause, &mut args, "category", cats, limit);
            }
            let mut st = conn.prepare(&format!(
                "{SELECT_RECEIPT} WHERE {clause} ORDER BY paid_at DESC, seq DESC LIMIT {limit}"
            ))?;
            let rows = st.query_map(rusqlite::params_from_iter(&args), receipt_row)?;
            return Ok(rows.collect::<Result<_, _>>()?);
        };
        let names = matching_payees(&conn, search)?;
        newest_per_value(&conn, &mut clause, &mut args, "payee_name", names, limit)
    }

    /// Totals of the receipts matching `f` (search, limit aside) per month (China time) and
    /// per category, each per currency.
    pub fn receipt_totals(&self, f: &ReceiptFilter) -> Result<Vec<TotalRow>, StoreError> {
        let conn = self.conn();
        let whole = f.biller_id.is_none()
            && f.since.is_none()
            && f.until.is_none()
            && f.min_amount.is_none()
            && f.max_amount.is_none();
        if whole {
            return sums_by_month_and_category(&conn, f.category.as_deref());
        }
        let (clause, args) = filter_clause(f)?;
        grouped_totals(
            &conn,
            "strftime('%Y-%m', paid_at + 28800, 'unixepoch')",
            "SUM(amount_e4), COUNT(*) FROM receipts",
            &clause,
            &args,
        )
    }

    /// The whole history in chain order, for verification.
    pub fn history(&self) -> Result<Vec<ReceiptRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!("{SELECT_RECEIPT} ORDER BY seq"))?;
        let rows = st.query_map([], receipt_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The receipts that vend a keypad-meter token, newest first (by the partial index).
    pub fn sts_receipts(&self) -> Result<Vec<ReceiptRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "{SELECT_RECEIPT} WHERE sts_token IS NOT NULL ORDER BY seq DESC"
        ))?;
        let rows = st.query_map([], receipt_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Succeeded payments that name a receipt: (payment id, receipt seq).
    pub fn receipt_claims(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT payment_id, receipt_seq FROM payments WHERE state = 'succeeded' AND receipt_seq IS NOT NULL",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One payment.
    pub fn payment(&self, payment_id: &str) -> Result<Option<PaymentRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!("{SELECT_PAYMENT} WHERE payment_id = ?1"))?;
        let mut rows = st.query([payment_id])?;
        match rows.next()? {
            Some(r) => Ok(Some(row(r)?)),
            None => Ok(None),
        }
    }

    /// Payments, newest first; only those `resume` still works on when `pending_only`.
    pub fn payments(&self, pending_only: bool) -> Result<Vec<PaymentRow>, StoreError> {
        let conn = self.conn();
        let filter = if pending_only {
            " WHERE state IN ('ready','submitted','unknown')"
        } else {
            ""
        };
        let mut st = conn.prepare(&format!(
            "{SELECT_PAYMENT}{filter} ORDER BY created_at DESC, rowid DESC"
        ))?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(row(r)?);
        }
        Ok(out)
    }
}

/// The store keeps the client's signed responses (the offline catalog) in `cached_responses`;
/// the client verifies them again on every load. A failed write only costs the offline copy.
impl crate::platform::ResponseCache for Store {
    fn load(&self, name: &str) -> Option<Vec<u8>> {
        self.conn()
            .query_row(
                "SELECT body FROM cached_responses WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten()
    }

    fn save(&self, name: &str, bytes: &[u8]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if let Err(e) = self.conn().execute(
            "INSERT INTO cached_responses (name, body, saved_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET body = excluded.body, saved_at = excluded.saved_at",
            params![name, bytes, now],
        ) {
            tracing::warn!(error = %e, "could not keep the response for offline use");
        }
    }

    fn discard(&self, name: &str) {
        let _ = self
            .conn()
            .execute("DELETE FROM cached_responses WHERE name = ?1", [name]);
    }
}

const SELECT_RECEIPT: &str = "SELECT seq, local_payment, payment_id, cose, key_id, biller_id, bill_id, payee_name, amount, currency, paid_at, receipt_hash, prev_link, link, payee_name_en, category, sts_token FROM receipts";

/// What a total is per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotalBy {
    /// A calendar month in China time (`2026-11`).
    Month,
    /// A top-level category (`utilities`; empty for receipts that name none).
    Category,
}

/// One total row: the sum (×10^4) and count of receipts in one month or category, one
/// currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalRow {
    /// Month or category.
    pub by: TotalBy,
    /// `2026-11` or `utilities`.
    pub key: String,
    /// ISO 4217.
    pub currency: String,
    /// Sum of amounts × 10^4.
    pub sum_e4: i64,
    /// How many receipts.
    pub count: i64,
}

/// A plain decimal amount (`268.4`, `12`) × 10^4, exactly; `None` for anything else or more
/// than four decimals.
pub fn amount_e4(text: &str) -> Option<i64> {
    let d: rust_decimal::Decimal = text.parse().ok()?;
    if d.scale() > 4 || text.contains(['e', 'E']) {
        return None;
    }
    let scaled = d.checked_mul(rust_decimal::Decimal::new(10_000, 0))?;
    i64::try_from(scaled.trunc()).ok()
}

/// The WHERE clause (with its values) for every filter but search and limit.
fn filter_clause(f: &ReceiptFilter) -> Result<(String, Vec<rusqlite::types::Value>), StoreError> {
    use rusqlite::types::Value;
    let mut clause = String::from("1");
    let mut args: Vec<Value> = Vec::new();
    let mut add = |sql: &str, v: Value| {
        clause.push_str(" AND ");
        clause.push_str(sql);
        args.push(v);
    };
    if let Some(b) = &f.biller_id {
        add("biller_id = ?", Value::Text(b.clone()));
    }
    if let Some(t) = f.since {
        add("paid_at >= ?", Value::Integer(t));
    }
    if let Some(t) = f.until {
        add("paid_at < ?", Value::Integer(t));
    }
    if let Some(c) = &f.category {
        let (sql, values) = category_clause(c);
        clause.push_str(" AND ");
        clause.push_str(&sql);
        args.extend(values);
    }
    for (bound, sql) in [
        (&f.min_amount, "amount_e4 >= ?"),
        (&f.max_amount, "amount_e4 <= ?"),
    ] {
        if let Some(d) = bound {
            let e4 = amount_e4(&d.to_string()).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "the amount bound {d} has more than four decimals or is too large"
                ))
            })?;
            clause.push_str(" AND ");
            clause.push_str(sql);
            args.push(Value::Integer(e4));
        }
    }
    Ok((clause, args))
}

/// `category` is `c` or one of its sub-categories: `utilities` also means every
/// `utilities.*`; a range keeps it on an index.
fn category_clause(c: &str) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let c = c.trim().trim_end_matches('.');
    (
        "(category = ? OR (category > ? AND category < ?))".into(),
        vec![
            Value::Text(c.to_string()),
            Value::Text(format!("{c}.")),
            Value::Text(format!("{c}/")),
        ],
    )
}

/// The newest `limit` receipts matching `clause` among those whose `column` is one of
/// `values`: each value's newest through its `(column, paid_at, seq)` index, merged. Fast
/// however many receipts there are, because values (payees, categories) are few.
fn newest_per_value(
    conn: &Connection,
    clause: &mut String,
    args: &mut Vec<rusqlite::types::Value>,
    column: &str,
    values: Vec<String>,
    limit: i64,
) -> Result<Vec<ReceiptRow>, StoreError> {
    clause.push_str(&format!(" AND {column} = ?"));
    args.push(rusqlite::types::Value::Null);
    let last = args.len() - 1;
    let mut st = conn.prepare(&format!(
        "SELECT seq, paid_at FROM receipts WHERE {clause} ORDER BY paid_at DESC, seq DESC LIMIT {limit}"
    ))?;
    let mut hits: Vec<(i64, i64)> = Vec::new();
    for value in values {
        if let Some(slot) = args.get_mut(last) {
            *slot = rusqlite::types::Value::Text(value);
        }
        let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(0)?))
        })?;
        for row in rows {
            hits.push(row?);
        }
    }
    hits.sort_unstable_by(|a, b| b.cmp(a));
    hits.truncate(usize::try_from(limit).unwrap_or(0));
    let mut one = conn.prepare_cached(&format!("{SELECT_RECEIPT} WHERE seq = ?1"))?;
    hits.iter()
        .map(|(_, seq)| Ok(one.query_row([seq], receipt_row)?))
        .collect()
}

/// Totals over the whole history (a category aside) from the running sums.
fn sums_by_month_and_category(
    conn: &Connection,
    category: Option<&str>,
) -> Result<Vec<TotalRow>, StoreError> {
    let (clause, args) = category.map_or_else(|| ("1".to_string(), Vec::new()), category_clause);
    grouped_totals(
        conn,
        "month",
        "SUM(sum_e4), SUM(count) FROM receipt_sums",
        &clause,
        &args,
    )
}

/// Sums and counts per month (`month_key`) and per top-level category, each per currency,
/// from `sums_from` (`SUM…, COUNT… FROM table`) rows matching `clause`.
fn grouped_totals(
    conn: &Connection,
    month_key: &str,
    sums_from: &str,
    clause: &str,
    args: &[rusqlite::types::Value],
) -> Result<Vec<TotalRow>, StoreError> {
    // A receipt without a category (older ones) is under ''.
    let top_category = "CASE WHEN category IS NULL THEN '' WHEN instr(category, '.') > 0 THEN substr(category, 1, instr(category, '.') - 1) ELSE category END";
    let mut out = Vec::new();
    for (by, key) in [
        (TotalBy::Month, month_key),
        (TotalBy::Category, top_category),
    ] {
        let mut st = conn.prepare(&format!(
            "SELECT {key} AS k, currency, {sums_from} WHERE {clause} GROUP BY k, currency ORDER BY k DESC, currency"
        ))?;
        let rows = st.query_map(rusqlite::params_from_iter(args), |r| {
            Ok(TotalRow {
                by,
                key: r.get(0)?,
                currency: r.get(1)?,
                sum_e4: r.get(2)?,
                count: r.get(3)?,
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

/// Payee names (Chinese) whose Chinese or English name holds every word of `search`, case
/// aside for English.
fn matching_payees(conn: &Connection, search: &str) -> Result<Vec<String>, StoreError> {
    let words: Vec<String> = search
        .split_whitespace()
        .take(8)
        .map(str::to_lowercase)
        .collect();
    let mut clause = String::from("1");
    for _ in &words {
        clause.push_str(" AND (instr(name, ?) > 0 OR instr(lower(name_en), ?) > 0)");
    }
    let args: Vec<&String> = words.iter().flat_map(|w| [w, w]).collect();
    let mut st = conn.prepare(&format!("SELECT name FROM receipt_payees WHERE {clause}"))?;
    let rows = st.query_map(rusqlite::params_from_iter(args), |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn receipt_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReceiptRow> {
    Ok(ReceiptRow {
        seq: r.get(0)?,
        local_payment: r.get(1)?,
        receipt: NewReceipt {
            payment_id: r.get(2)?,
            cose: r.get(3)?,
            key_id: r.get(4)?,
            biller_id: r.get(5)?,
            bill_id: r.get(6)?,
            payee_name: r.get(7)?,
            payee_name_en: r.get(14)?,
            category: r.get(15)?,
            amount: r.get(8)?,
            currency: r.get(9)?,
            paid_at: r.get(10)?,
            sts_token: r.get(16)?,
        },
        receipt_hash: r.get(11)?,
        prev_link: r.get(12)?,
        link: r.get(13)?,
    })
}

/// Appends receipts to the chain inside one transaction, remembering the last link so a
/// batch reads it once.
struct Appender<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    last: (i64, Vec<u8>),
    /// Payee names already recorded in this batch (a batch repeats a few payees many times).
    payees: std::collections::HashSet<String>,
    /// Sub-categories already recorded in this batch.
    categories: std::collections::HashSet<String>,
}

impl<'t> Appender<'t> {
    fn new(tx: &'t rusqlite::Transaction<'t>) -> Result<Self, StoreError> {
        let last: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "SELECT seq, link FROM receipts ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        Ok(Appender {
            tx,
            last: last.unwrap_or((0, GENESIS_LINK.to_vec())),
            payees: std::collections::HashSet::new(),
            categories: std::collections::HashSet::new(),
        })
    }

    /// The sequence number of an already kept receipt with this transaction id.
    fn known(&self, payment_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .tx
            .prepare_cached("SELECT seq FROM receipts WHERE payment_id = ?1")?
            .query_row([payment_id], |r| r.get(0))
            .optional()?)
    }

    fn append(&mut self, local_payment: Option<&str>, r: &NewReceipt) -> Result<i64, StoreError> {
        let e4 = amount_e4(&r.amount).ok_or_else(|| {
            StoreError::Invalid(format!("receipt {}: amount {:?}", r.payment_id, r.amount))
        })?;
        let seq = self.last.0 + 1;
        let hash = sha256(&r.cose);
        let link = chain_link(seq, &self.last.1, &hash);
        self.tx
            .prepare_cached(
                "INSERT INTO receipts (seq, payment_id, local_payment, cose, key_id, biller_id, bill_id, payee_name, amount, currency, paid_at, receipt_hash, prev_link, link, payee_name_en, category, amount_e4, sts_token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?
            .execute(params![
                seq, r.payment_id, local_payment, r.cose, r.key_id, r.biller_id, r.bill_id,
                r.payee_name, r.amount, r.currency, r.paid_at, hash, self.last.1, link,
                r.payee_name_en, r.category, e4, r.sts_token
            ])?;
        let month = crate::dates::format_day(crate::dates::china_day_of(r.paid_at));
        self.tx
            .prepare_cached(
                "INSERT INTO receipt_sums (month, category, currency, sum_e4, count) VALUES (?1, ?2, ?3, ?4, 1)
                 ON CONFLICT (month, category, currency) DO UPDATE SET
                   sum_e4 = sum_e4 + excluded.sum_e4, count = count + 1",
            )?
            .execute(params![
                month.get(..7).unwrap_or(&month),
                r.category.as_deref().unwrap_or(""),
                r.currency,
                e4
            ])?;
        if let Some(c) = &r.category
            && self.categories.insert(c.clone())
        {
            self.tx
                .prepare_cached("INSERT OR IGNORE INTO receipt_categories (category) VALUES (?1)")?
                .execute([c])?;
        }
        // A batch repeats a few payees many times: each is recorded once, unless it still
        // lacks the English name a later receipt may bring.
        if !self.payees.contains(&r.payee_name) {
            let en = r.payee_name_en.as_deref().unwrap_or("");
            self.tx
                .prepare_cached(
                    "INSERT INTO receipt_payees (name, name_en) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET name_en = excluded.name_en
                     WHERE receipt_payees.name_en = '' AND excluded.name_en != ''",
                )?
                .execute(params![r.payee_name, en])?;
            if !en.is_empty() {
                self.payees.insert(r.payee_name.clone());
            }
        }
        self.last = (seq, link);
        Ok(seq)
    }
}

const SELECT_PAYMENT: &str = "SELECT payment_id, idempotency_key, quote_id, bill_id, biller_id, payee_name, payee_account, amount, fee, currency, state, request, request_timestamp, platform_payment_id, failure, attempts, created_at, updated_at FROM payments";

fn row(r: &rusqlite::Row<'_>) -> Result<PaymentRow, StoreError> {
    let state: String = r.get(10)?;
    Ok(PaymentRow {
        payment_id: r.get(0)?,
        idempotency_key: r.get(1)?,
        quote_id: r.get(2)?,
        bill_id: r.get(3)?,
        biller_id: r.get(4)?,
        payee_name: r.get(5)?,
        payee_account: r.get(6)?,
        amount: r.get(7)?,
        fee: r.get(8)?,
        currency: r.get(9)?,
        state: PaymentState::parse(&state)?,
        request: r.get(11)?,
        request_timestamp: r.get(12)?,
        platform_payment_id: r.get(13)?,
        failure: r.get(14)?,
        attempts: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("billtap-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("billtap.sqlite")
    }

    fn payment(id: &str, bill: &str) -> PaymentRow {
        PaymentRow {
            payment_id: id.into(),
            idempotency_key: format!("key-{id}"),
            quote_id: "q".into(),
            bill_id: Some(bill.into()),
            biller_id: "BJ-WATER-001".into(),
            payee_name: "x".into(),
            payee_account: "1".into(),
            amount: "1.00".into(),
            fee: "0.00".into(),
            currency: "CNY".into(),
            state: PaymentState::Ready,
            request: "{}".into(),
            request_timestamp: 1,
            platform_payment_id: None,
            failure: None,
            attempts: 0,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn a_real_file_migrates_once_and_keeps_one_payment_in_flight_per_bill() {
        let path = temp("inflight");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.integrity_check().unwrap(), "ok");
        s.insert_payment(&payment("p1", "B1")).unwrap();
        assert!(matches!(
            s.insert_payment(&payment("p2", "B1")),
            Err(StoreError::InFlight { .. })
        ));
        s.set_state("p1", PaymentState::Failed, None, Some("refused"), 2)
            .unwrap();
        s.insert_payment(&payment("p2", "B1")).unwrap();
        drop(s);
        // Reopening runs no migration twice and finds everything.
        let s = Store::open(&path).unwrap();
        let all = s.payments(false).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(s.payments(true).unwrap().len(), 1);
        let journal: String = s
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let sync: i64 = s
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }

    #[test]
    fn receipt_filters_search_chinese_and_english_literally_and_total_exactly() {
        let path = temp("search");
        let s = Store::open(&path).unwrap();
        let rows = [
            (
                "北京市自来水集团",
                "Beijing Waterworks Group",
                "utilities.water",
                "268.40",
            ),
            (
                "100% 公益基金",
                "100% Charity Fund",
                "charity.general",
                "0.10",
            ),
            ("a_b 学校", "A_B School", "education.school", "0.20"),
            (
                "上海市供电公司",
                "Shanghai Power Supply",
                "utilities.electricity",
                "1000",
            ),
        ];
        for (i, (name, en, cat, amount)) in rows.iter().enumerate() {
            s.import_receipt(&NewReceipt {
                payment_id: format!("P{i}"),
                cose: vec![i as u8],
                key_id: "k".into(),
                biller_id: format!("B{i}"),
                bill_id: None,
                payee_name: (*name).into(),
                payee_name_en: Some((*en).into()),
                category: Some((*cat).into()),
                amount: (*amount).into(),
                currency: "CNY".into(),
                // Three in November 2025 (China time), the last in December.
                paid_at: 1_764_000_000 + i as i64 + if i == 3 { 1_000_000 } else { 0 },
                sts_token: None,
            })
            .unwrap();
        }
        let list = |f: ReceiptFilter| {
            s.receipts(&f)
                .unwrap()
                .into_iter()
                .map(|r| r.receipt.payment_id)
                .collect::<Vec<_>>()
        };
        let find = |text: &str| {
            list(ReceiptFilter {
                search: Some(text.into()),
                ..ReceiptFilter::default()
            })
        };
        assert_eq!(find("自来水"), ["P0"]);
        assert_eq!(find("waterworks"), ["P0"], "English, any case");
        assert_eq!(find("BEIJING group"), ["P0"], "every word, in any order");
        assert_eq!(find("北京 power"), Vec::<String>::new());
        assert_eq!(find("公司"), ["P3"]);
        assert_eq!(find("%"), ["P1"], "a % is a percent sign, not a wildcard");
        assert_eq!(find("_"), ["P2"], "an _ is an underscore");
        assert_eq!(find("'; DROP TABLE receipts; --"), Vec::<String>::new());
        assert_eq!(find("   "), ["P3", "P2", "P1", "P0"], "blank: no search");
        let window = s
            .receipts(&ReceiptFilter {
                since: Some(1_764_000_001),
                until: Some(1_764_000_002),
                ..ReceiptFilter::default()
            })
            .unwrap();
        assert_eq!(window.len(), 1);
        let category = |c: &str| {
            list(ReceiptFilter {
                category: Some(c.into()),
                ..ReceiptFilter::default()
            })
        };
        assert_eq!(category("utilities"), ["P3", "P0"]);
        assert_eq!(category("utilities.water"), ["P0"]);
        assert_eq!(category("util"), Vec::<String>::new(), "not a prefix match");
        let amounts = list(ReceiptFilter {
            min_amount: Some("0.2".parse().unwrap()),
            max_amount: Some("268.40".parse().unwrap()),
            ..ReceiptFilter::default()
        });
        assert_eq!(amounts, ["P2", "P0"], "bounds are inclusive and exact");
        assert!(matches!(
            s.receipts(&ReceiptFilter {
                min_amount: Some("0.00001".parse().unwrap()),
                ..ReceiptFilter::default()
            }),
            Err(StoreError::Invalid(_))
        ));
        let totals = s.receipt_totals(&ReceiptFilter::default()).unwrap();
        let get = |by: TotalBy, key: &str| {
            totals
                .iter()
                .find(|t| t.by == by && t.key == key)
                .map(|t| (t.sum_e4, t.count))
        };
        assert_eq!(get(TotalBy::Month, "2025-11"), Some((2_687_000, 3)));
        assert_eq!(get(TotalBy::Month, "2025-12"), Some((10_000_000, 1)));
        assert_eq!(get(TotalBy::Category, "utilities"), Some((12_684_000, 2)));
        assert_eq!(get(TotalBy::Category, "charity"), Some((1_000, 1)));
        // The running sums (whole history) agree with summing the rows (any other filter).
        let scanned = s
            .receipt_totals(&ReceiptFilter {
                since: Some(0),
                ..ReceiptFilter::default()
            })
            .unwrap();
        assert_eq!(scanned, totals);
        let utilities = s
            .receipt_totals(&ReceiptFilter {
                category: Some("utilities".into()),
                ..ReceiptFilter::default()
            })
            .unwrap();
        assert_eq!(
            utilities
                .iter()
                .filter(|t| t.by == TotalBy::Category)
                .map(|t| (t.key.as_str(), t.sum_e4))
                .collect::<Vec<_>>(),
            [("utilities", 12_684_000)]
        );
        assert_eq!(s.history().unwrap().len(), 4, "nothing lost");
    }

    #[test]
    fn a_store_from_a_newer_billtap_is_refused_untouched() {
        let path = temp("newer");
        drop(Store::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn an_edited_state_is_a_typed_error() {
        let path = temp("edited");
        let s = Store::open(&path).unwrap();
        s.insert_payment(&payment("p1", "B1")).unwrap();
        // The CHECK constraint keeps SQL from writing a bad state; an edit that drops it
        // (a damaged file) still reads as a typed error.
        s.conn()
            .execute_batch(
                "PRAGMA ignore_check_constraints = ON; UPDATE payments SET state = 'paid?'",
            )
            .unwrap();
        assert!(matches!(s.payments(false), Err(StoreError::Corrupt(_))));
    }
}
