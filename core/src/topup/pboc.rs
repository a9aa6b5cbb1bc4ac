//! The PBOC / JR/T 0025 electronic-purse load (T-Union and city transit cards, CPU meter
//! cards): the commands, what the card answers, and the issuer's cryptography — card key
//! diversification, the load session key, MAC1/MAC2 and the TAC. DES and 3DES come from the
//! RustCrypto `des` crate and the MAC from `cbc-mac` (ISO 9797-1 MAC algorithm 1 with padding
//! method 2: `80 00…`, always added). Keys are zeroized when dropped.

use cbc_mac::{CbcMac, Mac};
use des::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use des::{Des, TdesEde2};
use zeroize::Zeroizing;

use super::TopupError;
use super::apdu::Command;

/// The T-Union (交通联合) application.
pub const AID_T_UNION: &[u8] = &[0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05];
/// The City Union (城市一卡通互联互通) application.
pub const AID_CITY_UNION: &[u8] = &[0xA0, 0x00, 0x00, 0x00, 0x03, 0x86, 0x98, 0x07, 0x01];
/// The payment system environment's name.
pub const PSE: &[u8] = b"1PAY.SYS.DDF01";
/// Transaction type of an e-purse load.
pub const LOAD_TYPE: u8 = 0x02;
/// Algorithm id of DES/3DES in INITIALIZE FOR LOAD's answer.
pub const ALG_DES: u8 = 0x01;
/// Algorithm id of SM4 (newer cards).
pub const ALG_SM4: u8 = 0x04;

/// A 16-byte double-length DES key (a master, card or TAC key).
pub type Key16 = Zeroizing<[u8; 16]>;
/// An 8-byte single-DES key (a session key).
pub type Key8 = Zeroizing<[u8; 8]>;

pub(crate) fn tdes_encrypt(key: &[u8; 16], block: [u8; 8]) -> [u8; 8] {
    let cipher = TdesEde2::new(GenericArray::from_slice(key));
    let mut b = GenericArray::from(block);
    cipher.encrypt_block(&mut b);
    b.into()
}

/// The card's key for one application, derived from the issuer's master key and the card's
/// application serial number (its last 8 bytes): `3DES_MK(ASN) ‖ 3DES_MK(~ASN)`.
pub fn diversify(master: &[u8; 16], asn: &[u8; 8]) -> Key16 {
    let left = tdes_encrypt(master, *asn);
    let right = tdes_encrypt(master, asn.map(|b| !b));
    let mut k = Zeroizing::new([0u8; 16]);
    for (slot, b) in k.iter_mut().zip(left.iter().chain(&right)) {
        *slot = *b;
    }
    k
}

/// The load session key: `3DES_DLK(random ‖ online counter ‖ 8000)`.
pub fn load_session_key(dlk: &[u8; 16], random: [u8; 4], counter: [u8; 2]) -> Key8 {
    let [r0, r1, r2, r3] = random;
    let [c0, c1] = counter;
    Zeroizing::new(tdes_encrypt(dlk, [r0, r1, r2, r3, c0, c1, 0x80, 0x00]))
}

/// The PBOC MAC: single-DES CBC-MAC, zero IV, `80 00…` padding always added, first 4 bytes.
pub fn mac(key: &[u8; 8], data: &[u8]) -> [u8; 4] {
    let mut padded = Vec::with_capacity(data.len() + 8);
    padded.extend_from_slice(data);
    padded.push(0x80);
    while padded.len() % 8 != 0 {
        padded.push(0);
    }
    let mut m = <CbcMac<Des> as KeyInit>::new(GenericArray::from_slice(key));
    m.update(&padded);
    let full = m.finalize().into_bytes();
    let mut out = [0u8; 4];
    for (slot, b) in out.iter_mut().zip(full.iter()) {
        *slot = *b;
    }
    out
}

