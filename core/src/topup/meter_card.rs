//! File-based prepaid meter cards (water, gas, electricity "IC card" meters): no purse — the
//! card carries a purchase record the meter consumes by its purchase number. The platform
//! writes it with an APDU script (commands with the status word each must answer) whose write
//! is MAC-protected over the card's challenge (GET CHALLENGE), with a key only the issuer and
//! the card hold. The writes are absolute (purchase number n+1, the total after it), so running
//! a script again can never credit twice: the meter takes each purchase number once.
//!
//! Layout (billtap's simulated card; real cards of this kind differ per utility, which is why
//! the platform — not the phone — writes the script):
//! - application `F0 42 54 4D 45 54 45 52` ("\xF0BTMETER"), selected by name;
//! - EF 01 (16 bytes, free read): card serial (8), meter number (6, BCD, 12 digits), utility
//!   (1: electricity, 2: water, 3: gas), layout version (1);
//! - EF 02 (12 bytes, free read, MAC-protected write): purchase number (2), this purchase (4,
//!   fen), total purchased (4, fen), state (1: written, not yet taken by the meter; 0: taken),
//!   reserved (1).
//!
//! The write's MAC: session key `3DES_DLPK(challenge)` (the card's line-protection key,
//! diversified from the issuer's master key by the serial), then the PBOC MAC (single-DES
//! CBC-MAC, zero IV, `80` padding) over `04 D6 82 00 Lc data`, 4 bytes appended.

use zeroize::Zeroizing;

use super::TopupError;
use super::apdu::{Command, Response, StatusWord};
use super::pboc::{Key16, diversify, mac, tdes_encrypt};

/// The meter application's name.
pub const AID_METER: &[u8] = &[0xF0, 0x42, 0x54, 0x4D, 0x45, 0x54, 0x45, 0x52];
/// The sandbox's documented test master key for meter cards' line protection (never a real
/// issuer's).
pub const TEST_METER_MASTER_KEY: [u8; 16] = [
    0x4D, 0x45, 0x54, 0x45, 0x52, 0x2D, 0x54, 0x45, 0x53, 0x54, 0x2D, 0x4B, 0x45, 0x59, 0x30, 0x31,
];

/// What EF 01 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterInfo {
    /// The card serial.
    pub serial: [u8; 8],
    /// The meter number, BCD.
    pub meter: [u8; 6],
    /// 1 electricity, 2 water, 3 gas.
    pub utility: u8,
}

impl MeterInfo {
    /// Reads EF 01.
    pub fn parse(d: &[u8]) -> Result<Self, TopupError> {
        let b: &[u8; 16] = d
            .get(..16)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| TopupError::Apdu(format!("EF 01 of {} bytes, not 16", d.len())))?;
        let [s @ .., m0, m1, m2, m3, m4, m5, utility, _version] = *b;
        let serial: [u8; 8] = s;
        Ok(MeterInfo {
            serial,
            meter: [m0, m1, m2, m3, m4, m5],
            utility,
        })
    }

    /// The meter number as digits (leading zeros of the 12-digit field dropped to 11 when the
    /// meter's number has 11).
    pub fn meter_digits(&self) -> String {
        let digits = hex::encode(self.meter);
        digits
            .strip_prefix('0')
            .map_or(digits.clone(), str::to_owned)
    }
}

/// What EF 02 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseRecord {
    /// Purchase number (the meter takes each once).
    pub number: u16,
    /// This purchase (fen).
    pub amount: u32,
    /// Total purchased (fen).
    pub total: u32,
    /// 1: written, not yet taken by the meter.
    pub pending: bool,
}

impl PurchaseRecord {
    /// Reads EF 02.
    pub fn parse(d: &[u8]) -> Result<Self, TopupError> {
        let b: &[u8; 12] = d
            .get(..12)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| TopupError::Apdu(format!("EF 02 of {} bytes, not 12", d.len())))?;
        let [n0, n1, a0, a1, a2, a3, t0, t1, t2, t3, state, _] = *b;
        Ok(PurchaseRecord {
            number: u16::from_be_bytes([n0, n1]),
            amount: u32::from_be_bytes([a0, a1, a2, a3]),
            total: u32::from_be_bytes([t0, t1, t2, t3]),
            pending: state == 1,
        })
    }

    /// EF 02's bytes.
    pub fn to_bytes(self) -> [u8; 12] {
        let [n0, n1] = self.number.to_be_bytes();
        let [a0, a1, a2, a3] = self.amount.to_be_bytes();
        let [t0, t1, t2, t3] = self.total.to_be_bytes();
        [
            n0,
            n1,
            a0,
            a1,
            a2,
            a3,
            t0,
            t1,
            t2,
            t3,
            u8::from(self.pending),
            0,
        ]
    }

    /// The record after purchasing `amount` more: number + 1, total + amount, pending.
    pub fn next(self, amount: u32) -> Option<Self> {
        Some(PurchaseRecord {
            number: self.number.checked_add(1)?,
            amount,
            total: self.total.checked_add(amount)?,
            pending: true,
        })
    }
}

