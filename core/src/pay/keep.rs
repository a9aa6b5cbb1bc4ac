//! Keep, the parts that speak to the platform as this device: invoices (fapiao) for completed
//! payments, the customer's saved bill accounts ("my accounts", synced so a new phone gets
//! them back), their latest bills, and due-date reminders computed offline from those bills.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{PayError, Payments, not_ours, problem_kind, random_id};
use crate::money::Money;
use crate::platform::api::{
    Bill, Invoice, InvoiceDelivery, InvoiceRequest, SavedAccount, SavedAccountInput,
    SavedAccountList,
};
use crate::platform::{FailureKind, PlatformError, decode_verified};
use crate::store::AccountRow;

/// The prefix of an invoice pick-up code's QR text (`BTP1:INV…:12345678`): all in QR
/// alphanumeric mode, scanned by the outlet's counter.
pub const PICKUP_QR_PREFIX: &str = "BTP1:";

/// The QR text an outlet scans to hand over a paper invoice; `None` unless it is for pick-up.
pub fn pickup_qr_text(invoice: &Invoice) -> Option<String> {
    let code = invoice.pickup_code.as_deref()?;
    Some(format!(
        "{PICKUP_QR_PREFIX}{}:{code}",
        invoice.invoice_id.to_uppercase()
    ))
}

/// How close a bill's due date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ReminderStatus {
    /// Past its due date and not paid.
    Overdue,
    /// Due within the reminder window.
    DueSoon,
    /// Due later (or no due date).
    Upcoming,
}

/// One unpaid bill of a saved account, for the app to schedule a notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reminder {
    /// The saved account.
    pub account_id: String,
    /// Its nickname (`家里的水费`).
    pub nickname: String,
    /// The biller.
    pub biller_id: String,
    /// The payee's name as the platform verified it.
    pub payee_name: String,
    /// The bill.
    pub bill_id: String,
    /// The amount due.
    pub amount: Money,
    /// The due date (`YYYY-MM-DD`), if the bill has one.
    pub due_date: Option<String>,
    /// Days until it is due (negative: overdue by that many), China time.
    pub days_left: Option<i64>,
    /// Overdue, due soon, or upcoming.
    pub status: ReminderStatus,
    /// When these bills were fetched (Unix seconds): how fresh the reminder is.
    pub fetched_at: i64,
}

/// A saved account as the app shows it: synced with the platform or not yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MyAccount {
    /// The account.
    pub account: SavedAccount,
    /// False while a change made offline has not reached the platform.
    pub synced: bool,
}

fn to_row(a: &SavedAccount, pending: Option<&str>) -> AccountRow {
    AccountRow {
        account_id: a.account_id.clone(),
        biller_id: a.biller_id.clone(),
        account: a.account.clone(),
        nickname: a.nickname.clone(),
        updated_at: a.updated_at,
        pending: pending.map(str::to_string),
    }
}

fn from_row(r: &AccountRow) -> MyAccount {
    MyAccount {
        account: SavedAccount {
            account_id: r.account_id.clone(),
            biller_id: r.biller_id.clone(),
            account: r.account.clone(),
            nickname: r.nickname.clone(),
            updated_at: r.updated_at,
        },
        synced: r.pending.is_none(),
    }
}

fn json<T: Serialize>(v: &T) -> Result<String, PayError> {
    serde_json::to_string(v).map_err(|e| PayError::Invalid(e.to_string()))
}

fn stored<T: DeserializeOwned>(text: &str) -> Result<T, PayError> {
    serde_json::from_slice(text.as_bytes())
        .map_err(|e| crate::store::StoreError::Corrupt(format!("a kept record: {e}")).into())
}

/// Path segments billtap builds from ids: what the platform's ids are made of.
fn id_segment(what: &str, id: &str) -> Result<String, PayError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id.to_string())
    } else {
        Err(PayError::Invalid(format!(
            "{what} {id:?} is not an id (1-64 letters, digits, - and _)"
        )))
    }
}

