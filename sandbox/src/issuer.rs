//! The card issuer's side of top-up: its master keys per key version (test keys by default,
//! as issuers hand test-card makers), and top-up orders — authorised (the funding account
//! debited, MAC2 issued), completed (the card's TAC checked), reversed (the card proved it was
//! not loaded; the money returned). The card's keys never leave the issuer.

use billtap_core::topup::pboc::{
    CardInfo, Key16, LoadInit, LoadTerms, Stamp, diversify, load_session_key, mac1, mac2, tac,
    tac_key,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::db::Db;

pub(crate) fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS topups (
            order_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, idempotency_key TEXT NOT NULL,
            body_hash TEXT NOT NULL, funding_account TEXT NOT NULL, card_serial TEXT NOT NULL,
            amount_fen INTEGER NOT NULL, terminal TEXT NOT NULL, old_balance INTEGER NOT NULL,
            counter INTEGER NOT NULL, key_version INTEGER NOT NULL, random TEXT NOT NULL,
            date TEXT NOT NULL, time TEXT NOT NULL, state TEXT NOT NULL,
            created_at INTEGER NOT NULL, UNIQUE (device_id, idempotency_key));",
    )
}

/// The issuer's master keys for one key version.
#[derive(Clone)]
pub struct IssuerKeys {
    /// Key version.
    pub version: u8,
    /// Load master key.
    pub load: Key16,
    /// TAC master key.
    pub tac: Key16,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuerKeys(version {})", self.version)
    }
}

impl IssuerKeys {
    /// The documented test keys (key version 1).
    pub fn test() -> Self {
        IssuerKeys {
            version: 1,
            load: zeroize::Zeroizing::new(billtap_core::topup::sim::TEST_LOAD_MASTER_KEY),
            tac: zeroize::Zeroizing::new(billtap_core::topup::sim::TEST_TAC_MASTER_KEY),
        }
    }

    /// `VERSION:LOAD_MK:TAC_MK` (hex), as `billtap sandbox --issuer-key` takes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        // Never echo the text: it holds master keys.
        let bad = || {
            format!(
                "an issuer key ({} characters) is not VERSION:LOAD_MK:TAC_MK (hex: a 1-byte version, 16-byte keys)",
                text.len()
            )
        };
        let mut parts = text.split(':');
        let (Some(v), Some(l), Some(t), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let key = |h: &str| -> Result<Key16, String> {
            let v = hex::decode(h).map_err(|_| bad())?;
            <[u8; 16]>::try_from(v)
                .map(zeroize::Zeroizing::new)
                .map_err(|_| bad())
        };
        Ok(IssuerKeys {
            // Like the keys, the version is hex (as the card's INITIALIZE answer shows it).
            version: u8::from_str_radix(v, 16).map_err(|_| bad())?,
            load: key(l)?,
            tac: key(t)?,
        })
    }
}

/// A top-up order as the issuer keeps it.
#[derive(Debug, Clone)]
pub struct Order {
    /// Id.
    pub order_id: String,
    /// The device that asked.
    pub device_id: String,
    /// Request body hash (idempotency).
    pub body_hash: String,
    /// Who pays.
    pub funding_account: String,
    /// Card serial (hex, 10 bytes).
    pub card_serial: String,
    /// Fen.
    pub amount_fen: i64,
    /// Terminal (hex, 6 bytes).
    pub terminal: String,
    /// Balance before.
    pub old_balance: i64,
    /// Online counter the authorisation is for.
    pub counter: i64,
    /// Key version.
    pub key_version: i64,
    /// The card's random of that authorisation (hex).
    pub random: String,
    /// Stamp date `YYYYMMDD`.
    pub date: String,
    /// Stamp time `hhmmss`.
    pub time: String,
    /// authorised | completed | reversed.
    pub state: String,
    /// When.
    pub created_at: i64,
}

fn hex_n<const N: usize>(h: &str) -> Option<[u8; N]> {
    hex::decode(h)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
}

impl Order {
    /// The card keys of this order's card.
    fn card_keys(&self, keys: &IssuerKeys) -> Option<(Key16, Key16)> {
        let serial: [u8; 10] = hex_n(&self.card_serial)?;
        let info = CardInfo {
            issuer: [0; 8],
            serial,
            start: [0; 4],
            expiry: [0; 4],
        };
        let d = info.diversifier();
        Some((diversify(&keys.load, &d), diversify(&keys.tac, &d)))
    }

