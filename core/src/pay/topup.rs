//! Top-up as this device: load a transit or meter card's e-purse, paid from the funding
//! account, exactly once however the card is pulled away or the app killed. Every step that
//! can tear is stored first (decision 0011):
//! 1. SELECT and READ BINARY 0015 (which card), settle the card's unfinished top-up if any;
//! 2. INITIALIZE FOR LOAD (the card's MAC1 proves its balance and counter);
//! 3. the signed authorisation request is stored (`prepared`), then sent with its idempotency
//!    key: the platform debits the account and answers MAC2 (`authorised`, stored);
//! 4. CREDIT FOR LOAD with MAC2; the card's TAC is stored (`credited`);
//! 5. the platform checks the TAC and answers a signed receipt (`completed`).
//!
//! A lost answer or a card pulled away leaves `unknown`: the next tap of that card sends a
//! fresh INITIALIZE FOR LOAD whose MAC1 tells the platform whether the card was loaded — then
//! completed, or authorised again and credited (never a second debit), or reversed.

use serde::Serialize;

use super::{PayError, Payments, not_ours, problem_kind, random_id};
use crate::money::{Currency, Money};
use crate::platform::api::{
    ApiMoney, CardLoadInit, TopupCompletion, TopupOrder, TopupRequest, TopupSettle,
};
use crate::platform::{FailureKind, PlatformError, PreparedRequest, decode_verified};
use crate::ports::{CardTransport, TopupProgress, TopupStep};
use crate::store::{NewReceipt, StoreError, TopupRow};
use crate::topup::pboc::{
    CardInfo, LoadInit, LoadTerms, Stamp, credit_for_load, initialize_for_load, purse_selects,
    read_0015,
};
use crate::topup::{CardState, TopupError, exchange};

/// The largest load billtap asks for (a transit purse holds at most 1,000 yuan).
pub const MAX_TOPUP_FEN: u32 = 100_000;

/// Where a top-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum TopupState {
    /// Stored, not yet answered by the platform.
    Prepared,
    /// The platform debited the account and authorised the load; the card not yet credited.
    Authorised,
    /// The card was credited (its TAC kept); the platform not yet told.
    Credited,
    /// The card holds the value; the receipt is kept.
    Completed,
    /// Refused before any money moved (insufficient funds, not a card of the issuer).
    Failed,
    /// The card proved it was not loaded and the money went back.
    Reversed,
    /// Interrupted (card pulled away, answer lost): settled at the next tap of this card.
    Unknown,
    /// The card's counter moved in a way the issuer cannot tell this load from (loaded
    /// elsewhere in between): the issuer reconciles; the card is free for new top-ups.
    NeedsReconciliation,
}

impl TopupState {
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "prepared" => TopupState::Prepared,
            "authorised" => TopupState::Authorised,
            "credited" => TopupState::Credited,
            "completed" => TopupState::Completed,
            "failed" => TopupState::Failed,
            "reversed" => TopupState::Reversed,
            "unknown" => TopupState::Unknown,
            "needs_reconciliation" => TopupState::NeedsReconciliation,
            other => return Err(StoreError::Corrupt(format!("top-up state {other:?}"))),
        })
    }
}

/// A card load as the app shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TopupRecord {
    /// billtap's id.
    pub topup_id: String,
    /// The card, masked.
    pub card_serial_masked: String,
    /// The amount.
    pub amount: Money,
    /// Where it stands.
    pub state: TopupState,
    /// The platform's order.
    pub order_id: Option<String>,
    /// The card's balance before (fen).
    pub balance_before_fen: u32,
    /// Why it failed or is not finished.
    pub failure: Option<String>,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Changed.
    pub updated_at: i64,
}

