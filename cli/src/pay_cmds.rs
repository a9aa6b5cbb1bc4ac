//! `billtap pay`, `payments`, `payments resume`, `device` and the paying half of `demo`.
//!
//! Exit codes of `pay`: 0 paid; 1 not paid (refused or failed, nothing taken); 2 bad input;
//! 3 outcome not known yet (kept in the store, settled later by `payments resume`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use billtap_core::money::Money;
use billtap_core::pay::{
    PayConfig, PayError, PayHooks, PayStep, PaymentRecord, PaymentTarget, Payments, is_bad_input,
    local_device, local_payments,
};
use billtap_core::ports::SystemClock;
use billtap_core::store::{PaymentState, Store};
use serde_json::json;

use crate::platform_cmds::{self, Connection, PlatformArgs};

/// The sandbox's demo funding account (plenty of balance), used unless `--from` says otherwise.
pub const DEMO_FUNDING_ACCOUNT: &str = "6217000010000000001";

/// Where the store is: `--store`, else `BILLTAP_STORE` (clap reads both), else the user's data
/// directory.
pub fn store_path(store: Option<&Path>) -> PathBuf {
    if let Some(p) = store {
        return p.to_path_buf();
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|h| {
                let home = PathBuf::from(h);
                if cfg!(target_os = "macos") {
                    home.join("Library/Application Support")
                } else {
                    home.join(".local/share")
                }
            })
        })
        .unwrap_or_else(std::env::temp_dir);
    data.join("billtap").join("billtap.sqlite")
}

pub(crate) fn open_store(store: Option<&Path>) -> Result<Arc<Store>> {
    let path = store_path(store);
    Ok(Arc::new(Store::open(&path)?))
}

/// Pauses at a named step when `BILLTAP_TEST_PAUSE_AT` asks (crash tests kill the process
/// there with SIGKILL); prints `paused at STEP` on stderr first.
struct PauseAt(String);