    fn terms(&self) -> Option<LoadTerms> {
        Some(LoadTerms {
            amount: u32::try_from(self.amount_fen).ok()?,
            terminal: hex_n(&self.terminal)?,
        })
    }

    fn stamp(&self) -> Option<Stamp> {
        Some(Stamp {
            date: hex_n(&self.date)?,
            time: hex_n(&self.time)?,
        })
    }

    /// MAC2 of this order's authorisation.
    pub fn mac2(&self, keys: &IssuerKeys) -> Option<[u8; 4]> {
        let (dlk, _) = self.card_keys(keys)?;
        let session = load_session_key(
            &dlk,
            hex_n(&self.random)?,
            u16::try_from(self.counter).ok()?.to_be_bytes(),
        );
        Some(mac2(&session, &self.terms()?, &self.stamp()?))
    }

    /// Whether `tac` is the card's TAC for this load.
    pub fn tac_checks(&self, keys: &IssuerKeys, tac_bytes: &[u8; 4]) -> bool {
        let check = || -> Option<bool> {
            let (_, dtk) = self.card_keys(keys)?;
            let new_balance = u32::try_from(self.old_balance + self.amount_fen).ok()?;
            let counter = u16::try_from(self.counter).ok()?.to_be_bytes();
            Some(
                tac(
                    &tac_key(&dtk),
                    new_balance,
                    counter,
                    &self.terms()?,
                    &self.stamp()?,
                ) == *tac_bytes,
            )
        };
        check().unwrap_or(false)
    }
}

/// Checks a card's INITIALIZE FOR LOAD answer for `serial`, `terms`: its MAC1 proves the card
/// holds the key this issuer personalised and that balance and counter are the card's own.
pub fn init_checks(
    keys: &IssuerKeys,
    serial: &[u8; 10],
    terms: &LoadTerms,
    init: &LoadInit,
) -> bool {
    let info = CardInfo {
        issuer: [0; 8],
        serial: *serial,
        start: [0; 4],
        expiry: [0; 4],
    };
    let dlk = diversify(&keys.load, &info.diversifier());
    let session = load_session_key(&dlk, init.random, init.counter);
    mac1(&session, init.old_balance, terms) == init.mac1
}

fn conn(db: &Db) -> rusqlite::Result<std::sync::MutexGuard<'_, Connection>> {
    db.0.lock().map_err(|_| rusqlite::Error::InvalidQuery)
}

const SELECT_ORDER: &str = "SELECT order_id, device_id, body_hash, funding_account, card_serial, amount_fen, terminal, old_balance, counter, key_version, random, date, time, state, created_at FROM topups";

fn order_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Order> {
    Ok(Order {
        order_id: r.get(0)?,
        device_id: r.get(1)?,
        body_hash: r.get(2)?,
        funding_account: r.get(3)?,
        card_serial: r.get(4)?,
        amount_fen: r.get(5)?,
        terminal: r.get(6)?,
        old_balance: r.get(7)?,
        counter: r.get(8)?,
        key_version: r.get(9)?,
        random: r.get(10)?,
        date: r.get(11)?,
        time: r.get(12)?,
        state: r.get(13)?,
        created_at: r.get(14)?,
    })
}

/// Why an authorisation was refused inside its transaction.
pub enum Authorised {
    /// A new order (the account debited).
    New(Order),
    /// The order this key already made (same body).
    Kept(Order),
    /// The key was used with another body.
    KeyReused,
    /// The funding account cannot pay it.
    InsufficientFunds,
}

