//! What top-up reads from a card or a reader: response APDUs, card answers (INITIALIZE FOR
//! LOAD, file 0015, a meter card's EF 01 and EF 02), and command APDUs (the simulated cards'
//! side, which answers anything), and the platform's APDU script for a file-based meter card.
#![no_main]
use billtap_core::topup::apdu::{Command, Response};
use billtap_core::topup::meter_card::{MeterInfo, PurchaseRecord, SimulatedMeterCard};
use billtap_core::topup::pboc::{CardInfo, LoadInit};
use billtap_core::topup::sim::SimulatedCard;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Response::parse(data) {
        let _ = r.sw.meaning();
        let _ = LoadInit::parse(&r.data);
        let _ = CardInfo::parse(&r.data);
        let _ = MeterInfo::parse(&r.data).map(|m| m.meter_digits());
        let _ = PurchaseRecord::parse(&r.data).map(|p| p.next(1));
    }
    if let Ok(c) = Command::parse(data) {
        let _ = c.to_bytes();
    }
    // The platform's APDU script for a file-based meter card.
    let _ = billtap_core::pay::parse_meter_script(&String::from_utf8_lossy(data));
    let mut card = SimulatedCard::new(&[0x11; 16], &[0x22; 16], 1, [1; 10], 1_000);
    let mut meter = SimulatedMeterCard::new(&[0x33; 16], [2; 8], "01234567890").ok();
    for apdu in data.split(|b| *b == 0xFF) {
        let _ = card.transceive(apdu);
        if let Some(m) = meter.as_mut() {
            let _ = m.transceive(apdu);
        }
    }
});