fn check_invoice_input(title: &str, delivery: &InvoiceDelivery) -> Result<(), PayError> {
    let bad = |m: &str| Err(PayError::Invalid(m.into()));
    let len = |s: &str| s.trim().chars().count();
    if !(1..=100).contains(&len(title)) {
        return bad("the invoice title (the buyer's name) is 1-100 characters");
    }
    match delivery {
        InvoiceDelivery::Email { address } => {
            let a = address.trim();
            if a.len() > 254 || a.contains(char::is_whitespace) || a.split('@').count() != 2 {
                return bad("an invoice by e-mail needs an address like name@example.com");
            }
        }
        InvoiceDelivery::Outlet { outlet_id } => {
            if let Some(id) = outlet_id {
                id_segment("outlet", id)?;
            }
        }
        InvoiceDelivery::Express {
            recipient,
            phone,
            address,
        } => {
            if len(recipient) == 0 || len(phone) == 0 || len(address) < 5 {
                return bad("express delivery needs a recipient, a phone number and an address");
            }
        }
    }
    Ok(())
}

impl Payments {
    /// A signed call as this device for its customer. A registration from before saved
    /// accounts named no customer: registered again (same key) and sent once more.
    async fn customer_call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: String,
    ) -> Result<T, PayError> {
        self.register().await?;
        let (mut status, mut bytes) = self.send_fresh(method, path, body.clone()).await?;
        if status == 403 && problem_kind(&bytes) == "device-not-linked" {
            self.register_with(true).await?;
            (status, bytes) = self.send_fresh(method, path, body).await?;
        }
        Ok(decode_verified(status, &bytes)?)
    }

    /// The platform's transaction id of a payment: billtap's own id (`pay-…`) is looked up.
    fn platform_payment_id(&self, payment: &str) -> Result<String, PayError> {
        if let Some(row) = self.store.payment(payment)? {
            return row.platform_payment_id.ok_or_else(|| {
                PayError::Invalid(format!(
                    "payment {payment} has not succeeded ({}): no invoice for it",
                    row.state.as_str()
                ))
            });
        }
        id_segment("payment", payment)
    }

    /// Requests an invoice for a completed payment (billtap's id or the platform's), to be
    /// e-mailed, picked up at an outlet (the answer carries the outlet and a pick-up code) or
    /// sent by express. Kept in the store. Asking again the same way (an answer lost on the
    /// way) gets the same invoice back; another way is refused (one invoice per payment).
    pub async fn request_invoice(
        &self,
        payment: &str,
        title: &str,
        tax_id: Option<String>,
        delivery: InvoiceDelivery,
    ) -> Result<Invoice, PayError> {
        check_invoice_input(title, &delivery)?;
        let payment_id = self.platform_payment_id(payment)?;
        let body = json(&InvoiceRequest {
            payment_id: payment_id.clone(),
            title: title.trim().to_string(),
            tax_id: tax_id
                .map(|t| t.trim().to_uppercase())
                .filter(|t| !t.is_empty()),
            delivery,
        })?;
        let invoice: Invoice = self.customer_call("POST", "/v1/invoices", body).await?;
        if invoice.payment_id != payment_id {
            return Err(not_ours());
        }
        self.keep_invoice(&invoice)?;
        Ok(invoice)
    }

    /// Asks the platform where an invoice stands and keeps the answer; offline (unreachable),
    /// the kept record (an error only when neither has it).
    pub async fn invoice_status(&self, invoice_id: &str) -> Result<Invoice, PayError> {
        let id = id_segment("invoice", invoice_id)?;
        match self
            .customer_call::<Invoice>("GET", &format!("/v1/invoices/{id}"), String::new())
            .await
        {
            Ok(inv) => {
                if inv.invoice_id != id {
                    return Err(not_ours());
                }
                self.keep_invoice(&inv)?;
                Ok(inv)
            }
            Err(PayError::Platform(e)) if e.kind() == FailureKind::Unreachable => {
                match self.store.invoice_record(&id)? {
                    Some(text) => stored(&text),
                    None => Err(PayError::Platform(e)),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn keep_invoice(&self, inv: &Invoice) -> Result<(), PayError> {
        self.store.save_invoice(
            &inv.invoice_id,
            &inv.payment_id,
            &json(inv)?,
            inv.updated_at,
        )?;
        Ok(())
    }

    /// The kept invoices, newest first (one payment's with `payment_id`, the platform's id).
    pub fn invoices(&self, payment_id: Option<&str>) -> Result<Vec<Invoice>, PayError> {
        local_invoices(&self.store, payment_id)
    }

    /// Saves a bill account with a nickname (a new nickname for one already saved). Kept at
    /// once; the platform is told now or, offline, at the next sync (`synced: false`). An
    /// account the platform refuses (unknown biller, bad account) is not kept.
    pub async fn save_account(
        &self,
        biller_id: &str,
        account: &str,
        nickname: &str,
    ) -> Result<MyAccount, PayError> {
        let nickname = nickname.trim();
        if !(1..=40).contains(&nickname.chars().count()) || nickname.chars().any(char::is_control) {
            return Err(PayError::Invalid("the nickname is 1-40 characters".into()));
        }
        id_segment("biller", biller_id)?;
        let account = account.trim();
        if !(1..=64).contains(&account.len())
            || !account
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(PayError::Invalid(
                "the account is 1-64 letters, digits and -".into(),
            ));
        }
        let row = self.store.save_account_pending(&AccountRow {
            account_id: format!("acct-{}", random_id(12)?),
            biller_id: biller_id.into(),
            account: account.into(),
            nickname: nickname.into(),
            updated_at: self.client.platform_now(),
            pending: Some("save".into()),
        })?;
        // This account first, so a refusal (unknown biller, bad account) is this call's error.
        match self.push(&row).await {
            Ok(()) => {}
            Err(PayError::Platform(e)) if e.kind() == FailureKind::Unreachable => {
                return Ok(from_row(&row));
            }
            Err(e) => return Err(e),
        }
        let list = match self.sync_accounts().await {
            Ok(list) => list,
            Err(PayError::Platform(e)) if e.kind() == FailureKind::Unreachable => {
                self.accounts()?
            }
            Err(e) => return Err(e),
        };
        list.into_iter()
            .find(|a| a.account.biller_id == row.biller_id && a.account.account == row.account)
            .ok_or_else(not_ours)
    }

    /// Sends one account's pending change; on success the store records it. A refusal for
    /// good (the platform's signed validation error) drops the change: it would never pass.
    async fn push(&self, row: &AccountRow) -> Result<(), PayError> {
        let path = format!(
            "/v1/saved-accounts/{}",
            id_segment("account", &row.account_id)?
        );
        let sent = match row.pending.as_deref() {
            Some("save") => {
                let body = json(&SavedAccountInput {
                    biller_id: row.biller_id.clone(),
                    account: row.account.clone(),
                    nickname: row.nickname.clone(),
                })?;
                self.customer_call::<SavedAccountList>("PUT", &path, body)
                    .await
            }
            Some("remove") => {
                self.customer_call::<SavedAccountList>("DELETE", &path, String::new())
                    .await
            }
            _ => return Ok(()),
        };
        match sent {
            Ok(_) if row.pending.as_deref() == Some("remove") => {
                self.store.delete_account(&row.account_id)?;
                Ok(())
            }
            Ok(_) => Ok(self.store.account_synced(&row.account_id)?),
            Err(e @ PayError::Platform(PlatformError::Refused { .. })) => {
                self.store.delete_account(&row.account_id)?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes a saved account: hidden at once, the platform told now or at the next sync.
    pub async fn remove_account(&self, account_id: &str) -> Result<(), PayError> {
        if !self.store.remove_account_pending(account_id)? {
            return Err(PayError::Invalid(format!("no saved account {account_id}")));
        }
        match self.sync_accounts().await {
            Ok(_) => Ok(()),
            Err(PayError::Platform(e)) if e.kind() == FailureKind::Unreachable => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends the changes made offline, then takes the platform's signed list as the truth
    /// (changes still pending aside). A change the platform refuses for good is dropped with
    /// a warning in the log: the account no longer shows.
    pub async fn sync_accounts(&self) -> Result<Vec<MyAccount>, PayError> {
        for row in self.store.accounts(true)? {
            match self.push(&row).await {
                Ok(()) => {}
                Err(PayError::Platform(PlatformError::Refused { detail, .. })) => {
                    tracing::warn!(account = %row.account_id, reason = ?detail, "saved account refused by the platform, dropped");
                }
                Err(e) => return Err(e),
            }
        }
        let list: SavedAccountList = self
            .customer_call("GET", "/v1/saved-accounts", String::new())
            .await?;
        let rows: Vec<AccountRow> = list.items.iter().map(|a| to_row(a, None)).collect();
        self.store.replace_synced_accounts(&rows)?;
        self.accounts()
    }

    /// The saved accounts as kept (no network), oldest first.
    pub fn accounts(&self) -> Result<Vec<MyAccount>, PayError> {
        local_accounts(&self.store)
    }

    /// Fetches the latest bills of every saved account and keeps them for offline reminders.
    /// How many accounts were refreshed; an account whose lookup fails keeps its last bills.
    pub async fn refresh_bills(&self) -> Result<u32, PayError> {
        let mut refreshed = 0;
        let mut first_error = None;
        for a in self.store.accounts(false)? {
            let result = async {
                let biller = self.client.biller(&a.biller_id).await?;
                let field = biller
                    .lookup_fields
                    .first()
                    .map(|f| f.key.clone())
                    .ok_or_else(|| {
                        PlatformError::Incompatible("the biller names no lookup field".into())
                    })?;
                let fields = BTreeMap::from([(field, a.account.clone())]);
                self.client.lookup(&a.biller_id, &fields).await
            }
            .await;
            match result {
                Ok(found) => {
                    self.store.save_account_bills(
                        &a.account_id,
                        &json(&found.bills)?,
                        self.client.platform_now(),
                    )?;
                    refreshed += 1;
                }
                Err(e) => {
                    tracing::info!(account = %a.account_id, error = %e, "bills not refreshed");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if refreshed == 0 && e.kind() == FailureKind::Unreachable => Err(e.into()),
            _ => Ok(refreshed),
        }
    }

    /// Due-date reminders from the kept bills, no network: unpaid bills of saved accounts,
    /// overdue first, `due_soon` within `within_days` days (China time, platform clock).
    pub fn reminders(&self, within_days: u32) -> Result<Vec<Reminder>, PayError> {
        reminders(&self.store, self.client.platform_now(), within_days)
    }
}

/// The kept invoices (no network), newest first.
pub fn local_invoices(
    store: &crate::store::Store,
    payment_id: Option<&str>,
) -> Result<Vec<Invoice>, PayError> {
    store
        .invoice_records(payment_id)?
        .iter()
        .map(|t| stored(t))
        .collect()
}

/// The saved accounts as kept (no network), oldest first.
pub fn local_accounts(store: &crate::store::Store) -> Result<Vec<MyAccount>, PayError> {
    Ok(store.accounts(false)?.iter().map(from_row).collect())
}

/// Due-date reminders from the kept bills at `now` (Unix seconds), no network.
pub fn reminders(
    store: &crate::store::Store,
    now: i64,
    within_days: u32,
) -> Result<Vec<Reminder>, PayError> {
    let accounts: BTreeMap<String, AccountRow> = store
        .accounts(false)?
        .into_iter()
        .map(|a| (a.account_id.clone(), a))
        .collect();
    let paid = store.paid_bill_ids()?;
    let today = crate::dates::china_day_of(now);
    let mut out = Vec::new();
    for (account_id, bills, fetched_at) in store.account_bills()? {
        let Some(a) = accounts.get(&account_id) else {
            continue;
        };
        let bills: Vec<Bill> = stored(&bills)?;
        for b in bills {
            let unpaid = matches!(b.status.as_str(), "open" | "overdue");
            if !unpaid || paid.contains(&b.id) {
                continue;
            }
            let days_left = b
                .due_date
                .as_deref()
                .and_then(crate::dates::parse_day)
                .map(|d| d - today);
            let status = match days_left {
                Some(d) if d < 0 => ReminderStatus::Overdue,
                Some(d) if d <= i64::from(within_days) => ReminderStatus::DueSoon,
                _ => ReminderStatus::Upcoming,
            };
            out.push(Reminder {
                account_id: a.account_id.clone(),
                nickname: a.nickname.clone(),
                biller_id: b.biller_id.clone(),
                payee_name: b.biller_name.clone(),
                bill_id: b.id.clone(),
                amount: b.amount_due.to_money()?,
                due_date: b.due_date.clone(),
                days_left,
                status,
                fetched_at,
            });
        }
    }
    // Unstable is enough (bill ids are unique) and shares the sort the library already has.
    out.sort_unstable_by(|a, b| {
        (a.status, a.days_left.unwrap_or(i64::MAX), &a.bill_id).cmp(&(
            b.status,
            b.days_left.unwrap_or(i64::MAX),
            &b.bill_id,
        ))
    });
    Ok(out)
}
