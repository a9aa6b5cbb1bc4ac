//! The store's top-up rows: one per card load, moved through its states in single
//! transactions; the completed one appends its receipt to the history in the same one.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Appender, NewReceipt, Store, StoreError};

/// A top-up as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopupRow {
    /// billtap's id.
    pub topup_id: String,
    /// The authorisation's idempotency key.
    pub idempotency_key: String,
    /// Card serial, hex.
    pub card_serial: String,
    /// Amount (fen).
    pub amount_fen: i64,
    /// Terminal id, hex.
    pub terminal: String,
    /// Balance before (from the card's INIT).
    pub old_balance: i64,
    /// Online counter before.
    pub counter: i64,
    /// The signed authorisation request (JSON of its exact bytes).
    pub request: String,
    /// prepared | authorised | credited | completed | failed | reversed | unknown.
    pub state: String,
    /// The platform's order.
    pub order_id: Option<String>,
    /// MAC2, hex.
    pub mac2: Option<String>,
    /// `YYYYMMDDhhmmss`.
    pub stamp: Option<String>,
    /// The card's TAC, hex.
    pub tac: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Changed.
    pub updated_at: i64,
}

const SELECT_TOPUP: &str = "SELECT topup_id, idempotency_key, card_serial, amount_fen, terminal, old_balance, counter, request, state, order_id, mac2, stamp, tac, failure, created_at, updated_at FROM topups";

fn topup_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TopupRow> {
    Ok(TopupRow {
        topup_id: r.get(0)?,
        idempotency_key: r.get(1)?,
        card_serial: r.get(2)?,
        amount_fen: r.get(3)?,
        terminal: r.get(4)?,
        old_balance: r.get(5)?,
        counter: r.get(6)?,
        request: r.get(7)?,
        state: r.get(8)?,
        order_id: r.get(9)?,
        mac2: r.get(10)?,
        stamp: r.get(11)?,
        tac: r.get(12)?,
        failure: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

impl Store {
    /// Stores a new top-up (state `prepared`); refused while the card has an unfinished one.
    pub fn insert_topup(&self, t: &TopupRow) -> Result<(), StoreError> {
        let r = self.conn().execute(
            "INSERT INTO topups (topup_id, idempotency_key, card_serial, amount_fen, terminal, old_balance, counter, request, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            params![t.topup_id, t.idempotency_key, t.card_serial, t.amount_fen, t.terminal, t.old_balance, t.counter, t.request, t.state, t.created_at],
        );
        match r {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Invalid(
                    "this card has an unfinished top-up: it is settled at the next tap".into(),
                ))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    /// Records what the platform authorised (or a re-authorisation): order, MAC2, stamp.
    pub fn topup_authorised(
        &self,
        topup_id: &str,
        order_id: &str,
        mac2: &str,
        stamp: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE topups SET state = 'authorised', order_id = ?2, mac2 = ?3, stamp = ?4, updated_at = ?5 WHERE topup_id = ?1",
            params![topup_id, order_id, mac2, stamp, now],
        )?;
        Ok(())
    }

    /// Moves a top-up to `state` (with a reason, a TAC).
    pub fn topup_state(
        &self,
        topup_id: &str,
        state: &str,
        failure: Option<&str>,
        tac: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE topups SET state = ?2, failure = COALESCE(?3, failure), tac = COALESCE(?4, tac), updated_at = ?5 WHERE topup_id = ?1",
            params![topup_id, state, failure, tac, now],
        )?;
        Ok(())
    }

    /// Completes a top-up and appends its receipt to the history, in one transaction.
    pub fn topup_completed(
        &self,
        topup_id: &str,
        receipt: Option<&NewReceipt>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = match receipt {
            Some(r) => {
                let mut chain = Appender::new(&tx)?;
                Some(match chain.known(&r.payment_id)? {
                    Some(seq) => seq,
                    None => chain.append(None, r)?,
                })
            }
            None => None,
        };
        tx.execute(
            "UPDATE topups SET state = 'completed', receipt_seq = ?2, failure = NULL, updated_at = ?3 WHERE topup_id = ?1",
            params![topup_id, seq, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The card's unfinished top-up, if any.
    pub fn open_topup(&self, card_serial: &str) -> Result<Option<TopupRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "{SELECT_TOPUP} WHERE card_serial = ?1 AND state IN ('prepared', 'authorised', 'credited', 'unknown')"
                ),
                [card_serial],
                topup_row,
            )
            .optional()?)
    }

    /// One top-up.
    pub fn topup(&self, topup_id: &str) -> Result<Option<TopupRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("{SELECT_TOPUP} WHERE topup_id = ?1"),
                [topup_id],
                topup_row,
            )
            .optional()?)
    }

    /// Every top-up, newest first.
    pub fn topups(&self) -> Result<Vec<TopupRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "{SELECT_TOPUP} ORDER BY created_at DESC, rowid DESC"
        ))?;
        let rows = st.query_map([], topup_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
