//! The sandbox's state: bills in SQLite (in memory, or a file for `billtap sandbox --db`).

use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::{Bill, Biller, LineItem, NewBill, cny, mask, mask_name};

/// Bills by biller and account.
pub struct Db(pub(crate) Mutex<Connection>);

/// A stored bill row, before localisation.
struct Row {
    id: String,
    biller_id: String,
    account: String,
    period: Option<String>,
    status: String,
    amount_fen: i64,
    due_date: Option<String>,
    holder: Option<String>,
    address: Option<String>,
}

/// A household for seeded bill `i`: the holder's name and the service address, deterministic
/// so tests and printed bills agree across starts.
fn household(i: usize, city_zh: &str) -> (String, String) {
    const SURNAMES: [&str; 8] = ["张", "王", "李", "赵", "陈", "刘", "杨", "黄"];
    const GIVEN: [&str; 8] = ["建明", "丽华", "志强", "秀英", "国庆", "海燕", "文", "晓东"];
    const STREETS: [&str; 6] = ["人民路", "建设路", "和平街", "解放路", "中山路", "朝阳路"];
    let pick = |list: &[&'static str], n: usize| list.get(n % list.len()).copied().unwrap_or("");
    let name = format!("{}{}", pick(&SURNAMES, i), pick(&GIVEN, i / 8 + i));
    let address = format!(
        "{city_zh}{}{}号{}栋{}室",
        pick(&STREETS, i / 3),
        i % 200 + 1,
        i % 12 + 1,
        100 * (i % 18 + 1) + i % 4 + 1
    );
    (name, address)
}

impl Db {
    /// Opens (or creates) the database and seeds one open bill per account-based biller.
    pub fn open(path: Option<&str>, billers: &[Biller]) -> rusqlite::Result<Db> {
        let conn = match path {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS bills (
                id TEXT PRIMARY KEY, biller_id TEXT NOT NULL, account TEXT NOT NULL,
                period TEXT, status TEXT NOT NULL, amount_fen INTEGER NOT NULL, due_date TEXT,
                holder TEXT, address TEXT);
             CREATE INDEX IF NOT EXISTS bills_by_account ON bills (biller_id, account);",
        )?;
        crate::ledger::create_tables(&conn)?;
        crate::keep::create_tables(&conn)?;
        crate::issuer::create_tables(&conn)?;
        let db = Db(Mutex::new(conn));
        db.seed(billers)?;
        Ok(db)
    }

    fn seed(&self, billers: &[Biller]) -> rusqlite::Result<()> {
        let conn = self.0.lock().map_err(|_| rusqlite::Error::InvalidQuery)?;
        let seeded: i64 = conn.query_row("SELECT count(*) FROM bills", [], |r| r.get(0))?;
        if seeded > 0 {
            return Ok(());
        }
        let mut insert = conn.prepare(
            "INSERT INTO bills (id, biller_id, account, period, status, amount_fen, due_date, holder, address) VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8)",
        )?;
        // The bill printed on the demo's water bill QR code.
        insert.execute(params![
            "W202610-0088123",
            "BJ-WATER-001",
            "110105-3345-0871",
            "202610",
            26840,
            "2026-12-15",
            "张建明",
            "北京市朝阳区望京西路48号院3号楼1单元502"
        ])?;
        for (i, b) in billers.iter().enumerate() {
            if b.amount_rule.kind == "payer_chosen" || b.id == "BJ-WATER-001" {
                continue;
            }
            let Some(field) = b.lookup_fields.first() else {
                continue;
            };
            let fen = 3_000 + (i as i64 * 7_919) % 60_000;
            let id = format!("{}-202610", b.id);
            let city = crate::catalog::city(&b.region).map_or("", |c| c.zh.as_str());
            let (holder, address) = household(i, city);
            insert.execute(params![
                id,
                b.id,
                field.example,
                "202610",
                fen,
                "2026-12-20",
                holder,
                address
            ])?;
        }
        Ok(())
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        Ok(Row {
            id: r.get(0)?,
            biller_id: r.get(1)?,
            account: r.get(2)?,
            period: r.get(3)?,
            status: r.get(4)?,
            amount_fen: r.get(5)?,
            due_date: r.get(6)?,
            holder: r.get(7)?,
            address: r.get(8)?,
        })
    }

    const COLUMNS: &'static str =
        "id, biller_id, account, period, status, amount_fen, due_date, holder, address";

    /// Bills of an account at a biller, newest period first.
    pub fn bills_of(
        &self,
        biller: &Biller,
        account: &str,
        zh: bool,
    ) -> rusqlite::Result<Vec<Bill>> {
        let conn = self.0.lock().map_err(|_| rusqlite::Error::InvalidQuery)?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM bills WHERE biller_id = ?1 AND account = ?2 ORDER BY period DESC, id",
            Self::COLUMNS
        ))?;
        let rows = stmt
            .query_map(params![biller.id, account], Self::row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows.into_iter().map(|r| bill(r, biller, zh)).collect())
    }

    /// One bill by id (with its biller, found by the caller).
    pub fn bill(&self, id: &str, billers: &[Biller], zh: bool) -> rusqlite::Result<Option<Bill>> {
        let conn = self.0.lock().map_err(|_| rusqlite::Error::InvalidQuery)?;
        let row = conn
            .query_row(
                &format!("SELECT {} FROM bills WHERE id = ?1", Self::COLUMNS),
                params![id],
                Self::row,
            )
            .optional()?;
        Ok(row.and_then(|r| {
            billers
                .iter()
                .find(|b| b.id == r.biller_id)
                .map(|b| bill(r, b, zh))
        }))
    }

    /// The (unmasked) account a bill belongs to, for printing its QR code.
    pub fn account_of(&self, bill_id: &str) -> Option<String> {
        let conn = self.0.lock().ok()?;
        conn.query_row(
            "SELECT account FROM bills WHERE id = ?1",
            params![bill_id],
            |r| r.get(0),
        )
        .optional()
        .ok()?
    }

    /// Creates a bill (admin endpoint for tests).
    pub fn create(&self, new: &NewBill, next_id: u64) -> rusqlite::Result<String> {
        let conn = self.0.lock().map_err(|_| rusqlite::Error::InvalidQuery)?;
        let id = new.id.clone().unwrap_or_else(|| format!("T{next_id:010}"));
        conn.execute(
            "INSERT INTO bills (id, biller_id, account, period, status, amount_fen, due_date, holder, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![id, new.biller_id, new.account, new.period, new.status.clone().unwrap_or_else(|| "open".into()), new.amount_fen, new.due_date, new.holder, new.address],
        )?;
        Ok(id)
    }
}

fn bill(r: Row, biller: &Biller, zh: bool) -> Bill {
    let name = if zh {
        biller.names.zh.clone()
    } else {
        biller.names.en.clone()
    };
    let what = if zh {
        "本期费用"
    } else {
        "Charges this period"
    };
    Bill {
        id: r.id,
        biller_id: r.biller_id,
        biller_name: name,
        account_masked: mask(&r.account),
        holder_name_masked: r.holder.as_deref().map(mask_name),
        service_address: r.address,
        period: r.period,
        status: r.status,
        amount_due: cny(r.amount_fen),
        due_date: r.due_date,
        line_items: vec![LineItem {
            description: what.into(),
            amount: cny(r.amount_fen),
        }],
        penalties: Vec::new(),
    }
}
