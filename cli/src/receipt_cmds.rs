//! `billtap receipts list|show|verify|export`: the signed receipts kept in the store, with no
//! network. `verify` exits 0 when the whole history verifies, 1 naming the first bad entry.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use billtap_core::platform::PinnedKeys;
use billtap_core::receipts::{history_keys, verify_history, verify_receipt};
use billtap_core::store::{ReceiptFilter, ReceiptRow, Store};
use serde_json::json;

use crate::pay_cmds::store_path;

fn open(store: Option<&Path>) -> Result<Store> {
    Ok(Store::open(&store_path(store))?)
}

/// `YYYY-MM-DD` → Unix seconds at 00:00 China Standard Time (UTC+8), the platform's day.
fn day(text: &str) -> Result<i64> {
    billtap_core::dates::china_day_start(text)
        .ok_or_else(|| anyhow!("{text:?} is not a date like 2026-12-01"))
}

fn row_json(r: &ReceiptRow) -> serde_json::Value {
    use base64::Engine as _;
    let x = &r.receipt;
    json!({
        "category": x.category,
        "payee_name_en": x.payee_name_en,
        "cose": base64::engine::general_purpose::STANDARD.encode(&x.cose),
        "seq": r.seq,
        "payment_id": x.payment_id,
        "local_payment_id": r.local_payment,
        "bill_id": x.bill_id,
        "biller_id": x.biller_id,
        "payee_name": x.payee_name,
        "amount": x.amount,
        "currency": x.currency,
        "paid_at": x.paid_at,
        "key_id": x.key_id,
        "sts_token": x.sts_token,
    })
}

/// Filters as the CLI takes them (`receipts list` and `receipts totals`).
#[derive(clap::Args, Debug, Default)]
pub struct FilterArgs {
    /// Only this payee (biller id).
    #[arg(long)]
    pub biller: Option<String>,
    /// Only this category (`utilities`) or sub-category (`utilities.water`).
    #[arg(long)]
    pub category: Option<String>,
    /// Paid on or after this day (YYYY-MM-DD, China time).
    #[arg(long)]
    pub from: Option<String>,
    /// Paid on or before this day.
    #[arg(long)]
    pub to: Option<String>,
    /// At least this amount (`100`, `99.50`).
    #[arg(long)]
    pub min_amount: Option<rust_decimal::Decimal>,
    /// At most this amount.
    #[arg(long)]
    pub max_amount: Option<rust_decimal::Decimal>,
    /// Payee names holding every word (Chinese or English).
    #[arg(long)]
    pub search: Option<String>,
    /// At most this many (default 50).
    #[arg(long)]
    pub limit: Option<u32>,
}

fn filter(f: &FilterArgs) -> Result<ReceiptFilter> {
    Ok(ReceiptFilter {
        biller_id: f.biller.clone(),
        category: f.category.clone(),
        since: f.from.as_deref().map(day).transpose()?,
        until: f
            .to
            .as_deref()
            .map(|t| day(t).map(|s| s + 86_400))
            .transpose()?,
        min_amount: f.min_amount,
        max_amount: f.max_amount,
        search: f.search.clone(),
        limit: f.limit,
    })
}

/// `billtap receipts totals`: sums per month and per category.
pub fn cmd_totals(store: Option<&Path>, f: &FilterArgs, json: bool) -> Result<u8> {
    let totals = billtap_core::receipts::receipt_totals(&open(store)?, &filter(f)?)?;
    if json {
        let rows = |list: &[billtap_core::receipts::ReceiptTotal]| -> Vec<serde_json::Value> {
            list.iter()
                .map(|t| {
                    json!({
                        "key": t.key,
                        "amount": t.amount.to_plain_string(),
                        "currency": t.amount.currency.alpha(),
                        "count": t.count,
                    })
                })
                .collect()
        };
        println!(
            "{}",
            json!({"by_month": rows(&totals.by_month), "by_category": rows(&totals.by_category)})
        );
        return Ok(0);
    }
    for (title, rows) in [
        ("per month", &totals.by_month),
        ("per category", &totals.by_category),
    ] {
        println!("{title}:");
        for t in rows {
            let key = if t.key.is_empty() { "(none)" } else { &t.key };
            println!(
                "  {key:<16} {:>14}  {} receipts",
                t.amount.to_string(),
                t.count
            );
        }
        if rows.is_empty() {
            println!("  no receipts");
        }
    }
    Ok(0)
}

/// `billtap receipts import FILE`: receipts exported by `receipts export --format json`
/// (or any JSON list of objects with a base64 `cose`), each verified before it is kept.
/// Exit 0 when all were kept (or already were), 1 when any was refused.
pub fn cmd_import(store: Option<&Path>, pinned: &[String], file: &Path, json: bool) -> Result<u8> {
    use base64::Engine as _;
    const MAX_IMPORT_BYTES: u64 = 1 << 30;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > MAX_IMPORT_BYTES {
        return Err(anyhow!("{} is larger than 1 GiB", file.display()));
    }
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    #[derive(serde::Deserialize)]
    struct Item {
        cose: String,
    }
    let items: Vec<Item> = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{} is not a receipts export (a JSON list of objects with \"cose\")",
            file.display()
        )
    })?;
    let mut coses = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        coses.push(
            base64::engine::general_purpose::STANDARD
                .decode(item.cose.trim())
                .with_context(|| format!("item {i}: cose is not base64"))?,
        );
    }
    let s = open(store)?;
    let keys = keys(&s, pinned)?;
    let report = billtap_core::receipts::import_receipts(&s, &keys, &coses)?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "imported {} receipts ({} already kept, {} refused)",
            report.added,
            report.already_kept,
            report.refused.len()
        );
        for r in &report.refused {
            println!("  refused item {}: {}", r.index, r.reason);
        }
    }
    Ok(if report.refused.is_empty() { 0 } else { 1 })
}

