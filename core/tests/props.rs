//! Property tests: our EMV encoder round-trips through the parser, any single-character change
//! to a payload is caught, and no input makes a parser panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use billtap_core::money::{Currency, Money};
use billtap_core::scan::{
    BilltapBill, EmvWriter, Initiation, RefKind, ScanError, iso11649_is_valid, parse_payload,
    parse_text, qr_reference_is_valid,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Printable text as found in names: ASCII letters, CJK, Cyrillic, accents; never empty.
fn name_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        "[A-Za-z0-9 .&'-]{0,10}[A-Za-z北京市自来水集团电力燃气Водоканалéü]{1,12}",
    )
    .unwrap()
}

fn currency() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("156"),
        Just("392"),
        Just("048"),
        Just("978"),
        Just("702"),
        Just("764")
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn emv_round_trip(
        name in name_text(),
        local in name_text(),
        city in "[A-Z]{1,15}",
        cur in currency(),
        minor in 1i64..10_000_000,
        dynamic in any::<bool>(),
        // Sized so the whole template fits EMV's 99-character limit.
        biller in "[A-Z0-9-]{1,16}",
        account in "[0-9-]{1,20}",
        bill_no in proptest::option::of("[A-Z0-9]{1,20}"),
        period in proptest::option::of((2000u32..2100, 1u32..=12).prop_map(|(y, m)| format!("{y}{m:02}"))),
    ) {
        let currency = Currency::from_numeric_str(cur).unwrap();
        let amount = Money::from_minor_units(minor, currency);
        let bill = BilltapBill { biller_id: biller.clone(), account: account.clone(), bill_id: bill_no.clone(), period: period.clone() };
        let mut w = EmvWriter::new(if dynamic { Initiation::Dynamic } else { Initiation::Static })
            .billtap_bill(&bill)
            .field(52, "4900")
            .field(53, cur)
            .field(58, "CN")
            .field(59, name.clone())
            .field(60, city.clone())
            .template(64, &[(0, "ZH"), (1, &local)]);
        if dynamic {
            w = w.field(54, amount.to_plain_string());
        }
        let payload = w.build().unwrap();
        let s = parse_payload(payload.as_bytes(), None).unwrap();
        prop_assert_eq!(s.payee_name.as_deref(), Some(name.as_str()));
        prop_assert_eq!(s.payee_name_local.as_deref(), Some(local.as_str()));
        prop_assert_eq!(s.payee_city.as_deref(), Some(city.as_str()));
        prop_assert_eq!(s.currency, Some(currency));
        prop_assert_eq!(s.is_static(), !dynamic);
        if dynamic {
            prop_assert_eq!(s.amount.map(|a| a.amount), Some(amount.amount));
        } else {
            prop_assert!(s.amount.is_none());
        }
        prop_assert_eq!(s.reference(RefKind::BillerId), Some(biller.as_str()));
        prop_assert_eq!(s.reference(RefKind::AccountNumber), Some(account.as_str()));
        prop_assert_eq!(s.reference(RefKind::BillId), bill_no.as_deref());
        prop_assert_eq!(s.reference(RefKind::Period), period.as_deref());
    }

    /// CRC-16 catches every change of one character before the CRC (a change of at most one
    /// UTF-8 byte sequence is a burst shorter than 17 bits for ASCII).
    #[test]
    fn any_content_in_an_unreserved_template_keeps_the_payment(
        tag in 80u8..=99,
        content in "[ -~]{1,60}",
        placeholder in proptest::option::of(prop_oneof![Just("null"), Just("NULL"), Just("undefined")]),
    ) {
        let mut w = EmvWriter::new(Initiation::Static)
            .template(26, &[(0, "COM.EXAMPLE.PAY"), (1, "6222020200112233")])
            .field(52, "4900")
            .field(53, "156")
            .field(58, "CN")
            .field(59, "WATERWORKS")
            .field(60, "BEIJING");
        if let Some(p) = placeholder {
            w = w.field(61, p);
        }
        let code = w.field(tag, content.clone()).build().unwrap();
        let s = parse_payload(code.as_bytes(), None).unwrap();
        prop_assert!(s.payable);
        let billtap_core::scan::Detail::EmvMpm(emv) = &s.detail else { panic!("not EMV") };
        prop_assert_eq!(emv.unreserved.len(), 1);
        prop_assert_eq!(emv.postal_code.as_deref(), None);
    }

    #[test]
    fn host_keys_and_signatures_of_any_shape_never_panic_and_only_p256_points_are_keys(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let key = billtap_core::pay::normalize_public_key(&bytes);
        if let Some(k) = &key {
            prop_assert_eq!(k.len(), 65);
            prop_assert_eq!(k[0], 4);
        }
        prop_assert!(!billtap_core::pay::verify_device_signature(&bytes, b"m", &bytes));
    }

    #[test]
    fn one_changed_character_is_refused(pos in 0usize..1000, replacement in "[0-9A-Za-z .]") {
        let payload = EmvWriter::new(Initiation::Dynamic)
            .billtap_bill(&BilltapBill { biller_id: "BJ-WATER-001".into(), account: "110105-3345".into(), bill_id: None, period: None })
            .field(52, "4900").field(53, "156").field(54, "268.40").field(58, "CN")
            .field(59, "BEIJING WATERWORKS").field(60, "BEIJING")
            .build().unwrap();
        let body_len = payload.len() - 4;
        let pos = pos % body_len;
        let mut bytes = payload.clone().into_bytes();
        let new = replacement.as_bytes()[0];
        prop_assume!(bytes[pos] != new);
        bytes[pos] = new;
        prop_assert!(parse_payload(&bytes, None).is_err(), "accepted {}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), eci in proptest::option::of(0u32..40)) {
        let _ = parse_payload(&bytes, eci);
    }

    #[test]
    fn format_prefixes_with_garbage_never_panic(
        prefix in prop_oneof![
            Just("000201"), Just("SPC\n0200\n1\n"), Just("BCD\n002\n1\nSCT\n"), Just("ST00012|"),
            Just("ST00011|"), Just("SPD*1.0*"), Just("upi://pay?"), Just("01,32,,"), Just("hQVDUFYwM"),
        ],
        rest in "\\PC{0,300}",
    ) {
        let _ = parse_text(&format!("{prefix}{rest}"));
        let _ = parse_payload(format!("{prefix}{rest}").as_bytes(), None);
    }

    #[test]
    fn money_string_round_trip(minor in 1i64..1_000_000_000_000, cur in currency()) {
        let c = Currency::from_numeric_str(cur).unwrap();
        let m = Money::from_minor_units(minor, c);
        let back = Money::parse_positive(&m.to_plain_string(), c).unwrap();
        prop_assert_eq!(back.amount, m.amount);
        prop_assert!(back.amount > Decimal::ZERO);
    }

    #[test]
    fn qr_reference_check_digit(body in "[0-9]{26}", wrong in 0u32..9) {
        // Compute the right digit by trying all ten: exactly one must be valid.
        let valid: Vec<u32> = (0..10).filter(|d| qr_reference_is_valid(&format!("{body}{d}"))).collect();
        prop_assert_eq!(valid.len(), 1);
        let other = (valid[0] + 1 + wrong) % 10;
        let changed = format!("{body}{other}");
        prop_assert!(!qr_reference_is_valid(&changed));
    }

    #[test]
    fn creditor_reference_check_digits(body in "[0-9A-Z]{1,21}") {
        let valid: Vec<u32> = (0..100).filter(|d| iso11649_is_valid(&format!("RF{d:02}{body}"))).collect();
        prop_assert_eq!(valid.len(), 1, "exactly one pair of check digits fits {}", body);
    }
}

