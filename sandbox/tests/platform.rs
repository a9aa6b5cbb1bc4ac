//! The platform client against the real sandbox over loopback HTTP: catalog, search, lookups
//! in every category, refusals, forged and stale signatures, key rotation, retries under
//! injected faults, timeouts, the offline catalog, and resolving a scanned bill.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use billtap_core::platform::{
    BillerQuery, PayeeWarningCode, PinnedKeys, PlatformClient, PlatformConfig, PlatformError,
    ResponseSigner, SignatureHeaders, TrustError,
};
use billtap_core::ports::SystemClock;
use billtap_core::scan::{Detail, EmvWriter, Initiation, Scanned};
use billtap_sandbox::{Sandbox, SandboxOptions};
use serde_json::json;

/// A plain HTTP client for admin calls (the process-wide TLS provider is ring, as in the app).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions::default()).unwrap()
}

fn client_for(sb: &Sandbox, tweak: impl FnOnce(&mut PlatformConfig)) -> PlatformClient {
    let mut cfg = PlatformConfig::new(&sb.url(), vec![sb.pinned_key()]);
    cfg.backoff = Duration::from_millis(20);
    tweak(&mut cfg);
    PlatformClient::new(cfg, Arc::new(SystemClock)).unwrap()
}

/// POSTs a JSON body to one of the sandbox's admin endpoints, with its token.
async fn admin(sb: &Sandbox, path: &str, body: serde_json::Value) -> reqwest::Response {
    http()
        .post(format!("{}/admin/{path}", sb.url()))
        .bearer_auth(sb.admin_token())
        .json(&body)
        .send()
        .await
        .unwrap()
}

const NONCE: &str = "AAAAAAAAAAAAAAAAAAAAAA";

async fn fault(sb: &Sandbox, path_prefix: &str, fault: &str, count: u32) {
    let body = json!({"path_prefix": path_prefix, "fault": fault, "count": count});
    assert_eq!(admin(sb, "faults", body).await.status(), 204);
}

fn fields(key: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(key.to_string(), value.to_string())])
}

#[tokio::test]
async fn catalog_has_nine_categories_and_revalidates_by_etag() {
    let sb = sandbox();
    let c = client_for(&sb, |_| {});
    let first = c.catalog().await.unwrap();
    assert_eq!(first.categories.len(), 9);
    assert!(
        first
            .categories
            .iter()
            .map(|c| c.subcategories.len())
            .sum::<usize>()
            >= 50
    );
    assert!(
        first
            .categories
            .iter()
            .any(|c| c.id == "utilities" && c.name == "生活缴费")
    );
    let second = c.catalog().await.unwrap(); // If-None-Match → 304 → cached copy
    assert_eq!(first, second);
    let en = client_for(&sb, |cfg| cfg.locale = "en".into())
        .catalog()
        .await
        .unwrap();
    assert!(en.categories.iter().any(|c| c.name == "Utilities"));
}

