//! `billtap`: the command-line face of billtap-core — scan images, parse payloads, render QR
//! codes, and run the end-to-end demo.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod card_cmds;
mod keep_cmds;
mod meter_cmds;
#[cfg(feature = "nfc")]
mod nfc_reader;
mod pay_cmds;
mod platform_cmds;
mod receipt_cmds;

use anyhow::{Context, Result, anyhow};
use billtap_core::platform::{PayeeWarningCode, PinnedKeys};
use billtap_core::scan::{
    self, BilltapBill, DecodedCode, EmvWriter, Initiation, LumaFrame, PayloadReport, ScanOptions,
    ScanProblem, Scanned,
    synth::{Scene, render_scene},
};
use clap::{Parser, Subcommand};
use platform_cmds::PlatformArgs;
use serde_json::json;

/// billtap: scan, check and render payment QR codes; look up, pay and keep bills.
#[derive(Parser)]
#[command(name = "billtap", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command accepts; commands that need no network ignore `--platform`.
#[derive(clap::Args)]
struct Global {
    /// Platform base URL (default: start an embedded sandbox).
    #[arg(long, env = "BILLTAP_PLATFORM", global = true)]
    platform: Option<String>,
    /// Pinned platform key `KEY_ID:BASE64` (repeatable; required with --platform).
    #[arg(
        long = "key",
        env = "BILLTAP_PLATFORM_KEY",
        value_delimiter = ',',
        global = true
    )]
    keys: Vec<String>,
    /// The store (SQLite file: device identity, payments, receipts, the offline catalog);
    /// default: the user's data directory (commands that only look up keep no catalog then).
    #[arg(long, env = "BILLTAP_STORE", global = true)]
    store: Option<PathBuf>,
}

/// The payer's funding account, for commands that pay.
#[derive(clap::Args)]
struct Funding {
    /// The funding account at the bank.
    #[arg(long = "from", env = "BILLTAP_FUNDING_ACCOUNT", default_value = pay_cmds::DEMO_FUNDING_ACCOUNT)]
    from: String,
}

impl Global {
    /// The platform arguments with the global `--platform` and `--key` filled in.
    fn platform(&self, mut p: PlatformArgs) -> PlatformArgs {
        p.platform = self.platform.clone();
        p.keys = self.keys.clone();
        p.store = self.store.clone();
        p
    }
}

