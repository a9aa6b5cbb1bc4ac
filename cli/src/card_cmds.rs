//! `billtap card read`: tap a transit or meter card and read its serial number, validity,
//! balance and newest transactions. Readers: `sim` (billtap's simulated card, kept in a file)
//! and `exec:CMD` (a command that takes one command APDU per line as hex and answers with the
//! response `data‖SW` as hex, or `TAGLOST` when the card left the field).
//!
//! Exit codes: 0 read; 1 no e-purse application on the card; 2 bad input; 3 the card was moved
//! away or did not answer (tap again).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow};
use billtap_core::ports::{CardError, CardTransport, TopupProgress, TopupStep};
use billtap_core::topup::meter_card::{
    SIM_METER_CARD_KIND, SimMeterCardFile, SimulatedMeterCard, TEST_METER_MASTER_KEY, parse_serial,
};
use billtap_core::topup::sim::{SimCardFile, SimulatedCard};
use billtap_core::topup::{TopupError, read_card};
use serde_json::json;

use crate::pay_cmds::store_path;

/// A reader that runs a command and speaks hex lines with it.
struct ExecTransport {
    child: Mutex<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

impl ExecTransport {
    fn spawn(cmd: &str) -> Result<Self> {
        let mut child = Command::new("sh")
            .args(["-c", cmd])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the reader command {cmd:?}"))?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        Ok(ExecTransport {
            child: Mutex::new((child, stdin, BufReader::new(stdout))),
        })
    }
}

impl Drop for ExecTransport {
    fn drop(&mut self) {
        if let Ok(mut g) = self.child.lock() {
            let _ = g.0.kill();
            let _ = g.0.wait();
        }
    }
}

#[async_trait::async_trait]
impl CardTransport for ExecTransport {
    async fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, CardError> {
        let io = |e: std::io::Error| CardError::Io {
            reason: e.to_string(),
        };
        let mut g = self.child.lock().map_err(|_| CardError::Io {
            reason: "the reader is broken".into(),
        })?;
        let (_, stdin, stdout) = &mut *g;
        writeln!(stdin, "{}", hex::encode_upper(&apdu)).map_err(io)?;
        stdin.flush().map_err(io)?;
        let mut line = String::new();
        // A line is at most a response of 65,536 bytes in hex.
        let n = std::io::Read::take(&mut *stdout, 140_000)
            .read_line(&mut line)
            .map_err(io)?;
        let line = line.trim();
        if n == 0 || line == "TAGLOST" {
            return Err(CardError::TagLost);
        }
        hex::decode(line).map_err(|_| CardError::Io {
            reason: format!("the reader answered a line that is not hex: {line:.40}"),
        })
    }

    fn max_transceive_length(&self) -> u32 {
        261
    }
}

/// Where the simulated card lives: `--card FILE`, else next to the store.
fn sim_file(card: Option<&Path>, store: Option<&Path>) -> PathBuf {
    card.map_or_else(
        || store_path(store).with_file_name("sim-card.json"),
        Path::to_path_buf,
    )
}

/// The serial number of billtap's default simulated transit card.
const DEFAULT_PURSE_SERIAL: &str = "31041000751132009883";

/// billtap's default simulated transit card: the documented test keys, 10.00 CNY.
pub fn new_purse() -> Result<SimulatedCard> {
    Ok(SimulatedCard::test_card(DEFAULT_PURSE_SERIAL, 1_000)?)
}

/// A simulated card as its file keeps it: an e-purse (transit or CPU meter) card, or a
/// file-based meter card (`"kind": "meter_card"`).
pub enum SimCard {
    /// A PBOC e-purse card.
    Purse(SimulatedCard),
    /// A file-based prepaid meter card.
    Meter(SimulatedMeterCard),
}

impl SimCard {
    /// Answers one command APDU as the card does.
    fn transceive(&mut self, apdu: &[u8]) -> Vec<u8> {
        match self {
            SimCard::Purse(c) => c.transceive(apdu),
            SimCard::Meter(c) => c.transceive(apdu),
        }
    }

    fn to_json(&self) -> Result<Vec<u8>> {
        Ok(match self {
            SimCard::Purse(c) => serde_json::to_vec_pretty(&c.to_file())?,
            SimCard::Meter(c) => serde_json::to_vec_pretty(&c.to_file())?,
        })
    }
}

