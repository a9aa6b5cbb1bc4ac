//! A simulated PBOC e-purse card that speaks the real APDUs (SELECT, READ BINARY 0015, GET
//! BALANCE, INITIALIZE FOR LOAD, CREDIT FOR LOAD, READ RECORD of the transaction log), with
//! keys diversified from an issuer's master keys as a card maker would personalise it. For
//! tests and the demo; any bytes in get an answer, never a panic.

use zeroize::Zeroizing;

use super::apdu::{Command, Response};
use super::pboc::{
    AID_CITY_UNION, AID_T_UNION, ALG_DES, FID_EPURSE, Key8, Key16, LoadInit, LoadTerms, PSE, Stamp,
    diversify, load_session_key, mac1, mac2, tac, tac_key,
};

/// The sandbox issuer's default load master key (key version 1): a published test key, as
/// issuers hand test keys to test-card makers. Never a real card's.
pub const TEST_LOAD_MASTER_KEY: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF,
];
/// The sandbox issuer's default TAC master key (key version 1), a test key.
pub const TEST_TAC_MASTER_KEY: [u8; 16] = [
    0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00,
];

/// The most an e-purse holds (1,000 yuan, in fen), as transit cards cap it.
pub const MAX_BALANCE: u32 = 100_000;

/// One entry of the card's transaction log (SFI 0x18), 23 bytes on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The online counter of the load.
    pub counter: u16,
    /// Amount (fen).
    pub amount: u32,
    /// Transaction type (2: load).
    pub kind: u8,
    /// The terminal.
    pub terminal: [u8; 6],
    /// Date and time.
    pub stamp: Stamp,
}

impl LogEntry {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(23);
        out.extend_from_slice(&self.counter.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0]); // overdraft limit
        out.extend_from_slice(&self.amount.to_be_bytes());
        out.push(self.kind);
        out.extend_from_slice(&self.terminal);
        out.extend_from_slice(&self.stamp.date);
        out.extend_from_slice(&self.stamp.time);
        out
    }
}

struct PendingLoad {
    terms: LoadTerms,
    session: Key8,
    counter: [u8; 2],
}

/// A simulated e-purse card.
pub struct SimulatedCard {
    file_0015: [u8; 30],
    dlk: Key16,
    dtk: Key16,
    key_version: u8,
    balance: u32,
    counter: u16,
    selected: bool,
    /// The e-purse answers only by file id (DF 1001), as CPU meter cards' do.
    df1001_only: bool,
    pending: Option<PendingLoad>,
    log: Vec<LogEntry>,
}

impl std::fmt::Debug for SimulatedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SimulatedCard(balance {}, counter {})",
            self.balance, self.counter
        )
    }
}

fn status(sw: u16) -> Vec<u8> {
    Response::status(sw).to_bytes()
}

fn ok(data: Vec<u8>) -> Vec<u8> {
    Response {
        data,
        sw: super::apdu::StatusWord::OK,
    }
    .to_bytes()
}

impl SimulatedCard {
    /// A T-Union card with this serial number and balance, its load and TAC keys diversified
    /// from the issuer's master keys (key version `key_version`).
    pub fn new(
        load_master: &[u8; 16],
        tac_master: &[u8; 16],
        key_version: u8,
        serial: [u8; 10],
        balance: u32,
    ) -> Self {
        let mut file = [0u8; 30];
        // Issuer id (a city's transit company), application type 02 (e-purse), version 01.
        file[..8].copy_from_slice(&[0x02, 0x15, 0x10, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]);
        file[8] = 0x02;
        file[9] = 0x01;
        file[10..20].copy_from_slice(&serial);
        file[20..24].copy_from_slice(&[0x20, 0x24, 0x01, 0x01]);
        file[24..28].copy_from_slice(&[0x20, 0x34, 0x12, 0x31]);
        let mut diversifier = [0u8; 8];
        diversifier.copy_from_slice(&serial[2..]);
        SimulatedCard {
            file_0015: file,
            dlk: diversify(load_master, &diversifier),
            dtk: diversify(tac_master, &diversifier),
            key_version,
            balance,
            counter: 0,
            selected: false,
            df1001_only: false,
            pending: None,
            log: Vec::new(),
        }
    }

    /// The same card as a CPU meter card's e-purse: reached only by file id (DF 1001), no
    /// T-Union or City Union name.
    pub fn in_df1001_only(mut self) -> Self {
        self.df1001_only = true;
        self
    }