impl Db {
    /// Debits the funding account and records the authorised order, in one transaction;
    /// the same key again gives the same order.
    pub fn authorize_topup(&self, key: &str, o: &Order) -> rusqlite::Result<Authorised> {
        let mut c = conn(self)?;
        let tx = c.transaction()?;
        let kept = tx
            .query_row(
                &format!("{SELECT_ORDER} WHERE device_id = ?1 AND idempotency_key = ?2"),
                params![o.device_id, key],
                order_row,
            )
            .optional()?;
        if let Some(k) = kept {
            return Ok(if k.body_hash == o.body_hash {
                Authorised::Kept(k)
            } else {
                Authorised::KeyReused
            });
        }
        let balance: i64 = tx
            .query_row(
                "SELECT balance_fen FROM accounts WHERE number = ?1",
                [&o.funding_account],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if balance < o.amount_fen {
            return Ok(Authorised::InsufficientFunds);
        }
        tx.execute(
            "UPDATE accounts SET balance_fen = balance_fen - ?2 WHERE number = ?1",
            params![o.funding_account, o.amount_fen],
        )?;
        tx.execute(
            "INSERT INTO topups (order_id, device_id, idempotency_key, body_hash, funding_account, card_serial, amount_fen, terminal, old_balance, counter, key_version, random, date, time, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'authorised', ?15)",
            params![o.order_id, o.device_id, key, o.body_hash, o.funding_account, o.card_serial, o.amount_fen, o.terminal, o.old_balance, o.counter, o.key_version, o.random, o.date, o.time, o.created_at],
        )?;
        tx.commit()?;
        Ok(Authorised::New(o.clone()))
    }

    /// The order a device made under an idempotency key.
    pub fn topup_by_key(&self, device_id: &str, key: &str) -> rusqlite::Result<Option<Order>> {
        conn(self)?
            .query_row(
                &format!("{SELECT_ORDER} WHERE device_id = ?1 AND idempotency_key = ?2"),
                params![device_id, key],
                order_row,
            )
            .optional()
    }

    /// The card's other orders authorised at the same online counter (not reversed): loads
    /// that compete for the one credit the card takes at that counter.
    pub fn rival_topups(&self, o: &Order) -> rusqlite::Result<Vec<Order>> {
        let c = conn(self)?;
        let mut st = c.prepare(&format!(
            "{SELECT_ORDER} WHERE card_serial = ?1 AND counter = ?2 AND order_id != ?3 AND state != 'reversed'"
        ))?;
        let rows = st.query_map(params![o.card_serial, o.counter, o.order_id], order_row)?;
        rows.collect()
    }

    /// One order.
    pub fn topup(&self, order_id: &str) -> rusqlite::Result<Option<Order>> {
        conn(self)?
            .query_row(
                &format!("{SELECT_ORDER} WHERE order_id = ?1"),
                [order_id],
                order_row,
            )
            .optional()
    }

    /// Moves an authorised order to `completed`.
    pub fn complete_topup(&self, order_id: &str) -> rusqlite::Result<()> {
        conn(self)?.execute(
            "UPDATE topups SET state = 'completed' WHERE order_id = ?1 AND state = 'authorised'",
            [order_id],
        )?;
        Ok(())
    }

    /// A fresh authorisation of the same order for the card's new random and stamp.
    pub fn reauthorize_topup(&self, o: &Order) -> rusqlite::Result<()> {
        conn(self)?.execute(
            "UPDATE topups SET random = ?2, counter = ?3, old_balance = ?4, date = ?5, time = ?6 WHERE order_id = ?1 AND state = 'authorised'",
            params![o.order_id, o.random, o.counter, o.old_balance, o.date, o.time],
        )?;
        Ok(())
    }

    /// Reverses an authorised order the card proved it did not take: the money goes back.
    pub fn reverse_topup(&self, order_id: &str) -> rusqlite::Result<bool> {
        let mut c = conn(self)?;
        let tx = c.transaction()?;
        let o = tx
            .query_row(
                &format!("{SELECT_ORDER} WHERE order_id = ?1"),
                [order_id],
                order_row,
            )
            .optional()?;
        let Some(o) = o.filter(|o| o.state == "authorised") else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE accounts SET balance_fen = balance_fen + ?2 WHERE number = ?1",
            params![o.funding_account, o.amount_fen],
        )?;
        tx.execute(
            "UPDATE topups SET state = 'reversed' WHERE order_id = ?1",
            [order_id],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Every top-up order, for `GET /admin/ledger`.
    pub fn topups(&self) -> rusqlite::Result<Vec<Order>> {
        let c = conn(self)?;
        let mut st = c.prepare(&format!("{SELECT_ORDER} ORDER BY created_at, order_id"))?;
        let rows = st.query_map([], order_row)?;
        rows.collect()
    }
}
