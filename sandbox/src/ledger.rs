//! The sandbox's bank: registered devices, demo funding accounts with balances, quotes and
//! payments with idempotency as Stripe defines it (same key and body → the stored answer; same
//! key, other body → refused), in the same SQLite database as the bills.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::Db;

/// Funding accounts seeded for demos and tests: account, holder, balance in fen.
pub const DEMO_ACCOUNTS: [(&str, &str, i64); 2] = [
    // Plenty: the CLI, the demo and the fault tests pay from it.
    ("6217000010000000001", "演示用户", 10_000_000_000),
    // Ten yuan: for the insufficient-funds refusal.
    ("6217000010000000002", "余额不足", 10_00),
];

/// How long a quote may be paid.
pub const QUOTE_TTL_SECS: i64 = 600;
/// How long the platform keeps idempotency keys.
pub const KEY_RETENTION_SECS: i64 = 86_400;

pub(crate) fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS devices (
            device_id TEXT PRIMARY KEY, public_key BLOB NOT NULL, platform TEXT NOT NULL,
            registered_at INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS accounts (
            number TEXT PRIMARY KEY, holder TEXT NOT NULL, balance_fen INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS quotes (
            quote_id TEXT PRIMARY KEY, bill_id TEXT, biller_id TEXT NOT NULL,
            payee_account TEXT NOT NULL, amount_fen INTEGER NOT NULL, fee_fen INTEGER NOT NULL,
            funding_account TEXT NOT NULL, expires_at INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS payments (
            payment_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, idempotency_key TEXT NOT NULL,
            body_hash TEXT NOT NULL, http_status INTEGER NOT NULL, response TEXT NOT NULL,
            accepted INTEGER NOT NULL, bill_id TEXT, biller_id TEXT NOT NULL,
            payee_account TEXT NOT NULL,
            amount_fen INTEGER NOT NULL, created_at INTEGER NOT NULL,
            UNIQUE (device_id, idempotency_key));
         CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);",
    )?;
    for (number, holder, fen) in DEMO_ACCOUNTS {
        conn.execute(
            "INSERT OR IGNORE INTO accounts (number, holder, balance_fen) VALUES (?1, ?2, ?3)",
            params![number, holder, fen],
        )?;
    }
    Ok(())
}

/// A registered device.
pub struct Device {
    /// Uncompressed SEC1 key.
    pub public_key: Vec<u8>,
}

/// A stored quote.
pub struct StoredQuote {
    /// The bill, if any.
    pub bill_id: Option<String>,
    /// The payee.
    pub biller_id: String,
    /// The account paid.
    pub payee_account: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// Fee in fen.
    pub fee_fen: i64,
    /// The payer's account.
    pub funding_account: String,
    /// Expiry.
    pub expires_at: i64,
}

/// A payment answer kept under its key, with what the payment named.
pub struct Kept {
    /// Hash of the request body it answered.
    pub body_hash: String,
    /// HTTP status.
    pub http_status: u16,
    /// The JSON body.
    pub response: String,
    /// The payment's id.
    pub payment_id: String,
    /// The bill.
    pub bill_id: Option<String>,
    /// The payee.
    pub biller_id: String,
    /// The payee's account.
    pub payee_account: String,
    /// Amount in fen.
    pub amount_fen: i64,
    /// When.
    pub created_at: i64,
}

/// An accepted payment: payment id, bill, payee account, fen, idempotency key, device.
pub type LedgerRow = (String, Option<String>, String, i64, String, String);

/// A refusal decided inside the payment transaction.
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// Problem kind.
    pub kind: &'static str,
    /// Title.
    pub title: &'static str,
    /// Detail.
    pub detail: String,
}

/// What a payment moves, once checked against its quote.
pub struct Debit<'a> {
    /// The device.
    pub device_id: &'a str,
    /// The key.
    pub key: &'a str,
    /// Body hash.
    pub body_hash: &'a str,
    /// The quote id.
    pub quote_id: &'a str,
    /// What the body says (checked against the quote).
    pub bill_id: Option<&'a str>,
    /// The payee.
    pub biller_id: &'a str,
    /// The account.
    pub payee_account: &'a str,
    /// Amount in fen.
    pub amount_fen: i64,
    /// The payer's account.
    pub funding_account: &'a str,
    /// The nonce to burn.
    pub nonce: &'a str,
    /// Now.
    pub now: i64,
    /// The payment id to use when accepted.
    pub payment_id: &'a str,
}

