//! The platform's side of keep: which customer a device acts for, invoice requests and their
//! states, and each customer's saved bill accounts.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::Db;
use billtap_core::platform::api::{Invoice, InvoiceState, SavedAccount};

pub(crate) fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS device_customers (
            device_id TEXT PRIMARY KEY, customer TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS invoices (
            invoice_id TEXT PRIMARY KEY, payment_id TEXT NOT NULL UNIQUE,
            customer TEXT NOT NULL, record TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS saved_accounts (
            customer TEXT NOT NULL, account_id TEXT NOT NULL, biller_id TEXT NOT NULL,
            account TEXT NOT NULL, nickname TEXT NOT NULL, updated_at INTEGER NOT NULL,
            PRIMARY KEY (customer, account_id), UNIQUE (customer, biller_id, account));",
    )
}

/// The states an invoice goes through, by how it is delivered.
pub fn invoice_states(delivery_kind: &str) -> &'static [InvoiceState] {
    use InvoiceState::*;
    match delivery_kind {
        "outlet" => &[Requested, Issued, ReadyForPickup, Delivered],
        _ => &[Requested, Issued, Sent, Delivered],
    }
}

/// A paid payment as an invoice needs it.
pub struct PaidPayment {
    /// Amount in fen.
    pub amount_fen: i64,
    /// The customer who paid (through the paying device).
    pub customer: Option<String>,
}

fn conn(db: &Db) -> rusqlite::Result<std::sync::MutexGuard<'_, Connection>> {
    db.0.lock().map_err(|_| rusqlite::Error::InvalidQuery)
}

impl Db {
    /// Records which customer a device acts for (its latest registration says).
    pub fn link_customer(&self, device_id: &str, customer: &str) -> rusqlite::Result<()> {
        conn(self)?.execute(
            "INSERT INTO device_customers (device_id, customer) VALUES (?1, ?2)
             ON CONFLICT (device_id) DO UPDATE SET customer = excluded.customer",
            params![device_id, customer],
        )?;
        Ok(())
    }

    /// The customer a device acts for.
    pub fn customer_of(&self, device_id: &str) -> rusqlite::Result<Option<String>> {
        conn(self)?
            .query_row(
                "SELECT customer FROM device_customers WHERE device_id = ?1",
                [device_id],
                |r| r.get(0),
            )
            .optional()
    }

    /// An accepted payment by its platform id.
    pub fn paid_payment(&self, payment_id: &str) -> rusqlite::Result<Option<PaidPayment>> {
        conn(self)?
            .query_row(
                "SELECT p.amount_fen, c.customer FROM payments p
                 LEFT JOIN device_customers c ON c.device_id = p.device_id
                 WHERE p.payment_id = ?1 AND p.accepted = 1",
                [payment_id],
                |r| {
                    Ok(PaidPayment {
                        amount_fen: r.get(0)?,
                        customer: r.get(1)?,
                    })
                },
            )
            .optional()
    }

    /// Keeps a new invoice; `Ok(Err(existing))` when the payment already has one.
    pub fn create_invoice(
        &self,
        customer: &str,
        invoice: &Invoice,
    ) -> rusqlite::Result<Result<(), Invoice>> {
        let c = conn(self)?;
        let existing: Option<String> = c
            .query_row(
                "SELECT record FROM invoices WHERE payment_id = ?1",
                [&invoice.payment_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(record) = existing {
            return serde_json::from_str(&record)
                .map(Err)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)));
        }
        let record = serde_json::to_string(invoice)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        c.execute(
            "INSERT INTO invoices (invoice_id, payment_id, customer, record) VALUES (?1, ?2, ?3, ?4)",
            params![invoice.invoice_id, invoice.payment_id, customer, record],
        )?;
        Ok(Ok(()))
    }

    /// An invoice with the customer it belongs to.
    pub fn invoice(&self, invoice_id: &str) -> rusqlite::Result<Option<(String, Invoice)>> {
        let row: Option<(String, String)> = conn(self)?
            .query_row(
                "SELECT customer, record FROM invoices WHERE invoice_id = ?1",
                [invoice_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(customer, record)| {
            serde_json::from_str(&record)
                .map(|inv| (customer, inv))
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
        })
        .transpose()
    }

    /// Replaces an invoice's record (its state moved on).
    pub fn update_invoice(&self, invoice: &Invoice) -> rusqlite::Result<()> {
        let record = serde_json::to_string(invoice)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        conn(self)?.execute(
            "UPDATE invoices SET record = ?2 WHERE invoice_id = ?1",
            params![invoice.invoice_id, record],
        )?;
        Ok(())
    }

    /// A customer's saved accounts, oldest first.
    pub fn saved_accounts(&self, customer: &str) -> rusqlite::Result<Vec<SavedAccount>> {
        let c = conn(self)?;
        let mut st = c.prepare(
            "SELECT account_id, biller_id, account, nickname, updated_at FROM saved_accounts
             WHERE customer = ?1 ORDER BY updated_at, account_id",
        )?;
        let rows = st.query_map([customer], |r| {
            Ok(SavedAccount {
                account_id: r.get(0)?,
                biller_id: r.get(1)?,
                account: r.get(2)?,
                nickname: r.get(3)?,
                updated_at: r.get(4)?,
            })
        })?;
        rows.collect()
    }

    /// Saves (or renames) an account; the same biller and account under another id keeps
    /// its first id (two phones saving the same account offline) — that id is returned.
    pub fn save_account(&self, customer: &str, a: &SavedAccount) -> rusqlite::Result<String> {
        let c = conn(self)?;
        let same: Option<String> = c
            .query_row(
                "SELECT account_id FROM saved_accounts WHERE customer = ?1 AND biller_id = ?2 AND account = ?3",
                params![customer, a.biller_id, a.account],
                |r| r.get(0),
            )
            .optional()?;
        let id = same.unwrap_or_else(|| a.account_id.clone());
        c.execute(
            "INSERT INTO saved_accounts (customer, account_id, biller_id, account, nickname, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (customer, account_id) DO UPDATE SET
               biller_id = excluded.biller_id, account = excluded.account,
               nickname = excluded.nickname, updated_at = excluded.updated_at",
            params![customer, id, a.biller_id, a.account, a.nickname, a.updated_at],
        )?;
        Ok(id)
    }

    /// Forgets a saved account (already gone is fine).
    pub fn remove_account(&self, customer: &str, account_id: &str) -> rusqlite::Result<()> {
        conn(self)?.execute(
            "DELETE FROM saved_accounts WHERE customer = ?1 AND account_id = ?2",
            params![customer, account_id],
        )?;
        Ok(())
    }
}