/// The simulated card from its file, or a new test transit card (10.00 CNY) when there is none.
pub fn load_sim(path: &Path) -> Result<SimCard> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SimCard::Purse(new_purse()?));
        }
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    let not_a_card = || format!("{} is not a simulated card", path.display());
    let v: serde_json::Value = serde_json::from_slice(&bytes).with_context(not_a_card)?;
    Ok(
        if v.get("kind").and_then(serde_json::Value::as_str) == Some(SIM_METER_CARD_KIND) {
            let f: SimMeterCardFile = serde_json::from_value(v).with_context(not_a_card)?;
            SimCard::Meter(SimulatedMeterCard::from_file(&f)?)
        } else {
            let f: SimCardFile = serde_json::from_value(v).with_context(not_a_card)?;
            SimCard::Purse(SimulatedCard::from_file(&f)?)
        },
    )
}

/// Writes the simulated card back (write, then rename: a crash never leaves half a card).
pub fn save_sim(path: &Path, card: &SimCard) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, card.to_json()?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The simulated card kept in its file after every exchange (write, then rename), as a real
/// card keeps what it has done: a CLI killed mid-load leaves the card as it was at its last
/// answered command, never rolled back to the start.
struct SimFile {
    path: PathBuf,
    card: Mutex<SimCard>,
}

#[async_trait::async_trait]
impl CardTransport for SimFile {
    async fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, CardError> {
        let mut card = self.card.lock().map_err(|_| CardError::Io {
            reason: "the simulated card is broken".into(),
        })?;
        let answer = card.transceive(&apdu);
        save_sim(&self.path, &card).map_err(|e| CardError::Io {
            reason: format!("cannot keep the simulated card: {e}"),
        })?;
        Ok(answer)
    }

    fn max_transceive_length(&self) -> u32 {
        // What Android's IsoDep reports for most cards without extended length.
        261
    }
}

/// What `billtap card new` makes.
pub struct NewCard<'a> {
    /// A file-based meter card for this meter number.
    pub meter: Option<&'a str>,
    /// The serial number, hex.
    pub serial: Option<&'a str>,
    /// A purse's balance.
    pub balance: Option<&'a str>,
    /// A CPU meter card: the purse reached only by file id (DF 1001).
    pub cpu_meter: bool,
}

/// `billtap card new`: a fresh simulated card in its file — a transit card with `balance`
/// (default 10.00 CNY), a CPU meter card's purse, or a file-based meter card for `meter` —
/// never over an existing one.
pub fn cmd_new(card: Option<&Path>, store: Option<&Path>, new: NewCard<'_>) -> Result<u8> {
    let NewCard {
        meter,
        serial,
        balance,
        cpu_meter,
    } = new;
    let path = sim_file(card, store);
    if path.exists() {
        eprintln!(
            "billtap: {} already holds a card; remove it first or name another --card",
            path.display()
        );
        return Ok(2);
    }
    let sim = match meter {
        Some(meter) => {
            let serial = match serial {
                Some(s) => parse_serial(s)
                    .ok_or_else(|| anyhow!("--serial: a meter card serial is 16 hex digits"))?,
                None => [0x4D, 0x31, 0, 0, 0, 0, 0, 1],
            };
            if balance.is_some() {
                return Err(anyhow!(
                    "--balance is for transit cards; a meter card starts empty"
                ));
            }
            SimCard::Meter(SimulatedMeterCard::new(
                &TEST_METER_MASTER_KEY,
                serial,
                meter,
            )?)
        }
        None => {
            let fen = match balance {
                None => 1_000,
                Some(b) => b
                    .trim()
                    .parse::<rust_decimal::Decimal>()
                    .ok()
                    .filter(|d| !d.is_sign_negative() && d.scale() <= 2)
                    .and_then(|d| {
                        u32::try_from((d * rust_decimal::Decimal::from(100)).trunc().mantissa())
                            .ok()
                    })
                    .ok_or_else(|| {
                        anyhow!("--balance {b:?} is not a card balance in CNY, like 10 or 25.50")
                    })?,
            };
            let purse = SimulatedCard::test_card(serial.unwrap_or(DEFAULT_PURSE_SERIAL), fen)?;
            SimCard::Purse(if cpu_meter {
                purse.in_df1001_only()
            } else {
                purse
            })
        }
    };
    save_sim(&path, &sim)?;
    println!("{}", path.display());
    Ok(0)
}

/// A reader as `--reader` names it.
enum Reader {
    Sim(SimFile),
    Exec(ExecTransport),
    #[cfg(feature = "nfc")]
    Nfc(crate::nfc_reader::NfcTransport),
}

impl Reader {
    fn open(reader: &str, card: Option<&Path>, store: Option<&Path>) -> Result<Reader> {
        if reader == "sim" {
            let path = sim_file(card, store);
            let card = Mutex::new(load_sim(&path)?);
            Ok(Reader::Sim(SimFile { path, card }))
        } else if let Some(cmd) = reader.strip_prefix("exec:") {
            Ok(Reader::Exec(ExecTransport::spawn(cmd)?))
        } else if reader == "nfc" || reader.starts_with("nfc:") {
            Self::nfc(reader.strip_prefix("nfc:"))
        } else {
            Err(anyhow!(
                "--reader {reader:?}: sim, nfc[:CONNSTRING] or exec:CMD"
            ))
        }
    }

