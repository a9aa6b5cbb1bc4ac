//! `--reader nfc` through the real libnfc: the test plays a PN532 reader board (NXP's frame
//! protocol: preamble, length and data checksums, ACK, `D4`/`D5` frames) on a pseudo-terminal
//! that libnfc's `pn532_uart` driver opens as a serial port, with billtap's simulated transit
//! card in its field. libnfc's whole stack runs: wake-up, SAM configuration, firmware
//! version, register writes, InListPassiveTarget (ISO 14443-A with ATS), InDataExchange.

#![cfg(feature = "nfc")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use billtap_core::topup::sim::SimulatedCard;
use common::{billtap, sandbox};
use serde_json::Value;

/// What the board does with the card this test put on it.
struct Field {
    card: SimulatedCard,
    /// Leave the field (answer "card timeout") after running this InDataExchange, counted
    /// from the start.
    tear_at: Option<u32>,
    exchanges: u32,
}

/// One PN532 frame from the host: `00 FF LEN LCS D4 CMD params… DCS 00` (preamble and
/// wake-up bytes before it are skipped); `None` until a whole frame is in `buf`.
fn take_frame(buf: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    loop {
        let start = buf.windows(2).position(|w| w == [0x00, 0xFF])?;
        let rest = &buf[start + 2..];
        if rest.len() < 2 {
            return None;
        }
        let (len, lcs) = (rest[0], rest[1]);
        if len == 0 && lcs == 0xFF {
            // The host's ACK (it aborts a command): nothing to answer.
            buf.drain(..start + 4);
            continue;
        }
        assert_eq!(len.wrapping_add(lcs), 0, "length checksum");
        let len = usize::from(len);
        if rest.len() < 2 + len + 2 {
            return None;
        }
        let data = rest[2..2 + len].to_vec();
        let dcs = rest[2 + len];
        assert_eq!(
            data.iter().fold(dcs, |a, b| a.wrapping_add(*b)),
            0,
            "data checksum"
        );
        assert_eq!(data[0], 0xD4, "a host-to-PN532 frame");
        buf.drain(..start + 2 + 2 + len + 2);
        return Some((data[1], data[2..].to_vec()));
    }
}

/// The PN532's answer frame to `cmd` carrying `payload`.
fn frame(cmd: u8, payload: &[u8]) -> Vec<u8> {
    let mut data = vec![0xD5, cmd + 1];
    data.extend_from_slice(payload);
    let len = u8::try_from(data.len()).expect("a normal frame");
    let mut f = vec![0x00, 0x00, 0xFF, len, 0u8.wrapping_sub(len)];
    f.extend_from_slice(&data);
    f.push(0u8.wrapping_sub(data.iter().fold(0u8, |a, b| a.wrapping_add(*b))));
    f.push(0x00);
    f
}

/// What the PN532 answers to one command.
fn answer(cmd: u8, p: &[u8], regs: &mut HashMap<u16, u8>, field: &Mutex<Field>) -> Vec<u8> {
    match cmd {
        // Diagnose, communication line test: the data comes back.
        0x00 => p.to_vec(),
        // GetFirmwareVersion: PN532 v1.6, ISO 14443-A, 14443-B and 18092.
        0x02 => vec![0x32, 0x01, 0x06, 0x07],
        // ReadRegister: the values written before (0 otherwise).
        0x06 => p
            .chunks(2)
            .map(|a| {
                regs.get(&u16::from_be_bytes([a[0], a[1]]))
                    .copied()
                    .unwrap_or(0)
            })
            .collect(),
        0x08 => {
            for w in p.chunks(3) {
                regs.insert(u16::from_be_bytes([w[0], w[1]]), w[2]);
            }
            vec![]
        }
        // InListPassiveTarget: at 106 kbps type A, one ISO 14443-4 card (SAK 20) with its ATS;
        // no type B card.
        0x4A if p.get(1) == Some(&0x00) => vec![
            0x01, 0x01, 0x00, 0x04, 0x20, 0x04, 0x31, 0x04, 0x10, 0x00, 0x05, 0x78, 0x80, 0x70,
            0x02,
        ],
        0x4A => vec![0x00],
        // InDataExchange to target 1: the APDU to the card, status 00 and its answer — or,
        // when the card leaves after running it, status 01 (the card did not answer).
        0x40 => {
            let mut f = field.lock().unwrap();
            f.exchanges += 1;
            let r = f.card.transceive(&p[1..]);
            if f.tear_at == Some(f.exchanges) {
                return vec![0x01];
            }
            let mut out = vec![0x00];
            out.extend_from_slice(&r);
            out
        }
        // InDeselect, InRelease, PowerDown: status OK.
        0x44 | 0x52 | 0x16 => vec![0x00],
        // SAMConfiguration, SetParameters, RFConfiguration…: done.
        _ => vec![],
    }
}

