//! Reading a card over the host's [`CardTransport`]: which application it is, its serial
//! number and validity, its balance and its newest transactions.

use serde::Serialize;

use super::TopupError;
use super::apdu::{Command, Response};
use super::pboc::{CardInfo, get_balance, purse_selects, read_0015};
use crate::ports::CardTransport;

/// How many log records a read asks for at most (the card keeps ten).
const MAX_LOG: u8 = 10;

/// One transaction from the card's own log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CardTransaction {
    /// The card's online counter of it.
    pub counter: u32,
    /// Amount (fen).
    pub amount_fen: u32,
    /// 2: load; 6: purchase; 9: composite purchase.
    pub kind: u8,
    /// The terminal, hex.
    pub terminal: String,
    /// `YYYYMMDDhhmmss`.
    pub at: String,
}

/// What a tap reads from a transit or meter card.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CardState {
    /// `t-union`, `city-union`, `e-purse` (DF 1001: other city cards, CPU meter cards) or
    /// `meter-card` (a file-based meter card).
    pub application: String,
    /// The application serial number, hex (20 digits).
    pub serial: String,
    /// The issuer's id, hex.
    pub issuer: String,
    /// Valid from, `YYYYMMDD`.
    pub valid_from: String,
    /// Valid until, `YYYYMMDD`.
    pub valid_until: String,
    /// The e-purse balance (fen).
    pub balance_fen: u32,
    /// The newest transactions first.
    pub transactions: Vec<CardTransaction>,
    /// A file-based meter card's meter number (its `balance_fen` is the total purchased, its
    /// one transaction the newest purchase).
    pub meter: Option<String>,
}

impl std::fmt::Debug for CardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A card number is masked in logs and Debug, like an account number.
        f.debug_struct("CardState")
            .field("application", &self.application)
            .field("serial", &crate::platform::mask_account(&self.serial))
            .field("balance_fen", &self.balance_fen)
            .field("transactions", &self.transactions.len())
            .finish()
    }
}

/// Sends one command and reads the response, holding the reader's length limit.
pub async fn exchange(card: &dyn CardTransport, c: &Command) -> Result<Response, TopupError> {
    let bytes = c.to_bytes()?;
    let max = usize::try_from(card.max_transceive_length()).unwrap_or(usize::MAX);
    if bytes.len() > max {
        return Err(TopupError::Apdu(format!(
            "a {}-byte command is longer than the reader takes ({max})",
            bytes.len()
        )));
    }
    let answer = card.transceive(bytes).await?;
    Response::parse(&answer)
}

fn hex_of(b: &[u8]) -> String {
    hex::encode_upper(b)
}

/// Reads the card in the field: selects its e-purse application (T-Union, City Union, DF 1001),
/// file 0015, the balance and up to ten log records.
pub async fn read_card(card: &dyn CardTransport) -> Result<CardState, TopupError> {
    let mut application = None;
    for (name, select) in purse_selects() {
        if exchange(card, &select).await?.sw.is_ok() {
            application = Some(name);
            break;
        }
    }
    #[cfg(feature = "meter-cards")]
    let Some(application) = application else {
        return read_meter_card(card).await;
    };
    #[cfg(not(feature = "meter-cards"))]
    let application = application.ok_or_else(|| TopupError::Card {
        step: "SELECT".into(),
        sw: 0x6A82,
        meaning: "no e-purse application this version knows (T-Union, City Union, DF 1001)".into(),
    })?;
    let info = CardInfo::parse(
        &exchange(card, &read_0015())
            .await?
            .ok_data("READ BINARY 0015")?,
    )?;
    let balance = exchange(card, &get_balance())
        .await?
        .ok_data("GET BALANCE")?;
    let balance: [u8; 4] = balance.as_slice().try_into().map_err(|_| {
        TopupError::Apdu(format!(
            "GET BALANCE answered {} bytes, not 4",
            balance.len()
        ))
    })?;
    let mut transactions = Vec::new();
    for n in 1..=MAX_LOG {
        let r = exchange(
            card,
            &Command::new(0x00, 0xB2, n, 0x18 << 3 | 4).with_le(23),
        )
        .await?;
        if r.sw.0 == 0x6A83 {
            break;
        }
        let d = r.ok_data("READ RECORD")?;
        let rec: &[u8; 23] = d
            .as_slice()
            .try_into()
            .map_err(|_| TopupError::Apdu(format!("a log record of {} bytes, not 23", d.len())))?;
        let [c0, c1, _, _, _, a0, a1, a2, a3, kind, t @ ..] = *rec;
        let [t0, t1, t2, t3, t4, t5, at @ ..] = t;
        transactions.push(CardTransaction {
            counter: u32::from(u16::from_be_bytes([c0, c1])),
            amount_fen: u32::from_be_bytes([a0, a1, a2, a3]),
            kind,
            terminal: hex_of(&[t0, t1, t2, t3, t4, t5]),
            at: hex_of(&at),
        });
    }
    Ok(CardState {
        application: application.into(),
        serial: hex_of(&info.serial),
        issuer: hex_of(&info.issuer),
        valid_from: hex_of(&info.start),
        valid_until: hex_of(&info.expiry),
        balance_fen: u32::from_be_bytes(balance),
        transactions,
        meter: None,
    })
}

/// A file-based meter card: EF 01 (which meter) and EF 02 (its purchases).
#[cfg(feature = "meter-cards")]
async fn read_meter_card(card: &dyn CardTransport) -> Result<CardState, TopupError> {
    use super::meter_card::{AID_METER, MeterInfo, PurchaseRecord, read_ef};
    if !exchange(card, &super::pboc::select(AID_METER))
        .await?
        .sw
        .is_ok()
    {
        return Err(TopupError::Card {
            step: "SELECT".into(),
            sw: 0x6A82,
            meaning: "no e-purse or meter application this version knows (T-Union, City Union, billtap meter card)".into(),
        });
    }
    let info = MeterInfo::parse(
        &exchange(card, &read_ef(1, 16))
            .await?
            .ok_data("READ EF 01")?,
    )?;
    let rec = PurchaseRecord::parse(
        &exchange(card, &read_ef(2, 12))
            .await?
            .ok_data("READ EF 02")?,
    )?;
    Ok(CardState {
        application: "meter-card".into(),
        serial: hex_of(&info.serial),
        issuer: String::new(),
        valid_from: String::new(),
        valid_until: String::new(),
        balance_fen: rec.total,
        transactions: (rec.number > 0)
            .then(|| CardTransaction {
                counter: u32::from(rec.number),
                amount_fen: rec.amount,
                kind: 2,
                terminal: String::new(),
                at: String::new(),
            })
            .into_iter()
            .collect(),
        meter: Some(info.meter_digits()),
    })
}