    /// A test card under the sandbox's documented test keys (version 01): its serial number as
    /// 20 hex digits, its balance in fen (at most [`MAX_BALANCE`]).
    pub fn test_card(serial: &str, balance: u32) -> Result<Self, super::TopupError> {
        let serial: [u8; 10] = hex::decode(serial.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| {
                super::TopupError::Apdu("a card serial number is 20 hex digits".into())
            })?;
        if balance > MAX_BALANCE {
            return Err(super::TopupError::Apdu(format!(
                "a purse holds at most {MAX_BALANCE} fen"
            )));
        }
        Ok(Self::new(
            &TEST_LOAD_MASTER_KEY,
            &TEST_TAC_MASTER_KEY,
            1,
            serial,
            balance,
        ))
    }

    /// The balance (fen).
    pub fn balance(&self) -> u32 {
        self.balance
    }

    /// The online transaction counter (loads completed).
    pub fn counter(&self) -> u16 {
        self.counter
    }

    /// Answers one command APDU.
    pub fn transceive(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Ok(c) = Command::parse(apdu) else {
            return status(0x6700);
        };
        match (c.cla, c.ins) {
            (0x00, 0xA4) => self.select(&c),
            (0x00, 0xB0) if self.selected => self.read_binary(&c),
            (0x00, 0xB2) if self.selected => self.read_record(&c),
            (0x80, 0x5C) if self.selected => ok(self.balance.to_be_bytes().to_vec()),
            (0x80, 0x50) if self.selected => self.initialize_for_load(&c),
            (0x80, 0x52) if self.selected => self.credit_for_load(&c),
            (0x00 | 0x80, 0xB0 | 0xB2 | 0x5C | 0x50 | 0x52) => status(0x6986),
            (0x00 | 0x80, _) => status(0x6D00),
            _ => status(0x6E00),
        }
    }

    fn select(&mut self, c: &Command) -> Vec<u8> {
        let known = [PSE, AID_T_UNION, AID_CITY_UNION];
        let by_name = c.p1 == 0x04 && !self.df1001_only && known.contains(&c.data.as_slice());
        let by_file_id = c.p1 == 0x00 && c.data == FID_EPURSE;
        if !(by_name || by_file_id) {
            self.selected = false;
            return status(0x6A82);
        }
        self.selected = true;
        self.pending = None;
        // FCI: 6F { 84 name, A5 { 9F08 version 02 } }.
        let mut fci = vec![0x84, c.data.len() as u8];
        fci.extend_from_slice(&c.data);
        fci.extend_from_slice(&[0xA5, 0x04, 0x9F, 0x08, 0x01, 0x02]);
        let mut out = vec![0x6F, fci.len() as u8];
        out.extend_from_slice(&fci);
        ok(out)
    }

    fn read_binary(&self, c: &Command) -> Vec<u8> {
        if c.p1 != 0x95 {
            return status(0x6A82);
        }
        let offset = usize::from(c.p2);
        let want = c.le.map_or(30, |l| l as usize);
        match self.file_0015.get(offset..) {
            Some(rest) if !rest.is_empty() => ok(rest.iter().take(want).copied().collect()),
            _ => status(0x6B00),
        }
    }

    fn read_record(&self, c: &Command) -> Vec<u8> {
        // P2 = SFI 0x18 << 3 | 4: record number P1, 1 the newest.
        if c.p2 != (0x18 << 3 | 4) {
            return status(0x6A82);
        }
        let n = usize::from(c.p1);
        match n.checked_sub(1).and_then(|i| self.log.iter().rev().nth(i)) {
            Some(e) => ok(e.to_bytes()),
            None => status(0x6A83),
        }
    }