#[tokio::test]
async fn biller_logos_are_served_at_their_catalog_urls() {
    let sb = sandbox();
    let c = client_for(&sb, |_| {});
    let water = c.biller("BJ-WATER-001").await.unwrap();
    let school = c.biller("BJ-TUITION-001").await.unwrap();
    let mut logos = Vec::new();
    for b in [&water, &school, &water] {
        let r = http().get(&b.logo_url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", b.logo_url);
        assert_eq!(r.headers()["content-type"], "image/png");
        let img = image::load_from_memory(&r.bytes().await.unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (96, 96));
        logos.push(img);
    }
    // Stable per biller, different between billers (category colour and pattern).
    assert_eq!(logos[0], logos[2]);
    assert_ne!(logos[0], logos[1]);
    assert_ne!(logos[0].get_pixel(0, 0), logos[1].get_pixel(0, 0));
    let missing = http()
        .get(format!("{}/static/logos/NO-SUCH-001.png", sb.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn search_by_text_category_region_with_pagination() {
    let sb = sandbox();
    let c = client_for(&sb, |_| {});
    let water = c
        .search_billers(&BillerQuery {
            text: Some("自来水".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(water.items.len(), 8);
    assert!(water.items.iter().all(|b| b.category == "utilities.water"));
    let bj_edu = c
        .search_billers(&BillerQuery {
            category: Some("education".into()),
            region: Some("110105".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        !bj_edu.items.is_empty()
            && bj_edu
                .items
                .iter()
                .all(|b| b.region == "11" && b.category.starts_with("education."))
    );
    let mut all = 0;
    let mut token = None;
    loop {
        let page = c
            .search_billers(&BillerQuery {
                page_size: Some(100),
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        all += page.items.len();
        token = page.next_page_token;
        if token.is_none() {
            break;
        }
    }
    assert!(all >= 200, "{all} billers");
}

#[tokio::test]
async fn lookup_in_every_category() {
    let sb = sandbox();
    let c = client_for(&sb, |_| {});
    for cat in c.catalog().await.unwrap().categories {
        let page = c
            .search_billers(&BillerQuery {
                category: Some(cat.id.clone()),
                region: Some("11".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let biller = page
            .items
            .first()
            .unwrap_or_else(|| panic!("no Beijing biller in {}", cat.id));
        let field = &biller.lookup_fields[0];
        let found = c
            .lookup(
                &biller.id,
                &fields(&field.key, field.example.as_deref().unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(found.biller.id, biller.id);
        if biller.amount_rule.kind == "payer_chosen" {
            assert!(
                found.bills.is_empty(),
                "{} takes payer-chosen amounts",
                biller.id
            );
        } else {
            let bill = &found.bills[0];
            assert_eq!(bill.status, "open");
            assert!(bill.amount_due.to_money().unwrap().amount > rust_decimal::Decimal::ZERO);
            assert!(
                bill.account_masked.contains('*'),
                "account numbers are masked: {}",
                bill.account_masked
            );
        }
    }
}

#[tokio::test]
async fn refusals_are_typed() {
    let sb = sandbox();
    let c = client_for(&sb, |_| {});
    match c
        .lookup("NO-SUCH-BILLER", &fields("account", "110105-3345-0871"))
        .await
    {
        Err(PlatformError::Refused {
            status: 404, kind, ..
        }) => assert_eq!(kind, "unknown-biller"),
        other => panic!("{other:?}"),
    }
    match c
        .lookup("BJ-WATER-001", &fields("account", "999999-9999-9999"))
        .await
    {
        Err(PlatformError::Refused {
            status: 404, kind, ..
        }) => assert_eq!(kind, "unknown-account"),
        other => panic!("{other:?}"),
    }
    match c.lookup("BJ-WATER-001", &fields("account", "12-34")).await {
        Err(PlatformError::Refused {
            status: 422,
            fields,
            ..
        }) => assert_eq!(fields[0].0, "account"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.bill("../etc").await,
        Err(PlatformError::Config(_))
    ));
}

#[tokio::test]
async fn requests_outside_the_spec_get_signed_problem_documents() {
    let sb = sandbox();
    let base = sb.url();
    let keys = PinnedKeys::parse(&[sb.pinned_key()]).unwrap();
    let get = |path: String| {
        http()
            .get(format!("{base}{path}"))
            .header("Billtap-Nonce", NONCE)
            .send()
    };
    let post = |path: &str, body: serde_json::Value| {
        http()
            .post(format!("{base}{path}"))
            .header("Billtap-Nonce", NONCE)
            .json(&body)
            .send()
    };
    for resp in [
        get("/v1/billers?region=x1".into()).await.unwrap(),
        get("/v1/billers?region=1234567".into()).await.unwrap(),
        get("/v1/billers?region=11&region=31".into()).await.unwrap(),
        get("/v1/billers?category=Utilities".into()).await.unwrap(),
        get(format!("/v1/billers?q={}", "水".repeat(65))).await.unwrap(),
        get("/v1/billers?page_token=o1234567890".into()).await.unwrap(),
        get("/v1/billers?page_size=many".into()).await.unwrap(),
        post("/v1/payees/resolve", serde_json::json!({"scheme": "emv_mpm", "payee_name_in_code": "x".repeat(100)})).await.unwrap(),
        post("/v1/payees/resolve", serde_json::json!({"scheme": "emv_mpm", "merchant_account_tag": "2x"})).await.unwrap(),
        post("/v1/bills/lookup", serde_json::json!({"biller_id": "BJ-WATER-001", "fields": {"account": "1".repeat(65)}})).await.unwrap(),
        post("/v1/bills/lookup", serde_json::json!({"biller_id": "BJ-WATER-001", "references": vec![serde_json::json!({"kind": "k", "value": "v"}); 17]})).await.unwrap(),
        post("/v1/bills/lookup", serde_json::json!({"fields": {}})).await.unwrap(),
    ] {
        let url = resp.url().to_string();
        assert_eq!(resp.status().as_u16(), 400, "{url}");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        assert_eq!(headers["content-type"], "application/problem+json", "{url}");
        let body = resp.bytes().await.unwrap();
        let sig = SignatureHeaders::from_lookup(|n| headers.get(n).and_then(|v| v.to_str().ok())).unwrap();
        // Signed over the request it answers (the body the test sent is what reqwest sent).
        assert_eq!(sig.request_digest.len(), 64, "{url}");
        keys.verify(&sig.request_digest, status, "", &body, &sig, &SystemClock).unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 400, "{url}");
        assert!(!problem["detail"].as_str().unwrap_or_default().is_empty(), "{url}");
    }
    // Within the limits, and `null` as absent: answered.
    let ok = post("/v1/payees/resolve", serde_json::json!({"scheme": "emv_mpm", "guid": null, "payee_name_in_code": "x".repeat(99)})).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let ok = get("/v1/billers?region=3101&category=utilities.water&page_token=o0".into())
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn forged_stale_and_unknown_key_responses_are_refused() {
    let sb = sandbox();
    let c = client_for(&sb, |_| {});
    fault(&sb, "/v1/billers/BJ-WATER-001", "bad_signature", 1).await;
    assert_eq!(
        c.biller("BJ-WATER-001").await.unwrap_err(),
        PlatformError::Untrusted(TrustError::BadSignature)
    );
    // Platform time three hours from the device's: freshness comes from the nonce.
    fault(&sb, "/v1/billers/BJ-WATER-001", "stale", 1).await;
    assert_eq!(c.biller("BJ-WATER-001").await.unwrap().id, "BJ-WATER-001");
    assert!((c.platform_clock_offset() + 10_800).abs() < 60);
    // A genuine signature over another request's digest: replayed.
    fault(&sb, "/v1/billers/BJ-WATER-001", "replay", 1).await;
    assert_eq!(
        c.biller("BJ-WATER-001").await.unwrap_err(),
        PlatformError::Untrusted(TrustError::NotForThisRequest)
    );
    assert_eq!(c.biller("BJ-WATER-001").await.unwrap().id, "BJ-WATER-001");

    // Rotation: an app pinning the next key as well still trusts the current one; an app that
    // pins only a key of another id refuses; a different key under the same id is a forgery.
    let next = ResponseSigner::generate("sandbox-2")
        .unwrap()
        .pinned()
        .to_entry();
    let rotating = client_for(&sb, |cfg| {
        cfg.pinned_keys = vec![next.clone(), sb.pinned_key()]
    });
    assert!(rotating.biller("BJ-WATER-001").await.is_ok());
    let rotated_away = client_for(&sb, |cfg| cfg.pinned_keys = vec![next]);
    assert!(matches!(
        rotated_away.biller("BJ-WATER-001").await,
        Err(PlatformError::Untrusted(TrustError::UnknownKey { .. }))
    ));
    let current_id = sb.pinned_key().split(':').next().unwrap().to_string();
    let impostor = ResponseSigner::generate(&current_id)
        .unwrap()
        .pinned()
        .to_entry();
    let fooled = client_for(&sb, |cfg| cfg.pinned_keys = vec![impostor]);
    assert_eq!(
        fooled.biller("BJ-WATER-001").await.unwrap_err(),
        PlatformError::Untrusted(TrustError::BadSignature)
    );
}

#[tokio::test]
async fn a_live_key_rotation_keeps_apps_that_pinned_the_announced_key() {
    let sb = sandbox();
    let first = sb.pinned_key();
    // The platform announces its next key; apps released after that pin both.
    let announced = admin(&sb, "keys/next", json!({"key_id": "sandbox-2"})).await;
    assert_eq!(announced.status(), 201);
    let next = announced.json::<serde_json::Value>().await.unwrap()["pinned_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(next.starts_with("sandbox-2:") && next != first);
    let old_app = client_for(&sb, |cfg| cfg.pinned_keys = vec![first.clone()]);
    let updated_app = client_for(&sb, |cfg| {
        cfg.pinned_keys = vec![next.clone(), first.clone()]
    });
    assert!(old_app.biller("BJ-WATER-001").await.is_ok());
    assert!(updated_app.biller("BJ-WATER-001").await.is_ok());

    let rotated = admin(&sb, "keys/rotate", json!({})).await;
    assert_eq!(rotated.status(), 200);
    // The rotation's own answer is already signed with the new key.
    let id = rotated.headers()["billtap-key-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id, "sandbox-2");
    assert_eq!(sb.pinned_key(), next);

    assert!(updated_app.biller("BJ-WATER-001").await.is_ok());
    assert_eq!(
        old_app.biller("BJ-WATER-001").await.unwrap_err(),
        PlatformError::Untrusted(TrustError::UnknownKey {
            key_id: "sandbox-2".into()
        })
    );
    let new_app = client_for(&sb, |cfg| cfg.pinned_keys = vec![next.clone()]);
    assert!(new_app.catalog().await.is_ok());

    // Rotating again needs another announcement; the current id cannot be re-announced.
    let again = admin(&sb, "keys/rotate", json!({})).await;
    assert_eq!(again.status(), 409);
    let same_id = admin(&sb, "keys/next", json!({"key_id": "sandbox-2"})).await;
    assert_eq!(same_id.status(), 422);
}

#[tokio::test]
async fn retries_ride_out_errors_and_drops_then_give_up() {
    let sb = sandbox();
    let c = client_for(&sb, |cfg| cfg.retries = 2);
    fault(&sb, "/v1/billers/SH-GAS-001", "status_500", 2).await;
    assert_eq!(c.biller("SH-GAS-001").await.unwrap().id, "SH-GAS-001");
    fault(&sb, "/v1/billers/SH-GAS-001", "drop", 2).await;
    assert_eq!(c.biller("SH-GAS-001").await.unwrap().id, "SH-GAS-001");
    fault(&sb, "/v1/billers/SH-GAS-001", "status_500", 3).await;
    assert_eq!(
        c.biller("SH-GAS-001").await.unwrap_err(),
        PlatformError::Unavailable { status: 500 }
    );
    fault(&sb, "/v1/billers/SH-GAS-001", "unsigned_503", 3).await;
    assert_eq!(
        c.biller("SH-GAS-001").await.unwrap_err(),
        PlatformError::Intermediary { status: 503 }
    );
    let impatient = client_for(&sb, |cfg| {
        cfg.retries = 1;
        cfg.request_timeout = Duration::from_millis(300);
    });
    fault(&sb, "/v1/billers/SH-GAS-001", "delay:1500", 2).await;
    assert_eq!(
        impatient.biller("SH-GAS-001").await.unwrap_err(),
        PlatformError::Timeout
    );
}

/// The app's store, where the offline catalog is kept.
fn store(dir: &std::path::Path) -> Arc<dyn billtap_core::platform::ResponseCache> {
    Arc::new(billtap_core::store::Store::open(&dir.join("store.sqlite")).unwrap())
}

#[tokio::test]
async fn catalog_is_available_offline_from_the_cache() {
    let dir = std::env::temp_dir().join(format!("billtap-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (url, key, online) = {
        let sb = sandbox();
        let c = client_for(&sb, |cfg| cfg.cache = Some(store(&dir)));
        (sb.url(), sb.pinned_key(), c.catalog().await.unwrap())
    }; // the sandbox stops here
    let mut cfg = PlatformConfig::new(&url, vec![key]);
    cfg.cache = Some(store(&dir));
    cfg.retries = 0;
    let offline = PlatformClient::new(cfg, Arc::new(SystemClock))
        .unwrap()
        .catalog()
        .await
        .unwrap();
    assert!(offline.from_cache);
    assert_eq!(offline.categories, online.categories);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_scanned_printed_bill_resolves_to_the_verified_payee_and_bill() {
    let sb = sandbox();
    let c = client_for(&sb, |_| {});
    // The sandbox prints the bill's QR code; scan that PNG as the phone would.
    let png = http()
        .get(format!("{}/v1/bills/W202610-0088123/qr.png", sb.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let img = image_luma(&png);
    let frame = billtap_core::scan::LumaFrame::new(&img.0, img.1, img.2, img.1).unwrap();
    let codes = billtap_core::scan::scan_frame(&frame).unwrap();
    let scanned = codes[0].payload.as_ref().unwrap();
    let view = c.resolve(scanned).await.unwrap();
    let payee = view.payee.unwrap();
    assert_eq!(
        (payee.id.as_str(), payee.name.as_str()),
        ("BJ-WATER-001", "北京市自来水集团")
    );
    assert_eq!(view.bills.len(), 1);
    assert_eq!(view.bills[0].amount_due.amount, "268.40");
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);

    // A merchant code the platform does not know gets an explicit warning, never a name.
    let pix = billtap_core::scan::parse_text("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D").unwrap();
    let view = c.resolve(&pix).await.unwrap();
    assert!(view.payee.is_none());
    assert_eq!(view.warnings.len(), 1, "{:?}", view.warnings);
    assert_eq!(view.warnings[0].code, PayeeWarningCode::Unregistered);
    assert!(view.warnings[0].message.contains("未在缴费平台登记"));
    let en = client_for(&sb, |cfg| cfg.locale = "en".into());
    let view = en.resolve(&pix).await.unwrap();
    assert!(view.warnings[0].message.contains("not registered"));
}

/// A payload from `tests/fixtures/payloads.json`, by name.
fn fixture(name: &str) -> String {
    let all: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../tests/fixtures/payloads.json")).unwrap();
    all.iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["payload"].as_str())
        .unwrap()
        .to_string()
}

/// A static UnionPay counter code (tag 15) with the given account, names and amount.
fn unionpay_code(account: &str, name_en: &str, name_zh: &str, amount: Option<&str>) -> Scanned {
    let mut code = EmvWriter::new(Initiation::Static)
        .field(15, account)
        .field(52, "8062")
        .field(53, "156");
    if let Some(a) = amount {
        code = code.field(54, a);
    }
    let payload = code
        .field(58, "CN")
        .field(59, name_en)
        .field(60, "BEIJING")
        .template(64, &[(0, "ZH"), (1, name_zh)])
        .build()
        .unwrap();
    billtap_core::scan::parse_text(&payload).unwrap()
}

#[tokio::test]
async fn a_registered_merchant_code_resolves_to_its_biller() {
    let sb = sandbox();
    let c = client_for(&sb, |cfg| {
        cfg.static_amount_warning = Some("2000.00 CNY".parse().unwrap())
    });
    // A hospital's static UnionPay counter code, as the sandbox registers it.
    let payload = sb.merchant_qr_payload("BJ-OUTPATIENT-001").unwrap();
    assert_eq!(payload, fixture("billtap-sandbox-unionpay-hospital"));
    let counter = billtap_core::scan::parse_text(&payload).unwrap();
    let view = c.resolve(&counter).await.unwrap();
    assert_eq!(view.payee.unwrap().name, "北京市人民医院");
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);

    // The same merchant account under another printed name, asking for more than the static
    // limit: the registered payee is shown, with both warnings.
    let Detail::EmvMpm(emv) = &counter.detail else {
        panic!("not EMV: {:?}", counter.detail)
    };
    let account = emv.merchant_accounts[0].value.clone().unwrap();
    let relabelled = unionpay_code(&account, "HEALTH FUND", "医疗互助基金", Some("5000.00"));
    let view = c.resolve(&relabelled).await.unwrap();
    assert_eq!(view.payee.unwrap().id, "BJ-OUTPATIENT-001");
    let codes: Vec<_> = view.warnings.iter().map(|w| w.code).collect();
    assert_eq!(
        codes,
        [
            PayeeWarningCode::NameMismatch,
            PayeeWarningCode::StaticAmountAboveLimit
        ]
    );
    assert!(view.warnings[0].message.contains("医疗互助基金"));

    // A UnionPay account the platform has not registered: no payee, only the warning.
    let other_account = format!("{}9999999", &account[..24]);
    let lookalike = unionpay_code(
        &other_account,
        "BEIJING PEOPLE'S HOSPITAL",
        "北京市人民医院",
        None,
    );
    let view = c.resolve(&lookalike).await.unwrap();
    assert!(view.payee.is_none());
    let codes: Vec<_> = view.warnings.iter().map(|w| w.code).collect();
    assert_eq!(codes, [PayeeWarningCode::Unregistered]);
}

#[tokio::test]
async fn a_swapped_sticker_shows_the_registered_payee_and_a_warning() {
    // A fraudster's sticker over a real bill's code: the biller and account are real (so the
    // lookup finds the bill), the printed names are the fraudster's.
    let sticker = fixture("billtap-swapped-sticker");
    let scanned = billtap_core::scan::parse_text(&sticker).unwrap();
    let sb = sandbox();
    for (locale, expected) in [
        (
            "zh-CN",
            "二维码上的名称（快捷代缴服务中心）与平台登记的收款方（北京市自来水集团）不一致",
        ),
        (
            "en",
            "the name printed on the code (快捷代缴服务中心) is not the registered payee (Beijing Waterworks)",
        ),
    ] {
        let view = client_for(&sb, |cfg| cfg.locale = locale.into())
            .resolve(&scanned)
            .await
            .unwrap();
        // What the user is told they pay is the platform's record, never the sticker.
        assert_eq!(view.payee.unwrap().id, "BJ-WATER-001");
        assert_eq!(view.name_in_code.as_deref(), Some("快捷代缴服务中心"));
        assert_eq!(view.warnings.len(), 1, "{:?}", view.warnings);
        assert_eq!(view.warnings[0].code, PayeeWarningCode::NameMismatch);
        assert!(
            view.warnings[0].message.contains(expected),
            "{}",
            view.warnings[0].message
        );
    }
}

fn image_luma(png: &[u8]) -> (Vec<u8>, u32, u32) {
    let img = image::load_from_memory(png).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    (img.into_raw(), w, h)
}