#[test]
fn writer_refuses_overlong_values() {
    let long = "x".repeat(100);
    assert!(matches!(
        EmvWriter::new(Initiation::Static).field(59, long).build(),
        Err(ScanError::InvalidField { .. })
    ));
}

/// A receipt body with arbitrary names, amounts and times.
fn receipt_body() -> impl Strategy<Value = billtap_core::receipts::ReceiptBody> {
    (
        name_text(),
        proptest::option::of(name_text()),
        0u64..10_000_000_000,
        0i64..4_102_444_800,
        proptest::option::of("[a-z]{1,12}\\.[a-z_]{1,12}"),
    )
        .prop_map(
            |(name, en, fen, at, category)| billtap_core::receipts::ReceiptBody {
                version: 1,
                payment_id: format!("PAY{at:X}"),
                bill_id: None,
                biller_id: "BJ-WATER-001".into(),
                payee_name: name,
                payee_name_en: en,
                category,
                payee_account_masked: "****0000".into(),
                payer_masked: "****0001".into(),
                amount: format!("{}.{:02}", fen / 100, fen % 100),
                currency: "CNY".into(),
                fee: "0.00".into(),
                paid_at: at,
                device_id: "d".into(),
                sts_token: None,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any receipt survives the QR round trip and verifies; a changed byte never verifies.
    #[test]
    fn receipt_codes_round_trip_and_any_change_is_refused(body in receipt_body(), flip in 0usize..4096) {
        let signer = billtap_core::platform::ResponseSigner::generate("k1").unwrap();
        let keys = billtap_core::platform::PinnedKeys::parse(&[signer.pinned().to_entry()]).unwrap();
        let cose = billtap_core::receipts::sign_receipt(&body, &signer).unwrap();
        let text = billtap_core::receipts::receipt_qr_text(&cose);
        let code = billtap_core::receipts::read_receipt_qr(&text).unwrap();
        prop_assert_eq!(&code.body, &body);
        prop_assert_eq!(billtap_core::receipts::verify_receipt(&code.cose, &keys).unwrap().0, body);
        let mut bad = cose.clone();
        let i = flip % bad.len();
        bad[i] ^= 0x20;
        prop_assert!(billtap_core::receipts::verify_receipt(&bad, &keys).is_err());
    }

    /// No byte string makes the receipt readers panic.
    #[test]
    fn receipt_readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = billtap_core::receipts::read_receipt(&bytes);
        let _ = billtap_core::receipts::read_receipt_qr(&format!("BTR1:{}", String::from_utf8_lossy(&bytes)));
    }

    /// Amounts become exact 1/10000 units; more decimals or other text is refused.
    #[test]
    fn amounts_scale_exactly(units in 0i64..1_000_000_000_000, scale in 0u32..5) {
        let d = Decimal::new(units, scale);
        prop_assert_eq!(billtap_core::store::amount_e4(&d.to_string()), Some(units * 10i64.pow(4 - scale)));
        let too_fine = Decimal::new(units * 10 + 1, 5);
        prop_assert_eq!(billtap_core::store::amount_e4(&too_fine.to_string()), None);
    }

    /// Every day round-trips through its `YYYY-MM-DD`; any text is a day or `None`, never a panic.
    #[test]
    fn days_round_trip(day in -700_000i64..2_900_000, text in "\\PC{0,12}") {
        prop_assert_eq!(billtap_core::dates::parse_day(&billtap_core::dates::format_day(day)), Some(day));
        let _ = billtap_core::dates::parse_day(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any command APDU round-trips through its bytes, short or extended.
    #[test]
    fn apdu_commands_round_trip(cla in any::<u8>(), ins in any::<u8>(), p1 in any::<u8>(), p2 in any::<u8>(),
                                data in proptest::collection::vec(any::<u8>(), 0..400),
                                le in proptest::option::of(1u32..=65_536)) {
        use billtap_core::topup::apdu::Command;
        let mut c = Command::new(cla, ins, p1, p2).with_data(data);
        c.le = le;
        let bytes = c.to_bytes().unwrap();
        prop_assert_eq!(Command::parse(&bytes).unwrap(), c);
    }

    /// No bytes make the APDU readers or the simulated card panic; the card always answers
    /// with a status word.
    #[test]
    fn card_bytes_never_panic(apdus in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..12)) {
        use billtap_core::topup::apdu::{Command, Response};
        let mut card = billtap_core::topup::sim::SimulatedCard::new(&[0x11; 16], &[0x22; 16], 1, [1; 10], 1_000);
        for a in &apdus {
            let _ = Command::parse(a);
            if let Ok(r) = Response::parse(a) {
                let _ = billtap_core::topup::pboc::LoadInit::parse(&r.data);
            }
            let answer = card.transceive(a);
            prop_assert!(Response::parse(&answer).is_ok());
        }
        prop_assert_eq!(card.balance(), 1_000, "random bytes never load value");
    }
}