    fn initialize_for_load(&mut self, c: &Command) -> Vec<u8> {
        let Ok(d) = <[u8; 11]>::try_from(c.data.as_slice()) else {
            return status(0x6700);
        };
        if c.p1 != 0x00 || c.p2 != 0x02 {
            return status(0x6A86);
        }
        let [_key_index, a0, a1, a2, a3, t0, t1, t2, t3, t4, t5] = d;
        let terms = LoadTerms {
            amount: u32::from_be_bytes([a0, a1, a2, a3]),
            terminal: [t0, t1, t2, t3, t4, t5],
        };
        if terms.amount == 0
            || self
                .balance
                .checked_add(terms.amount)
                .is_none_or(|b| b > MAX_BALANCE)
        {
            return status(0x6A80);
        }
        let mut random = [0u8; 4];
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).is_err() {
            return status(0x6581);
        }
        let counter = self.counter.to_be_bytes();
        let session = load_session_key(&self.dlk, random, counter);
        let init = LoadInit {
            old_balance: self.balance,
            counter,
            key_version: self.key_version,
            algorithm: ALG_DES,
            random,
            mac1: mac1(&session, self.balance, &terms),
        };
        self.pending = Some(PendingLoad {
            terms,
            session,
            counter,
        });
        ok(init.to_bytes())
    }

    fn credit_for_load(&mut self, c: &Command) -> Vec<u8> {
        let Some(p) = self.pending.take() else {
            return status(0x6985);
        };
        let Ok(d) = <[u8; 11]>::try_from(c.data.as_slice()) else {
            return status(0x6700);
        };
        let [y0, y1, y2, y3, h0, h1, h2, m0, m1, m2, m3] = d;
        let stamp = Stamp {
            date: [y0, y1, y2, y3],
            time: [h0, h1, h2],
        };
        if mac2(&p.session, &p.terms, &stamp) != [m0, m1, m2, m3] {
            return status(0x9302);
        }
        self.balance = self.balance.saturating_add(p.terms.amount);
        self.counter = self.counter.wrapping_add(1);
        self.log.push(LogEntry {
            counter: u16::from_be_bytes(p.counter),
            amount: p.terms.amount,
            kind: super::pboc::LOAD_TYPE,
            terminal: p.terms.terminal,
            stamp,
        });
        let key = tac_key(&self.dtk);
        ok(tac(&key, self.balance, p.counter, &p.terms, &stamp).to_vec())
    }

    /// The issuer's card keys for this card (what the issuer derives; for tests of the issuer).
    pub fn keys(&self) -> (Key16, Key16) {
        (Zeroizing::new(*self.dlk), Zeroizing::new(*self.dtk))
    }
}

/// A simulated card as a file keeps it between CLI runs (hex fields; a test card's keys, never
/// a real card's).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimCardFile {
    /// File 0015, hex.
    pub file_0015: String,
    /// The card's load key, hex.
    pub dlk: String,
    /// The card's TAC key, hex.
    pub dtk: String,
    /// Key version.
    pub key_version: u8,
    /// Balance (fen).
    pub balance: u32,
    /// Online counter.
    pub counter: u16,
    /// Log, oldest first: counter, amount, kind, terminal hex, date+time hex.
    pub log: Vec<(u16, u32, u8, String, String)>,
    /// A CPU meter card's e-purse: reached only by file id (DF 1001). Absent: false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub df1001_only: bool,
}

impl SimulatedCard {
    /// The card's state for a file.
    pub fn to_file(&self) -> SimCardFile {
        SimCardFile {
            file_0015: hex::encode_upper(self.file_0015),
            dlk: hex::encode_upper(*self.dlk),
            dtk: hex::encode_upper(*self.dtk),
            key_version: self.key_version,
            balance: self.balance,
            counter: self.counter,
            df1001_only: self.df1001_only,
            log: self
                .log
                .iter()
                .map(|e| {
                    let mut at = e.stamp.date.to_vec();
                    at.extend_from_slice(&e.stamp.time);
                    (
                        e.counter,
                        e.amount,
                        e.kind,
                        hex::encode_upper(e.terminal),
                        hex::encode_upper(at),
                    )
                })
                .collect(),
        }
    }

    /// A card from its file; a damaged file is an error, never a half-made card.
    pub fn from_file(f: &SimCardFile) -> Result<SimulatedCard, super::TopupError> {
        fn bytes<const N: usize>(what: &str, text: &str) -> Result<[u8; N], super::TopupError> {
            hex::decode(text)
                .ok()
                .and_then(|v| <[u8; N]>::try_from(v).ok())
                .ok_or_else(|| {
                    super::TopupError::Apdu(format!(
                        "the simulated card's {what} is not {N} bytes of hex"
                    ))
                })
        }
        let mut log = Vec::with_capacity(f.log.len());
        for (counter, amount, kind, terminal, at) in &f.log {
            let at: [u8; 7] = bytes("log time", at)?;
            let [y0, y1, y2, y3, h0, h1, h2] = at;
            log.push(LogEntry {
                counter: *counter,
                amount: *amount,
                kind: *kind,
                terminal: bytes("log terminal", terminal)?,
                stamp: Stamp {
                    date: [y0, y1, y2, y3],
                    time: [h0, h1, h2],
                },
            });
        }
        Ok(SimulatedCard {
            file_0015: bytes("file 0015", &f.file_0015)?,
            dlk: Zeroizing::new(bytes("load key", &f.dlk)?),
            dtk: Zeroizing::new(bytes("TAC key", &f.dtk)?),
            key_version: f.key_version,
            balance: f.balance,
            counter: f.counter,
            selected: false,
            df1001_only: f.df1001_only,
            pending: None,
            log,
        })
    }
}