    #[cfg(feature = "nfc")]
    fn nfc(connstring: Option<&str>) -> Result<Reader> {
        Ok(Reader::Nfc(crate::nfc_reader::NfcTransport::open(
            connstring,
        )?))
    }

    #[cfg(not(feature = "nfc"))]
    fn nfc(_: Option<&str>) -> Result<Reader> {
        Err(anyhow!(
            "this billtap was built without the libnfc reader (cargo feature nfc); \
             use sim or exec:CMD, or build with --features nfc"
        ))
    }

    fn transport(&self) -> &dyn CardTransport {
        match self {
            Reader::Sim(t) => t,
            Reader::Exec(t) => t,
            #[cfg(feature = "nfc")]
            Reader::Nfc(t) => t,
        }
    }

    /// The simulated card's file, when the reader is `sim`.
    fn sim_path(&self) -> Option<&Path> {
        match self {
            Reader::Sim(t) => Some(&t.path),
            _ => None,
        }
    }
}

/// Top-up progress on stderr as it happens (stdout keeps the result, `--json` parses).
struct StderrProgress;

impl TopupProgress for StderrProgress {
    fn on_step(&self, step: TopupStep, hint: String) {
        if step != TopupStep::Done {
            eprintln!("… {hint}");
        }
    }
}

/// `billtap topup --amount 50`: exit 0 loaded; 1 not loaded and nothing taken; 2 bad input;
/// 3 outcome not known yet (kept; the next `topup` or `card read` of this card settles it).
pub fn cmd_topup(
    args: &crate::platform_cmds::PlatformArgs,
    store: Option<&Path>,
    from: &str,
    reader: &str,
    card: Option<&Path>,
    amount: &str,
    json: bool,
) -> Result<u8> {
    let amount = crate::pay_cmds::parse_cny(amount)?;
    let r = Reader::open(reader, card, store)?;
    let conn = crate::platform_cmds::connect(args)?;
    let pay = crate::pay_cmds::payments(&conn, crate::pay_cmds::open_store(store)?, from)?;
    let outcome = crate::platform_cmds::runtime()?.block_on(pay.topup(
        r.transport(),
        amount,
        Some(&StderrProgress),
    ));
    let rec = match outcome {
        Ok(rec) => rec,
        Err(billtap_core::pay::PayError::Card(TopupError::Transport(e))) => {
            eprintln!("billtap: not loaded: {e}");
            return Ok(1);
        }
        Err(e) => {
            eprintln!("billtap: not loaded: {e}");
            return Ok(if billtap_core::pay::is_bad_input(&e) {
                2
            } else {
                1
            });
        }
    };
    use billtap_core::pay::TopupState as S;
    if json {
        println!(
            "{}",
            json!({
                "topup_id": rec.topup_id,
                "state": rec.state,
                "amount": rec.amount.to_plain_string(),
                "currency": rec.amount.currency.alpha(),
                "card": rec.card_serial_masked,
                "order_id": rec.order_id,
                "balance_before": format!("{}.{:02}", rec.balance_before_fen / 100, rec.balance_before_fen % 100),
                "failure": rec.failure,
            })
        );
    } else {
        let what = match rec.state {
            S::Completed => "loaded".to_string(),
            S::NeedsReconciliation => format!(
                "not known: the issuer reconciles it ({})",
                rec.failure.as_deref().unwrap_or("")
            ),
            S::Failed | S::Reversed => format!(
                "not loaded, nothing taken ({})",
                rec.failure.as_deref().unwrap_or("refused")
            ),
            _ => "not known yet: tap the card again to settle it".to_string(),
        };
        println!(
            "{} onto card {}: {what}",
            rec.amount, rec.card_serial_masked
        );
    }
    Ok(match rec.state {
        S::Completed => 0,
        S::Failed | S::Reversed => 1,
        _ => 3,
    })
}