/// The TAC key: the left half of the card's TAC key XOR its right half.
pub fn tac_key(dtk: &[u8; 16]) -> Key8 {
    let mut k = Zeroizing::new([0u8; 8]);
    let (left, right) = dtk.split_at(8);
    for ((slot, l), r) in k.iter_mut().zip(left).zip(right) {
        *slot = l ^ r;
    }
    k
}

/// What a load names: amount (fen), terminal id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadTerms {
    /// Amount in the card's minor unit (fen).
    pub amount: u32,
    /// The terminal (the phone's) id, 6 bytes.
    pub terminal: [u8; 6],
}

/// The date and time the issuer stamps a load with (`YYYYMMDD`, `hhmmss`, BCD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// `YYYYMMDD` in BCD.
    pub date: [u8; 4],
    /// `hhmmss` in BCD.
    pub time: [u8; 3],
}

/// MAC1: the card's proof over old balance ‖ amount ‖ type ‖ terminal.
pub fn mac1(session: &[u8; 8], old_balance: u32, terms: &LoadTerms) -> [u8; 4] {
    let mut d = Vec::with_capacity(15);
    d.extend_from_slice(&old_balance.to_be_bytes());
    d.extend_from_slice(&terms.amount.to_be_bytes());
    d.push(LOAD_TYPE);
    d.extend_from_slice(&terms.terminal);
    mac(session, &d)
}

/// MAC2: the issuer's authorisation over amount ‖ type ‖ terminal ‖ date ‖ time.
pub fn mac2(session: &[u8; 8], terms: &LoadTerms, stamp: &Stamp) -> [u8; 4] {
    let mut d = Vec::with_capacity(18);
    d.extend_from_slice(&terms.amount.to_be_bytes());
    d.push(LOAD_TYPE);
    d.extend_from_slice(&terms.terminal);
    d.extend_from_slice(&stamp.date);
    d.extend_from_slice(&stamp.time);
    mac(session, &d)
}

/// The TAC: the card's proof of the completed load over new balance ‖ online counter (before
/// the load) ‖ amount ‖ type ‖ terminal ‖ date ‖ time.
pub fn tac(
    tac_key: &[u8; 8],
    new_balance: u32,
    counter: [u8; 2],
    terms: &LoadTerms,
    stamp: &Stamp,
) -> [u8; 4] {
    let mut d = Vec::with_capacity(24);
    d.extend_from_slice(&new_balance.to_be_bytes());
    d.extend_from_slice(&counter);
    d.extend_from_slice(&terms.amount.to_be_bytes());
    d.push(LOAD_TYPE);
    d.extend_from_slice(&terms.terminal);
    d.extend_from_slice(&stamp.date);
    d.extend_from_slice(&stamp.time);
    mac(tac_key, &d)
}

/// SELECT by name (an AID or `1PAY.SYS.DDF01`).
pub fn select(name: &[u8]) -> Command {
    Command::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(name.to_vec())
        .with_le(256)
}

/// The PBOC e-purse's directory file: city cards and CPU meter cards whose application has
/// no name billtap knows keep their e-purse in DF 1001, reached by file id.
pub const FID_EPURSE: [u8; 2] = [0x10, 0x01];

/// SELECT by file id (P1 00: a DF under the master file).
pub fn select_file(fid: [u8; 2]) -> Command {
    Command::new(0x00, 0xA4, 0x00, 0x00)
        .with_data(fid.to_vec())
        .with_le(256)
}