/// A fault the simulated card injects at one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardFault {
    /// The card leaves the field before the command reaches it: nothing runs.
    LostBefore,
    /// The card runs the command, then leaves before its answer arrives (a torn exchange).
    TornAfter,
    /// The card does not answer in time (and did not run the command).
    Timeout,
    /// The card runs the command but answers this status word instead (a faked 9302 after a
    /// real credit: the published attack on refunds).
    Lies(u16),
}

/// The simulated card as a [`CardTransport`], with faults at chosen exchanges.
#[derive(Debug)]
pub struct SimTransport {
    card: std::sync::Mutex<SimulatedCard>,
    faults: std::sync::Mutex<Vec<(u32, CardFault)>>,
    exchanges: std::sync::atomic::AtomicU32,
}

impl SimTransport {
    /// A reader with this card in its field.
    pub fn new(card: SimulatedCard) -> Self {
        SimTransport {
            card: std::sync::Mutex::new(card),
            faults: std::sync::Mutex::new(Vec::new()),
            exchanges: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Injects `fault` at exchange number `n` (1 is the next one).
    pub fn fail_at(&self, n: u32, fault: CardFault) {
        let at = self.exchanges() + n;
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((at, fault));
    }

    /// Exchanges so far.
    pub fn exchanges(&self) -> u32 {
        self.exchanges.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The card (to read its balance, or take it out of the field).
    pub fn card(&self) -> std::sync::MutexGuard<'_, SimulatedCard> {
        self.card
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl crate::ports::CardTransport for SimTransport {
    async fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, crate::ports::CardError> {
        use crate::ports::CardError;
        let n = self
            .exchanges
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            .saturating_add(1);
        let fault = {
            let mut faults = self
                .faults
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let hit = faults.iter().position(|(at, _)| *at == n);
            hit.map(|i| faults.swap_remove(i).1)
        };
        match fault {
            Some(CardFault::LostBefore) => Err(CardError::TagLost),
            Some(CardFault::Timeout) => Err(CardError::Timeout),
            Some(CardFault::TornAfter) => {
                let _ = self.card().transceive(&apdu);
                Err(CardError::TagLost)
            }
            Some(CardFault::Lies(sw)) => {
                let _ = self.card().transceive(&apdu);
                Ok(status(sw))
            }
            None => Ok(self.card().transceive(&apdu)),
        }
    }

    fn max_transceive_length(&self) -> u32 {
        // What Android's IsoDep reports for most cards without extended length.
        261
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::super::apdu::Response;
    use super::super::pboc::*;
    use super::*;

    const MK: [u8; 16] = [0x11; 16];
    const TK: [u8; 16] = [0x22; 16];

    fn card() -> SimulatedCard {
        SimulatedCard::new(
            &MK,
            &TK,
            1,
            [0x31, 0x04, 0x10, 0, 0x75, 0x11, 0x32, 0, 0x98, 0x83],
            1_000,
        )
    }

    fn send(card: &mut SimulatedCard, c: Command) -> Response {
        Response::parse(&card.transceive(&c.to_bytes().unwrap())).unwrap()
    }

    /// A whole load as the issuer would run it against the card, with the issuer's own key
    /// derivation from what the card reports.
    #[test]
    fn a_load_credits_the_card_once_and_its_tac_checks() {
        let mut c = card();
        assert_eq!(send(&mut c, get_balance()).sw.0, 0x6986, "nothing selected");
        assert!(send(&mut c, select(AID_T_UNION)).sw.is_ok());
        let info = CardInfo::parse(&send(&mut c, read_0015()).ok_data("read").unwrap()).unwrap();
        let balance = send(&mut c, get_balance()).ok_data("balance").unwrap();
        assert_eq!(balance, 1_000u32.to_be_bytes());
        let terms = LoadTerms {
            amount: 5_000,
            terminal: [0, 0, 0, 0, 0x12, 0x34],
        };
        let init = LoadInit::parse(
            &send(&mut c, initialize_for_load(1, &terms))
                .ok_data("init")
                .unwrap(),
        )
        .unwrap();
        // The issuer: keys from the master keys and the serial the card reported.
        let dlk = diversify(&MK, &info.diversifier());
        let dtk = diversify(&TK, &info.diversifier());
        let session = load_session_key(&dlk, init.random, init.counter);
        assert_eq!(mac1(&session, init.old_balance, &terms), init.mac1);
        let stamp = Stamp {
            date: [0x20, 0x26, 0x12, 0x02],
            time: [0x10, 0x30, 0x00],
        };
        // A wrong MAC2 is refused and credits nothing.
        let bad = send(&mut c, credit_for_load(&stamp, [0; 4]));
        assert_eq!((bad.sw.0, c.balance()), (0x9302, 1_000));
        // And the load must start again: a credit without an initialisation is refused.
        assert_eq!(send(&mut c, credit_for_load(&stamp, [0; 4])).sw.0, 0x6985);
        let init = LoadInit::parse(
            &send(&mut c, initialize_for_load(1, &terms))
                .ok_data("init")
                .unwrap(),
        )
        .unwrap();
        let session = load_session_key(&dlk, init.random, init.counter);
        let tac_bytes = send(
            &mut c,
            credit_for_load(&stamp, mac2(&session, &terms, &stamp)),
        )
        .ok_data("credit")
        .unwrap();
        assert_eq!((c.balance(), c.counter()), (6_000, 1));
        assert_eq!(
            tac_bytes,
            tac(&tac_key(&dtk), 6_000, init.counter, &terms, &stamp)
        );
        // Once: the same credit again finds no load in progress.
        let again = send(
            &mut c,
            credit_for_load(&stamp, mac2(&session, &terms, &stamp)),
        );
        assert_eq!((again.sw.0, c.balance()), (0x6985, 6_000));
        // The log has it, newest first.
        let rec = send(
            &mut c,
            Command::new(0x00, 0xB2, 1, 0x18 << 3 | 4).with_le(23),
        )
        .ok_data("log")
        .unwrap();
        assert_eq!(rec.len(), 23);
        assert_eq!(&rec[5..9], &5_000u32.to_be_bytes());
        // Over the cap is refused.
        let over = LoadTerms {
            amount: MAX_BALANCE,
            ..terms
        };
        assert_eq!(send(&mut c, initialize_for_load(1, &over)).sw.0, 0x6A80);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tap_reads_serial_balance_and_log_and_faults_are_typed() {
        use crate::ports::CardError;
        use crate::topup::{TopupError, read_card};
        let t = SimTransport::new(card());
        let state = read_card(&t).await.unwrap();
        assert_eq!(state.application, "t-union");
        assert_eq!(state.serial, "31041000751132009883");
        assert_eq!((state.balance_fen, state.transactions.len()), (1_000, 0));
        assert!(
            !format!("{state:?}").contains("751132"),
            "the card number is masked"
        );
        for fault in [CardFault::LostBefore, CardFault::TornAfter] {
            t.fail_at(2, fault);
            assert!(matches!(
                read_card(&t).await,
                Err(TopupError::Transport(CardError::TagLost))
            ));
        }
        t.fail_at(1, CardFault::Timeout);
        assert!(matches!(
            read_card(&t).await,
            Err(TopupError::Transport(CardError::Timeout))
        ));
        // Longer than the reader takes: refused before it is sent.
        let long = Command::new(0, 0xD6, 0, 0).with_data(vec![0; 300]);
        assert!(matches!(
            crate::topup::exchange(&t, &long).await,
            Err(TopupError::Apdu(_))
        ));
        assert_eq!(read_card(&t).await.unwrap().balance_fen, 1_000);
    }

    #[test]
    fn a_card_survives_its_file() {
        let mut c = card();
        assert!(
            c.transceive(&select(AID_T_UNION).to_bytes().unwrap())
                .ends_with(&[0x90, 0])
        );
        let f = c.to_file();
        let back = SimulatedCard::from_file(&f).unwrap();
        assert_eq!(back.to_file(), f);
        let mut damaged = f.clone();
        damaged.dlk.pop();
        assert!(SimulatedCard::from_file(&damaged).is_err());
    }

    #[test]
    fn any_bytes_get_an_answer() {
        let mut c = card();
        for bad in [
            &b""[..],
            &[0x00],
            &[0xFF; 4],
            &[0x80, 0x50, 0, 2, 3, 1],
            &[0x00, 0xA4, 4, 0, 2, 1, 2],
        ] {
            let r = Response::parse(&c.transceive(bad)).unwrap();
            assert!(!r.sw.is_ok(), "{bad:?}");
        }
    }
}