/// `billtap card emulate`: the simulated card as an `exec:` reader's card — one command APDU
/// per line in (hex), `data‖SW` out, the card kept in its file after each. With `tear_after`
/// N the card runs the Nth command and leaves the field before answering it (`TAGLOST`: a
/// torn exchange): test rigs tap billtap's own card through the exec reader with it. With
/// `hang_after` N the card runs the Nth command and never answers it (it waits for the reader
/// to go away): a crash test kills billtap there.
pub fn cmd_emulate(
    card: Option<&Path>,
    store: Option<&Path>,
    tear_after: Option<u32>,
    hang_after: Option<u32>,
) -> Result<u8> {
    let path = sim_file(card, store);
    let mut sim = load_sim(&path)?;
    let mut ran = 0u32;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let apdu =
            hex::decode(line.trim()).map_err(|_| anyhow!("not a hex APDU: {:.40}", line.trim()))?;
        let answer = sim.transceive(&apdu);
        save_sim(&path, &sim)?;
        ran = ran.saturating_add(1);
        if tear_after.is_some_and(|n| ran >= n) {
            writeln!(out, "TAGLOST")?;
            out.flush()?;
            return Ok(0);
        }
        if hang_after.is_some_and(|n| ran >= n) {
            eprintln!("card: ran command {ran}, not answering");
            // Until the reader closes its end (it was killed, or gave up).
            for _ in stdin.lock().lines() {}
            return Ok(0);
        }
        writeln!(out, "{}", hex::encode_upper(answer))?;
        out.flush()?;
    }
    Ok(0)
}

/// `billtap card read`: settles the card's unfinished top-up first (connecting to the
/// platform only when the store holds one), then reads the card.
pub fn cmd_read(
    args: &crate::platform_cmds::PlatformArgs,
    store: Option<&Path>,
    from: &str,
    reader: &str,
    card: Option<&Path>,
    json: bool,
) -> Result<u8> {
    let rt = crate::platform_cmds::runtime()?;
    let r = Reader::open(reader, card, store)?;
    let path = store_path(store);
    // A read never creates a store; without one there is nothing to settle.
    let st = if path.exists() {
        Some(std::sync::Arc::new(billtap_core::store::Store::open(
            &path,
        )?))
    } else {
        None
    };
    let conn = match &st {
        Some(st) if billtap_core::pay::has_open_topup(st)? => {
            Some(crate::platform_cmds::connect(args)?)
        }
        _ => None,
    };
    let pay = match (&conn, &st) {
        (Some(c), Some(st)) => Some(crate::pay_cmds::payments(c, st.clone(), from)?),
        _ => None,
    };
    let tap = match &st {
        Some(st) => rt.block_on(billtap_core::pay::tap_card(
            st,
            pay.as_ref(),
            r.transport(),
            Some(&StderrProgress),
        )),
        None => rt
            .block_on(read_card(r.transport()))
            .map(|card| billtap_core::pay::CardTap {
                card,
                settled: None,
                unsettled: None,
            })
            .map_err(Into::into),
    };
    let sim = r.sim_path().map(Path::to_path_buf);
    let tap = match tap {
        Ok(t) => t,
        Err(billtap_core::pay::PayError::Card(TopupError::Transport(e))) => {
            eprintln!("billtap: {e}");
            return Ok(3);
        }
        Err(billtap_core::pay::PayError::Card(e @ TopupError::Card { sw: 0x6A82, .. })) => {
            eprintln!("billtap: {e}");
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(t) = &tap.settled {
        eprintln!(
            "settled this card's earlier top-up of {}: {:?}",
            t.amount, t.state
        );
    }
    if let Some(why) = &tap.unsettled {
        eprintln!(
            "billtap: an unfinished top-up is not settled yet (kept for the next tap): {why}"
        );
    }
    let (state, settled) = (tap.card, tap.settled);
    let yuan = |fen: u32| format!("{}.{:02}", fen / 100, fen % 100);
    if json {
        let tx: Vec<_> = state
            .transactions
            .iter()
            .map(|t| {
                json!({
                    "counter": t.counter, "amount": yuan(t.amount_fen), "kind": t.kind,
                    "terminal": t.terminal, "at": t.at,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "application": state.application,
                "serial": state.serial,
                "issuer": state.issuer,
                "valid_from": state.valid_from,
                "valid_until": state.valid_until,
                "balance": yuan(state.balance_fen),
                "currency": "CNY",
                "transactions": tx,
                "simulated_card": sim,
                "meter": state.meter,
                "settled_topup": settled.as_ref().map(|t| json!({
                    "topup_id": t.topup_id, "state": t.state, "amount": t.amount.to_plain_string(),
                })),
            })
        );
    } else if let Some(meter) = &state.meter {
        println!(
            "meter card {} for meter {meter}: {} CNY purchased in all",
            state.serial,
            yuan(state.balance_fen)
        );
    } else {
        println!(
            "{} card {} (valid {}–{}): balance {} CNY",
            state.application,
            state.serial,
            state.valid_from,
            state.valid_until,
            yuan(state.balance_fen)
        );
        for t in &state.transactions {
            let kind = if t.kind == 2 { "load" } else { "purchase" };
            println!(
                "  #{} {kind} {} CNY at {} (terminal {})",
                t.counter,
                yuan(t.amount_fen),
                t.at,
                t.terminal
            );
        }
        if let Some(p) = &sim {
            eprintln!("(simulated card kept in {})", p.display());
        }
    }
    Ok(0)
}