pub(super) fn record(r: &TopupRow) -> Result<TopupRecord, PayError> {
    Ok(TopupRecord {
        topup_id: r.topup_id.clone(),
        card_serial_masked: crate::platform::mask_account(&r.card_serial),
        amount: Money::from_minor_units(r.amount_fen, Currency::from_alpha("CNY")?),
        state: TopupState::parse(&r.state)?,
        order_id: r.order_id.clone(),
        balance_before_fen: u32::try_from(r.old_balance).unwrap_or(0),
        failure: r.failure.clone(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// Whether the store holds a top-up not settled yet (of any card): a tap should settle it.
pub fn has_open_topup(store: &crate::store::Store) -> Result<bool, PayError> {
    Ok(local_topups(store)?.iter().any(|t| {
        matches!(
            t.state,
            TopupState::Prepared
                | TopupState::Authorised
                | TopupState::Credited
                | TopupState::Unknown
        )
    }))
}

/// What a tap of a card shows: the card as it is now, its unfinished top-up settled first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CardTap {
    /// The card, read after any settlement.
    pub card: CardState,
    /// This card's unfinished top-up, settled by this tap.
    pub settled: Option<TopupRecord>,
    /// Why an unfinished top-up could not be settled now (offline): it stays kept.
    pub unsettled: Option<String>,
}

/// Taps the card in the field: settles its unfinished top-up first (through `payments`; the
/// store alone decides whether there is one, so nothing is sent otherwise), then reads it.
pub async fn tap_card(
    store: &crate::store::Store,
    payments: Option<&Payments>,
    card: &dyn CardTransport,
    progress: Option<&dyn TopupProgress>,
) -> Result<CardTap, PayError> {
    let (mut settled, mut unsettled) = (None, None);
    if has_open_topup(store)? {
        match payments {
            None => {
                unsettled = Some(
                    "an unfinished top-up needs the platform (payments are not configured)".into(),
                );
            }
            Some(p) => match p.settle_card(card, progress).await {
                Ok(s) => settled = s,
                // The card itself failed: the read would too.
                Err(e @ PayError::Card(_)) => return Err(e),
                Err(e) => unsettled = Some(e.to_string()),
            },
        }
    }
    let card = crate::topup::read_card(card).await?;
    Ok(CardTap {
        card,
        settled,
        unsettled,
    })
}

/// The stored top-ups, newest first (no network, no card).
pub fn local_topups(store: &crate::store::Store) -> Result<Vec<TopupRecord>, PayError> {
    store.topups()?.iter().map(record).collect()
}

fn hex_n<const N: usize>(what: &str, h: &str) -> Result<[u8; N], PayError> {
    hex::decode(h)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or_else(|| {
            PlatformError::Incompatible(format!("{what} is not {N} bytes of hex")).into()
        })
}

fn wire_init(li: &LoadInit) -> CardLoadInit {
    CardLoadInit {
        old_balance: li.old_balance,
        counter: u16::from_be_bytes(li.counter),
        key_version: li.key_version,
        algorithm: li.algorithm,
        random: hex::encode_upper(li.random),
        mac1: hex::encode_upper(li.mac1),
    }
}

pub(super) fn json<T: Serialize>(v: &T) -> Result<String, PayError> {
    serde_json::to_string(v).map_err(|e| PayError::Invalid(e.to_string()))
}

/// A card load about to be asked of the platform: what the store keeps of it (an e-purse's
/// balance and counter, or a meter card's total and purchase number) and its signed request.
pub(super) struct NewLoad {
    /// The request's idempotency key.
    pub key: String,
    /// The card's serial, hex.
    pub serial: String,
    /// How much (fen).
    pub fen: u32,
    /// The terminal id (hex), or the meter it is for.
    pub terminal: String,
    /// The balance (purse) or total purchased (meter card) before the load.
    pub old_balance: i64,
    /// The online counter (purse) or purchase number (meter card) before the load.
    pub counter: i64,
    /// The signed request, kept to resend unchanged.
    pub request: PreparedRequest,
}

/// The card in the field, by what it answered to.
pub(super) enum Tapped {
    /// An e-purse (transit or CPU meter card): its serial, hex.
    Purse(String),
    /// A file-based meter card.
    #[cfg(feature = "meter-cards")]
    Meter(crate::topup::meter_card::MeterInfo),
}

/// Which card is in the field: its e-purse selected and its serial read (2 exchanges), or a
/// file-based meter card's application and EF 01.
async fn tapped(card: &dyn CardTransport) -> Result<Tapped, PayError> {
    for (_, select) in purse_selects() {
        if exchange(card, &select).await?.sw.is_ok() {
            let data = exchange(card, &read_0015())
                .await?
                .ok_data("READ BINARY 0015")?;
            return Ok(Tapped::Purse(hex::encode_upper(
                CardInfo::parse(&data)?.serial,
            )));
        }
    }
    #[cfg(feature = "meter-cards")]
    {
        use crate::topup::meter_card::{AID_METER, MeterInfo, read_ef};
        if exchange(card, &crate::topup::pboc::select(AID_METER))
            .await?
            .sw
            .is_ok()
        {
            let data = exchange(card, &read_ef(1, 16))
                .await?
                .ok_data("READ EF 01")?;
            return Ok(Tapped::Meter(MeterInfo::parse(&data)?));
        }
    }
    Err(TopupError::Card {
        step: "SELECT".into(),
        sw: 0x6A82,
        meaning: "no e-purse or meter application this version knows (T-Union, City Union, DF 1001, billtap meter card)".into(),
    }
    .into())
}

async fn initialize(card: &dyn CardTransport, terms: &LoadTerms) -> Result<LoadInit, PayError> {
    let r = exchange(card, &initialize_for_load(1, terms)).await?;
    Ok(LoadInit::parse(&r.ok_data("INITIALIZE FOR LOAD")?)?)
}

/// Checks an order the platform answered is this top-up's: its id (once known) and amount.
pub(super) fn ours(row: &TopupRow, order_id: &str, amount: &ApiMoney) -> Result<(), PayError> {
    let fen = amount.to_money().ok().map(|m| {
        (m.amount * rust_decimal::Decimal::from(100))
            .trunc()
            .mantissa()
    });
    if row.order_id.as_ref().is_some_and(|o| o != order_id)
        || fen != Some(i128::from(row.amount_fen))
    {
        return Err(not_ours());
    }
    Ok(())
}

/// A card's earlier load, just settled, must be finished before a new one starts.
pub(super) fn finished(settled: &TopupRecord) -> Result<(), PayError> {
    if matches!(
        settled.state,
        TopupState::Completed
            | TopupState::Failed
            | TopupState::Reversed
            | TopupState::NeedsReconciliation
    ) {
        return Ok(());
    }
    Err(PayError::Invalid(format!(
        "this card's earlier load is still unsettled ({:?}); tap again",
        settled.state
    )))
}

/// Tells the app a step starts, if it listens.
pub(super) fn tell(progress: Option<&dyn TopupProgress>, step: TopupStep) {
    if let Some(p) = progress {
        p.on_step(step, step.hint().to_owned());
    }
}

/// A failure of the exchange with the card (it may have run the command).
fn is_transport(e: &PayError) -> bool {
    matches!(e, PayError::Card(TopupError::Transport(_)))
}

impl Payments {
    /// The terminal id this device loads cards as: 6 bytes of SHA-256 of its device id.
    fn terminal(&self) -> [u8; 6] {
        let d = crate::store::sha256(self.device_id.as_bytes());
        let mut t = [0u8; 6];
        for (slot, b) in t.iter_mut().zip(d) {
            *slot = b;
        }
        t
    }

    /// Loads `amount` onto the card in the field, paid from the funding account: at most six
    /// exchanges with the card. An unfinished top-up of this card is settled first. The record
    /// says where it stands: `completed`, `failed` (nothing taken), or `unknown` (kept;
    /// settled at the next tap). `progress` hears each step as it starts.
    pub async fn topup(
        &self,
        card: &dyn CardTransport,
        amount: Money,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<TopupRecord, PayError> {
        let fen = u32::try_from(
            (amount.amount * rust_decimal::Decimal::from(100))
                .trunc()
                .mantissa(),
        )
        .ok()
        .filter(|f| amount.currency.alpha() == "CNY" && (1..=MAX_TOPUP_FEN).contains(f))
        .ok_or_else(|| {
            PayError::Invalid(format!(
                "a top-up is 0.01 to {}.00 CNY",
                MAX_TOPUP_FEN / 100
            ))
        })?;
        self.register().await?;
        tell(progress, TopupStep::WaitingForCard);
        // One arm only in builds without meter cards (the phone library).
        #[allow(clippy::infallible_destructuring_match)]
        let serial = match tapped(card).await? {
            Tapped::Purse(serial) => serial,
            #[cfg(feature = "meter-cards")]
            Tapped::Meter(info) => {
                tell(progress, TopupStep::Reading);
                return self.load_meter_card(card, info, fen, progress).await;
            }
        };
        tell(progress, TopupStep::Reading);
        if let Some(open) = self.store.open_topup(&serial)? {
            finished(&self.settle_row(card, open, progress).await?)?;
        }
        let terms = LoadTerms {
            amount: fen,
            terminal: self.terminal(),
        };
        let li = initialize(card, &terms).await?;
        if li.algorithm != crate::topup::pboc::ALG_DES {
            // Refused here, before anything is stored or sent: an INITIALIZE without its CREDIT
            // changes nothing on the card.
            return Err(TopupError::Unsupported(format!(
                "this card's purse uses algorithm {:02X}{}; billtap loads DES/3DES purses (01) only so far — nothing was taken",
                li.algorithm,
                if li.algorithm == crate::topup::pboc::ALG_SM4 { " (SM4)" } else { "" }
            ))
            .into());
        }
        let key = random_id(16)?;
        let body = json(&TopupRequest {
            card_serial: serial.clone(),
            amount: ApiMoney {
                amount: format!("{}.{:02}", fen / 100, fen % 100),
                currency: "CNY".into(),
            },
            funding_account: self.cfg.funding_account.clone(),
            terminal: hex::encode_upper(terms.terminal),
            init: wire_init(&li),
        })?;
        let (req, _) = self.signed("POST", "/v1/topups".into(), body, &key).await?;
        let load = NewLoad {
            key,
            serial,
            fen,
            terminal: hex::encode_upper(terms.terminal),
            old_balance: i64::from(li.old_balance),
            counter: i64::from(u16::from_be_bytes(li.counter)),
            request: req,
        };
        self.start_load(card, load, progress).await
    }

    /// Settles the unfinished top-up of the card in the field, if it has one.
    pub async fn settle_card(
        &self,
        card: &dyn CardTransport,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<Option<TopupRecord>, PayError> {
        tell(progress, TopupStep::WaitingForCard);
        // One arm only in builds without meter cards (the phone library).
        #[allow(clippy::infallible_destructuring_match)]
        let serial = match tapped(card).await? {
            Tapped::Purse(serial) => serial,
            #[cfg(feature = "meter-cards")]
            Tapped::Meter(info) => {
                tell(progress, TopupStep::Reading);
                return self.settle_meter_card(card, &info, progress).await;
            }
        };
        tell(progress, TopupStep::Reading);
        match self.store.open_topup(&serial)? {
            Some(row) => {
                self.register().await?;
                Ok(Some(self.settle_row(card, row, progress).await?))
            }
            None => Ok(None),
        }
    }

    /// The stored top-ups, newest first.
    pub fn topups(&self) -> Result<Vec<TopupRecord>, PayError> {
        local_topups(&self.store)
    }

    pub(super) fn topup_record(&self, topup_id: &str) -> Result<TopupRecord, PayError> {
        let row = self
            .store
            .topup(topup_id)?
            .ok_or_else(|| PayError::Invalid(format!("no top-up {topup_id}")))?;
        record(&row)
    }

    pub(super) fn mark(&self, id: &str, state: &str, why: Option<&str>) -> Result<(), PayError> {
        self.store
            .topup_state(id, state, why, None, self.clock.now_unix())?;
        Ok(())
    }

    /// Settles an unfinished top-up with the card in the field (already selected).
    async fn settle_row(
        &self,
        card: &dyn CardTransport,
        row: TopupRow,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<TopupRecord, PayError> {
        let (Some(order_id), "authorised" | "unknown") = (row.order_id.clone(), row.state.as_str())
        else {
            // No order known yet (resend the stored request: the platform keeps its answer
            // under the key), or a TAC to report.
            return self.drive(card, row.topup_id, progress).await;
        };
        let terms = LoadTerms {
            amount: u32::try_from(row.amount_fen).unwrap_or(0),
            terminal: hex_n("the stored terminal", &row.terminal)?,
        };
        // The card's MAC'd word on its counter and balance now.
        let li = match initialize(card, &terms).await {
            Ok(li) => li,
            Err(e) => {
                self.mark(&row.topup_id, "unknown", Some(&e.to_string()))?;
                return Err(e);
            }
        };
        let body = json(&TopupSettle {
            init: wire_init(&li),
            reverse: false,
        })?;
        let path = format!("/v1/topups/{order_id}/settle");
        tell(progress, TopupStep::Verifying);
        let (status, bytes) = self.send_fresh("POST", &path, body).await?;
        let order: TopupOrder = match decode_verified(status, &bytes) {
            Ok(o) => o,
            Err(PlatformError::Refused { kind, detail, .. }) if kind == "needs-reconciliation" => {
                self.mark(
                    &row.topup_id,
                    "needs_reconciliation",
                    Some(
                        detail
                            .as_deref()
                            .unwrap_or("the issuer reconciles this load"),
                    ),
                )?;
                tell(progress, TopupStep::Done);
                return self.topup_record(&row.topup_id);
            }
            Err(e) => return Err(e.into()),
        };
        self.take_order(&row, &order)?;
        self.drive(card, row.topup_id, progress).await
    }

    /// Stores what the platform says of the order (after checking it is this one's).
    fn take_order(&self, row: &TopupRow, order: &TopupOrder) -> Result<(), PayError> {
        ours(row, &order.order_id, &order.amount)?;
        let now = self.clock.now_unix();
        match order.state.as_str() {
            "authorised" => {
                let (Some(mac2), Some(date), Some(time)) = (&order.mac2, &order.date, &order.time)
                else {
                    return Err(PlatformError::Incompatible(
                        "an authorised top-up without MAC2".into(),
                    )
                    .into());
                };
                self.store.topup_authorised(
                    &row.topup_id,
                    &order.order_id,
                    mac2,
                    &format!("{date}{time}"),
                    now,
                )?;
            }
            "completed" => {
                let receipt = self.topup_receipt(row, &order.order_id, order.receipt.as_deref());
                self.store
                    .topup_completed(&row.topup_id, receipt.as_ref(), now)?;
            }
            "reversed" => self.mark(
                &row.topup_id,
                "reversed",
                Some("the card was not loaded; the money went back"),
            )?,
            other => {
                return Err(PlatformError::Incompatible(format!(
                    "a top-up state this version does not know: {other:?}"
                ))
                .into());
            }
        }
        Ok(())
    }

    /// Stores a new card load as `prepared` — before its request leaves the phone, so a
    /// crash at any later point is settled from the store — then drives it.
    pub(super) async fn start_load(
        &self,
        card: &dyn CardTransport,
        load: NewLoad,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<TopupRecord, PayError> {
        let now = self.clock.now_unix();
        let row = TopupRow {
            topup_id: format!("top-{}", random_id(12)?),
            idempotency_key: load.key,
            card_serial: load.serial,
            amount_fen: i64::from(load.fen),
            terminal: load.terminal,
            old_balance: load.old_balance,
            counter: load.counter,
            request: json(&load.request)?,
            state: "prepared".into(),
            order_id: None,
            mac2: None,
            stamp: None,
            tac: None,
            failure: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_topup(&row)?;
        self.drive(card, row.topup_id, progress).await
    }

    /// Drives a stored top-up as far as it goes with this card and network.
    pub(super) async fn drive(
        &self,
        card: &dyn CardTransport,
        topup_id: String,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<TopupRecord, PayError> {
        let outcome = self.drive_steps(card, &topup_id, progress).await;
        tell(progress, TopupStep::Done);
        outcome
    }

    async fn drive_steps(
        &self,
        card: &dyn CardTransport,
        topup_id: &str,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<TopupRecord, PayError> {
        for _ in 0..4 {
            let row = self
                .store
                .topup(topup_id)?
                .ok_or_else(|| PayError::Invalid(format!("no top-up {topup_id}")))?;
            #[cfg(feature = "meter-cards")]
            if super::meter_load::is_meter(&row) {
                match self.meter_step(card, &row, progress).await {
                    Ok(true) => continue,
                    Ok(false) => return record(&row),
                    Err(e) => return self.interrupted(topup_id, e),
                }
            }
            let step = match row.state.as_str() {
                "prepared" => {
                    tell(progress, TopupStep::Authorising);
                    self.authorize(&row).await
                }
                "unknown" if row.order_id.is_none() => {
                    tell(progress, TopupStep::Authorising);
                    self.authorize(&row).await
                }
                "authorised" => {
                    tell(progress, TopupStep::Writing);
                    self.credit(card, &row).await
                }
                "credited" => {
                    tell(progress, TopupStep::Verifying);
                    self.complete(&row).await
                }
                _ => return record(&row),
            };
            if let Err(e) = step {
                return self.interrupted(topup_id, e);
            }
        }
        self.topup_record(topup_id)
    }

    /// A step failed: a finished top-up stays as it is; a lost card or answer leaves it
    /// `unknown` (settled at the next tap; a `credited` one keeps its proof); else the error.
    pub(super) fn interrupted(&self, topup_id: &str, e: PayError) -> Result<TopupRecord, PayError> {
        let row = self
            .store
            .topup(topup_id)?
            .ok_or_else(|| PayError::Invalid(format!("no top-up {topup_id}")))?;
        if matches!(row.state.as_str(), "completed" | "failed" | "reversed") {
            return record(&row);
        }
        if is_transport(&e)
            || matches!(&e, PayError::Platform(p) if p.kind() != FailureKind::Refused)
        {
            if row.state != "credited" {
                self.mark(topup_id, "unknown", Some(&e.to_string()))?;
            }
            return self.topup_record(topup_id);
        }
        Err(e)
    }

    /// Sends the stored authorisation request (its exact bytes; a repeat is answered from
    /// the platform's record of the key).
    async fn authorize(&self, row: &TopupRow) -> Result<(), PayError> {
        let (status, bytes) = self.send_stored(row).await?;
        match decode_verified::<TopupOrder>(status, &bytes) {
            Ok(order) => self.take_order(row, &order),
            Err(PlatformError::Refused { detail, title, .. }) => {
                // A signed refusal: nothing was taken.
                let why = detail.unwrap_or(title);
                self.mark(&row.topup_id, "failed", Some(&why))?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a top-up's stored authorisation request: its exact bytes, or — aged in the store
    /// past the platform's window — the same body and key signed afresh.
    pub(super) async fn send_stored(&self, row: &TopupRow) -> Result<(u16, Vec<u8>), PayError> {
        let mut req: PreparedRequest = serde_json::from_slice(row.request.as_bytes())
            .map_err(|e| StoreError::Corrupt(format!("stored top-up request: {e}")))?;
        let (mut status, mut bytes) = self.client.send_prepared(&req, 64 << 10).await?;
        if status == 401 && problem_kind(&bytes) == "stale-timestamp" {
            // Aged in the store: the same body and key, signed afresh.
            let (fresh, _) = self
                .signed(
                    &req.method,
                    req.path.clone(),
                    req.body.clone(),
                    &row.idempotency_key,
                )
                .await?;
            req = fresh;
            (status, bytes) = self.client.send_prepared(&req, 64 << 10).await?;
        }
        Ok((status, bytes))
    }

    /// CREDIT FOR LOAD with the authorised MAC2; the TAC is stored before anything else.
    async fn credit(&self, card: &dyn CardTransport, row: &TopupRow) -> Result<(), PayError> {
        let stamp_hex = row.stamp.as_deref().unwrap_or_default();
        let stamp: [u8; 7] = hex_n("the stored stamp", stamp_hex)?;
        let [y0, y1, y2, y3, h0, h1, h2] = stamp;
        let mac2: [u8; 4] = hex_n("MAC2", row.mac2.as_deref().unwrap_or_default())?;
        let stamp = Stamp {
            date: [y0, y1, y2, y3],
            time: [h0, h1, h2],
        };
        let r = exchange(card, &credit_for_load(&stamp, mac2)).await?;
        if !r.sw.is_ok() {
            // The card says no (9302, 6985) — or claims to: only its MAC1 at the next tap
            // proves whether it was loaded, so the money is not given back on its word.
            let e = r.ok_data("CREDIT FOR LOAD").map(|_| ());
            self.mark(
                &row.topup_id,
                "unknown",
                Some("the card refused the credit; it is settled at the next tap"),
            )?;
            return e.map_err(PayError::from);
        }
        let tac: [u8; 4] = r.data.as_slice().try_into().map_err(|_| {
            TopupError::Apdu(format!(
                "CREDIT FOR LOAD answered {} bytes, not 4",
                r.data.len()
            ))
        })?;
        self.store.topup_state(
            &row.topup_id,
            "credited",
            None,
            Some(&hex::encode_upper(tac)),
            self.clock.now_unix(),
        )?;
        Ok(())
    }

    /// Reports the card's TAC; the platform answers the completed order with its receipt.
    async fn complete(&self, row: &TopupRow) -> Result<(), PayError> {
        let order_id = row.order_id.clone().ok_or_else(not_ours)?;
        let body = json(&TopupCompletion {
            tac: row.tac.clone().unwrap_or_default(),
        })?;
        let path = format!("/v1/topups/{order_id}/complete");
        let (status, bytes) = self.send_fresh("POST", &path, body).await?;
        match decode_verified::<TopupOrder>(status, &bytes) {
            Ok(order) => self.take_order(row, &order),
            Err(PlatformError::Refused { .. }) => {
                // The TAC does not check: the next tap's MAC1 decides.
                self.mark(
                    &row.topup_id,
                    "unknown",
                    Some("the platform could not check the card's TAC; it is settled at the next tap"),
                )?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The top-up's receipt, verified and checked to be this load's; `None` (logged) if not.
    pub(super) fn topup_receipt(
        &self,
        row: &TopupRow,
        order_id: &str,
        receipt: Option<&str>,
    ) -> Option<NewReceipt> {
        let encoded = receipt?;
        let amount = format!("{}.{:02}", row.amount_fen / 100, row.amount_fen % 100);
        let checked = self.verified_receipt(encoded, |body| {
            body.payment_id == order_id && body.amount == amount
        });
        match checked {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(topup = %row.topup_id, error = %e, "top-up receipt refused");
                None
            }
        }
    }
}
