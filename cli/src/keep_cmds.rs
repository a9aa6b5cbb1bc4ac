//! `billtap invoice request|status`, `billtap accounts add|list|remove|sync` and
//! `billtap reminders`: the parts of keep that speak to the platform as this device, and the
//! reminders computed offline from the bills kept for saved accounts.

use std::path::Path;

use anyhow::{Result, anyhow};
use billtap_core::pay::{MyAccount, Reminder, ReminderStatus, local_accounts, pickup_qr_text};
use billtap_core::platform::api::{Invoice, InvoiceDelivery};
use serde_json::json;

use crate::pay_cmds::{open_store, payments};
use crate::platform_cmds::{self, PlatformArgs};

/// How `invoice request` delivers.
#[derive(clap::Args, Debug)]
pub struct DeliveryArgs {
    /// email, outlet or express.
    #[arg(long)]
    pub delivery: String,
    /// E-mail address (`--delivery email`).
    #[arg(long)]
    pub email: Option<String>,
    /// Outlet id (`--delivery outlet`; default: the platform picks).
    #[arg(long)]
    pub outlet: Option<String>,
    /// Who receives it (`--delivery express`).
    #[arg(long)]
    pub recipient: Option<String>,
    /// Their mobile number (`--delivery express`).
    #[arg(long)]
    pub phone: Option<String>,
    /// Postal address (`--delivery express`).
    #[arg(long)]
    pub address: Option<String>,
    /// The buyer's name on the invoice.
    #[arg(long, default_value = "个人")]
    pub title: String,
    /// The buyer's taxpayer id (a company's invoice).
    #[arg(long)]
    pub tax_id: Option<String>,
}

fn delivery(d: &DeliveryArgs) -> Result<InvoiceDelivery> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| anyhow!("--delivery {} needs {flag}", d.delivery))
    };
    Ok(match d.delivery.as_str() {
        "email" => InvoiceDelivery::Email {
            address: need(&d.email, "--email ADDRESS")?,
        },
        "outlet" => InvoiceDelivery::Outlet {
            outlet_id: d.outlet.clone(),
        },
        "express" => InvoiceDelivery::Express {
            recipient: need(&d.recipient, "--recipient NAME")?,
            phone: need(&d.phone, "--phone NUMBER")?,
            address: need(&d.address, "--address TEXT")?,
        },
        other => return Err(anyhow!("--delivery {other:?}: email, outlet or express")),
    })
}

fn print_invoice(inv: &Invoice, json: bool, qr_out: Option<&Path>) -> Result<()> {
    let qr = pickup_qr_text(inv);
    if json {
        let mut v = serde_json::to_value(inv)?;
        if let (Some(obj), Some(q)) = (v.as_object_mut(), &qr) {
            obj.insert("pickup_qr".into(), q.clone().into());
        }
        println!("{v}");
    } else {
        println!(
            "invoice {} for payment {}: {} ({} {})",
            inv.invoice_id,
            inv.payment_id,
            inv.state.as_str(),
            inv.amount.amount,
            inv.amount.currency
        );
        println!("  title        {}", inv.title);
        println!(
            "  delivery     {} to {}",
            inv.delivery_kind, inv.destination
        );
        if let Some(n) = &inv.invoice_number {
            println!("  number       {n}");
        }
        if let Some(t) = &inv.tracking_number {
            println!("  tracking     {t}");
        }
        if let Some(o) = &inv.outlet {
            println!("  outlet       {} — {} ({})", o.name, o.address, o.hours);
        }
        if let Some(c) = &inv.pickup_code {
            println!("  pick-up code {c} (show this QR at the counter)");
        }
    }
    if let Some(q) = &qr
        && (qr_out.is_some() || !json)
    {
        crate::cmd_qr(q, qr_out, 6)?;
    }
    Ok(())
}

/// `billtap invoice request PAYMENT_ID --delivery …`.
pub fn cmd_request(
    args: &PlatformArgs,
    store: Option<&Path>,
    from: &str,
    payment: &str,
    d: &DeliveryArgs,
    json: bool,
    qr_out: Option<&Path>,
) -> Result<u8> {
    let delivery = delivery(d)?;
    let conn = platform_cmds::connect(args)?;
    let pay = payments(&conn, open_store(store)?, from)?;
    let inv = platform_cmds::runtime()?.block_on(pay.request_invoice(
        payment,
        &d.title,
        d.tax_id.clone(),
        delivery,
    ))?;
    print_invoice(&inv, json, qr_out)?;
    Ok(0)
}

/// `billtap invoice status INVOICE_ID`: the platform's answer, or offline the kept one.
pub fn cmd_status(
    args: &PlatformArgs,
    store: Option<&Path>,
    from: &str,
    id: &str,
    json: bool,
    qr_out: Option<&Path>,
) -> Result<u8> {
    let conn = platform_cmds::connect(args)?;
    let pay = payments(&conn, open_store(store)?, from)?;
    let inv = platform_cmds::runtime()?.block_on(pay.invoice_status(id))?;
    print_invoice(&inv, json, qr_out)?;
    Ok(0)
}