fn conn(db: &Db) -> rusqlite::Result<std::sync::MutexGuard<'_, Connection>> {
    db.0.lock().map_err(|_| rusqlite::Error::InvalidQuery)
}

impl Db {
    /// A device by id.
    pub fn device(&self, id: &str) -> rusqlite::Result<Option<Device>> {
        conn(self)?
            .query_row(
                "SELECT public_key FROM devices WHERE device_id = ?1",
                [id],
                |r| {
                    Ok(Device {
                        public_key: r.get(0)?,
                    })
                },
            )
            .optional()
    }

    /// Registers a device; `Ok(false)` when the id is taken by another key.
    pub fn register_device(
        &self,
        id: &str,
        key: &[u8],
        platform: &str,
        now: i64,
    ) -> rusqlite::Result<Result<i64, ()>> {
        let c = conn(self)?;
        let existing: Option<(Vec<u8>, i64)> = c
            .query_row(
                "SELECT public_key, registered_at FROM devices WHERE device_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match existing {
            Some((k, at)) if k == key => Ok(Ok(at)),
            Some(_) => Ok(Err(())),
            None => {
                c.execute(
                    "INSERT INTO devices (device_id, public_key, platform, registered_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, key, platform, now],
                )?;
                Ok(Ok(now))
            }
        }
    }

    /// Burns a nonce; `false` when it was seen before (a replay).
    pub fn burn_nonce(&self, nonce: &str, now: i64) -> rusqlite::Result<bool> {
        let n = conn(self)?.execute(
            "INSERT OR IGNORE INTO nonces (nonce, seen_at) VALUES (?1, ?2)",
            params![nonce, now],
        )?;
        Ok(n == 1)
    }

