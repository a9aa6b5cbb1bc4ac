//! `billtap meter token`: buy prepaid electricity for a keypad (STS) meter — paid like a bill,
//! exactly once; the 20-digit token comes in the platform's signed receipt and is kept with
//! it. `billtap meter tokens` shows the kept tokens again, offline.
//!
//! Exit codes (`meter token`): 0 paid, token shown; 1 not paid; 2 bad input; 3 outcome not
//! known yet (kept: `billtap payments resume` settles it and its receipt brings the token).

use std::path::Path;

use anyhow::Result;
use billtap_core::pay::{MeterToken, meter_tokens};
use serde_json::json;

use crate::pay_cmds::{open_store, parse_cny, pay_error_exit, payments, state_exit};
use crate::platform_cmds::{self, PlatformArgs};

fn token_json(t: &MeterToken) -> serde_json::Value {
    json!({
        "payment_id": t.payment_id,
        "biller_id": t.biller_id,
        "payee_name": t.payee_name,
        "amount": t.amount.to_plain_string(),
        "currency": t.amount.currency.alpha(),
        "token": t.token,
        "paid_at": t.paid_at,
    })
}

/// `billtap meter token --biller ID --meter NUMBER --amount 50`.
pub fn cmd_token(
    args: &PlatformArgs,
    store: Option<&Path>,
    from: &str,
    biller: &str,
    meter: &str,
    amount: &str,
    json: bool,
) -> Result<u8> {
    let amount = parse_cny(amount)?;
    let conn = platform_cmds::connect(args)?;
    let pay = payments(&conn, open_store(store)?, from)?;
    let outcome = platform_cmds::runtime()?.block_on(pay.vend_token(biller, meter, amount));
    let vend = match outcome {
        Ok(v) => v,
        Err(e) => {
            eprintln!("billtap: not paid: {e}");
            return Ok(pay_error_exit(&e));
        }
    };
    if json {
        println!(
            "{}",
            json!({
                "payment_id": vend.payment.payment_id,
                "state": vend.payment.state,
                "amount": vend.payment.amount.to_plain_string(),
                "currency": vend.payment.amount.currency.alpha(),
                "meter": vend.payment.payee_account_masked,
                "token": vend.token.as_ref().map(|t| t.token.clone()),
                "transaction_id": vend.payment.platform_payment_id,
                "failure": vend.payment.failure,
            })
        );
    } else {
        match &vend.token {
            Some(t) => println!(
                "{} for meter {} ({}): key in this token\n\n    {}\n",
                t.amount, vend.payment.payee_account_masked, t.payee_name, t.token
            ),
            None => println!(
                "{} for meter {}: {:?} — {}",
                vend.payment.amount,
                vend.payment.payee_account_masked,
                vend.payment.state,
                vend.payment
                    .failure
                    .as_deref()
                    .unwrap_or("the token comes with the receipt once it is settled (`billtap payments resume`)")
            ),
        }
    }
    Ok(state_exit(vend.payment.state))
}

/// `billtap meter tokens`: the kept tokens, newest first (no network).
pub fn cmd_tokens(store: Option<&Path>, json: bool) -> Result<u8> {
    let tokens = meter_tokens(&*open_store(store)?)?;
    for t in &tokens {
        if json {
            println!("{}", token_json(t));
        } else {
            println!(
                "{}  {}  {} to {} ({})",
                t.token,
                billtap_core::dates::format_day(billtap_core::dates::china_day_of(t.paid_at)),
                t.amount,
                t.payee_name,
                t.payment_id
            );
        }
    }
    if !json && tokens.is_empty() {
        println!("no meter tokens");
    }
    Ok(0)
}