fn print_accounts(list: &[MyAccount], json: bool) -> Result<()> {
    for a in list {
        if json {
            let s = &a.account;
            println!(
                "{}",
                json!({
                    "account_id": s.account_id,
                    "biller_id": s.biller_id,
                    "account": s.account,
                    "nickname": s.nickname,
                    "updated_at": s.updated_at,
                    "synced": a.synced,
                })
            );
        } else {
            println!(
                "{}  {}  {} {}{}",
                a.account.account_id,
                a.account.nickname,
                a.account.biller_id,
                billtap_core::platform::mask_account(&a.account.account),
                if a.synced { "" } else { "  (not synced yet)" }
            );
        }
    }
    if list.is_empty() && !json {
        println!("no saved accounts");
    }
    Ok(())
}

/// What `accounts` does.
pub enum AccountsAction<'a> {
    /// Save one.
    Add {
        /// Biller.
        biller: &'a str,
        /// Account.
        account: &'a str,
        /// Nickname.
        nickname: &'a str,
    },
    /// Remove one.
    Remove(&'a str),
    /// Sync with the platform.
    Sync,
}

/// `billtap accounts list` (no network).
pub fn cmd_accounts_list(store: Option<&Path>, json: bool) -> Result<u8> {
    print_accounts(&local_accounts(&*open_store(store)?)?, json)?;
    Ok(0)
}

/// `billtap accounts add|remove|sync`: kept at once; the platform told now (offline: at the
/// next sync). Prints the list after.
pub fn cmd_accounts(
    args: &PlatformArgs,
    store: Option<&Path>,
    from: &str,
    action: AccountsAction<'_>,
    json: bool,
) -> Result<u8> {
    let conn = platform_cmds::connect(args)?;
    let pay = payments(&conn, open_store(store)?, from)?;
    let rt = platform_cmds::runtime()?;
    match action {
        AccountsAction::Add {
            biller,
            account,
            nickname,
        } => {
            let saved = rt.block_on(pay.save_account(biller, account, nickname))?;
            if !json {
                println!(
                    "saved {} as {}{}",
                    saved.account.account_id,
                    saved.account.nickname,
                    if saved.synced {
                        ""
                    } else {
                        " (offline: synced later)"
                    }
                );
            }
        }
        AccountsAction::Remove(id) => rt.block_on(pay.remove_account(id))?,
        AccountsAction::Sync => {
            rt.block_on(pay.sync_accounts())?;
        }
    }
    print_accounts(&pay.accounts()?, json)?;
    Ok(0)
}

fn print_reminders(list: &[Reminder], json: bool) -> Result<()> {
    for r in list {
        if json {
            println!(
                "{}",
                json!({
                    "account_id": r.account_id,
                    "nickname": r.nickname,
                    "biller_id": r.biller_id,
                    "payee_name": r.payee_name,
                    "bill_id": r.bill_id,
                    "amount": r.amount.to_plain_string(),
                    "currency": r.amount.currency.alpha(),
                    "due_date": r.due_date,
                    "days_left": r.days_left,
                    "status": r.status,
                    "fetched_at": r.fetched_at,
                })
            );
        } else {
            let when = match (r.status, r.days_left) {
                (ReminderStatus::Overdue, Some(d)) => format!("OVERDUE by {} days", -d),
                (_, Some(0)) => "due today".into(),
                (_, Some(d)) => format!("due in {d} days"),
                (_, None) => "no due date".into(),
            };
            println!(
                "{:<9} {}  {} — {} {} (bill {}, due {})",
                format!("{:?}", r.status).to_lowercase(),
                r.nickname,
                r.payee_name,
                r.amount,
                when,
                r.bill_id,
                r.due_date.as_deref().unwrap_or("-")
            );
        }
    }
    if list.is_empty() && !json {
        println!("no bills due for the saved accounts");
    }
    Ok(())
}

/// `billtap reminders [--within DAYS] [--refresh]`: offline from the kept bills; `--refresh`
/// fetches the saved accounts' latest bills first.
pub fn cmd_reminders(
    args: &PlatformArgs,
    store: Option<&Path>,
    from: &str,
    within: u32,
    refresh: bool,
    json: bool,
) -> Result<u8> {
    let store = open_store(store)?;
    let list = if refresh {
        let conn = platform_cmds::connect(args)?;
        let pay = payments(&conn, store, from)?;
        let n = platform_cmds::runtime()?.block_on(pay.refresh_bills())?;
        if !json {
            eprintln!("(bills of {n} saved accounts refreshed)");
        }
        pay.reminders(within)?
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        billtap_core::pay::reminders(&store, now, within)?
    };
    print_reminders(&list, json)?;
    Ok(0)
}
