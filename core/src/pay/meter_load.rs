//! Loading a file-based prepaid meter card (the platform's APDU script): read EF 02 and take
//! the card's challenge; the signed purchase request is stored (`prepared`) and sent (the
//! account is debited; the answer is a script that writes the purchase, MAC'd over that
//! challenge, and the record EF 02 must then read: `authorised`, stored); the script runs,
//! stopping at the first status word that differs, and EF 02 is read back and stored
//! (`credited`); the platform checks it and answers the receipt (`completed`).
//!
//! The write is absolute (purchase number n+1 and the total after it), so an interrupted load
//! is settled at the next tap by what EF 02 reads: the purchase is there (completed), or the
//! card is untouched and a fresh challenge gets a fresh script for the same record — never a
//! second debit, never a second credit (the meter takes each purchase number once).

use super::topup::{NewLoad, finished, json, ours, tell};
use super::{PayError, Payments, not_ours, random_id};
use crate::platform::api::{
    ApiMoney, MeterCardOrder, MeterCardReport, MeterCardRequest, ScriptCommand,
};
use crate::platform::{PlatformError, decode_verified};
use crate::ports::{CardTransport, TopupProgress, TopupStep};
use crate::store::{StoreError, TopupRow};
use crate::topup::apdu::Command;
use crate::topup::meter_card::{MeterInfo, PurchaseRecord, get_challenge, read_ef};
use crate::topup::{TopupError, exchange};

/// The `terminal` a meter card's row is stored with (`METER:` and the meter number).
const METER_PREFIX: &str = "METER:";

/// Whether a stored top-up is a meter card's.
pub(super) fn is_meter(row: &TopupRow) -> bool {
    row.terminal.starts_with(METER_PREFIX)
}

async fn read_record(card: &dyn CardTransport) -> Result<PurchaseRecord, PayError> {
    let d = exchange(card, &read_ef(2, 12))
        .await?
        .ok_data("READ EF 02")?;
    Ok(PurchaseRecord::parse(&d)?)
}

async fn challenge(card: &dyn CardTransport) -> Result<[u8; 8], PayError> {
    let d = exchange(card, &get_challenge())
        .await?
        .ok_data("GET CHALLENGE")?;
    Ok(d.as_slice()
        .try_into()
        .map_err(|_| TopupError::Apdu(format!("a challenge of {} bytes, not 8", d.len())))?)
}

/// The platform's script, parsed: each command and the status word it must answer (public for
/// the fuzzer: the script is data from outside).
pub fn parse_meter_script(text: &str) -> Result<Vec<(Command, u16)>, PayError> {
    let bad = |what: &str| PlatformError::Incompatible(format!("a meter script {what}"));
    let script: Vec<ScriptCommand> =
        serde_json::from_slice(text.as_bytes()).map_err(|_| bad("that is not JSON"))?;
    if script.is_empty() || script.len() > 16 {
        return Err(bad("of no or too many commands").into());
    }
    script
        .iter()
        .map(|c| {
            let apdu = hex::decode(&c.apdu).map_err(|_| bad("command that is not hex"))?;
            let sw =
                u16::from_str_radix(&c.expect, 16).map_err(|_| bad("status that is not hex"))?;
            Ok((Command::parse(&apdu)?, sw))
        })
        .collect()
}

