//! Receipt store costs against issue 11's goals, each beside a baseline from the same run:
//! importing N receipts (verified on every core, appended in one transaction) against
//! verifying them one by one on one core;
//! listing the newest 50 of M and a payee-name search over M against the same SQL on a raw
//! connection; opening (and migrating) the store; history verification throughput.
//!
//! Usage: `receipts-bench [IMPORT_N] [LIST_M]`. Prints one JSON object.

use std::time::Instant;

use anyhow::Result;
use billtap_core::platform::{PinnedKeys, ResponseSigner};
use billtap_core::receipts::{
    ReceiptBody, import_receipts, sign_receipt, verify_history, verify_receipt,
};
use billtap_core::store::{NewReceipt, ReceiptFilter, Store};

const CITIES: [(&str, &str); 8] = [
    ("北京市", "Beijing"),
    ("上海市", "Shanghai"),
    ("广州市", "Guangzhou"),
    ("深圳市", "Shenzhen"),
    ("成都市", "Chengdu"),
    ("武汉市", "Wuhan"),
    ("西安市", "Xi'an"),
    ("杭州市", "Hangzhou"),
];

const SERVICES: [(&str, &str, &str); 10] = [
    ("自来水集团", "Waterworks Group", "utilities.water"),
    ("供电公司", "Power Supply Company", "utilities.electricity"),
    ("燃气集团", "Gas Group", "utilities.gas"),
    ("第一人民医院", "First People's Hospital", "health.hospital"),
    ("实验中学", "Experimental Middle School", "education.school"),
    ("公共交通卡", "Transit Card", "transport.transit"),
    ("社会保险基金", "Social Insurance Fund", "social.pension"),
    (
        "住房维修资金",
        "Housing Maintenance Fund",
        "funds.maintenance",
    ),
    ("慈善总会", "Charity Federation", "charity.general"),
    (
        "中级人民法院",
        "Intermediate People's Court",
        "government.court",
    ),
];

/// 80 payees (8 cities × 10 services), each with both names and a sub-category.
fn payee(i: usize) -> (String, String, &'static str) {
    let (city, city_en) = CITIES.get(i % CITIES.len()).copied().unwrap_or_default();
    let (svc, svc_en, cat) = SERVICES
        .get((i / CITIES.len()) % SERVICES.len())
        .copied()
        .unwrap_or_default();
    (format!("{city}{svc}"), format!("{city_en} {svc_en}"), cat)
}

fn receipts(signer: &ResponseSigner, n: usize, offset: usize) -> Result<Vec<NewReceipt>> {
    (0..n)
        .map(|i| {
            let i = i + offset;
            let (name, name_en, category) = payee(i * 7 + i / 13);
            let body = ReceiptBody {
                version: 1,
                payment_id: format!("PAY{i:010}"),
                bill_id: Some(format!("B{i:010}")),
                biller_id: format!("BILLER-{}", (i * 7 + i / 13) % 80),
                payee_name: name,
                payee_name_en: Some(name_en),
                category: Some(category.into()),
                payee_account_masked: "*************************0000".into(),
                payer_masked: "***************0001".into(),
                amount: format!("{}.{:02}", 10 + i % 500, i % 100),
                currency: "CNY".into(),
                fee: "0.00".into(),
                paid_at: 1_700_000_000 + i as i64 * 60,
                device_id: "bench-device".into(),
                sts_token: None,
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
    let t = Instant::now();
    for r in &batch {
        billtap_core::receipts::read_receipt(&r.cose)?;
    }
    let parse_only = t.elapsed().as_secs_f64();
    let coses: Vec<Vec<u8>> = batch.iter().map(|r| r.cose.clone()).collect();
    // The store's share alone: appending the same receipts, already verified.
    let alone = Store::open(&dir.join("append-only.sqlite"))?;
    let t = Instant::now();
    alone.import_receipts(&batch)?;
    let append_only = t.elapsed().as_secs_f64();
    drop(alone);
    drop(batch);
    let store = Store::open(&dir.join("import.sqlite"))?;
    let t = Instant::now();
    let imported = import_receipts(&store, &keys, &coses)?;
    let import_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(imported.added as usize == import_n && imported.refused.is_empty());
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
    // Searches: a word many payees share, one payee's full name, English words, a miss.
    let queries = [
        "供电",
        "北京市自来水集团",
        "water",
        "shanghai court",
        "没有这个",
    ];
    let mut search_ms = serde_json::Map::new();
    let mut search = 0f64;
    for q in queries {
        let ms = median(
            (0..10)
                .map(|_| {
                    let t = Instant::now();
                    let _ = big.receipts(&ReceiptFilter {
                        search: Some(q.into()),
                        ..ReceiptFilter::default()
                    });
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        );
        search = search.max(ms);
        search_ms.insert(q.into(), ms.into());
    }
    let category_ms = median(
        (0..10)
            .map(|_| {
                let t = Instant::now();
                let _ = big.receipts(&ReceiptFilter {
                    category: Some("utilities".into()),
                    ..ReceiptFilter::default()
                });
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    );
    let t = Instant::now();
    let _ = billtap_core::receipts::receipt_totals(&big, &ReceiptFilter::default())?;
    let totals_ms = t.elapsed().as_secs_f64() * 1e3;
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
            "parse_only_s": parse_only,
            "append_only_s": append_only,
            "threads": std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1),
            "import_over_verify": import_s / verify_only,
            "history_verify_per_s": report.verified as f64 / history_s,
            "history_ok": report.problem.is_none(),
            "list_m": list_m,
            "newest_50_ms": newest,
            "raw_sql_newest_50_ms": raw_newest,
            "goal_newest_50_ms": 2.0,
            "search_ms": search,
            "search_ms_by_query": search_ms,
            "category_newest_50_ms": category_ms,
            "totals_all_ms": totals_ms,
            "goal_search_ms": 20.0,
            "open_ms": open_ms,
            "open_and_migrate_v1_ms": migrate_ms,
            "goal_open_ms": 20.0,
        })
    );
    Ok(())
}
