//! billtap's simulated cards for hosts without NFC (tests, demos); the app's own
//! `CardTransport` wraps Android `IsoDep` or iOS `NFCISO7816Tag`. Left out of the phone
//! library (feature `simulated-card`).

use std::sync::{Arc, Mutex, PoisonError};

use billtap_core::topup::sim;

use crate::pay::PaymentError;

/// billtap's simulated PBOC e-purse (T-Union) card, under the sandbox's documented test issuer
/// keys (key version 01): it answers real APDUs, so a host test wraps it in its own
/// `CardTransport` — and injects faults there (throw `TagLost` after forwarding CREDIT FOR
/// LOAD: a card pulled away mid-write).
#[derive(uniffi::Object)]
pub struct SimulatedCard(Mutex<sim::SimulatedCard>);

impl std::fmt::Debug for SimulatedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.card())
    }
}

impl SimulatedCard {
    fn card(&self) -> std::sync::MutexGuard<'_, sim::SimulatedCard> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[uniffi::export]
impl SimulatedCard {
    /// A card with this application serial number (20 hex digits) and balance (fen, at most
    /// 100,000).
    #[uniffi::constructor]
    pub fn new(serial: String, balance_fen: u32) -> Result<Arc<Self>, PaymentError> {
        sim::SimulatedCard::test_card(&serial, balance_fen)
            .map(|c| Arc::new(SimulatedCard(Mutex::new(c))))
            .map_err(|e| PaymentError::Invalid {
                reason: e.to_string(),
            })
    }

    /// Answers one command APDU (`data ‖ SW1 SW2`), as the card in the field would.
    pub fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, PaymentError> {
        Ok(self.card().transceive(&apdu))
    }

    /// The purse's balance (fen).
    pub fn balance_fen(&self) -> Result<u32, PaymentError> {
        Ok(self.card().balance())
    }

    /// The card's online counter (loads it completed).
    pub fn counter(&self) -> Result<u16, PaymentError> {
        Ok(self.card().counter())
    }
}

#[cfg(feature = "meter-cards")]
/// billtap's simulated file-based prepaid meter card (electricity), its line key under the
/// sandbox's documented test master key: a host test wraps it in its own `CardTransport`, as
/// with [`SimulatedCard`].
#[derive(uniffi::Object)]
pub struct SimulatedMeterCard(Mutex<billtap_core::topup::meter_card::SimulatedMeterCard>);

#[cfg(feature = "meter-cards")]
impl std::fmt::Debug for SimulatedMeterCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.card())
    }
}

#[cfg(feature = "meter-cards")]
impl SimulatedMeterCard {
    fn card(
        &self,
    ) -> std::sync::MutexGuard<'_, billtap_core::topup::meter_card::SimulatedMeterCard> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(feature = "meter-cards")]
#[uniffi::export]
impl SimulatedMeterCard {
    /// A card with this serial (16 hex digits) for this meter (11 digits).
    #[uniffi::constructor]
    pub fn new(serial: String, meter: String) -> Result<Arc<Self>, PaymentError> {
        let invalid = |reason: String| PaymentError::Invalid { reason };
        let serial: [u8; 8] = billtap_core::topup::meter_card::parse_serial(&serial)
            .ok_or_else(|| invalid("a meter card serial is 16 hex digits".into()))?;
        billtap_core::topup::meter_card::SimulatedMeterCard::new(
            &billtap_core::topup::meter_card::TEST_METER_MASTER_KEY,
            serial,
            &meter,
        )
        .map(|c| Arc::new(SimulatedMeterCard(Mutex::new(c))))
        .map_err(|e| invalid(e.to_string()))
    }

    /// Answers one command APDU (`data ‖ SW1 SW2`).
    pub fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, PaymentError> {
        Ok(self.card().transceive(&apdu))
    }

    /// The purchase number the card holds (the meter takes each once).
    pub fn purchase_number(&self) -> Result<u16, PaymentError> {
        Ok(self.card().record().number)
    }

    /// The total purchased (fen).
    pub fn total_fen(&self) -> Result<u32, PaymentError> {
        Ok(self.card().record().total)
    }
}