impl Payments {
    /// Buys `fen` for the file-based meter card in the field (already selected, EF 01 read).
    pub(super) async fn load_meter_card(
        &self,
        card: &dyn CardTransport,
        info: MeterInfo,
        fen: u32,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<super::TopupRecord, PayError> {
        let serial = hex::encode_upper(info.serial);
        if let Some(open) = self.store.open_topup(&serial)? {
            finished(&self.settle_meter_row(card, open, progress).await?)?;
        }
        let rec = read_record(card).await?;
        let ch = challenge(card).await?;
        let key = random_id(16)?;
        let body = json(&MeterCardRequest {
            card_serial: serial.clone(),
            meter: info.meter_digits(),
            amount: ApiMoney {
                amount: format!("{}.{:02}", fen / 100, fen % 100),
                currency: "CNY".into(),
            },
            funding_account: self.cfg.funding_account.clone(),
            record: hex::encode_upper(rec.to_bytes()),
            challenge: hex::encode_upper(ch),
        })?;
        let (req, _) = self
            .signed("POST", "/v1/meter-cards".into(), body, &key)
            .await?;
        let load = NewLoad {
            key,
            serial,
            fen,
            terminal: format!("{METER_PREFIX}{}", info.meter_digits()),
            old_balance: i64::from(rec.total),
            counter: i64::from(rec.number),
            request: req,
        };
        self.start_load(card, load, progress).await
    }

    /// Settles the unfinished purchase of the meter card in the field, if it has one.
    pub(super) async fn settle_meter_card(
        &self,
        card: &dyn CardTransport,
        info: &MeterInfo,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<Option<super::TopupRecord>, PayError> {
        match self.store.open_topup(&hex::encode_upper(info.serial))? {
            Some(row) => {
                self.register().await?;
                Ok(Some(self.settle_meter_row(card, row, progress).await?))
            }
            None => Ok(None),
        }
    }

    /// With the card in the field: what EF 02 reads and a fresh challenge decide.
    async fn settle_meter_row(
        &self,
        card: &dyn CardTransport,
        row: TopupRow,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<super::TopupRecord, PayError> {
        if row.order_id.is_none() || row.state == "prepared" {
            // No order known yet: resend the stored request (answered from the key).
            return self.drive(card, row.topup_id, progress).await;
        }
        let step = async {
            let rec = read_record(card).await?;
            let ch = challenge(card).await?;
            tell(progress, TopupStep::Verifying);
            self.report(&row, rec, Some(ch)).await
        }
        .await;
        if let Err(e) = step {
            return self.interrupted(&row.topup_id, e);
        }
        self.drive(card, row.topup_id, progress).await
    }

    /// One step of a meter card's stored purchase; `false` when there is none left.
    pub(super) async fn meter_step(
        &self,
        card: &dyn CardTransport,
        row: &TopupRow,
        progress: Option<&dyn TopupProgress>,
    ) -> Result<bool, PayError> {
        match (row.state.as_str(), &row.order_id) {
            ("prepared", _) | ("unknown", None) => {
                tell(progress, TopupStep::Authorising);
                let (status, bytes) = self.send_stored(row).await?;
                match decode_verified::<MeterCardOrder>(status, &bytes) {
                    Ok(order) => self.take_meter_order(row, &order)?,
                    Err(PlatformError::Refused { detail, title, .. }) => {
                        let why = detail.unwrap_or(title);
                        self.mark(&row.topup_id, "failed", Some(&why))?;
                    }
                    Err(e) => return Err(e.into()),
                }
                Ok(true)
            }
            ("authorised", Some(_)) => {
                tell(progress, TopupStep::Writing);
                self.run_script(card, row).await?;
                Ok(true)
            }
            ("credited", Some(_)) => {
                tell(progress, TopupStep::Verifying);
                let read = row
                    .tac
                    .as_deref()
                    .and_then(|h| hex::decode(h).ok())
                    .ok_or_else(|| {
                        StoreError::Corrupt("a credited purchase without its read-back".into())
                    })?;
                self.report(row, PurchaseRecord::parse(&read)?, None)
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Runs the stored script, then reads EF 02 back and keeps it (`credited`) — also when a
    /// command answered otherwise than expected: the record, not the script, is the proof.
    async fn run_script(&self, card: &dyn CardTransport, row: &TopupRow) -> Result<(), PayError> {
        let script = parse_meter_script(row.mac2.as_deref().unwrap_or_default())?;
        let mut stopped = None;
        for (i, (c, expect)) in script.iter().enumerate() {
            let r = exchange(card, c).await?;
            if r.sw.0 != *expect {
                stopped = Some(format!(
                    "the script stopped at command {}: the card answered {:04X} ({}), not {expect:04X}",
                    i + 1,
                    r.sw.0,
                    r.sw.meaning()
                ));
                break;
            }
        }
        let read = read_record(card).await?;
        self.store.topup_state(
            &row.topup_id,
            "credited",
            stopped.as_deref(),
            Some(&hex::encode_upper(read.to_bytes())),
            self.clock.now_unix(),
        )?;
        Ok(())
    }

    /// Tells the platform what EF 02 reads (with a fresh challenge at a settling tap).
    async fn report(
        &self,
        row: &TopupRow,
        read: PurchaseRecord,
        challenge: Option<[u8; 8]>,
    ) -> Result<(), PayError> {
        let order_id = row.order_id.clone().ok_or_else(not_ours)?;
        let body = json(&MeterCardReport {
            record: hex::encode_upper(read.to_bytes()),
            challenge: challenge.map(hex::encode_upper),
        })?;
        let path = format!("/v1/meter-cards/{order_id}/report");
        let (status, bytes) = self.send_fresh("POST", &path, body).await?;
        match decode_verified::<MeterCardOrder>(status, &bytes) {
            Ok(order) => self.take_meter_order(row, &order),
            Err(PlatformError::Refused { kind, detail, .. }) if kind == "needs-reconciliation" => {
                self.mark(
                    &row.topup_id,
                    "needs_reconciliation",
                    Some(
                        detail
                            .as_deref()
                            .unwrap_or("the issuer reconciles this purchase"),
                    ),
                )
            }
            Err(PlatformError::Refused { .. }) => self.mark(
                &row.topup_id,
                "unknown",
                Some("the purchase is not on the card yet; it is written at the next tap"),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores what the platform says of the purchase (after checking it is this one's).
    fn take_meter_order(&self, row: &TopupRow, order: &MeterCardOrder) -> Result<(), PayError> {
        ours(row, &order.order_id, &order.amount)?;
        let now = self.clock.now_unix();
        match order.state.as_str() {
            "authorised" => {
                // Checked before it is kept: a script this version cannot run is refused now.
                let script = json(&order.script)?;
                parse_meter_script(&script)?;
                self.store.topup_authorised(
                    &row.topup_id,
                    &order.order_id,
                    &script,
                    &order.expected_record,
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
                Some("the card was not written; the money went back"),
            )?,
            other => {
                return Err(PlatformError::Incompatible(format!(
                    "a purchase state this version does not know: {other:?}"
                ))
                .into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    proptest::proptest! {
        #[test]
        fn any_text_is_a_script_or_a_typed_error(t in proptest::string::string_regex(".{0,400}").unwrap()) {
            let _ = parse_meter_script(&t);
        }

        #[test]
        fn a_well_formed_script_parses_to_its_commands(
            cmds in proptest::collection::vec(
                (proptest::num::u8::ANY, proptest::num::u8::ANY,
                 proptest::collection::vec(proptest::num::u8::ANY, 0..40), proptest::num::u16::ANY),
                1..=16,
            )
        ) {
            let script: Vec<ScriptCommand> = cmds
                .iter()
                .map(|(ins, p2, data, sw)| ScriptCommand {
                    apdu: hex::encode(
                        Command::new(0x00, *ins, 0x82, *p2).with_data(data.clone()).to_bytes().unwrap(),
                    ),
                    expect: format!("{sw:04X}"),
                })
                .collect();
            let parsed = parse_meter_script(&serde_json::to_string(&script).unwrap()).unwrap();
            proptest::prop_assert_eq!(parsed.len(), cmds.len());
            for ((c, sw), (ins, p2, data, want)) in parsed.iter().zip(&cmds) {
                proptest::prop_assert_eq!((c.ins, c.p2, &c.data, *sw), (*ins, *p2, data, *want));
            }
        }
    }
}
