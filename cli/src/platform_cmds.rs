//! `billtap sandbox`, `catalog`, `billers search`, `bills lookup` and the platform half of
//! `scan --resolve` and `demo`.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use billtap_core::money::Money;
use billtap_core::platform::{BillView, BillerQuery, PlatformClient, PlatformConfig, mask_account};
use billtap_core::ports::SystemClock;
use billtap_sandbox::{Sandbox, SandboxOptions};

/// Where the platform is; without `--platform`, an embedded sandbox is started.
#[derive(clap::Args, Debug, Clone)]
pub struct PlatformArgs {
    /// Platform base URL (the global `--platform`; none: an embedded sandbox).
    #[arg(skip)]
    pub platform: Option<String>,
    /// Pinned platform keys (the global `--key`).
    #[arg(skip)]
    pub keys: Vec<String>,
    /// Language of names and warnings: zh-CN or en.
    #[arg(long, default_value = "zh-CN")]
    pub locale: String,
    /// Warn when a reusable (static) code asks for more than this, e.g. "2000.00 CNY".
    #[arg(long, env = "BILLTAP_STATIC_LIMIT")]
    pub static_limit: Option<Money>,
    /// The global `--store`: the signed catalog is kept in it for offline use (verified
    /// again on every load).
    #[arg(skip)]
    pub store: Option<std::path::PathBuf>,
}

/// A connected client, and the sandbox it talks to when one was started for it.
pub struct Connection {
    /// The client.
    pub client: Arc<PlatformClient>,
    /// The platform's base URL.
    pub url: String,
    /// Keeps an embedded sandbox alive while the client is used.
    pub _sandbox: Option<Sandbox>,
}

/// Connects to the given platform or starts an embedded sandbox.
pub fn connect(args: &PlatformArgs) -> Result<Connection> {
    let (url, keys, sandbox) = match &args.platform {
        Some(url) => {
            if args.keys.is_empty() {
                return Err(anyhow!(
                    "--platform needs at least one --key KEY_ID:BASE64 to verify responses"
                ));
            }
            (url.clone(), args.keys.clone(), None)
        }
        None => {
            let sb = Sandbox::start(SandboxOptions::default())
                .context("cannot start the embedded sandbox")?;
            eprintln!("(using an embedded sandbox at {})", sb.url());
            (sb.url(), vec![sb.pinned_key()], Some(sb))
        }
    };
    let mut cfg = PlatformConfig::new(&url, keys);
    cfg.locale = args.locale.clone();
    cfg.static_amount_warning = args.static_limit;
    if let Some(path) = &args.store {
        let store: Arc<dyn billtap_core::platform::ResponseCache> =
            Arc::new(billtap_core::store::Store::open(path)?);
        cfg.cache = Some(store);
    }
    let client = Arc::new(PlatformClient::new(cfg, Arc::new(SystemClock))?);
    Ok(Connection {
        client,
        url,
        _sandbox: sandbox,
    })
}

/// A runtime for one CLI command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `billtap sandbox`: serve until interrupted.
pub fn cmd_sandbox(
    port: u16,
    db: Option<String>,
    admin_token: Option<String>,
    issuer_keys: Vec<String>,
) -> Result<u8> {
    let sb = Sandbox::start(SandboxOptions {
        port,
        db_path: db,
        admin_token,
        issuer_keys,
        ..SandboxOptions::default()
    })?;
    // One write, and a closed stdout (a parent that read what it needed and hung up) is no
    // reason to stop serving: `println!` would panic on EPIPE and take the sandbox down.
    let banner = format!(
        "billtap sandbox listening on {url}\npinned key: {key}\nadmin token: {token}\ntry: billtap catalog --platform {url} --key {key}\n",
        url = sb.url(),
        key = sb.pinned_key(),
        token = sb.admin_token(),
    );
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, banner.as_bytes());
    let _ = std::io::Write::flush(&mut out);
    drop(out);
    sb.wait();
    Ok(0)
}

