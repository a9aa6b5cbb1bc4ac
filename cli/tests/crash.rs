//! Crash test: `billtap pay` is killed with SIGKILL at every persisted step of the payment
//! state machine, in the middle of the send, and at random moments; a fresh process resumes.
//! The sandbox's ledger must show every bill paid at most once — exactly once when the store
//! kept the payment — and the store must pass `PRAGMA integrity_check`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use billtap_core::platform::api::LedgerEntry;
use billtap_core::store::{PaymentState, Store};
use common::{SandboxProcess, admin, billtap, sandbox};

fn bill(sb: &SandboxProcess, n: u32) -> String {
    let (status, body) = admin(
        sb,
        "POST",
        "/admin/bills",
        Some(&format!(
            r#"{{"biller_id":"BJ-WATER-001","account":"110105-7777-{n:04}","amount_fen":{}}}"#,
            1000 + n
        )),
    );
    assert_eq!(status, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn paid_times(sb: &SandboxProcess, bill: &str) -> usize {
    let (status, body) = admin(sb, "GET", "/admin/ledger", None);
    assert_eq!(status, 200, "{body}");
    let ledger: Vec<LedgerEntry> = serde_json::from_str(&body).unwrap();
    ledger
        .iter()
        .filter(|e| e.bill_id.as_deref() == Some(bill))
        .count()
}

/// Starts `billtap pay` for `bill`; returns the child once `until` says so (or at once).
fn spawn_pay(
    sb: &SandboxProcess,
    store: &str,
    bill: &str,
    pause_at: Option<&str>,
) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_billtap"));
    cmd.args([
        "pay",
        "--bill",
        bill,
        "--store",
        store,
        "--platform",
        &sb.url,
        "--key",
        &sb.key,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if let Some(step) = pause_at {
        cmd.env("BILLTAP_TEST_PAUSE_AT", step);
    }
    cmd.spawn().unwrap()
}

fn resume(sb: &SandboxProcess, store: &str) -> i32 {
    let (code, _, err) = billtap(&[
        "payments",
        "resume",
        "--store",
        store,
        "--platform",
        &sb.url,
        "--key",
        &sb.key,
    ]);
    assert!(code == 0, "resume exit {code}: {err}");
    code
}

fn states(store: &str) -> Vec<(Option<String>, PaymentState)> {
    let s = Store::open(std::path::Path::new(store)).unwrap();
    assert_eq!(s.integrity_check().unwrap(), "ok");
    s.payments(false)
        .unwrap()
        .into_iter()
        .map(|p| (p.bill_id, p.state))
        .collect()
}

fn store_path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("billtap-crash-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("store.sqlite").to_string_lossy().into_owned()
}

#[test]
fn a_payment_killed_at_every_step_is_resumed_exactly_once() {
    let sb = sandbox("crash-token");
    let store = store_path("steps");
    for (n, step) in [
        "stored_ready",
        "stored_submitted",
        "answer_received",
        "stored_outcome",
    ]
    .iter()
    .enumerate()
    {
        let bill = bill(&sb, n as u32);
        let mut child = spawn_pay(&sb, &store, &bill, Some(step));
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                err.read_line(&mut line).unwrap() > 0,
                "{step}: exited without pausing"
            );
            if line.starts_with("paused at") {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        resume(&sb, &store);
        let st = states(&store);
        let mine: Vec<_> = st
            .iter()
            .filter(|(b, _)| b.as_deref() == Some(bill.as_str()))
            .collect();
        assert_eq!(mine.len(), 1, "{step}: {st:?}");
        assert_eq!(mine[0].1, PaymentState::Succeeded, "{step}");
        assert_eq!(
            paid_times(&sb, &bill),
            1,
            "{step}: paid more or less than once"
        );
    }
}

#[test]
fn a_payment_killed_mid_send_or_at_random_moments_is_paid_at_most_once() {
    let sb = sandbox("crash-token-2");
    let store = store_path("random");
    // Mid-send: the platform commits, then answers slowly; the payer dies waiting.
    let b = bill(&sb, 100);
    let (status, _) = admin(
        &sb,
        "POST",
        "/admin/faults",
        Some(r#"{"path_prefix":"/v1/payments","exact":true,"fault":"delay_after:3000","count":1}"#),
    );
    assert_eq!(status, 204);
    let mut child = spawn_pay(&sb, &store, &b, Some("never"));
    let started = Instant::now();
    // Wait until the payment is submitted (the quote came first), then kill.
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never submitted"
        );
        if std::path::Path::new(&store).exists()
            && states(&store).iter().any(|(bill, s)| {
                bill.as_deref() == Some(b.as_str()) && *s == PaymentState::Submitted
            })
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(3200));
    resume(&sb, &store);
    assert_eq!(paid_times(&sb, &b), 1);

    // Random moments (deterministic seed): at most once; exactly once when the store has it.
    let mut x: u64 = 0x2026_1201;
    for n in 0..8u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = bill(&sb, 200 + n);
        let mut child = spawn_pay(&sb, &store, &b, None);
        std::thread::sleep(Duration::from_millis(x % 120));
        let _ = child.kill();
        child.wait().unwrap();
        resume(&sb, &store);
        let kept = states(&store)
            .into_iter()
            .filter(|(bill, _)| bill.as_deref() == Some(b.as_str()))
            .collect::<Vec<_>>();
        let times = paid_times(&sb, &b);
        assert!(times <= 1, "bill {b} paid {times} times");
        match kept.as_slice() {
            [] => assert_eq!(times, 0, "paid but not kept"),
            [(_, PaymentState::Succeeded)] => assert_eq!(times, 1),
            other => panic!("bill {b}: {other:?}, paid {times}"),
        }
    }
}

/// The card's completed and still-open loads in the issuer's ledger: (completed fen, open).
fn card_ledger(sb: &SandboxProcess, serial: &str) -> (i64, usize) {
    let (status, body) = admin(sb, "GET", "/admin/ledger", None);
    assert_eq!(status, 200, "{body}");
    let ledger: Vec<LedgerEntry> = serde_json::from_str(&body).unwrap();
    let mine: Vec<_> = ledger
        .iter()
        .filter(|e| e.kind.as_deref() == Some("topup") && e.payee_account == serial)
        .collect();
    let fen = mine
        .iter()
        .filter(|e| e.status == "completed")
        .map(|e| {
            let (y, f) = e.amount.split_once('.').unwrap();
            y.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap()
        })
        .sum();
    let open = mine.iter().filter(|e| e.status == "authorised").count();
    (fen, open)
}

#[test]
fn a_topup_killed_while_the_card_answers_each_step_is_settled_once_by_the_next_tap() {
    let sb = sandbox("crash-topup-token");
    let dir = std::env::temp_dir().join(format!("billtap-crash-topup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("s.sqlite");
    let card = dir.join("card.json");
    let bin = env!("CARGO_BIN_EXE_billtap");
    let common_args = |cmd: &mut Command| {
        cmd.args([
            "--platform",
            &sb.url,
            "--key",
            &sb.key,
            "--store",
            store.to_str().unwrap(),
        ]);
    };
    let balance = || {
        let mut cmd = Command::new(bin);
        cmd.args(["card", "read", "--json", "--card", card.to_str().unwrap()]);
        common_args(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (y, f) = v["balance"].as_str().unwrap().split_once('.').unwrap();
        (
            y.parse::<i64>().unwrap() * 100 + f.parse::<i64>().unwrap(),
            v["serial"].as_str().unwrap().to_string(),
        )
    };
    let (start, serial) = balance();
    // SELECT, READ BINARY 0015, INITIALIZE FOR LOAD, CREDIT FOR LOAD: the card runs each in
    // turn, and billtap is killed (SIGKILL) while it waits for the card's answer.
    for step in 1..=4u32 {
        let mut cmd = Command::new(bin);
        cmd.args([
            "topup",
            "--amount",
            "1.00",
            "--reader",
            &format!(
                "exec:{bin} card emulate --card {} --hang-after {step}",
                card.display()
            ),
        ]);
        common_args(&mut cmd);
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let waiting = format!("card: ran command {step}, not answering");
        assert!(
            lines.any(|l| l.is_ok_and(|l| l.contains(&waiting))),
            "the card never reached step {step}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        // The next tap settles whatever the killed one left; card and books then agree.
        let (now, _) = balance();
        let (completed, open) = card_ledger(&sb, &serial);
        assert_eq!(open, 0, "step {step}: money taken and not settled");
        assert_eq!(
            now - start,
            completed,
            "step {step}: card and issuer disagree"
        );
        assert_eq!(
            completed,
            if step == 4 { 100 } else { 0 },
            "step {step}: only a credit the card ran is a load"
        );
    }
    let store = Store::open(&store).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}