/// The e-purse applications a tap looks for, in order, with the name a read reports: T-Union
/// and City Union by name, then DF 1001 by file id (other city cards, CPU meter cards).
pub fn purse_selects() -> [(&'static str, Command); 3] {
    [
        ("t-union", select(AID_T_UNION)),
        ("city-union", select(AID_CITY_UNION)),
        ("e-purse", select_file(FID_EPURSE)),
    ]
}

/// READ BINARY of the public basic data file 0015 (by short file id 0x15).
pub fn read_0015() -> Command {
    Command::new(0x00, 0xB0, 0x95, 0x00).with_le(30)
}

/// GET BALANCE of the e-purse: `805C 0002 04`.
pub fn get_balance() -> Command {
    Command::new(0x80, 0x5C, 0x00, 0x02).with_le(4)
}

/// INITIALIZE FOR LOAD: `8050 0002 0B` key index ‖ amount ‖ terminal, Le 16.
pub fn initialize_for_load(key_index: u8, terms: &LoadTerms) -> Command {
    let mut d = Vec::with_capacity(11);
    d.push(key_index);
    d.extend_from_slice(&terms.amount.to_be_bytes());
    d.extend_from_slice(&terms.terminal);
    Command::new(0x80, 0x50, 0x00, 0x02)
        .with_data(d)
        .with_le(16)
}

/// CREDIT FOR LOAD: `8052 0000 0B` date ‖ time ‖ MAC2, Le 4 (the TAC).
pub fn credit_for_load(stamp: &Stamp, mac2: [u8; 4]) -> Command {
    let mut d = Vec::with_capacity(11);
    d.extend_from_slice(&stamp.date);
    d.extend_from_slice(&stamp.time);
    d.extend_from_slice(&mac2);
    Command::new(0x80, 0x52, 0x00, 0x00).with_data(d).with_le(4)
}

/// The card's answer to INITIALIZE FOR LOAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadInit {
    /// Balance before the load (fen).
    pub old_balance: u32,
    /// The e-purse's online transaction counter (before the load).
    pub counter: [u8; 2],
    /// The key version the card used.
    pub key_version: u8,
    /// The algorithm: [`ALG_DES`] or [`ALG_SM4`].
    pub algorithm: u8,
    /// The card's random for the session key.
    pub random: [u8; 4],
    /// The card's MAC1.
    pub mac1: [u8; 4],
}

impl LoadInit {
    /// Reads the 16 bytes the card answers.
    pub fn parse(data: &[u8]) -> Result<LoadInit, TopupError> {
        let d: &[u8; 16] = data.try_into().map_err(|_| {
            TopupError::Apdu(format!(
                "INITIALIZE FOR LOAD answered {} bytes, not 16",
                data.len()
            ))
        })?;
        let [
            b0,
            b1,
            b2,
            b3,
            c0,
            c1,
            kv,
            alg,
            r0,
            r1,
            r2,
            r3,
            m0,
            m1,
            m2,
            m3,
        ] = *d;
        Ok(LoadInit {
            old_balance: u32::from_be_bytes([b0, b1, b2, b3]),
            counter: [c0, c1],
            key_version: kv,
            algorithm: alg,
            random: [r0, r1, r2, r3],
            mac1: [m0, m1, m2, m3],
        })
    }

    /// The 16 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.old_balance.to_be_bytes());
        out.extend_from_slice(&self.counter);
        out.push(self.key_version);
        out.push(self.algorithm);
        out.extend_from_slice(&self.random);
        out.extend_from_slice(&self.mac1);
        out
    }
}

/// What file 0015 says of the card (T-Union layout: issuer id 8, application type 1,
/// application version 1, application serial number 10, start date 4, expiry date 4, FCI 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// The issuer's id (8 bytes).
    pub issuer: [u8; 8],
    /// The application serial number (10 bytes; keys are diversified by its last 8).
    pub serial: [u8; 10],
    /// First valid day, `YYYYMMDD` (BCD).
    pub start: [u8; 4],
    /// Last valid day, `YYYYMMDD` (BCD).
    pub expiry: [u8; 4],
}

impl CardInfo {
    /// Reads file 0015 (at least 28 bytes).
    pub fn parse(data: &[u8]) -> Result<CardInfo, TopupError> {
        let bad = || {
            TopupError::Apdu(format!(
                "file 0015 has {} bytes; a card's basic data is at least 28",
                data.len()
            ))
        };
        let take = |from: usize, to: usize| data.get(from..to).ok_or_else(bad);
        Ok(CardInfo {
            issuer: take(0, 8)?.try_into().map_err(|_| bad())?,
            serial: take(10, 20)?.try_into().map_err(|_| bad())?,
            start: take(20, 24)?.try_into().map_err(|_| bad())?,
            expiry: take(24, 28)?.try_into().map_err(|_| bad())?,
        })
    }

