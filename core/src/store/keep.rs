//! The store's keep tables: invoice records, saved bill accounts (with changes made offline
//! waiting for the platform) and the latest bills fetched for them.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Store, StoreError};

/// A saved account as the store keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Id.
    pub account_id: String,
    /// The biller.
    pub biller_id: String,
    /// The account at the biller.
    pub account: String,
    /// The family's name for it.
    pub nickname: String,
    /// Last change.
    pub updated_at: i64,
    /// A change the platform does not have yet: `save` or `remove`.
    pub pending: Option<String>,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("account_id", &self.account_id)
            .field("biller_id", &self.biller_id)
            .field("account", &crate::platform::mask_account(&self.account))
            .field("nickname", &self.nickname)
            .field("pending", &self.pending)
            .finish()
    }
}

fn account_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        account_id: r.get(0)?,
        biller_id: r.get(1)?,
        account: r.get(2)?,
        nickname: r.get(3)?,
        updated_at: r.get(4)?,
        pending: r.get(5)?,
    })
}

const SELECT_ACCOUNT: &str =
    "SELECT account_id, biller_id, account, nickname, updated_at, pending FROM saved_accounts";

impl Store {
    /// Keeps the platform's latest record of an invoice (JSON).
    pub fn save_invoice(
        &self,
        invoice_id: &str,
        payment_id: &str,
        record: &str,
        updated_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO invoices (invoice_id, payment_id, record, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (invoice_id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
            params![invoice_id, payment_id, record, updated_at],
        )?;
        Ok(())
    }

    /// An invoice's record (JSON).
    pub fn invoice_record(&self, invoice_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT record FROM invoices WHERE invoice_id = ?1",
                [invoice_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Invoice records (JSON), newest first; only one payment's with `payment_id`.
    pub fn invoice_records(&self, payment_id: Option<&str>) -> Result<Vec<String>, StoreError> {
        // Two statements, so one payment's lookup (every listed receipt asks) uses the index.
        let conn = self.conn();
        let order = "ORDER BY updated_at DESC, invoice_id";
        let rows = match payment_id {
            Some(p) => conn
                .prepare_cached(&format!(
                    "SELECT record FROM invoices WHERE payment_id = ?1 {order}"
                ))?
                .query_map([p], |r| r.get(0))?
                .collect::<Result<_, _>>()?,
            None => conn
                .prepare_cached(&format!("SELECT record FROM invoices {order}"))?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?,
        };
        Ok(rows)
    }

    /// Saves an account locally with a change for the platform (`save`): a new one, or a new
    /// nickname for the same biller and account (its id kept). The row as stored.
    pub fn save_account_pending(&self, a: &AccountRow) -> Result<AccountRow, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let same: Option<String> = tx
            .query_row(
                "SELECT account_id FROM saved_accounts WHERE biller_id = ?1 AND account = ?2",
                params![a.biller_id, a.account],
                |r| r.get(0),
            )
            .optional()?;
        let id = same.unwrap_or_else(|| a.account_id.clone());
        tx.execute(
            "INSERT INTO saved_accounts (account_id, biller_id, account, nickname, updated_at, pending)
             VALUES (?1, ?2, ?3, ?4, ?5, 'save')
             ON CONFLICT (account_id) DO UPDATE SET nickname = excluded.nickname,
               updated_at = excluded.updated_at, pending = 'save'",
            params![id, a.biller_id, a.account, a.nickname, a.updated_at],
        )?;
        let row = tx.query_row(
            &format!("{SELECT_ACCOUNT} WHERE account_id = ?1"),
            [&id],
            account_row,
        )?;
        tx.commit()?;
        Ok(row)
    }

    /// Marks an account for removal (hidden at once; the platform is told at the next sync).
    /// `false` when there is no such account.
    pub fn remove_account_pending(&self, account_id: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE saved_accounts SET pending = 'remove' WHERE account_id = ?1",
            [account_id],
        )?;
        Ok(n == 1)
    }

    /// Saved accounts, oldest first (with those waiting for removal when `with_removed`).
    pub fn accounts(&self, with_removed: bool) -> Result<Vec<AccountRow>, StoreError> {
        let conn = self.conn();
        let filter = if with_removed {
            ""
        } else {
            " WHERE pending IS NULL OR pending != 'remove'"
        };
        let mut st = conn.prepare(&format!(
            "{SELECT_ACCOUNT}{filter} ORDER BY updated_at, account_id"
        ))?;
        let rows = st.query_map([], account_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets an account and its bills (the platform has the removal, or refused the save).
    pub fn delete_account(&self, account_id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM saved_accounts WHERE account_id = ?1",
            [account_id],
        )?;
        tx.execute(
            "DELETE FROM account_bills WHERE account_id = ?1",
            [account_id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The platform has this account's change: nothing pending.
    pub fn account_synced(&self, account_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE saved_accounts SET pending = NULL WHERE account_id = ?1 AND pending = 'save'",
            [account_id],
        )?;
        Ok(())
    }

    /// Replaces the synced accounts with the platform's list; changes still pending stay.
    pub fn replace_synced_accounts(&self, list: &[AccountRow]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let pending: Vec<(String, String, String)> = {
            let mut st = tx.prepare(
                "SELECT account_id, biller_id, account FROM saved_accounts WHERE pending IS NOT NULL",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute("DELETE FROM saved_accounts WHERE pending IS NULL", [])?;
        for a in list {
            // A local change waiting for the platform wins over the platform's older copy.
            let overridden = pending.iter().any(|(id, biller, account)| {
                *id == a.account_id || (*biller == a.biller_id && *account == a.account)
            });
            if overridden {
                continue;
            }
            tx.execute(
                "INSERT INTO saved_accounts (account_id, biller_id, account, nickname, updated_at, pending)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                params![a.account_id, a.biller_id, a.account, a.nickname, a.updated_at],
            )?;
        }
        tx.execute(
            "DELETE FROM account_bills WHERE account_id NOT IN (SELECT account_id FROM saved_accounts)",
            [],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Keeps the latest bills fetched for a saved account (JSON list).
    pub fn save_account_bills(
        &self,
        account_id: &str,
        bills: &str,
        fetched_at: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO account_bills (account_id, bills, fetched_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id) DO UPDATE SET bills = excluded.bills, fetched_at = excluded.fetched_at",
            params![account_id, bills, fetched_at],
        )?;
        Ok(())
    }

    /// The bills kept for each saved account: (account id, JSON list, fetched at).
    pub fn account_bills(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT account_id, bills, fetched_at FROM account_bills")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Bill ids paid from this store or with a kept receipt (no reminder for those).
    pub fn paid_bill_ids(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT bill_id FROM payments WHERE bill_id IS NOT NULL AND state != 'failed'
             UNION SELECT bill_id FROM receipts WHERE bill_id IS NOT NULL",
        )?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