impl PayHooks for PauseAt {
    fn reached(&self, step: PayStep, payment_id: &str) {
        if step.as_str() == self.0 {
            eprintln!("paused at {} {payment_id}", step.as_str());
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }
}

pub(crate) fn payments(conn: &Connection, store: Arc<Store>, from: &str) -> Result<Payments> {
    let mut p = Payments::new(
        conn.client.clone(),
        store,
        None,
        PayConfig::new(from, "desktop"),
        Arc::new(SystemClock),
        &conn.url,
    )?;
    if let Ok(step) = std::env::var("BILLTAP_TEST_PAUSE_AT") {
        p = p.with_hooks(Arc::new(PauseAt(step)));
    }
    Ok(p)
}

/// The JSON of a payment: the documented fields (`payment_id`, `bill_id`, `state`, `amount`,
/// `currency`) and the rest of the record.
pub fn payment_json(r: &PaymentRecord) -> serde_json::Value {
    json!({
        "payment_id": r.payment_id,
        "bill_id": r.bill_id,
        "state": r.state,
        "amount": r.amount.to_plain_string(),
        "currency": r.amount.currency.alpha(),
        "fee": r.fee.to_plain_string(),
        "biller_id": r.biller_id,
        "payee_name": r.payee_name,
        "payee_account_masked": r.payee_account_masked,
        "platform_payment_id": r.platform_payment_id,
        "failure": r.failure,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

/// One line for a person.
pub fn print_payment(r: &PaymentRecord, indent: &str) {
    let what = match r.state {
        PaymentState::Succeeded => "paid",
        PaymentState::Failed => "not paid",
        PaymentState::NeedsReconciliation => "needs reconciliation (contact the bank)",
        _ => "outcome not known yet (kept; `billtap payments resume` settles it)",
    };
    println!(
        "{indent}{} {} to {} ({}){}: {what}",
        r.payment_id,
        r.amount,
        r.payee_name,
        r.payee_account_masked,
        r.bill_id
            .as_deref()
            .map(|b| format!(" for bill {b}"))
            .unwrap_or_default(),
    );
    if let Some(f) = &r.failure {
        println!("{indent}  {f}");
    }
}

/// The exit code of a payment's state.
pub fn state_exit(state: PaymentState) -> u8 {
    match state {
        PaymentState::Succeeded => 0,
        PaymentState::Failed => 1,
        _ => 3,
    }
}

pub fn pay_error_exit(e: &PayError) -> u8 {
    if is_bad_input(e) { 2 } else { 1 }
}

/// `billtap pay`.
pub fn cmd_pay(
    args: &PlatformArgs,
    store: Option<&Path>,
    bill: &str,
    amount: Option<&str>,
    from: &str,
    json: bool,
) -> Result<u8> {
    let amount = amount.map(parse_cny).transpose()?;
    let store = open_store(store)?;
    let conn = platform_cmds::connect(args)?;
    let pay = payments(&conn, store, from)?;
    let rt = platform_cmds::runtime()?;
    let target = PaymentTarget::Bill {
        bill_id: bill.to_string(),
    };
    let outcome = rt.block_on(async {
        let quote = pay.prepare(&target, amount).await?;
        if !json {
            println!(
                "quote {}: {} {} to {} (fee {} {}), from {}",
                quote.quote_id,
                quote.amount.amount,
                quote.amount.currency,
                quote.payee_name,
                quote.fee.amount,
                quote.fee.currency,
                quote.funding_account_masked
            );
        }
        pay.confirm(&quote).await
    });
    match outcome {
        Ok(r) => {
            if json {
                println!("{}", payment_json(&r));
            } else {
                print_payment(&r, "");
            }
            Ok(state_exit(r.state))
        }
        Err(e) => {
            eprintln!("billtap: not paid: {e}");
            Ok(pay_error_exit(&e))
        }
    }
}

/// An `--amount` as typed: `50`, `20.00` (CNY) or `20.00 CNY`.
pub fn parse_cny(text: &str) -> Result<Money> {
    if text.contains(' ') {
        return text.parse().context("--amount");
    }
    format!("{text} CNY")
        .parse()
        .with_context(|| format!("--amount {text:?} is not an amount like 50 or 20.00"))
}

/// `billtap payments [--pending]`: no network needed.
pub fn cmd_payments(store: Option<&Path>, pending: bool, json: bool) -> Result<u8> {
    let store = open_store(store)?;
    let list = local_payments(&store, pending)?;
    for r in &list {
        if json {
            println!("{}", payment_json(r));
        } else {
            print_payment(r, "");
        }
    }
    if !json && list.is_empty() {
        println!("no payments");
    }
    Ok(0)
}

/// `billtap payments resume`: exit 0 when nothing is left unknown.
pub fn cmd_resume(args: &PlatformArgs, store: Option<&Path>, from: &str, json: bool) -> Result<u8> {
    let store = open_store(store)?;
    if local_payments(&store, true)?.is_empty() {
        if !json {
            println!("nothing to settle");
        }
        return Ok(0);
    }
    let conn = platform_cmds::connect(args)?;
    let pay = payments(&conn, store, from)?;
    let settled = platform_cmds::runtime()?.block_on(pay.resume_pending())?;
    let mut left = 0;
    for r in &settled {
        if r.state.is_pending() || r.state == PaymentState::NeedsReconciliation {
            left += 1;
        }
        if json {
            println!("{}", payment_json(r));
        } else {
            print_payment(r, "");
        }
    }
    Ok(if left == 0 { 0 } else { 3 })
}

/// `billtap device`: the device id, public key and registration state (no network needed).
pub fn cmd_device(store: Option<&Path>, json: bool) -> Result<u8> {
    let path = store_path(store);
    let store = Store::open(&path)?;
    let d = local_device(&store)?;
    if json {
        println!(
            "{}",
            json!({
                "device_id": d.device_id,
                "public_key": d.public_key,
                "key": if d.software_key { "software" } else { "host" },
                "registered": d.registered_at.is_some(),
                "registered_at": d.registered_at,
                "platform": d.platform_url,
                "store": path,
            })
        );
    } else {
        println!("device id:  {}", d.device_id);
        println!("public key: {} (P-256)", d.public_key);
        println!(
            "registered: {}",
            match (&d.registered_at, &d.platform_url) {
                (Some(at), Some(url)) => format!("yes, with {url} at {at}"),
                _ => "not yet (the first payment registers it)".into(),
            }
        );
        println!("store:      {}", path.display());
    }
    Ok(0)
}