    /// The 8 bytes keys are diversified by.
    pub fn diversifier(&self) -> [u8; 8] {
        let [_, _, rest @ ..] = self.serial;
        rest
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The public vectors of the issue (A: answers of real cards; B: a full load with TAC).
    #[test]
    fn the_published_load_vectors_hold() {
        // (A)
        let dlk: [u8; 16] = h("3F013F013F013F013F013F013F013F01");
        let init = LoadInit::parse(&h::<16>("0000000000000001F9CABA916C394D64")).unwrap();
        assert_eq!(
            (init.old_balance, init.counter, init.algorithm),
            (0, [0, 0], ALG_DES)
        );
        let sk = load_session_key(&dlk, init.random, init.counter);
        assert_eq!(*sk, h::<8>("03015BEA347EA231"));
        let terms = LoadTerms {
            amount: 0x1234,
            terminal: h("000000000001"),
        };
        assert_eq!(mac1(&sk, 0, &terms), init.mac1);
        let stamp = Stamp {
            date: h("20180807"),
            time: h("120000"),
        };
        assert_eq!(mac2(&sk, &terms, &stamp), h::<4>("B4644410"));
        assert_eq!(
            hex::encode_upper(initialize_for_load(0, &terms).to_bytes().unwrap()),
            "805000020B000000123400000000000110"
        );

        // (B)
        let dlk: [u8; 16] = h("3F3F3F3F3F3F3F3F1122334455667788");
        let dtk: [u8; 16] = h("34343434343434341122334455667788");
        let init = LoadInit::parse(&h::<16>("00000000000000014E0665480D39ADBB")).unwrap();
        let terms = LoadTerms {
            amount: 0x10,
            terminal: h("666666666666"),
        };
        assert_eq!(
            hex::encode_upper(initialize_for_load(0, &terms).to_bytes().unwrap()),
            "805000020B000000001066666666666610"
        );
        let sk = load_session_key(&dlk, init.random, init.counter);
        assert_eq!(*sk, h::<8>("3B75C79CFA8C2327"));
        assert_eq!(mac1(&sk, init.old_balance, &terms), init.mac1);
        let stamp = Stamp {
            date: h("20240412"),
            time: h("003600"),
        };
        let m2 = mac2(&sk, &terms, &stamp);
        assert_eq!(m2, h::<4>("9C1A00B4"));
        assert_eq!(
            hex::encode_upper(credit_for_load(&stamp, m2).to_bytes().unwrap()),
            "805200000B202404120036009C1A00B404"
        );
        let tk = tac_key(&dtk);
        assert_eq!(*tk, h::<8>("25160770615243BC"));
        assert_eq!(tac(&tk, 0x10, [0, 0], &terms, &stamp), h::<4>("06A536FA"));

        // Key diversification.
        let dk = diversify(
            &h("00112233445566778899AABBCCDDEEFF"),
            &h("1000751132009883"),
        );
        assert_eq!(*dk, h::<16>("01D7EDE22C92D3B28E5942A83712D2C4"));
    }

    #[test]
    fn short_or_long_card_answers_are_typed_errors() {
        assert!(LoadInit::parse(&[0; 15]).is_err());
        assert!(LoadInit::parse(&[0; 17]).is_err());
        assert!(CardInfo::parse(&[0; 27]).is_err());
        let info = CardInfo::parse(&[7; 30]).unwrap();
        assert_eq!(info.diversifier(), [7; 8]);
        let init = LoadInit::parse(&[3; 16]).unwrap();
        assert_eq!(LoadInit::parse(&init.to_bytes()).unwrap(), init);
    }
}