/// `billtap receipts list`.
pub fn cmd_list(store: Option<&Path>, f: &FilterArgs, json: bool) -> Result<u8> {
    let rows = open(store)?.receipts(&filter(f)?)?;
    for r in &rows {
        if json {
            println!("{}", row_json(r));
        } else {
            let x = &r.receipt;
            println!(
                "#{:<4} {} {} {} to {}{}",
                r.seq,
                x.payment_id,
                x.amount,
                x.currency,
                x.payee_name,
                x.bill_id
                    .as_deref()
                    .map(|b| format!(" (bill {b})"))
                    .unwrap_or_default()
            );
        }
    }
    if rows.is_empty() && !json {
        println!("no receipts");
    }
    Ok(0)
}

/// `billtap receipts export --format csv|json`: every receipt, oldest first.
pub fn cmd_export(store: Option<&Path>, format: &str) -> Result<u8> {
    let rows = open(store)?.history()?;
    match format {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&rows.iter().map(row_json).collect::<Vec<_>>())?
        ),
        "csv" => {
            println!(
                "seq,payment_id,bill_id,biller_id,category,payee_name,payee_name_en,amount,currency,paid_at"
            );
            let cell = |s: &str| {
                if s.contains([',', '"', '\n']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_string()
                }
            };
            for r in &rows {
                let x = &r.receipt;
                println!(
                    "{},{},{},{},{},{},{},{},{},{}",
                    r.seq,
                    cell(&x.payment_id),
                    cell(x.bill_id.as_deref().unwrap_or("")),
                    cell(&x.biller_id),
                    cell(x.category.as_deref().unwrap_or("")),
                    cell(&x.payee_name),
                    cell(x.payee_name_en.as_deref().unwrap_or("")),
                    x.amount,
                    x.currency,
                    x.paid_at
                );
            }
        }
        other => return Err(anyhow!("--format {other:?}: csv or json")),
    }
    Ok(0)
}

fn keys(store: &Store, pinned: &[String]) -> Result<PinnedKeys> {
    let pinned = if pinned.is_empty() {
        None
    } else {
        Some(PinnedKeys::parse(pinned)?)
    };
    history_keys(store, pinned.as_ref())?.ok_or_else(|| {
        anyhow!(
            "no platform key to verify with: pass --key ID:B64 (the store remembers a key once a receipt verified with it)"
        )
    })
}

/// `billtap receipts show ID` (the platform payment id, or the history position).
pub fn cmd_show(store: Option<&Path>, pinned: &[String], id: &str, json: bool) -> Result<u8> {
    let s = open(store)?;
    let row = s
        .history()?
        .into_iter()
        .find(|r| r.receipt.payment_id == id || r.seq.to_string() == id)
        .ok_or_else(|| anyhow!("no receipt {id}"))?;
    let keys = keys(&s, pinned)?;
    let (body, key_id) = verify_receipt(&row.receipt.cose, &keys)
        .with_context(|| format!("receipt {id} does not verify"))?;
    let invoice = billtap_core::receipts::invoice_state_of(&s, &body.payment_id)?;
    if json {
        println!(
            "{}",
            json!({"seq": row.seq, "verified": true, "key_id": key_id, "receipt": body, "invoice_state": invoice})
        );
    } else {
        println!("receipt #{} — verified (platform key {key_id})", row.seq);
        println!("  transaction   {}", body.payment_id);
        println!(
            "  paid          {} {} (fee {})",
            body.amount, body.currency, body.fee
        );
        println!(
            "  to            {} ({}), account {}",
            body.payee_name, body.biller_id, body.payee_account_masked
        );
        if let Some(b) = &body.bill_id {
            println!("  bill          {b}");
        }
        println!("  from          {}", body.payer_masked);
        println!("  at            {} (Unix, platform time)", body.paid_at);
        println!("  device        {}", body.device_id);
        if let Some(c) = &body.category {
            println!("  category      {c}");
        }
        if let Some(t) = &body.sts_token {
            println!("  meter token   {}", billtap_core::pay::format_sts_token(t));
        }
        println!(
            "  invoice       {}",
            invoice.map_or("not requested", |s| s.as_str())
        );
    }
    Ok(0)
}

/// `billtap receipts verify`: 0 when the whole history verifies, 1 naming the first bad entry.
pub fn cmd_verify(store: Option<&Path>, pinned: &[String], json: bool) -> Result<u8> {
    let s = open(store)?;
    let report = if s.history()?.is_empty() && s.receipt_claims()?.is_empty() {
        billtap_core::receipts::HistoryReport {
            entries: 0,
            verified: 0,
            problem: None,
        }
    } else {
        verify_history(&s, &keys(&s, pinned)?)?
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else if let Some(p) = &report.problem {
        println!(
            "history does NOT verify: {} ({} of {} entries verified before it)",
            p.message, report.verified, report.entries
        );
    } else {
        println!(
            "history verifies: {} receipts, chain intact",
            report.entries
        );
    }
    Ok(if report.problem.is_none() { 0 } else { 1 })
}

/// The QR text of a stored receipt (by transaction id or position).
pub fn receipt_qr_text(store: Option<&Path>, id: &str) -> Result<String> {
    let row = open(store)?
        .history()?
        .into_iter()
        .find(|r| r.receipt.payment_id == id || r.seq.to_string() == id)
        .ok_or_else(|| anyhow!("no receipt {id}"))?;
    Ok(billtap_core::receipts::receipt_qr_text(&row.receipt.cose))
}