/// A card serial as 16 hex digits.
pub fn parse_serial(text: &str) -> Option<[u8; 8]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

/// READ BINARY of a short file.
pub fn read_ef(sfi: u8, len: u32) -> Command {
    Command::new(0x00, 0xB0, 0x80 | sfi, 0).with_le(len)
}

/// GET CHALLENGE (8 bytes).
pub fn get_challenge() -> Command {
    Command::new(0x00, 0x84, 0, 0).with_le(8)
}

/// The card's line-protection key.
pub fn line_key(master: &[u8; 16], serial: &[u8; 8]) -> Key16 {
    diversify(master, serial)
}

/// The MAC-protected UPDATE BINARY of EF 02 (the issuer's side: it alone holds the key).
pub fn protected_update(dlpk: &[u8; 16], challenge: [u8; 8], record: &PurchaseRecord) -> Command {
    let session = Zeroizing::new(tdes_encrypt(dlpk, challenge));
    let data = record.to_bytes();
    let lc = u8::try_from(data.len() + 4).unwrap_or(u8::MAX);
    let mut header = vec![0x04, 0xD6, 0x82, 0x00, lc];
    header.extend_from_slice(&data);
    let m = mac(&session, &header);
    let mut body = data.to_vec();
    body.extend_from_slice(&m);
    Command::new(0x04, 0xD6, 0x82, 0x00).with_data(body)
}

/// A simulated file-based meter card.
pub struct SimulatedMeterCard {
    info: [u8; 16],
    dlpk: Key16,
    record: PurchaseRecord,
    selected: bool,
    challenge: Option<[u8; 8]>,
    draws: u64,
}

impl std::fmt::Debug for SimulatedMeterCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimulatedMeterCard({:?})", self.record)
    }
}

fn status(sw: u16) -> Vec<u8> {
    Response::status(sw).to_bytes()
}

fn ok(data: Vec<u8>) -> Vec<u8> {
    Response {
        data,
        sw: StatusWord::OK,
    }
    .to_bytes()
}

impl SimulatedMeterCard {
    /// An electricity meter card for `meter` (up to 12 digits), its line key diversified from
    /// `master` by `serial`.
    pub fn new(master: &[u8; 16], serial: [u8; 8], meter: &str) -> Result<Self, TopupError> {
        let padded = format!("{meter:0>12}");
        let bcd: [u8; 6] = hex::decode(&padded)
            .ok()
            .filter(|_| meter.len() <= 12 && meter.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| TopupError::Apdu(format!("{meter:?} is not a meter number")))?;
        let mut info = [0u8; 16];
        for (slot, b) in info
            .iter_mut()
            .zip(serial.iter().chain(&bcd).chain(&[1, 1]))
        {
            *slot = *b;
        }
        Ok(SimulatedMeterCard {
            info,
            dlpk: line_key(master, &serial),
            record: PurchaseRecord {
                number: 0,
                amount: 0,
                total: 0,
                pending: false,
            },
            selected: false,
            challenge: None,
            draws: 0,
        })
    }

    /// The purchase record the card holds.
    pub fn record(&self) -> PurchaseRecord {
        self.record
    }

    /// The meter takes the pending purchase (the user inserts the card into the meter).
    pub fn insert_into_meter(&mut self) {
        self.record.pending = false;
    }

    /// Answers one command APDU.
    pub fn transceive(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Ok(c) = Command::parse(apdu) else {
            return status(0x6700);
        };
        match (c.cla, c.ins) {
            (0x00, 0xA4) if c.p1 == 0x04 => {
                self.selected = c.data == AID_METER;
                self.challenge = None;
                if self.selected {
                    ok(Vec::new())
                } else {
                    status(0x6A82)
                }
            }
            // SELECT of a file by id inside the application (scripts may do it).
            (0x00, 0xA4) if self.selected && c.p1 == 0x02 => match c.data.as_slice() {
                [0x00, 0x01] | [0x00, 0x02] => ok(Vec::new()),
                _ => status(0x6A82),
            },
            (0x00, 0xB0) if self.selected => match c.p1 {
                0x81 => ok(self.info.to_vec()),
                0x82 => ok(self.record.to_bytes().to_vec()),
                _ => status(0x6A82),
            },
            (0x00, 0x84) if self.selected => {
                // Deterministic per card and draw, unpredictable enough for a simulation.
                self.draws = self.draws.wrapping_add(1);
                let mut seed = self.info.to_vec();
                seed.extend_from_slice(&self.draws.to_be_bytes());
                seed.extend_from_slice(&self.record.to_bytes());
                let d = crate::store::sha256(&seed);
                let mut ch = [0u8; 8];
                for (slot, b) in ch.iter_mut().zip(d) {
                    *slot = b;
                }
                self.challenge = Some(ch);
                ok(ch.to_vec())
            }
            (0x04, 0xD6) if self.selected => self.protected_write(&c),
            (0x00 | 0x04, 0xB0 | 0xD6 | 0x84) => status(0x6986),
            (0x00 | 0x04 | 0x80, _) => status(0x6D00),
            _ => status(0x6E00),
        }
    }

