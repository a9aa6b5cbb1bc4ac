//! The `billtap` binary: exit codes, stable JSON shape, QR rendering and the demo.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{admin, billtap, sandbox};
use serde_json::Value;

const PIX: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

fn fixture_frame(name: &str) -> String {
    format!(
        "{}/../tests/fixtures/frames/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn parse_json_has_the_documented_shape() {
    let (code, out, _) = billtap(&["parse", "--json", PIX]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    for key in [
        "kind",
        "valid",
        "errors",
        "warnings",
        "payee_name",
        "amount",
        "currency",
        "references",
        "static",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["kind"], "emv_mpm");
    assert_eq!(v["valid"], true);
    assert_eq!(v["currency"], "BRL");
    assert_eq!(v["static"], true);
    assert_eq!(v["amount"], Value::Null);
}

#[test]
fn invalid_payload_exits_2_with_one_line_reason() {
    let tampered = PIX.replace("Fulano", "Fulana");
    let (code, out, err) = billtap(&["parse", "--json", &tampered]);
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["code"], "checksum");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn scan_json_reports_codes_corners_and_decode_time() {
    let png = fixture_frame("water-bill-crop.png");
    let jpg = fixture_frame("water-bill-crop.jpg");
    let (code, out, _) = billtap(&["scan", "--json", &png, &jpg]);
    assert_eq!(code, 0);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert!(line["decode_ms"].as_f64().is_some_and(|ms| ms > 0.0));
        let c = &line["codes"][0];
        assert_eq!(c["corners"].as_array().map(Vec::len), Some(4));
        assert_eq!(c["result"]["kind"], "emv_mpm");
        assert_eq!(c["result"]["amount"], "268.40");
        assert!(c["text"].as_str().is_some_and(|t| t.starts_with("000201")));
    }
}

#[test]
fn nothing_found_exits_1_and_unreadable_file_exits_2() {
    let dir = std::env::temp_dir().join(format!("billtap-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blank = dir.join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let (code, _, err) = billtap(&["scan", blank.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no QR code found"));
    let junk = dir.join("junk.png");
    std::fs::write(&junk, b"not an image").unwrap();
    let (code, _, err) = billtap(&["scan", junk.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a readable PNG or JPEG"), "{err}");
}

#[test]
fn qr_renders_png_and_svg_that_scan_back() {
    let dir = std::env::temp_dir().join(format!("billtap-cli-qr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("pix.png");
    let (code, _, _) = billtap(&["qr", PIX, "--out", png.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, out, _) = billtap(&["scan", "--json", png.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["codes"][0]["text"], PIX);
    let svg = dir.join("pix.svg");
    assert_eq!(billtap(&["qr", PIX, "--out", svg.to_str().unwrap()]).0, 0);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    assert_eq!(
        billtap(&["qr", PIX, "--out", dir.join("x.gif").to_str().unwrap()]).0,
        2
    );
}

#[test]
fn demo_scans_the_bill_it_prints() {
    let (code, out, err) = billtap(&["demo"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("268.40 CNY"), "{out}");
    assert!(out.contains("北京市自来水集团"));
    assert!(out.contains("BJ-WATER-001"));
    assert!(
        out.contains("payee verified by the platform: 北京市自来水集团"),
        "{out}"
    );
    assert!(out.contains("******-****-0871"), "account masked: {out}");
    // The genuine bill raises no warning; the swapped sticker does, with the mismatch spelled out.
    assert_eq!(out.matches('⚠').count(), 1, "{out}");
    assert!(
        out.contains(
            "二维码上的名称（快捷代缴服务中心）与平台登记的收款方（北京市自来水集团）不一致"
        ),
        "{out}"
    );
}

#[test]
fn platform_commands_against_an_embedded_sandbox() {
    let (code, out, err) = billtap(&[
        "bills",
        "lookup",
        "--biller",
        "BJ-WATER-001",
        "--field",
        "account=110105-3345-0871",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["biller"]["id"], "BJ-WATER-001");
    assert_eq!(v["bills"][0]["amount_due"]["amount"], "268.40");
    let (code, _, err) = billtap(&[
        "bills",
        "lookup",
        "--biller",
        "BJ-WATER-001",
        "--field",
        "account=12",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("Account number does not have the expected format"),
        "{err}"
    );
    let (code, out, _) = billtap(&["billers", "search", "自来水", "--region", "31"]);
    assert_eq!(code, 0);
    assert!(out.contains("SH-WATER-001"), "{out}");
    let (code, out, err) = billtap(&["scan", "--resolve", &fixture_frame("water-bill-crop.png")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("payee verified by the platform"), "{out}");
    let (code, out, _) = billtap(&["catalog", "--locale", "en"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 9, "{out}");
}

#[test]
fn a_static_code_above_the_configured_limit_is_flagged() {
    // A reusable PIX code asking for 999.00 BRL.
    const STATIC_PIX: &str = "00020101021126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865406999.005802BR5913Fulano de Tal6008BRASILIA62070503***6304DE77";
    let dir = std::env::temp_dir().join(format!("billtap-cli-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("static.png");
    assert_eq!(
        billtap(&["qr", STATIC_PIX, "--out", png.to_str().unwrap()]).0,
        0
    );
    let png = png.to_str().unwrap();
    // In the default zh-CN and in English.
    let (_, out, err) = billtap(&["scan", "--resolve", "--static-limit", "500.00 BRL", png]);
    assert!(
        out.contains("要求支付 999.00 BRL，超过 500.00 BRL"),
        "{out}{err}"
    );
    let (_, out, err) = billtap(&[
        "scan",
        "--resolve",
        "--locale",
        "en",
        "--static-limit",
        "500.00 BRL",
        png,
    ]);
    assert!(
        out.contains("asks for 999.00 BRL, above 500.00 BRL"),
        "{out}{err}"
    );
    let (_, out, _) = billtap(&["scan", "--resolve", "--static-limit", "1000.00 BRL", png]);
    assert!(!out.contains("超过") && !out.contains("above"), "{out}");
    let (code, _, err) = billtap(&["scan", "--resolve", "--static-limit", "500", png]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("2000.00 CNY"), "{err}");
}

/// A bill with several codes: the payment code beside an app-download link. The payable code
/// comes first, the scan succeeds, and the other code is reported once, not as a failure.
#[test]
fn a_payable_code_beside_other_codes_exits_0_and_comes_first() {
    let dir = std::env::temp_dir().join(format!("billtap-cli-multi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pix, link) = (dir.join("pix.png"), dir.join("link.png"));
    let app_link = "https://app.example.cn/download?from=bill";
    assert_eq!(billtap(&["qr", PIX, "--out", pix.to_str().unwrap()]).0, 0);
    assert_eq!(
        billtap(&["qr", app_link, "--out", link.to_str().unwrap()]).0,
        0
    );
    let (a, b) = (
        image::open(&pix).unwrap().to_luma8(),
        image::open(&link).unwrap().to_luma8(),
    );
    // The link on the left, where a reader finds it first.
    let mut page = image::GrayImage::from_pixel(
        a.width() + b.width() + 60,
        a.height().max(b.height()) + 40,
        image::Luma([255]),
    );
    image::imageops::replace(&mut page, &b, 20, 20);
    image::imageops::replace(&mut page, &a, i64::from(b.width()) + 40, 20);
    let both = dir.join("both.png");
    page.save(&both).unwrap();

    let (code, out, err) = billtap(&["scan", "--json", both.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let texts: Vec<_> = v["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [PIX, app_link], "{out}");
    assert_eq!(v["codes"][0]["result"]["payable"], true);
    assert_eq!(v["codes"][1]["result"]["errors"][0]["code"], "not_payment");
    assert!(err.is_empty(), "{err}");

    let (code, out, err) = billtap(&["scan", both.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("not a payment code").count(), 1, "{out}");
    assert!(err.is_empty(), "{err}");

    // The link alone: not a payment, said once (on stdout, not again on stderr), exit 2.
    let (code, out, err) = billtap(&["scan", link.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(
        (out + &err).matches("not a payment code").count(),
        1,
        "printed twice"
    );
}

/// Two demo runs pay twice (two embedded sandboxes, two platform keys): the receipts are kept,
/// listed, shown and verified offline; an edited entry makes `receipts verify` exit 1 naming it.
#[test]
fn receipts_are_kept_verified_offline_and_tampering_is_named() {
    let dir = std::env::temp_dir().join(format!("billtap-cli-receipts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("store.sqlite");
    let s = store.to_str().unwrap();
    for _ in 0..2 {
        let (code, out, err) = billtap(&["demo", "--store", s]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("history: "), "{out}");
    }
    let (code, out, _) = billtap(&["receipts", "list", "--json", "--store", s]);
    assert_eq!(code, 0);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Each demo keeps three receipts: the water bill's, the transit card top-up's and the
    // keypad meter's (with its token).
    assert_eq!(rows.len(), 6, "{out}");
    assert_eq!(rows[0]["seq"], 6, "newest first");
    assert_eq!(rows[0]["category"], "utilities.prepaid_electricity");
    assert_eq!(rows[0]["sts_token"].as_str().map(str::len), Some(20));
    assert_eq!(rows[1]["category"], "transport.transit_card");
    let (_, out, _) = billtap(&[
        "receipts",
        "list",
        "--biller",
        "BJ-WATER-001",
        "--json",
        "--store",
        s,
    ]);
    let water: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(water.len(), 2, "{out}");
    assert_eq!(water[0]["amount"], "268.40");
    let (code, out, _) = billtap(&["receipts", "show", "1", "--json", "--store", s]);
    assert_eq!(code, 0, "{out}");
    let shown: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["verified"], true);
    assert_eq!(shown["receipt"]["n"], "北京市自来水集团");
    assert_eq!(billtap(&["receipts", "verify", "--store", s]).0, 0);
    let (code, out, _) = billtap(&["receipts", "export", "--format", "csv", "--store", s]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 7, "{out}");

    // The receipt as a QR code: scanned back from the PNG, verified offline with the key.
    let png = dir.join("receipt.png");
    let (code, _, err) = billtap(&[
        "receipts",
        "qr",
        "1",
        "--out",
        png.to_str().unwrap(),
        "--store",
        s,
    ]);
    assert_eq!(code, 0, "{err}");
    let c = rusqlite::Connection::open(&store).unwrap();
    let keys: Vec<(String, Vec<u8>)> = c
        .prepare("SELECT key_id, public_key FROM platform_keys")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let entries: Vec<String> = keys
        .iter()
        .map(|(id, k)| format!("{id}:{}", b64(k)))
        .collect();
    let (code, out, _) = billtap(&[
        "scan",
        "--json",
        "--key",
        &entries.join(","),
        png.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["codes"][0]["result"]["kind"], "receipt");
    assert_eq!(v["codes"][0]["result"]["verified"], true, "{out}");
    assert_eq!(v["codes"][0]["result"]["amount"], "268.40");
    let (_, out, _) = billtap(&["scan", "--json", png.to_str().unwrap()]);
    let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        v["codes"][0]["result"]["verified"], false,
        "no key, no trust"
    );

    c.execute_batch(
        "DROP TRIGGER receipts_are_append_only_update; UPDATE receipts SET amount = '2.68' WHERE seq = 2;",
    )
    .unwrap();
    let (code, out, _) = billtap(&["receipts", "verify", "--json", "--store", s]);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["problem"]["seq"], 2);
    assert_eq!(report["problem"]["kind"], "edited");
    assert_eq!(report["verified"], 1);
}

/// Standard base64, the pinned-key form.
fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn keep_commands_invoices_accounts_reminders_totals_and_import() {
    let sb = sandbox("keep-token");
    let dir = std::env::temp_dir().join(format!("billtap-cli-keep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("a.sqlite");
    let s = store.to_str().unwrap();
    let net = |args: &[&str], store: &str| {
        let mut all = args.to_vec();
        all.extend(["--platform", &sb.url, "--key", &sb.key, "--store", store]);
        billtap(&all)
    };
    let (code, out, err) = net(&["pay", "--bill", "W202610-0088123", "--json"], s);
    assert_eq!(code, 0, "{out}{err}");
    let paid: Value = serde_json::from_str(out.trim()).unwrap();
    let local = paid["payment_id"].as_str().unwrap();

    // Invoices: express through its states; bad delivery input is exit 2.
    let (code, out, err) = net(
        &[
            "invoice",
            "request",
            local,
            "--delivery",
            "express",
            "--recipient",
            "李四",
            "--phone",
            "13800138000",
            "--address",
            "北京市海淀区中关村大街27号",
            "--json",
        ],
        s,
    );
    assert_eq!(code, 0, "{out}{err}");
    let inv: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (inv["state"].as_str(), inv["delivery_kind"].as_str()),
        (Some("requested"), Some("express"))
    );
    let id = inv["invoice_id"].as_str().unwrap().to_string();
    assert_eq!(
        net(&["invoice", "request", local, "--delivery", "email"], s).0,
        2,
        "--email missing"
    );
    assert_eq!(
        net(&["invoice", "request", local, "--delivery", "pigeon"], s).0,
        2
    );
    for _ in 0..2 {
        let (status, body) = admin(&sb, "POST", &format!("/admin/invoices/{id}/advance"), None);
        assert_eq!(status, 200, "{body}");
    }
    let (code, out, _) = net(&["invoice", "status", &id, "--json"], s);
    assert_eq!(code, 0, "{out}");
    let sent: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(sent["state"], "sent");
    assert!(
        sent["tracking_number"]
            .as_str()
            .is_some_and(|t| t.ends_with("CN"))
    );
    let (_, out, _) = billtap(&["receipts", "show", "1", "--json", "--store", s]);
    let shown: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["invoice_state"], "sent");
    // Offline (nothing listens there): the kept state, exit 0.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (code, out, err) = billtap(&[
        "invoice",
        "status",
        &id,
        "--json",
        "--platform",
        &closed,
        "--key",
        &sb.key,
        "--store",
        s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"sent\""), "{out}");

    // Accounts: saved on one phone, synced to a second; reminders from a bill due in two days.
    let due = {
        let today = billtap_core::dates::china_day_of(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
        );
        billtap_core::dates::format_day(today + 2)
    };
    let (status, body) = admin(
        &sb,
        "POST",
        "/admin/bills",
        Some(&format!(
            r#"{{"biller_id":"BJ-GAS-001","account":"110105-9999-0001","amount_fen":4560,"due_date":"{due}"}}"#
        )),
    );
    assert_eq!(status, 201, "{body}");
    let (code, out, err) = net(
        &[
            "accounts",
            "add",
            "BJ-GAS-001",
            "110105-9999-0001",
            "--nickname",
            "家里燃气",
            "--json",
        ],
        s,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = billtap(&["accounts", "list", "--json", "--store", s]);
    assert_eq!(code, 0);
    let saved: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        (saved["nickname"].as_str(), saved["synced"].as_bool()),
        (Some("家里燃气"), Some(true))
    );
    let other = dir.join("b.sqlite");
    let (code, out, _) = net(&["accounts", "sync", "--json"], other.to_str().unwrap());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("家里燃气"),
        "a second phone gets the account: {out}"
    );
    assert_eq!(
        net(&["accounts", "add", "NO-SUCH", "1", "--nickname", "x"], s).0,
        2
    );
    let (code, out, err) = net(&["reminders", "--refresh", "--json"], s);
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            r["status"].as_str(),
            r["days_left"].as_i64(),
            r["amount"].as_str(),
            r["currency"].as_str()
        ),
        (Some("due_soon"), Some(2), Some("45.60"), Some("CNY"))
    );
    let (code, out, _) = billtap(&["reminders", "--json", "--store", s]);
    assert_eq!(
        (code, out.lines().count()),
        (0, 1),
        "offline, from the kept bills"
    );
    let account_id = saved["account_id"].as_str().unwrap();
    assert_eq!(net(&["accounts", "remove", account_id], s).0, 0);
    let (_, out, _) = billtap(&["accounts", "list", "--json", "--store", s]);
    assert!(out.trim().is_empty(), "{out}");

    // Totals, and an export imported into a new store; a forged receipt is refused (exit 1).
    let (code, out, _) = billtap(&["receipts", "totals", "--json", "--store", s]);
    assert_eq!(code, 0);
    let totals: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(totals["by_category"][0]["key"], "utilities");
    assert_eq!(totals["by_category"][0]["amount"], "268.40");
    assert_eq!(totals["by_category"][0]["currency"], "CNY");
    assert_eq!(totals["by_category"][0]["count"], 1);
    let (_, export, _) = billtap(&["receipts", "export", "--format", "json", "--store", s]);
    let file = dir.join("export.json");
    std::fs::write(&file, &export).unwrap();
    let fresh = dir.join("c.sqlite");
    let import = |file: &std::path::Path| {
        billtap(&[
            "receipts",
            "import",
            file.to_str().unwrap(),
            "--json",
            "--key",
            &sb.key,
            "--store",
            fresh.to_str().unwrap(),
        ])
    };
    let (code, out, err) = import(&file);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["added"], 1);
    let mut items: Vec<Value> = serde_json::from_str(&export).unwrap();
    let cose = items[0]["cose"].as_str().unwrap().to_string();
    use base64::Engine as _;
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(&cose)
        .unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    items[0]["cose"] = b64(&bytes).into();
    let forged = dir.join("forged.json");
    std::fs::write(&forged, serde_json::to_string(&items).unwrap()).unwrap();
    let other_store = dir.join("d.sqlite");
    let (code, out, _) = billtap(&[
        "receipts",
        "import",
        forged.to_str().unwrap(),
        "--json",
        "--key",
        &sb.key,
        "--store",
        other_store.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (
            report["added"].as_u64(),
            report["refused"][0]["index"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

#[test]
fn card_read_taps_the_simulated_card_and_an_exec_reader() {
    let dir = std::env::temp_dir().join(format!("billtap-cli-card-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let card = dir.join("card.json");
    let c = card.to_str().unwrap();
    let (code, out, err) = billtap(&["card", "read", "--reader", "sim", "--card", c, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (
            v["application"].as_str(),
            v["balance"].as_str(),
            v["currency"].as_str()
        ),
        (Some("t-union"), Some("10.00"), Some("CNY"))
    );
    assert_eq!(v["serial"].as_str().map(str::len), Some(20));
    assert!(card.exists(), "the simulated card is kept in its file");
    // A card emulator in another language, over the exec reader: it leaves mid-read (exit 3).
    let emulator = dir.join("leaves.sh");
    std::fs::write(
        &emulator,
        "while read apdu; do case $apdu in 00A4*) echo 6F009000;; *) echo TAGLOST;; esac; done\n",
    )
    .unwrap();
    let exec = format!("exec:sh {}", emulator.display());
    let (code, _, err) = billtap(&["card", "read", "--reader", &exec]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("moved away"), "{err}");
    // A card without an e-purse application (every SELECT 6A82): exit 1.
    let none = dir.join("none.sh");
    std::fs::write(&none, "while read apdu; do echo 6A82; done\n").unwrap();
    let exec = format!("exec:sh {}", none.display());
    assert_eq!(billtap(&["card", "read", "--reader", &exec]).0, 1);
    // A damaged card file is bad input (exit 2), and stays as it was.
    std::fs::write(&card, "{\"not\": \"a card\"}").unwrap();
    assert_eq!(billtap(&["card", "read", "--card", c]).0, 2);
    assert_eq!(
        std::fs::read_to_string(&card).unwrap(),
        "{\"not\": \"a card\"}"
    );
    assert_eq!(billtap(&["card", "read", "--reader", "bogus"]).0, 2);
}

/// The libnfc reader, linked against the system's libnfc: a reader that is not there is
/// refused before anything happens, saying where it looked and what to try.
#[cfg(feature = "nfc")]
#[test]
fn nfc_reader_names_a_missing_reader() {
    let dir = std::env::temp_dir().join(format!("billtap-cli-nfc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("s.sqlite");
    let port = dir.join("no-such-tty");
    let reader = format!("nfc:pn532_uart:{}", port.display());
    let (code, out, err) = billtap(&[
        "card",
        "read",
        "--store",
        store.to_str().unwrap(),
        "--reader",
        &reader,
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("no NFC reader") && err.contains("no-such-tty"),
        "{err}"
    );
    assert!(!store.exists(), "nothing is created without a card");
}

#[test]
fn topup_loads_the_simulated_card_once_and_exits_by_outcome() {
    let sb = sandbox("topup-token");
    let dir = std::env::temp_dir().join(format!("billtap-cli-topup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("s.sqlite");
    let card = dir.join("card.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "topup",
            "--card",
            card.to_str().unwrap(),
            "--platform",
            &sb.url,
            "--key",
            &sb.key,
            "--store",
            store.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        billtap(&args)
    };
    let (code, out, err) = run(&["--amount", "50", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["state"].as_str(), v["amount"].as_str()),
        (Some("completed"), Some("50.00"))
    );
    let (_, out, _) = billtap(&["card", "read", "--card", card.to_str().unwrap(), "--json"]);
    let read: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(read["balance"], "60.00");
    assert_eq!(read["transactions"][0]["amount"], "50.00");
    // Bad input (2), nothing taken (1: the ¥10 account cannot pay 50).
    assert_eq!(run(&["--amount", "5000"]).0, 2);
    assert_eq!(run(&["--amount", "abc"]).0, 2);
    let (code, out, _) = run(&["--amount", "50", "--from", "6217000010000000002"]);
    assert_eq!(code, 1, "{out}");
    let (_, out, _) = billtap(&["card", "read", "--card", card.to_str().unwrap(), "--json"]);
    let read: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        read["balance"], "60.00",
        "nothing loaded when nothing was paid"
    );
    // The load's receipt is in the history.
    let (_, out, _) = billtap(&[
        "receipts",
        "list",
        "--json",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    // Torn: billtap's own card over the exec reader leaves the field right after CREDIT FOR
    // LOAD ran (the 4th command): the outcome is not known (3) until `card read` settles it.
    let exec = format!(
        "exec:{} card emulate --card {} --tear-after 4",
        env!("CARGO_BIN_EXE_billtap"),
        card.display()
    );
    let (code, out, err) = run(&["--amount", "20", "--reader", &exec, "--json"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("keep it still"), "progress on stderr: {err}");
    let read = || {
        let (code, out, err) = billtap(&[
            "card",
            "read",
            "--card",
            card.to_str().unwrap(),
            "--json",
            "--platform",
            &sb.url,
            "--key",
            &sb.key,
            "--store",
            store.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}{err}");
        serde_json::from_str::<Value>(out.trim()).unwrap()
    };
    let v = read();
    assert_eq!(v["settled_topup"]["state"], "completed", "{v}");
    assert_eq!(v["balance"], "80.00", "loaded once");
    // Nothing left to settle: the next read sends nothing.
    let read = read();
    assert_eq!(
        (read["settled_topup"].is_null(), &read["balance"]),
        (true, &Value::from("80.00"))
    );
}

/// A file-based meter card made by `card new --meter`, loaded by `topup` through the
/// platform's script, torn right after the write ran (the 9th command: four SELECTs — two
/// purse names, DF 1001, the meter application — EF 01, EF 02, GET CHALLENGE, the script's
/// SELECT EF 02, its UPDATE) and settled once by `card read`.
#[test]
fn a_simulated_meter_card_is_made_loaded_and_settled_from_the_cli() {
    let sb = sandbox("meter-card");
    let dir = std::env::temp_dir().join(format!("billtap-cli-mcard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("s.sqlite");
    let card = dir.join("meter.json");
    let c = card.to_str().unwrap();
    let (code, out, err) = billtap(&["card", "new", "--card", c, "--meter", "01234567890"]);
    assert_eq!(code, 0, "{out}{err}");
    // Never over an existing card; a meter card starts empty.
    assert_eq!(billtap(&["card", "new", "--card", c]).0, 2);
    let other = dir.join("other.json");
    let o = other.to_str().unwrap();
    assert_eq!(
        billtap(&["card", "new", "--card", o, "--meter", "1", "--balance", "5"]).0,
        2
    );
    assert_eq!(
        billtap(&["card", "new", "--card", o, "--meter", "12ab"]).0,
        2
    );
    assert!(!other.exists());
    // `cmd` on the card in file `on`, against the sandbox, JSON out.
    let tap = |on: &str, cmd: &[&str]| {
        let mut args = cmd.to_vec();
        args.extend_from_slice(&["--card", on, "--platform", &sb.url, "--key", &sb.key]);
        args.extend_from_slice(&["--store", store.to_str().unwrap(), "--json"]);
        billtap(&args)
    };
    let platform = |cmd: &[&str]| tap(c, cmd);
    let (code, out, err) = platform(&["topup", "--amount", "30"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap()["state"],
        "completed"
    );
    let exec = format!(
        "exec:{} card emulate --card {c} --tear-after 9",
        env!("CARGO_BIN_EXE_billtap")
    );
    let (code, out, err) = platform(&["topup", "--amount", "20", "--reader", &exec]);
    assert_eq!(code, 3, "{out}{err}");
    let (code, out, err) = platform(&["card", "read"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (
            v["application"].as_str(),
            v["meter"].as_str(),
            v["settled_topup"]["state"].as_str(),
            v["balance"].as_str()
        ),
        (
            Some("meter-card"),
            Some("01234567890"),
            Some("completed"),
            Some("50.00")
        ),
        "30 + 20, each once: {v}"
    );
    // A CPU meter card: the transit card's e-purse, found by file id (DF 1001).
    let cpu = dir.join("cpu-meter.json");
    let p = cpu.to_str().unwrap();
    let (code, out, err) = billtap(&["card", "new", "--card", p, "--cpu-meter", "--balance", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = tap(p, &["topup", "--amount", "40"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = tap(p, &["card", "read"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["application"].as_str(), v["balance"].as_str()),
        (Some("e-purse"), Some("40.00")),
        "{v}"
    );
}

#[test]
fn meter_token_is_paid_once_shown_formatted_and_kept_offline() {
    let sb = sandbox("meter-token");
    let dir = std::env::temp_dir().join(format!("billtap-cli-meter-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = dir.join("s.sqlite");
    let s = store.to_str().unwrap();
    let (code, out, err) = billtap(&[
        "meter",
        "token",
        "--meter",
        "01234567890",
        "--amount",
        "50",
        "--json",
        "--platform",
        &sb.url,
        "--key",
        &sb.key,
        "--store",
        s,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(v["state"], "succeeded");
    assert_eq!(token.len(), 24, "{token}");
    assert_eq!(
        token.split(' ').map(str::len).collect::<Vec<_>>(),
        [4, 4, 4, 4, 4]
    );
    // Shown again offline (no platform), in the list and on the receipt.
    let (code, out, _) = billtap(&["meter", "tokens", "--json", "--store", s]);
    assert_eq!(code, 0);
    let kept: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (kept["token"].as_str(), kept["amount"].as_str()),
        (Some(token.as_str()), Some("50.00"))
    );
    let (_, out, _) = billtap(&["receipts", "list", "--json", "--store", s]);
    let row: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        row["sts_token"].as_str(),
        Some(token.replace(' ', "").as_str())
    );
    // Bad input (2): the amount, a meter number that is not 11 or 13 digits (checked before
    // anything is sent); the platform's refusal (1): below the biller's minimum.
    let run = |meter: &str, amount: &str| {
        billtap(&[
            "meter",
            "token",
            "--meter",
            meter,
            "--amount",
            amount,
            "--platform",
            &sb.url,
            "--key",
            &sb.key,
            "--store",
            s,
        ])
        .0
    };
    assert_eq!(run("01234567890", "lots"), 2);
    assert_eq!(run("0123", "50"), 2);
    assert_eq!(run("0123456789a", "50"), 2);
    assert_eq!(run("01234567890", "5"), 1);
    let (_, out, _) = billtap(&["meter", "tokens", "--store", s]);
    assert_eq!(out.lines().count(), 1, "nothing else was paid: {out}");
}
