//! `--reader nfc[:CONNSTRING]`: a desktop contactless reader through libnfc (crate `nfc1`,
//! linked against the system's libnfc), for kiosks and bench rigs. Built only with the CLI's
//! cargo feature `nfc`; running it needs a reader libnfc knows (PN532/PN533, ACR122, …).
//!
//! The reader is opened when the command starts (no reader: fail before anything is paid);
//! the card is selected at the first command, waiting up to [`CARD_WAIT`] for one to be put
//! on the reader, so "waiting for the card" is the step the user sees while it blocks.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use billtap_core::ports::{CardError, CardTransport};
use nfc1::target_info::TargetInfo;
use nfc1::{BaudRate, Context, Device, Modulation, ModulationType, Property, Timeout};

/// How long the first command waits for a card on the reader.
const CARD_WAIT: Duration = Duration::from_secs(30);
/// How long one command may take on the card (a CREDIT FOR LOAD writes EEPROM).
const EXCHANGE_TIMEOUT: Duration = Duration::from_millis(1_500);
/// The longest response billtap asks for: a short APDU's 256 bytes plus SW1 SW2.
const MAX_RESPONSE: usize = 258;

/// The open libnfc device and whether a card is selected on it. The device is declared
/// before its context: fields drop in order, and libnfc closes a device through its context.
struct Open {
    device: Device,
    _context: Context,
    selected: bool,
}

/// A libnfc reader as a [`CardTransport`].
pub struct NfcTransport {
    open: Mutex<Open>,
}

/// Why the reader failed, in words a person at a kiosk can act on.
fn io(what: &str, e: nfc1::Error) -> CardError {
    CardError::Io {
        reason: format!("{what}: {e}"),
    }
}

impl NfcTransport {
    /// Opens the reader `connstring` names (libnfc's form, `pn532_uart:/dev/ttyUSB0`), or the
    /// first one libnfc finds, as an initiator that does not block when no card is there.
    pub fn open(connstring: Option<&str>) -> Result<Self> {
        let mut context = Context::new().map_err(|e| anyhow!("libnfc did not start: {e}"))?;
        let mut device = match connstring {
            Some(c) => context.open_with_connstring(c),
            None => context.open(),
        }
        .map_err(|e| {
            anyhow!(
                "no NFC reader{}: {e} (is it plugged in, and does libnfc list it? try nfc-list)",
                connstring.map_or_else(String::new, |c| format!(" at {c:?}"))
            )
        })?;
        device
            .initiator_init()
            .map_err(|e| anyhow!("the NFC reader did not start as a reader: {e}"))?;
        // Selecting returns at once when no card is there; the first command polls until one.
        device
            .set_property_bool(Property::InfiniteSelect, false)
            .map_err(|e| anyhow!("the NFC reader refused a setting: {e}"))?;
        Ok(NfcTransport {
            open: Mutex::new(Open {
                device,
                _context: context,
                selected: false,
            }),
        })
    }
}

/// Selects an ISO 14443-4 card (type A, as transit and CPU meter cards are, then type B),
/// polling until one is on the reader or [`CARD_WAIT`] has passed.
fn select(device: &mut Device) -> Result<(), CardError> {
    let deadline = Instant::now() + CARD_WAIT;
    let kinds = [ModulationType::Iso14443a, ModulationType::Iso14443b];
    loop {
        for modulation_type in kinds {
            let m = Modulation {
                modulation_type,
                baud_rate: BaudRate::Baud106,
            };
            // nfc1 answers Ok with its blank target when libnfc found none: a card is there
            // only when the target came back filled in.
            if let Ok(target) = device.initiator_select_passive_target(&m) {
                match target.target_info {
                    TargetInfo::Iso14443a(a) if a.uid_len > 0 => {
                        // SAK bit 6: the card speaks ISO 14443-4, so it takes APDUs.
                        return if a.sak & 0x20 != 0 {
                            Ok(())
                        } else {
                            Err(CardError::Io {
                                reason: "this card does not take APDUs (not ISO 14443-4: a \
                                         MIFARE Classic or a tag, not a transit or meter card)"
                                    .into(),
                            })
                        };
                    }
                    TargetInfo::Iso14443b(_) => return Ok(()),
                    _ => {}
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(CardError::Timeout);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[async_trait::async_trait]
impl CardTransport for NfcTransport {
    async fn transceive(&self, apdu: Vec<u8>) -> Result<Vec<u8>, CardError> {
        let mut open = self.open.lock().map_err(|_| CardError::Io {
            reason: "the NFC reader is broken".into(),
        })?;
        let open = &mut *open;
        if !open.selected {
            select(&mut open.device)?;
            open.selected = true;
        }
        let answer = open.device.initiator_transceive_bytes(
            &apdu,
            MAX_RESPONSE,
            Timeout::Duration(EXCHANGE_TIMEOUT),
        );
        match answer {
            Ok(r) => Ok(r),
            Err(e) => {
                // Whatever went wrong, the card is no longer selected for the next command.
                open.selected = false;
                Err(match e {
                    nfc1::Error::Timeout => CardError::Timeout,
                    nfc1::Error::TargetReleased | nfc1::Error::RfTransmissionError => {
                        CardError::TagLost
                    }
                    other => io("the NFC reader failed", other),
                })
            }
        }
    }

    fn max_transceive_length(&self) -> u32 {
        261
    }
}