    fn protected_write(&mut self, c: &Command) -> Vec<u8> {
        // A challenge serves one write.
        let Some(challenge) = self.challenge.take() else {
            return status(0x6984);
        };
        if c.p1 != 0x82 || c.data.len() != 16 {
            return status(0x6700);
        }
        let (data, got) = c.data.split_at(12);
        let Ok(record) = PurchaseRecord::parse(data) else {
            return status(0x6A80);
        };
        let expected = protected_update(&self.dlpk, challenge, &record);
        if expected.data.get(12..) != Some(got) {
            return status(0x6988);
        }
        self.record = record;
        status(0x9000)
    }
}

/// A simulated meter card as a file keeps it between CLI runs (hex fields; a test card's
/// key, never a real card's).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimMeterCardFile {
    /// `meter_card`: what tells this file from a purse card's.
    pub kind: String,
    /// EF 01 (serial, meter number, utility, layout), hex.
    pub ef01: String,
    /// EF 02 (the purchase record), hex.
    pub ef02: String,
    /// The card's line-protection key, hex.
    pub dlpk: String,
    /// Challenges drawn so far (a card never repeats one).
    pub draws: u64,
}

impl std::fmt::Debug for SimMeterCardFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Even a test card's key stays out of logs.
        f.debug_struct("SimMeterCardFile")
            .field("kind", &self.kind)
            .field("ef01", &self.ef01)
            .field("ef02", &self.ef02)
            .field("draws", &self.draws)
            .finish_non_exhaustive()
    }
}

/// What a meter card's file says it is.
pub const SIM_METER_CARD_KIND: &str = "meter_card";

impl SimulatedMeterCard {
    /// The card's state for a file.
    pub fn to_file(&self) -> SimMeterCardFile {
        SimMeterCardFile {
            kind: SIM_METER_CARD_KIND.into(),
            ef01: hex::encode_upper(self.info),
            ef02: hex::encode_upper(self.record.to_bytes()),
            dlpk: hex::encode_upper(*self.dlpk),
            draws: self.draws,
        }
    }

