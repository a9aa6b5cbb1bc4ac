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
use billtap_core::ports::{CardError, CardTransport};
use billtap_core::topup::sim::{
    SimCardFile, SimTransport, SimulatedCard, TEST_LOAD_MASTER_KEY, TEST_TAC_MASTER_KEY,
};
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

/// The simulated card from its file, or a new test card (10.00 CNY) when there is none.
pub fn load_sim(path: &Path) -> Result<SimulatedCard> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let f: SimCardFile = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a simulated card", path.display()))?;
            Ok(SimulatedCard::from_file(&f)?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SimulatedCard::new(
            &TEST_LOAD_MASTER_KEY,
            &TEST_TAC_MASTER_KEY,
            1,
            [0x31, 0x04, 0x10, 0x00, 0x75, 0x11, 0x32, 0x00, 0x98, 0x83],
            1_000,
        )),
        Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// Writes the simulated card back (write, then rename: a crash never leaves half a card).
pub fn save_sim(path: &Path, card: &SimulatedCard) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&card.to_file())?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// A reader as `--reader` names it, and the simulated card's file when it is `sim`.
enum Reader {
    Sim(PathBuf, SimTransport),
    Exec(ExecTransport),
}

impl Reader {
    fn open(reader: &str, card: Option<&Path>, store: Option<&Path>) -> Result<Reader> {
        if reader == "sim" {
            let path = sim_file(card, store);
            let t = SimTransport::new(load_sim(&path)?);
            Ok(Reader::Sim(path, t))
        } else if let Some(cmd) = reader.strip_prefix("exec:") {
            Ok(Reader::Exec(ExecTransport::spawn(cmd)?))
        } else if reader == "nfc" {
            Err(anyhow!(
                "--reader nfc (libnfc) is not built into this billtap yet; use sim or exec:CMD"
            ))
        } else {
            Err(anyhow!("--reader {reader:?}: sim, nfc or exec:CMD"))
        }
    }

    fn transport(&self) -> &dyn CardTransport {
        match self {
            Reader::Sim(_, t) => t,
            Reader::Exec(t) => t,
        }
    }

    /// Keeps the simulated card's new state (a load changes it).
    fn save(&self) -> Result<()> {
        match self {
            Reader::Sim(path, t) => save_sim(path, &t.card()),
            Reader::Exec(_) => Ok(()),
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
    let amount: billtap_core::money::Money = if amount.contains(' ') {
        amount.parse()?
    } else {
        format!("{amount} CNY")
            .parse()
            .with_context(|| format!("--amount {amount:?} is not an amount like 50 or 20.00"))?
    };
    let r = Reader::open(reader, card, store)?;
    let conn = crate::platform_cmds::connect(args)?;
    let pay = crate::pay_cmds::payments(&conn, crate::pay_cmds::open_store(store)?, from)?;
    eprintln!("hold the card still against the reader…");
    let outcome = crate::platform_cmds::runtime()?.block_on(pay.topup(r.transport(), amount));
    r.save()?;
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

/// `billtap card read`.
pub fn cmd_read(reader: &str, card: Option<&Path>, store: Option<&Path>, json: bool) -> Result<u8> {
    let rt = crate::platform_cmds::runtime()?;
    let r = Reader::open(reader, card, store)?;
    let state = rt.block_on(read_card(r.transport()));
    r.save()?;
    let sim = match &r {
        Reader::Sim(path, _) => Some(path.clone()),
        Reader::Exec(_) => None,
    };
    let state = match state {
        Ok(s) => s,
        Err(TopupError::Transport(e)) => {
            eprintln!("billtap: {e}");
            return Ok(3);
        }
        Err(e @ TopupError::Card { sw: 0x6A82, .. }) => {
            eprintln!("billtap: {e}");
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
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
            })
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