/// A PN532 board on a fresh pseudo-terminal; returns the serial port's path for libnfc.
fn pn532_board(field: Arc<Mutex<Field>>) -> String {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let path = ptsname(&master, Vec::new()).unwrap().into_string().unwrap();
    // Held open by the board, so the master never reads EOF between billtap runs; raw, so
    // nothing is echoed or line-buffered before libnfc sets its own mode.
    let slave = File::options().read(true).write(true).open(&path).unwrap();
    let mut t = rustix::termios::tcgetattr(&slave).unwrap();
    t.make_raw();
    rustix::termios::tcsetattr(&slave, rustix::termios::OptionalActions::Now, &t).unwrap();
    let mut master = File::from(master);
    std::thread::spawn(move || {
        let _slave = slave;
        let mut regs = HashMap::new();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        while let Ok(n) = master.read(&mut chunk) {
            buf.extend_from_slice(&chunk[..n]);
            while let Some((cmd, params)) = take_frame(&mut buf) {
                let reply = answer(cmd, &params, &mut regs, &field);
                let mut out = vec![0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00];
                out.extend(frame(cmd, &reply));
                if master.write_all(&out).is_err() {
                    return;
                }
            }
        }
    });
    path
}

#[test]
fn a_transit_card_is_read_and_loaded_through_libnfc_and_a_torn_load_settles_once() {
    let field = Arc::new(Mutex::new(Field {
        card: SimulatedCard::test_card("31041000751132009883", 1_000).unwrap(),
        tear_at: None,
        exchanges: 0,
    }));
    let reader = format!("nfc:pn532_uart:{}", pn532_board(field.clone()));
    let sb = sandbox("nfc-reader");
    let dir = std::env::temp_dir().join(format!("billtap-cli-nfc-board-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("s.sqlite");
    let run = |cmd: &[&str]| {
        let mut args = cmd.to_vec();
        args.extend_from_slice(&["--reader", &reader, "--platform", &sb.url, "--key", &sb.key]);
        args.extend_from_slice(&["--store", store.to_str().unwrap(), "--json"]);
        billtap(&args)
    };
    let (code, out, err) = run(&["card", "read"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["application"].as_str(), v["balance"].as_str()),
        (Some("t-union"), Some("10.00")),
        "{v}"
    );
    let (code, out, err) = run(&["topup", "--amount", "20"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(field.lock().unwrap().card.balance(), 3_000);
    // The card leaves right after CREDIT FOR LOAD ran (the 4th exchange of a load): libnfc
    // reports an RF error, billtap a card moved away — not known yet (3) — until the next
    // tap settles it as loaded, once.
    {
        let mut f = field.lock().unwrap();
        f.tear_at = Some(f.exchanges + 4);
    }
    let (code, out, err) = run(&["topup", "--amount", "5"]);
    assert_eq!(code, 3, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["state"], "unknown", "{v}");
    assert!(v["failure"].as_str().unwrap().contains("moved away"), "{v}");
    assert_eq!(
        field.lock().unwrap().card.balance(),
        3_500,
        "the card ran the credit"
    );
    let (code, out, err) = run(&["card", "read"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["settled_topup"]["state"].as_str(), v["balance"].as_str()),
        (Some("completed"), Some("35.00")),
        "{v}"
    );
    assert_eq!(field.lock().unwrap().card.balance(), 3_500, "credited once");
}
