//! Receipt store costs against issue 11's goals, each beside a baseline from the same run:
//! importing N verified receipts (verify + append in one transaction) against verifying alone;
//! listing the newest 50 of M and a payee-name search over M against the same SQL on a raw
//! connection; opening (and migrating) the store; history verification throughput.
//!
//! Usage: `receipts-bench [IMPORT_N] [LIST_M]`. Prints one JSON object.

use std::time::Instant;

use anyhow::Result;
use billtap_core::platform::{PinnedKeys, ResponseSigner};
use billtap_core::receipts::{ReceiptBody, sign_receipt, verify_history, verify_receipt};
use billtap_core::store::{NewReceipt, ReceiptFilter, Store};

const PAYEES: [&str; 6] = [
    "北京市自来水集团",
    "北京市供电公司",
    "北京燃气集团",
    "北京市第一医院",
    "北京大学",
    "北京市一卡通",
];

fn receipts(signer: &ResponseSigner, n: usize, offset: usize) -> Result<Vec<NewReceipt>> {
    (0..n)
        .map(|i| {
            let i = i + offset;
            let payee = PAYEES.get(i % PAYEES.len()).copied().unwrap_or_default();
            let body = ReceiptBody {
                version: 1,
                payment_id: format!("PAY{i:010}"),
                bill_id: Some(format!("B{i:010}")),
                biller_id: format!("BJ-{}-001", i % PAYEES.len()),
                payee_name: payee.into(),
                payee_account_masked: "*************************0000".into(),
                payer_masked: "***************0001".into(),
                amount: format!("{}.{:02}", 10 + i % 500, i % 100),
                currency: "CNY".into(),
                fee: "0.00".into(),
                paid_at: 1_700_000_000 + i as i64 * 60,
                device_id: "bench-device".into(),
            };
            let cose = sign_receipt(&body, signer)?;
            Ok(NewReceipt::from_body(body, cose, signer.key_id().into()))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let import_n: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let list_m: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("billtap-receipts-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let signer = ResponseSigner::generate("bench-1")?;
    let keys = PinnedKeys::parse(&[signer.pinned().to_entry()])?;

    // 1. Import: verify each, append all in one transaction; baseline: verifying alone.
    let batch = receipts(&signer, import_n, 0)?;
    let t = Instant::now();
    for r in &batch {
        verify_receipt(&r.cose, &keys)?;
    }
    let verify_only = t.elapsed().as_secs_f64();
    let store = Store::open(&dir.join("import.sqlite"))?;
    let t = Instant::now();
    for r in &batch {
        verify_receipt(&r.cose, &keys)?;
    }
    store.import_receipts(&batch)?;
    let import_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = verify_history(&store, &keys)?;
    let history_s = t.elapsed().as_secs_f64();
    drop(store);

    // 2. A large history: M receipts (appended in chunks, unverified: they were signed here).
    let big_path = dir.join("big.sqlite");
    let big = Store::open(&big_path)?;
    let chunk = 100_000;
    let mut done = 0;
    while done < list_m {
        let n = chunk.min(list_m - done);
        big.import_receipts(&receipts(&signer, n, done)?)?;
        done += n;
    }
    let newest = median(
        (0..50)
            .map(|_| {
                let t = Instant::now();
                let _ = big.receipts(&ReceiptFilter::default());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let search = median(
        (0..10)
            .map(|_| {
                let t = Instant::now();
                let _ = big.receipts(&ReceiptFilter {
                    search: Some("供电".into()),
                    ..ReceiptFilter::default()
                });
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    drop(big);
    let raw = rusqlite::Connection::open(&big_path)?;
    let raw_newest = median(
        (0..50)
            .map(|_| {
                let t = Instant::now();
                let mut st = raw
                    .prepare_cached("SELECT seq, payment_id, cose FROM receipts ORDER BY paid_at DESC, seq DESC LIMIT 50")
                    .ok();
                let _n = st
                    .as_mut()
                    .and_then(|s| s.query_map([], |r| r.get::<_, i64>(0)).ok().map(|rows| rows.count()));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    drop(raw);
    let open_ms = median(
        (0..10)
            .map(|_| {
                let t = Instant::now();
                let _ = Store::open(&big_path);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/stores/store-v1.sqlite"
    );
    let migrate_ms = median(
        (0..10)
            .map(|i| {
                let p = dir.join(format!("v1-{i}.sqlite"));
                let _ = std::fs::copy(fixture, &p);
                let t = Instant::now();
                let _ = Store::open(&p);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{}",
        serde_json::json!({
            "import_n": import_n,
            "import_s": import_s,
            "goal_import_100k_s": 2.0,
            "verify_only_s": verify_only,
            "import_over_verify": import_s / verify_only,
            "history_verify_per_s": report.verified as f64 / history_s,
            "history_ok": report.problem.is_none(),
            "list_m": list_m,
            "newest_50_ms": newest,
            "raw_sql_newest_50_ms": raw_newest,
            "goal_newest_50_ms": 2.0,
            "search_ms": search,
            "goal_search_ms": 20.0,
            "open_ms": open_ms,
            "open_and_migrate_v1_ms": migrate_ms,
            "goal_open_ms": 20.0,
        })
    );
    Ok(())
}