#[derive(Subcommand)]
enum Command {
    /// Decode every QR code in image files (PNG, JPEG) and parse what they carry.
    Scan {
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// One JSON line per image instead of human output.
        #[arg(long)]
        json: bool,
        /// Camera-preview mode: only the cheap passes (as on a live frame).
        #[arg(long)]
        fast: bool,
        /// Then look the code up on the platform and show the verified payee and bill.
        #[arg(long)]
        resolve: bool,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Parse the text of a payment code.
    Parse {
        /// The code's text (use $'…' for line breaks in Swiss/EPC codes), or - for stdin.
        text: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Render text as a QR code.
    Qr {
        /// The text to encode.
        text: String,
        /// Output file: .png or .svg; omit to print to the terminal.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Pixels per module for PNG.
        #[arg(long, default_value_t = 8)]
        scale: u32,
    },
    /// Run the platform sandbox server on loopback (prints its URL and public key).
    Sandbox {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Keep state in this SQLite file instead of memory.
        #[arg(long)]
        db: Option<String>,
        /// Bearer token for the /admin endpoints (default: a random one, printed at start).
        #[arg(long, env = "BILLTAP_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// The card issuer's master keys for one key version, `VERSION:LOAD_MK:TAC_MK` (hex),
        /// repeatable; default: the documented test keys (version 01).
        #[arg(long = "issuer-key")]
        issuer_keys: Vec<String>,
    },
    /// Show the platform's category tree.
    Catalog {
        #[command(flatten)]
        platform: PlatformArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Billers: search.
    Billers {
        #[command(subcommand)]
        command: BillersCommand,
    },
    /// Bills: look up by account.
    Bills {
        #[command(subcommand)]
        command: BillsCommand,
    },
    /// Pay a bill: a quote, then the device-signed payment, stored before it is sent.
    /// Exit 0 paid, 1 not paid, 2 bad input, 3 outcome not known yet (settled later).
    Pay {
        /// The bill's platform id.
        #[arg(long)]
        bill: String,
        /// Pay this much (partial payments where the biller allows them): `12.30` or
        /// `12.30 CNY`; default: the bill's amount due.
        #[arg(long)]
        amount: Option<String>,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Stored payments (no network), or `payments resume` to settle unfinished ones.
    Payments {
        #[command(subcommand)]
        command: Option<PaymentsCommand>,
        /// Only payments not settled yet.
        #[arg(long)]
        pending: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Signed receipts kept in the store (no network): list, show, verify, export.
    Receipts {
        #[command(subcommand)]
        command: ReceiptsCommand,
    },
    /// Invoices (fapiao) for completed payments: request one, see where it stands.
    Invoice {
        #[command(subcommand)]
        command: InvoiceCommand,
    },
    /// "My accounts": the bill accounts the family pays, synced with the platform.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Due-date reminders for the saved accounts' bills (offline from the kept bills).
    Reminders {
        /// "Due soon" means within this many days.
        #[arg(long, default_value_t = 7)]
        within: u32,
        /// Fetch the saved accounts' latest bills first (network).
        #[arg(long)]
        refresh: bool,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Load value onto a transit or meter card: paid from the funding account, written to
    /// the card, exactly once (exit 0 loaded, 1 not loaded, 2 bad input, 3 not known yet).
    Topup {
        /// How much: `50`, `20.00` or `20.00 CNY`.
        #[arg(long)]
        amount: String,
        /// sim (billtap's simulated card), exec:CMD, nfc[:CONNSTRING] (libnfc, feature nfc).
        #[arg(long, default_value = "sim")]
        reader: String,
        /// The simulated card's file (default: sim-card.json next to the store).
        #[arg(long)]
        card: Option<PathBuf>,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Keypad (STS) prepaid meters: `meter token` buys a token, `meter tokens` shows the kept
    /// ones offline.
    Meter {
        #[command(subcommand)]
        command: MeterCommand,
    },
    /// NFC transit and meter cards: `card read` taps one and shows its balance and log.
    Card {
        #[command(subcommand)]
        command: CardCommand,
    },
    /// This device's id, public key and registration state (no network).
    Device {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Show the main flow: render a real bill's QR into a camera-like frame, scan it, show
    /// the bill, pay it.
    Demo {
        /// Also save the synthetic camera frame as PNG.
        #[arg(long)]
        save_frame: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing clap's flattened args buys nothing"
)]
enum MeterCommand {
    /// Buy prepaid electricity for a keypad meter: paid once; the 20-digit token is shown and
    /// kept with the signed receipt (exit 0 paid, 1 not paid, 2 bad input, 3 not known yet).
    Token {
        /// The meter's number (11 or 13 digits).
        #[arg(long)]
        meter: String,
        /// How much: `50`, `20.00` or `20.00 CNY`.
        #[arg(long)]
        amount: String,
        /// The prepaid-meter biller (catalog: `vends: sts_token`).
        #[arg(long, default_value = "BJ-PREPAID-ELECTRICITY-001")]
        biller: String,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The kept meter tokens, newest first (no network).
    Tokens {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CardCommand {
    /// Make a simulated card in its file: a transit card (default 10.00 CNY), or with
    /// `--meter` a file-based prepaid meter card. Never over an existing card.
    New {
        /// The simulated card's file (default: sim-card.json next to the store).
        #[arg(long)]
        card: Option<PathBuf>,
        /// A meter card for this meter number (up to 12 digits) instead of a transit card.
        #[arg(long)]
        meter: Option<String>,
        /// The card's serial number (hex: 20 digits for a transit card, 16 for a meter card).
        #[arg(long)]
        serial: Option<String>,
        /// A transit card's balance: `10`, `25.50`.
        #[arg(long)]
        balance: Option<String>,
        /// A CPU meter card instead: the same e-purse, reached only by file id (DF 1001).
        #[arg(long, conflicts_with = "meter")]
        cpu_meter: bool,
    },
    /// Be billtap's simulated card for an `exec:` reader: hex APDU lines in, `data‖SW` out.
    Emulate {
        /// The simulated card's file (default: sim-card.json next to the store).
        #[arg(long)]
        card: Option<PathBuf>,
        /// Run this many commands, then leave the field before answering the last (`TAGLOST`).
        #[arg(long)]
        tear_after: Option<u32>,
        /// Run this many commands, then never answer the last (a crash test kills the reader).
        #[arg(long)]
        hang_after: Option<u32>,
    },
    /// Read the card in the field: serial number, validity, balance, newest transactions.
    Read {
        /// sim (billtap's simulated card), exec:CMD (hex lines over a command), nfc[:CONNSTRING] (libnfc, feature nfc).
        #[arg(long, default_value = "sim")]
        reader: String,
        /// The simulated card's file (default: sim-card.json next to the store).
        #[arg(long)]
        card: Option<PathBuf>,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum InvoiceCommand {
    /// Request an invoice for a completed payment (billtap's payment id or the platform's).
    Request {
        /// The payment.
        payment_id: String,
        #[command(flatten)]
        delivery: keep_cmds::DeliveryArgs,
        /// Write the pick-up code's QR here (.png or .svg; outlet delivery).
        #[arg(long)]
        qr_out: Option<PathBuf>,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Where an invoice stands (the kept state when the platform is unreachable).
    Status {
        /// The invoice id.
        id: String,
        /// Write the pick-up code's QR here (.png or .svg; outlet delivery).
        #[arg(long)]
        qr_out: Option<PathBuf>,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Save a bill account with a nickname (kept offline, synced when the platform answers).
    Add {
        /// The biller's platform id.
        biller: String,
        /// The account at the biller.
        account: String,
        /// The family's name for it.
        #[arg(long)]
        nickname: String,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object per account.
        #[arg(long)]
        json: bool,
    },
    /// The saved accounts (no network).
    List {
        /// One JSON object per account.
        #[arg(long)]
        json: bool,
    },
    /// Remove a saved account.
    Remove {
        /// Its id.
        id: String,
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object per account left.
        #[arg(long)]
        json: bool,
    },
    /// Send offline changes and take the platform's list (a new phone gets the family's).
    Sync {
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object per account.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ReceiptsCommand {
    /// Receipts, newest first.
    List {
        #[command(flatten)]
        filter: receipt_cmds::FilterArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Sums per month and per category (the same filters as list).
    Totals {
        #[command(flatten)]
        filter: receipt_cmds::FilterArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Import receipts from a JSON export; each is verified first, forged ones refused.
    Import {
        /// The file `receipts export --format json` wrote.
        file: PathBuf,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// One receipt, verified: by platform transaction id or history position.
    Show {
        /// Transaction id or position.
        id: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Verify the whole history: exit 0 when it does, 1 naming the first bad entry.
    Verify {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// A receipt as a QR code (a counter scans and verifies it offline).
    Qr {
        /// Transaction id or position.
        id: String,
        /// Output file: .png or .svg; omit to print to the terminal.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Pixels per module for PNG.
        #[arg(long, default_value_t = 6)]
        scale: u32,
        /// One JSON object: the code's text (and the file written, if any), no terminal QR.
        #[arg(long)]
        json: bool,
    },
    /// Every receipt, oldest first.
    Export {
        /// csv or json.
        #[arg(long, default_value = "json")]
        format: String,
    },
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Settle every unfinished payment (ask the platform under its key; send again only the
    /// same payment). Exit 0 when none is left unknown, 3 otherwise.
    Resume {
        #[command(flatten)]
        funding: Funding,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BillersCommand {
    /// Search billers by text (Chinese or English), category and region.
    Search {
        /// Text to find in names.
        text: Option<String>,
        /// Category or sub-category id (e.g. utilities, utilities.water).
        #[arg(long)]
        category: Option<String>,
        /// Region code prefix (11 Beijing, 31 Shanghai, 4403 Shenzhen…).
        #[arg(long)]
        region: Option<String>,
        /// Page size (1–100).
        #[arg(long)]
        page_size: Option<u32>,
        /// Token of the next page.
        #[arg(long)]
        page_token: Option<String>,
        #[command(flatten)]
        platform: PlatformArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BillsCommand {
    /// Find an account's bills: --biller BJ-WATER-001 --field account=110105-3345-0871.
    Lookup {
        /// Biller id.
        #[arg(long)]
        biller: String,
        /// Lookup field KEY=VALUE (repeatable).
        #[arg(long = "field")]
        fields: Vec<String>,
        #[command(flatten)]
        platform: PlatformArgs,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// Exit codes: 0 found and valid, 1 nothing found (or the platform knows no such biller,
/// account or bill), 2 bad input or invalid payload, 3 platform unreachable (retry; an offline
/// catalog is still shown), 4 platform answer untrusted (forged, replayed, too large: nothing
/// shown), 5 platform answer incompatible (update billtap).
const FOUND: u8 = 0;
const NOTHING: u8 = 1;
const BAD: u8 = 2;
const UNREACHABLE: u8 = 3;
const UNTRUSTED: u8 = 4;
const INCOMPATIBLE: u8 = 5;

/// The exit code for a failed command: by the kind of platform failure, else bad input.
fn exit_code(e: &anyhow::Error) -> u8 {
    use billtap_core::platform::{FailureKind, PlatformError};
    let p = match (
        e.downcast_ref::<PlatformError>(),
        e.downcast_ref::<billtap_core::pay::PayError>(),
    ) {
        (Some(p), _) | (None, Some(billtap_core::pay::PayError::Platform(p))) => p,
        _ => return BAD,
    };
    match (p.kind(), p) {
        (FailureKind::Unreachable, _) => UNREACHABLE,
        (FailureKind::Untrusted, _) => UNTRUSTED,
        (FailureKind::Incompatible, _) => INCOMPATIBLE,
        (FailureKind::Refused, PlatformError::Refused { status: 404, .. }) => NOTHING,
        _ => BAD,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = &cli.global;
    let store = g.store.as_deref();
    let result = match cli.command {
        Command::Scan {
            images,
            json,
            fast,
            resolve,
            platform,
        } => cmd_scan(
            &images,
            json,
            fast,
            resolve.then_some(&g.platform(platform)),
            &g.keys,
        ),
        Command::Sandbox {
            port,
            db,
            admin_token,
            issuer_keys,
        } => platform_cmds::cmd_sandbox(port, db, admin_token, issuer_keys),
        Command::Catalog { platform, json } => {
            platform_cmds::cmd_catalog(&g.platform(platform), json)
        }
        Command::Billers {
            command:
                BillersCommand::Search {
                    text,
                    category,
                    region,
                    page_size,
                    page_token,
                    platform,
                    json,
                },
        } => {
            let query = billtap_core::platform::BillerQuery {
                text,
                category,
                region,
                page_size,
                page_token,
            };
            platform_cmds::cmd_billers_search(&g.platform(platform), query, json)
        }
        Command::Bills {
            command:
                BillsCommand::Lookup {
                    biller,
                    fields,
                    platform,
                    json,
                },
        } => platform_cmds::cmd_bills_lookup(&g.platform(platform), &biller, &fields, json),
        Command::Pay {
            bill,
            amount,
            funding,
            platform,
            json,
        } => pay_cmds::cmd_pay(
            &g.platform(platform),
            store,
            &bill,
            amount.as_deref(),
            &funding.from,
            json,
        ),
        Command::Payments {
            command: None,
            pending,
            json,
        } => pay_cmds::cmd_payments(store, pending, json),
        Command::Payments {
            command:
                Some(PaymentsCommand::Resume {
                    funding,
                    platform,
                    json,
                }),
            ..
        } => pay_cmds::cmd_resume(&g.platform(platform), store, &funding.from, json),
        Command::Device { json } => pay_cmds::cmd_device(store, json),
        Command::Meter {
            command:
                MeterCommand::Token {
                    meter,
                    amount,
                    biller,
                    funding,
                    platform,
                    json,
                },
        } => meter_cmds::cmd_token(
            &g.platform(platform),
            store,
            &funding.from,
            &biller,
            &meter,
            &amount,
            json,
        ),
        Command::Meter {
            command: MeterCommand::Tokens { json },
        } => meter_cmds::cmd_tokens(store, json),
        Command::Card {
            command:
                CardCommand::New {
                    card,
                    meter,
                    serial,
                    balance,
                    cpu_meter,
                },
        } => card_cmds::cmd_new(
            card.as_deref(),
            store,
            card_cmds::NewCard {
                meter: meter.as_deref(),
                serial: serial.as_deref(),
                balance: balance.as_deref(),
                cpu_meter,
            },
        ),
        Command::Card {
            command:
                CardCommand::Emulate {
                    card,
                    tear_after,
                    hang_after,
                },
        } => card_cmds::cmd_emulate(card.as_deref(), store, tear_after, hang_after),
        Command::Card {
            command:
                CardCommand::Read {
                    reader,
                    card,
                    funding,
                    platform,
                    json,
                },
        } => card_cmds::cmd_read(
            &g.platform(platform),
            store,
            &funding.from,
            &reader,
            card.as_deref(),
            json,
        ),
        Command::Topup {
            amount,
            reader,
            card,
            funding,
            platform,
            json,
        } => card_cmds::cmd_topup(
            &g.platform(platform),
            store,
            &funding.from,
            &reader,
            card.as_deref(),
            &amount,
            json,
        ),
        Command::Invoice { command } => match command {
            InvoiceCommand::Request {
                payment_id,
                delivery,
                qr_out,
                funding,
                platform,
                json,
            } => keep_cmds::cmd_request(
                &g.platform(platform),
                store,
                &funding.from,
                &payment_id,
                &delivery,
                json,
                qr_out.as_deref(),
            ),
            InvoiceCommand::Status {
                id,
                qr_out,
                funding,
                platform,
                json,
            } => keep_cmds::cmd_status(
                &g.platform(platform),
                store,
                &funding.from,
                &id,
                json,
                qr_out.as_deref(),
            ),
        },
        Command::Accounts { command } => match command {
            AccountsCommand::List { json } => keep_cmds::cmd_accounts_list(store, json),
            AccountsCommand::Add {
                biller,
                account,
                nickname,
                funding,
                platform,
                json,
            } => keep_cmds::cmd_accounts(
                &g.platform(platform),
                store,
                &funding.from,
                keep_cmds::AccountsAction::Add {
                    biller: &biller,
                    account: &account,
                    nickname: &nickname,
                },
                json,
            ),
            AccountsCommand::Remove {
                id,
                funding,
                platform,
                json,
            } => keep_cmds::cmd_accounts(
                &g.platform(platform),
                store,
                &funding.from,
                keep_cmds::AccountsAction::Remove(&id),
                json,
            ),
            AccountsCommand::Sync {
                funding,
                platform,
                json,
            } => keep_cmds::cmd_accounts(
                &g.platform(platform),
                store,
                &funding.from,
                keep_cmds::AccountsAction::Sync,
                json,
            ),
        },
        Command::Reminders {
            within,
            refresh,
            funding,
            platform,
            json,
        } => keep_cmds::cmd_reminders(
            &g.platform(platform),
            store,
            &funding.from,
            within,
            refresh,
            json,
        ),
        Command::Receipts { command } => match command {
            ReceiptsCommand::List { filter, json } => receipt_cmds::cmd_list(store, &filter, json),
            ReceiptsCommand::Totals { filter, json } => {
                receipt_cmds::cmd_totals(store, &filter, json)
            }
            ReceiptsCommand::Import { file, json } => {
                receipt_cmds::cmd_import(store, &g.keys, &file, json)
            }
            ReceiptsCommand::Show { id, json } => receipt_cmds::cmd_show(store, &g.keys, &id, json),
            ReceiptsCommand::Verify { json } => receipt_cmds::cmd_verify(store, &g.keys, json),
            ReceiptsCommand::Export { format } => receipt_cmds::cmd_export(store, &format),
            ReceiptsCommand::Qr {
                id,
                out,
                scale,
                json,
            } => receipt_cmds::receipt_qr_text(store, &id).and_then(|text| {
                if !json {
                    return cmd_qr(&text, out.as_deref(), scale);
                }
                if let Some(path) = out.as_deref() {
                    cmd_qr(&text, Some(path), scale)?;
                }
                println!(
                    "{}",
                    serde_json::json!({"id": id, "text": text, "characters": text.len(), "out": out})
                );
                Ok(FOUND)
            }),
        },
        Command::Parse { text, json } => cmd_parse(&text, json),
        Command::Qr { text, out, scale } => cmd_qr(&text, out.as_deref(), scale),
        Command::Demo { save_frame } => cmd_demo(save_frame.as_deref(), store),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("billtap: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn load_luma(path: &Path) -> Result<(Vec<u8>, u32, u32)> {
    let img = image::ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?
        .decode()
        .with_context(|| format!("{} is not a readable PNG or JPEG image", path.display()))?
        .to_luma8();
    let (w, h) = img.dimensions();
    Ok((img.into_raw(), w, h))
}

fn code_json(c: &DecodedCode, keys: Option<&PinnedKeys>) -> serde_json::Value {
    let mut result = serde_json::to_value(PayloadReport::from_parts(c.result()))
        .unwrap_or(serde_json::Value::Null);
    if let (Some(v), Some(verified)) = (result.as_object_mut(), receipt_verified(c, keys)) {
        v.insert("verified".into(), verified.into());
    }
    json!({
        "text": c.text,
        "corners": c.corners,
        "engine": c.engine,
        "pass": c.pass,
        "result": result,
    })
}

/// For a receipt code: whether its signature checks against a pinned key (`--key`); `None`
/// for other codes.
fn receipt_verified(c: &DecodedCode, keys: Option<&PinnedKeys>) -> Option<bool> {
    let Some(scan::Detail::Receipt(code)) = c.payload.as_ref().map(|s| &s.detail) else {
        return None;
    };
    Some(keys.is_some_and(|k| billtap_core::receipts::verify_receipt(&code.cose, k).is_ok()))
}

fn cmd_scan(
    images: &[PathBuf],
    as_json: bool,
    fast: bool,
    resolve: Option<&PlatformArgs>,
    keys: &[String],
) -> Result<u8> {
    let pinned = if keys.is_empty() {
        None
    } else {
        Some(PinnedKeys::parse(keys)?)
    };
    let opts = ScanOptions {
        region: None,
        try_harder: !fast,
    };
    let platform = match resolve {
        Some(args) => Some((platform_cmds::connect(args)?, platform_cmds::runtime()?)),
        None => None,
    };
    let mut worst = FOUND;
    for path in images {
        let (px, w, h) = match load_luma(path) {
            Ok(v) => v,
            Err(e) => {
                if as_json {
                    println!(
                        "{}",
                        json!({"path": path, "error": format!("{e:#}"), "codes": []})
                    );
                }
                eprintln!("billtap: {e:#}");
                worst = BAD;
                continue;
            }
        };
        let frame = LumaFrame::new(&px, w, h, w)?;
        let started = Instant::now();
        let codes = scan::scan_frame_with(&frame, &opts)?;
        let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
        // A payable code is what the user scanned for: other codes beside it (an e-invoice
        // code, an app link, a damaged sticker) are reported, not fatal.
        let status = if codes.is_empty() {
            NOTHING
        } else if codes.iter().any(DecodedCode::is_payable)
            || codes.iter().all(|c| c.payload.is_some())
        {
            FOUND
        } else {
            BAD
        };
        worst = worst.max(status);
        if as_json {
            let codes: Vec<_> = codes
                .iter()
                .map(|c| code_json(c, pinned.as_ref()))
                .collect();
            println!(
                "{}",
                json!({"path": path, "codes": codes, "decode_ms": decode_ms})
            );
        } else {
            println!(
                "{}: {} code(s) in {decode_ms:.1} ms",
                path.display(),
                codes.len()
            );
            for c in &codes {
                print_result(c.result(), "  ");
                match receipt_verified(c, pinned.as_ref()) {
                    Some(true) => {
                        println!("  ✓ receipt signature verified against a pinned platform key")
                    }
                    Some(false) => println!(
                        "  ✗ receipt NOT verified (pass the platform's key with --key; a forged receipt never verifies)"
                    ),
                    None => {}
                }
                if let (Some((conn, rt)), Some(scanned)) = (&platform, &c.payload) {
                    match rt.block_on(conn.client.resolve(scanned)) {
                        Ok(view) => platform_cmds::print_view(&view, "  "),
                        Err(e) => {
                            eprintln!("billtap: {}: platform: {e}", path.display());
                            worst = BAD;
                        }
                    }
                }
            }
        }
        if status == NOTHING {
            eprintln!("billtap: no QR code found in {}", path.display());
        } else if status == BAD
            && as_json
            && let Some(p) = codes.iter().find_map(|c| c.problem.as_ref())
        {
            // In text the ✗ line above said it; JSON on stdout leaves stderr to say it once.
            eprintln!("billtap: {}: {}", path.display(), p.message);
        }
    }
    Ok(worst)
}

fn cmd_parse(text: &str, as_json: bool) -> Result<u8> {
    let text = if text == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else {
        text.to_string()
    };
    let result = scan::parse_text(&text);
    if as_json {
        println!(
            "{}",
            serde_json::to_string(&PayloadReport::from_result(&result))?
        );
    } else {
        match &result {
            Ok(s) => print_result(Ok(s), ""),
            Err(e) => print_result(Err(&ScanProblem::from(e)), ""),
        }
    }
    match &result {
        Ok(_) => Ok(FOUND),
        Err(e) => {
            eprintln!("billtap: {e}");
            Ok(BAD)
        }
    }
}

fn cmd_qr(text: &str, out: Option<&Path>, scale: u32) -> Result<u8> {
    let Some(out) = out else {
        print!("{}", scan::render_terminal(text)?);
        return Ok(FOUND);
    };
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => std::fs::write(out, scan::render_svg(text)?)
            .with_context(|| format!("cannot write {}", out.display()))?,
        Some("png") => {
            let q = scan::render_png_luma(text, scale)?;
            let img = image::GrayImage::from_raw(q.width, q.height, q.pixels)
                .ok_or_else(|| anyhow!("rendered image has the wrong size"))?;
            img.save(out)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
        _ => return Err(anyhow!("--out must end in .png or .svg")),
    }
    eprintln!("wrote {}", out.display());
    Ok(FOUND)
}

fn print_result(r: Result<&Scanned, &ScanProblem>, indent: &str) {
    match r {
        Err(p) => println!("{indent}✗ {} — {}", p.format, p.message),
        Ok(s) => {
            println!(
                "{indent}✓ {}{}",
                s.format,
                if s.payable { "" } else { " (not payable here)" }
            );
            if let Some(n) = &s.payee_name {
                println!("{indent}  payee (as printed, not yet verified): {n}");
            }
            if let Some(n) = &s.payee_name_local {
                println!("{indent}  payee, local name: {n}");
            }
            if let Some(c) = &s.payee_city {
                println!("{indent}  city: {c}");
            }
            match (&s.amount, &s.currency) {
                (Some(a), _) => println!("{indent}  amount: {a}"),
                (None, Some(c)) => println!("{indent}  amount: entered by the payer ({c})"),
                _ => {}
            }
            println!(
                "{indent}  code: {}",
                if s.is_static() {
                    "static (reusable)"
                } else {
                    "dynamic (one payment)"
                }
            );
            for r in &s.references {
                println!("{indent}  {:?}: {}", r.kind, r.value);
            }
            for w in &s.warnings {
                println!("{indent}  ⚠ {}", w.message);
            }
        }
    }
}

/// The sample bill printed for the demo: a Beijing water bill in billtap's EMV bill profile.
fn sample_bill_payload() -> Result<String> {
    let bill = BilltapBill {
        biller_id: "BJ-WATER-001".into(),
        account: "110105-3345-0871".into(),
        bill_id: Some("W202610-0088123".into()),
        period: Some("202610".into()),
    };
    Ok(EmvWriter::new(Initiation::Dynamic)
        .billtap_bill(&bill)
        .field(52, "4900")
        .field(53, "156")
        .field(54, "268.40")
        .field(58, "CN")
        .field(59, "BEIJING WATERWORKS GROUP")
        .field(60, "BEIJING")
        .template(62, &[(1, "W202610-0088123"), (8, "Water Oct 2026")])
        .template(64, &[(0, "ZH"), (1, "北京市自来水集团"), (2, "北京")])
        .build()?)
}

/// A fraudster's reusable sticker over the same bill: the real biller and account (so the
/// bill is found), the fraudster's printed names (tests/fixtures/payloads.json has the same).
fn swapped_sticker_payload() -> Result<String> {
    let bill = BilltapBill {
        biller_id: "BJ-WATER-001".into(),
        account: "110105-3345-0871".into(),
        bill_id: None,
        period: None,
    };
    Ok(EmvWriter::new(Initiation::Static)
        .billtap_bill(&bill)
        .field(52, "4900")
        .field(53, "156")
        .field(58, "CN")
        .field(59, "QUICK PAY SERVICES")
        .field(60, "BEIJING")
        .template(64, &[(0, "ZH"), (1, "快捷代缴服务中心")])
        .build()?)
}

fn cmd_demo(save_frame: Option<&Path>, store: Option<&Path>) -> Result<u8> {
    println!("billtap demo — scan a water bill with the phone camera\n");
    let payload = sample_bill_payload()?;
    println!("1. The biller prints this EMV bill QR on the paper bill:\n   {payload}\n");
    let code = scan::render_png_luma(&payload, 6)?;
    let scene = Scene {
        width: 1280,
        height: 720,
        code_px: 300.0,
        center: (0.58, 0.47),
        rotation_deg: 11.0,
        tilt: (0.12, 0.08),
        blur: 1,
        noise: 5.0,
        ink_paper: (35, 225),
        shading: 0.45,
        invert: false,
        clutter: true,
        seed: 2026,
    };
    let frame_px = render_scene(&code, &scene);
    println!(
        "2. The camera sees a 1280×720 frame: the bill tilted {}° with perspective, blur, sensor noise and shade.",
        scene.rotation_deg
    );
    if let Some(path) = save_frame {
        image::GrayImage::from_raw(scene.width, scene.height, frame_px.clone())
            .ok_or_else(|| anyhow!("frame has the wrong size"))?
            .save(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("   (frame saved to {})", path.display());
    }
    let frame = LumaFrame::new(&frame_px, scene.width, scene.height, scene.width)?;
    let started = Instant::now();
    let codes = scan::scan_frame(&frame)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let Some(found) = codes.first() else {
        eprintln!("billtap: the demo frame could not be decoded");
        return Ok(NOTHING);
    };
    println!(
        "3. billtap found {} code in {ms:.1} ms (engine {:?}, pass {}), corners at:",
        codes.len(),
        found.engine,
        found.pass
    );
    for p in &found.corners {
        println!("   ({:.0}, {:.0})", p.x, p.y);
    }
    if found.text != payload {
        return Err(anyhow!("decoded text differs from the printed payload"));
    }
    println!("\n4. The parsed code (what it claims):");
    print_result(found.result(), "   ");
    let Some(scanned) = &found.payload else {
        return Ok(BAD);
    };
    let conn = platform_cmds::connect(&PlatformArgs {
        platform: None,
        keys: Vec::new(),
        locale: "zh-CN".into(),
        // What a bank would configure: reusable codes asking for more get a warning.
        static_limit: "2000.00 CNY".parse().ok(),
        store: None,
    })?;
    let view = platform_cmds::runtime()?.block_on(conn.client.resolve(scanned))?;
    println!(
        "\n5. Looked up on the platform (an embedded sandbox; every response signature-checked):"
    );
    platform_cmds::print_view(&view, "   ");

    let sticker = scan::parse_text(&swapped_sticker_payload()?)?;
    println!(
        "\n6. A sticker pasted over the code names another payee ({}); billtap shows the platform's:",
        sticker.payee_name_local.as_deref().unwrap_or_default()
    );
    let swapped = platform_cmds::runtime()?.block_on(conn.client.resolve(&sticker))?;
    platform_cmds::print_view(&swapped, "   ");
    let sticker_caught = swapped
        .warnings
        .iter()
        .any(|w| w.code == PayeeWarningCode::NameMismatch);

    // A store of the demo's own unless --store names one: the demo pays on every run.
    let store_path = store.map_or_else(
        || std::env::temp_dir().join(format!("billtap-demo-{}.sqlite", std::process::id())),
        Path::to_path_buf,
    );
    let Some(bill) = view.bills.first() else {
        return Ok(BAD);
    };
    println!(
        "\n7. Paying bill {} exactly once: quoted, signed with this device's P-256 key, stored\n   ({}) before it is sent, settled by idempotency key if the answer is lost:",
        bill.id,
        store_path.display()
    );
    let pay = billtap_core::pay::Payments::new(
        conn.client.clone(),
        std::sync::Arc::new(billtap_core::store::Store::open(&store_path)?),
        None,
        billtap_core::pay::PayConfig::new(pay_cmds::DEMO_FUNDING_ACCOUNT, "desktop"),
        std::sync::Arc::new(billtap_core::ports::SystemClock),
        &conn.url,
    )?;
    let rt = platform_cmds::runtime()?;
    let target = billtap_core::pay::PaymentTarget::Bill {
        bill_id: bill.id.clone(),
    };
    let paid = rt.block_on(async {
        let quote = pay.prepare(&target, None).await?;
        pay.confirm(&quote).await
    })?;
    pay_cmds::print_payment(&paid, "   ");
    let store = billtap_core::store::Store::open(&store_path)?;
    let receipt = store
        .history()?
        .into_iter()
        .find(|r| r.local_payment.as_deref() == Some(paid.payment_id.as_str()));
    let Some(r) = receipt else {
        eprintln!("billtap: the payment brought no verified receipt");
        return Ok(BAD);
    };
    let keys = billtap_core::receipts::history_keys(&store, Some(conn.client.pinned_keys()))?
        .ok_or_else(|| anyhow!("no platform key"))?;
    let (body, key_id) = billtap_core::receipts::verify_receipt(&r.receipt.cose, &keys)?;
    println!(
        "\n8. The platform's signed receipt (COSE_Sign1, {} bytes), kept as entry #{} of the\n   hash-chained history and verified offline with key {key_id}:\n   transaction {}: {} {} to {} ({}), from {}",
        r.receipt.cose.len(),
        r.seq,
        body.payment_id,
        body.amount,
        body.currency,
        body.payee_name,
        body.payee_account_masked,
        body.payer_masked
    );
    let report = billtap_core::receipts::verify_history(&store, &keys)?;
    println!(
        "   history: {} of {} entries verify{}",
        report.verified,
        report.entries,
        report
            .problem
            .map(|p| format!(" — {}", p.message))
            .unwrap_or_default()
    );

    // Keep: an invoice to pick up at the post office, and the bill account saved for next month.
    let (invoice, saved) = rt.block_on(async {
        let invoice = pay
            .request_invoice(
                &paid.payment_id,
                "个人",
                None,
                billtap_core::platform::api::InvoiceDelivery::Outlet { outlet_id: None },
            )
            .await?;
        let saved = pay
            .save_account(&bill.biller_id, "110105-3345-0871", "家里的水费")
            .await?;
        pay.save_account("BJ-ELECTRICITY-001", "110105-3345-0871", "爸妈家的电费")
            .await?;
        pay.refresh_bills().await?;
        Ok::<_, billtap_core::pay::PayError>((invoice, saved))
    })?;
    let outlet = invoice.outlet.as_ref().map_or("", |o| o.name.as_str());
    println!(
        "\n9. Invoice {} requested for pick-up at {outlet} (code {}); the receipt now says: invoice {}.\n   Saved \"{}\" and the parents' power account to my accounts (synced with the platform);\n   due-date reminders from their latest bills, computed offline:",
        invoice.invoice_id,
        invoice.pickup_code.as_deref().unwrap_or("-"),
        billtap_core::receipts::invoice_state_of(&store, &body.payment_id)?
            .map_or("not requested", |s| s.as_str()),
        saved.account.nickname
    );
    let reminders = pay.reminders(7)?;
    for rem in &reminders {
        println!(
            "   {:?}: {} {} due {} ({})",
            rem.status,
            rem.nickname,
            rem.amount,
            rem.due_date.as_deref().unwrap_or("-"),
            rem.bill_id
        );
    }
    if reminders.is_empty() {
        println!("   nothing due");
    }

    // The receipt as a QR code on the phone's screen; the counter's scanner reads it from a
    // camera frame and verifies it with the pinned key alone: no network.
    let text = billtap_core::receipts::receipt_qr_text(&r.receipt.cose);
    println!(
        "\n10. The receipt as a QR code ({} characters, Base45 in alphanumeric mode) to show at a counter:\n",
        text.len()
    );
    print!("{}", scan::render_terminal(&text)?);
    let screen = scan::render_png_luma(&text, 4)?;
    let shown = Scene {
        width: 1280,
        height: 720,
        code_px: 420.0,
        center: (0.5, 0.5),
        rotation_deg: -6.0,
        tilt: (0.06, 0.04),
        blur: 1,
        noise: 4.0,
        ink_paper: (20, 235),
        shading: 0.25,
        invert: false,
        clutter: false,
        seed: 2027,
    };
    let counter_px = render_scene(&screen, &shown);
    let counter_frame = LumaFrame::new(&counter_px, shown.width, shown.height, shown.width)?;
    let offline_keys = PinnedKeys::parse(&[conn
        .client
        .pinned_keys()
        .keys()
        .iter()
        .find(|k| k.id == key_id)
        .map(|k| k.to_entry())
        .ok_or_else(|| anyhow!("the receipt's key is not pinned"))?])?;
    let read = scan::scan_frame(&counter_frame)?.into_iter().find_map(|c| {
        match c.payload.map(|p| p.detail) {
            Some(scan::Detail::Receipt(code)) => Some(code),
            _ => None,
        }
    });
    let verified = read
        .as_ref()
        .and_then(|code| billtap_core::receipts::verify_receipt(&code.cose, &offline_keys).ok());
    match &verified {
        Some((b, _)) => println!(
            "\n    The counter's camera read it back and verified it offline against the pinned key:\n    {} {} paid to {} — transaction {}, genuine.",
            b.amount, b.currency, b.payee_name, b.payment_id
        ),
        None => println!("\n    The counter could not verify the receipt code."),
    }
    // Top-up: a transit card tapped on the phone (billtap's simulated card, real APDUs).
    let card = billtap_core::topup::sim::SimTransport::new(card_cmds::new_purse()?);
    let before = card.card().balance();
    let loaded = rt.block_on(
        pay.topup(
            &card,
            "50.00 CNY"
                .parse()
                .map_err(|e| anyhow!("the demo amount: {e}"))?,
            None,
        ),
    )?;
    let after = card.card().balance();
    println!(
        "\n11. A transit card tapped on the phone (simulated, real APDUs: SELECT, READ BINARY, INITIALIZE\n    and CREDIT FOR LOAD): {} — balance {}.{:02} → {}.{:02} CNY; the issuer checked the card's MAC1\n    and TAC, the receipt is entry #{} of the history.",
        match loaded.state {
            billtap_core::pay::TopupState::Completed => "loaded 50.00 CNY",
            _ => "NOT loaded",
        },
        before / 100,
        before % 100,
        after / 100,
        after % 100,
        store.history()?.len()
    );
    // A keypad (STS) prepaid meter: no card, a token inside the signed receipt.
    let vend = rt.block_on(
        pay.vend_token(
            "BJ-PREPAID-ELECTRICITY-001",
            "01234567890",
            "30.00 CNY"
                .parse()
                .map_err(|e| anyhow!("the demo amount: {e}"))?,
        ),
    )?;
    match &vend.token {
        Some(t) => println!(
            "\n12. A keypad electricity meter (STS): {} paid once to {}; key this token into the meter:\n\n        {}\n\n    It is kept with the signed receipt (`billtap meter tokens` shows it again offline). The\n    sandbox's token generator is a stand-in, not a certified vending module.",
            t.amount, t.payee_name, t.token
        ),
        None => println!(
            "\n12. A keypad electricity meter (STS): NO token ({:?}).",
            vend.payment.state
        ),
    }
    println!("\nNext (later issues): file-based meter cards, then the Android and iOS shells.");
    Ok(
        if view.payee.is_some()
            && sticker_caught
            && paid.state == billtap_core::store::PaymentState::Succeeded
            && verified.is_some_and(|(b, _)| b == body)
            && loaded.state == billtap_core::pay::TopupState::Completed
            && vend.token.is_some()
        {
            FOUND
        } else {
            BAD
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_sticker_is_the_shared_fixture() {
        let fixtures: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/payloads.json"))
                .unwrap_or_default();
        let fixture = fixtures
            .as_array()
            .and_then(|all| all.iter().find(|f| f["name"] == "billtap-swapped-sticker"))
            .and_then(|f| f["payload"].as_str())
            .map(str::to_string);
        assert_eq!(super::swapped_sticker_payload().ok(), fixture);
    }
}