    /// A card from its file; a damaged file is an error, never a half-made card.
    pub fn from_file(f: &SimMeterCardFile) -> Result<SimulatedMeterCard, TopupError> {
        fn bytes<const N: usize>(what: &str, text: &str) -> Result<[u8; N], TopupError> {
            hex::decode(text)
                .ok()
                .and_then(|v| <[u8; N]>::try_from(v).ok())
                .ok_or_else(|| {
                    TopupError::Apdu(format!(
                        "the simulated meter card's {what} is not {N} bytes of hex"
                    ))
                })
        }
        if f.kind != SIM_METER_CARD_KIND {
            return Err(TopupError::Apdu(format!(
                "{:?} is not a simulated meter card",
                f.kind
            )));
        }
        let info: [u8; 16] = bytes("EF 01", &f.ef01)?;
        MeterInfo::parse(&info)?;
        Ok(SimulatedMeterCard {
            info,
            dlpk: Zeroizing::new(bytes("line key", &f.dlpk)?),
            record: PurchaseRecord::parse(&bytes::<12>("EF 02", &f.ef02)?)?,
            selected: false,
            challenge: None,
            draws: f.draws,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn card() -> SimulatedMeterCard {
        SimulatedMeterCard::new(
            &TEST_METER_MASTER_KEY,
            [1, 2, 3, 4, 5, 6, 7, 8],
            "01234567890",
        )
        .unwrap()
    }

    fn run(c: &mut SimulatedMeterCard, cmd: &Command) -> Response {
        Response::parse(&c.transceive(&cmd.to_bytes().unwrap())).unwrap()
    }

    #[test]
    fn a_card_file_keeps_the_card_and_refuses_damage() {
        let key = line_key(&TEST_METER_MASTER_KEY, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let write = |c: &mut SimulatedMeterCard, amount: u32| {
            let _ = run(c, &super::super::pboc::select(AID_METER));
            let ch: [u8; 8] = run(c, &get_challenge()).data.try_into().unwrap();
            let next = c.record().next(amount).unwrap();
            run(c, &protected_update(&key, ch, &next)).sw
        };
        let mut c = card();
        assert_eq!(write(&mut c, 500), StatusWord::OK);
        let f = c.to_file();
        let mut back = SimulatedMeterCard::from_file(&f).unwrap();
        assert_eq!((back.to_file(), back.record()), (f.clone(), c.record()));
        // The kept key still takes the issuer's next write; the challenges go on, not repeat.
        assert_eq!(write(&mut back, 700), StatusWord::OK);
        assert_eq!((back.record().number, back.record().total), (2, 1_200));
        assert_eq!(back.to_file().draws, f.draws + 1);
        for bad in [
            SimMeterCardFile {
                kind: "purse".into(),
                ..f.clone()
            },
            SimMeterCardFile {
                ef01: "00".into(),
                ..f.clone()
            },
            SimMeterCardFile {
                ef02: "zz".into(),
                ..f.clone()
            },
            SimMeterCardFile {
                dlpk: String::new(),
                ..f
            },
        ] {
            assert!(SimulatedMeterCard::from_file(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_write_needs_the_issuers_mac_over_a_fresh_challenge_and_is_absolute() {
        let mut c = card();
        assert!(
            run(&mut c, &super::super::pboc::select(AID_METER))
                .sw
                .is_ok()
        );
        let info = MeterInfo::parse(&run(&mut c, &read_ef(1, 16)).data).unwrap();
        assert_eq!(info.meter_digits(), "01234567890");
        let ch: [u8; 8] = run(&mut c, &get_challenge()).data.try_into().unwrap();
        let next = c.record().next(5_000).unwrap();
        let key = line_key(&TEST_METER_MASTER_KEY, &info.serial);
        let write = protected_update(&key, ch, &next);
        assert!(run(&mut c, &write).sw.is_ok());
        assert_eq!(c.record(), next);
        // The same write again: the challenge was used (6984), nothing changes.
        assert_eq!(run(&mut c, &write).sw.0, 0x6984);
        // A wrong key or a stale challenge: 6988, nothing written.
        let ch2: [u8; 8] = run(&mut c, &get_challenge()).data.try_into().unwrap();
        let forged = protected_update(&[7; 16], ch2, &next.next(1).unwrap());
        assert_eq!(run(&mut c, &forged).sw.0, 0x6988);
        let _ = run(&mut c, &get_challenge());
        let stale = protected_update(&key, ch2, &next.next(1).unwrap());
        assert_eq!(run(&mut c, &stale).sw.0, 0x6988);
        assert_eq!(c.record(), next);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_get_a_status_word_never_a_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut c = card();
            let _ = c.transceive(&b);
            let _ = PurchaseRecord::parse(&b);
            let _ = MeterInfo::parse(&b);
        }
    }
}

/// The simulated meter card as a [`crate::ports::CardTransport`], with one fault: at
/// exchange `n` the card runs the command and leaves before answering (`torn`), or leaves
/// before the command reaches it.
#[derive(Debug)]
pub struct SimMeterTransport {
    card: std::sync::Mutex<SimulatedMeterCard>,
    fault: std::sync::Mutex<Option<(u32, bool)>>,
    exchanges: std::sync::atomic::AtomicU32,
}

impl SimMeterTransport {
    /// A reader with this card in its field.
    pub fn new(card: SimulatedMeterCard) -> Self {
        SimMeterTransport {
            card: std::sync::Mutex::new(card),
            fault: std::sync::Mutex::new(None),
            exchanges: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// The card leaves at exchange `n` from now (1 is the next), after running it if `torn`.
    pub fn leave_at(&self, n: u32, torn: bool) {
        let at = self.exchanges.load(std::sync::atomic::Ordering::SeqCst) + n;
        *self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((at, torn));
    }

    /// The card.
    pub fn card(&self) -> std::sync::MutexGuard<'_, SimulatedMeterCard> {
        self.card
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl crate::ports::CardTransport for SimMeterTransport {
    async fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, crate::ports::CardError> {
        let n = self
            .exchanges
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            .saturating_add(1);
        let fault = {
            let mut f = self
                .fault
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match *f {
                Some((at, torn)) if at == n => {
                    *f = None;
                    Some(torn)
                }
                _ => None,
            }
        };
        match fault {
            Some(torn) => {
                if torn {
                    let _ = self.card().transceive(&apdu);
                }
                Err(crate::ports::CardError::TagLost)
            }
            None => Ok(self.card().transceive(&apdu)),
        }
    }

    fn max_transceive_length(&self) -> u32 {
        261
    }
}