    /// Whether a nonce was seen before.
    pub fn nonce_seen(&self, nonce: &str) -> rusqlite::Result<bool> {
        Ok(conn(self)?
            .query_row("SELECT 1 FROM nonces WHERE nonce = ?1", [nonce], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Whether a funding account exists.
    pub fn account_exists(&self, number: &str) -> rusqlite::Result<bool> {
        Ok(conn(self)?
            .query_row("SELECT 1 FROM accounts WHERE number = ?1", [number], |_| {
                Ok(())
            })
            .optional()?
            .is_some())
    }

    /// Stores a quote.
    pub fn insert_quote(&self, id: &str, q: &StoredQuote) -> rusqlite::Result<()> {
        conn(self)?.execute(
            "INSERT INTO quotes (quote_id, bill_id, biller_id, payee_account, amount_fen, fee_fen, funding_account, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![id, q.bill_id, q.biller_id, q.payee_account, q.amount_fen, q.fee_fen, q.funding_account, q.expires_at],
        )?;
        Ok(())
    }

    /// The answer kept under a device's key, if any.
    pub fn kept(&self, device_id: &str, key: &str) -> rusqlite::Result<Option<Kept>> {
        conn(self)?
            .query_row(
                "SELECT body_hash, http_status, response, payment_id, bill_id, biller_id, payee_account, amount_fen, created_at FROM payments WHERE device_id = ?1 AND idempotency_key = ?2",
                params![device_id, key],
                |r| {
                    Ok(Kept {
                        body_hash: r.get(0)?,
                        http_status: r.get::<_, u16>(1)?,
                        response: r.get(2)?,
                        payment_id: r.get(3)?,
                        bill_id: r.get(4)?,
                        biller_id: r.get(5)?,
                        payee_account: r.get(6)?,
                        amount_fen: r.get(7)?,
                        created_at: r.get(8)?,
                    })
                },
            )
            .optional()
    }

    /// The payment transaction: checks the quote, the bill and the balance, moves the money,
    /// keeps the answer under the key and burns the nonce — all or nothing. Returns the
    /// refusal, if any; `answer` builds the JSON kept for either outcome.
    pub fn pay(
        &self,
        d: &Debit<'_>,
        answer: impl Fn(Option<&Refusal>, i64) -> (u16, String),
    ) -> rusqlite::Result<(u16, String)> {
        let mut c = conn(self)?;
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let quote = tx
            .query_row(
                "SELECT bill_id, biller_id, payee_account, amount_fen, fee_fen, funding_account, expires_at FROM quotes WHERE quote_id = ?1",
                [d.quote_id],
                |r| {
                    Ok(StoredQuote {
                        bill_id: r.get(0)?,
                        biller_id: r.get(1)?,
                        payee_account: r.get(2)?,
                        amount_fen: r.get(3)?,
                        fee_fen: r.get(4)?,
                        funding_account: r.get(5)?,
                        expires_at: r.get(6)?,
                    })
                },
            )
            .optional()?;
        let refuse = |status, kind, title, detail: String| Refusal {
            status,
            kind,
            title,
            detail,
        };
        let mut fee = 0;
        let refusal = match quote {
            None => Some(refuse(
                404,
                "unknown-quote",
                "Unknown quote",
                "no such quote".into(),
            )),
            Some(q)
                if q.bill_id.as_deref() != d.bill_id
                    || q.biller_id != d.biller_id
                    || q.payee_account != d.payee_account
                    || q.amount_fen != d.amount_fen
                    || q.funding_account != d.funding_account =>
            {
                Some(refuse(
                    422,
                    "quote-mismatch",
                    "Payment does not match its quote",
                    "the payee, bill, amount or funding account differs from the quote".into(),
                ))
            }
            Some(q) if q.expires_at <= d.now => Some(refuse(
                410,
                "quote-expired",
                "Quote expired",
                "ask for a new quote".into(),
            )),
            Some(q) => {
                fee = q.fee_fen;
                let bill_state: Option<(String, i64)> = match d.bill_id {
                    Some(b) => tx
                        .query_row(
                            "SELECT status, amount_fen FROM bills WHERE id = ?1",
                            [b],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?,
                    None => None,
                };
                let balance: i64 = tx
                    .query_row(
                        "SELECT balance_fen FROM accounts WHERE number = ?1",
                        [d.funding_account],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                match bill_state {
                    Some((status, _)) if status == "paid" => Some(refuse(
                        409,
                        "bill-paid",
                        "Bill already paid",
                        "this bill is paid; nothing was taken".into(),
                    )),
                    Some((_, due)) if d.amount_fen > due => Some(refuse(
                        409,
                        "amount-exceeds-due",
                        "More than is due",
                        "the bill changed since the quote; ask for a new quote".into(),
                    )),
                    _ if balance < d.amount_fen + q.fee_fen => Some(refuse(
                        402,
                        "insufficient-funds",
                        "Insufficient funds",
                        "the funding account's balance does not cover the amount and fee".into(),
                    )),
                    bill => {
                        tx.execute(
                            "UPDATE accounts SET balance_fen = balance_fen - ?2 WHERE number = ?1",
                            params![d.funding_account, d.amount_fen + q.fee_fen],
                        )?;
                        if let (Some(b), Some((_, due))) = (d.bill_id, bill) {
                            let left = due - d.amount_fen;
                            tx.execute(
                                "UPDATE bills SET amount_fen = ?2, status = CASE WHEN ?2 = 0 THEN 'paid' ELSE status END WHERE id = ?1",
                                params![b, left],
                            )?;
                        }
                        None
                    }
                }
            }
        };
        let (status, body) = answer(refusal.as_ref(), fee);
        tx.execute(
            "INSERT INTO payments (payment_id, device_id, idempotency_key, body_hash, http_status, response, accepted, bill_id, biller_id, payee_account, amount_fen, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                d.payment_id,
                d.device_id,
                d.key,
                d.body_hash,
                status,
                body,
                refusal.is_none(),
                d.bill_id,
                d.biller_id,
                d.payee_account,
                d.amount_fen,
                d.now
            ],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO nonces (nonce, seen_at) VALUES (?1, ?2)",
            params![d.nonce, d.now],
        )?;
        tx.commit()?;
        Ok((status, body))
    }

    /// Every accepted payment: payment id, bill, payee account, fen, key, device.
    pub fn ledger(&self) -> rusqlite::Result<Vec<LedgerRow>> {
        let c = conn(self)?;
        let mut st = c.prepare(
            "SELECT payment_id, bill_id, payee_account, amount_fen, idempotency_key, device_id FROM payments WHERE accepted = 1 ORDER BY created_at, payment_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        rows.collect()
    }
}