/// `billtap catalog`.
pub fn cmd_catalog(args: &PlatformArgs, json: bool) -> Result<u8> {
    let conn = connect(args)?;
    let catalog = runtime()?.block_on(conn.client.catalog())?;
    if catalog.from_cache {
        eprintln!("(the platform is unreachable: showing the verified offline catalog)");
    }
    if json {
        println!("{}", serde_json::to_string(&catalog)?);
    } else {
        for c in &catalog.categories {
            let subs: Vec<&str> = c.subcategories.iter().map(|s| s.name.as_str()).collect();
            println!("{} ({}): {}", c.name, c.id, subs.join(", "));
        }
    }
    Ok(0)
}

/// `billtap billers search`.
pub fn cmd_billers_search(args: &PlatformArgs, query: BillerQuery, json: bool) -> Result<u8> {
    let conn = connect(args)?;
    let page = runtime()?.block_on(conn.client.search_billers(&query))?;
    if json {
        println!("{}", serde_json::to_string(&page)?);
    } else {
        for b in &page.items {
            let field = b
                .lookup_fields
                .first()
                .map(|f| format!("{} (e.g. {})", f.key, f.example.clone().unwrap_or_default()))
                .unwrap_or_default();
            println!(
                "{:<28} {:<24} {:<28} needs {field}",
                b.id, b.name, b.category
            );
        }
        if let Some(t) = page.next_page_token {
            println!("… more: --page-token {t}");
        }
    }
    Ok(if page.items.is_empty() { 1 } else { 0 })
}

/// `billtap bills lookup --biller ID --field key=value`.
pub fn cmd_bills_lookup(
    args: &PlatformArgs,
    biller: &str,
    fields: &[String],
    json: bool,
) -> Result<u8> {
    let mut map = BTreeMap::new();
    for f in fields {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| anyhow!("--field must be KEY=VALUE, got {f:?}"))?;
        map.insert(k.to_string(), v.to_string());
    }
    let conn = connect(args)?;
    let found = runtime()?.block_on(conn.client.lookup(biller, &map))?;
    if json {
        println!("{}", serde_json::to_string(&found)?);
    } else {
        println!(
            "{} — {} ({})",
            found.biller.name, found.biller.names.en, found.biller.id
        );
        if found.bills.is_empty() {
            println!("  no open bills; this biller takes an amount you choose");
        }
        for b in &found.bills {
            println!(
                "  bill {}  period {}  {} {}  due {}  [{}]  account {}",
                b.id,
                b.period.clone().unwrap_or_default(),
                b.amount_due.amount,
                b.amount_due.currency,
                b.due_date.clone().unwrap_or_default(),
                b.status,
                b.account_masked
            );
            if let (Some(h), Some(a)) = (&b.holder_name_masked, &b.service_address) {
                println!("    holder {h}, {a}");
            }
        }
    }
    Ok(0)
}

/// Prints a verified bill view.
pub fn print_view(view: &BillView, indent: &str) {
    match &view.payee {
        Some(p) => println!(
            "{indent}✓ payee verified by the platform: {} ({}, {})",
            p.name, p.names.en, p.id
        ),
        None => println!("{indent}✗ payee NOT verified by the platform"),
    }
    if let Some(a) = &view.payee_account {
        println!("{indent}  paid to account {}", mask_account(&a.account));
    }
    for b in &view.bills {
        println!(
            "{indent}  bill {}: {} {} due {} [{}], account {}",
            b.id,
            b.amount_due.amount,
            b.amount_due.currency,
            b.due_date.clone().unwrap_or_default(),
            b.status,
            b.account_masked
        );
        if let (Some(h), Some(a)) = (&b.holder_name_masked, &b.service_address) {
            println!("{indent}    holder {h}, {a}");
        }
        for item in &b.line_items {
            println!(
                "{indent}    {}: {} {}",
                item.description, item.amount.amount, item.amount.currency
            );
        }
    }
    for w in &view.warnings {
        println!("{indent}  ⚠ {}", w.message);
    }
}
