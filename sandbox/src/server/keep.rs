//! Invoices (fapiao) for completed payments and the customer's saved bill accounts. Every
//! call is signed by a registered device (as payments are) and answered for the customer the
//! device was registered for.

use billtap_core::platform::api::{
    Invoice, InvoiceDelivery, InvoiceRequest, InvoiceState, Outlet, SavedAccount,
    SavedAccountInput, SavedAccountList,
};

use super::*;
use crate::keep::invoice_states;
use crate::model::cny;

/// The outlets paper invoices can be picked up at.
fn outlets() -> Vec<Outlet> {
    [
        (
            "PO-BJ-0001",
            "中国邮政储蓄银行北京西城区金融街营业所",
            "北京市西城区金融大街3号",
            "09:00-17:00",
        ),
        (
            "PO-BJ-0002",
            "中国邮政储蓄银行北京海淀区中关村营业所",
            "北京市海淀区中关村大街27号",
            "09:00-17:30",
        ),
        (
            "PO-SH-0001",
            "中国邮政储蓄银行上海黄浦区外滩营业所",
            "上海市黄浦区中山东一路12号",
            "08:30-17:00",
        ),
    ]
    .into_iter()
    .map(|(id, name, address, hours)| Outlet {
        id: id.into(),
        name: name.into(),
        address: address.into(),
        hours: hours.into(),
    })
    .collect()
}

fn random_digits(n: usize) -> Option<String> {
    let mut b = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).ok()?;
    Some(b.iter().map(|x| char::from(b'0' + x % 10)).collect())
}

fn random_hex(bytes: usize) -> Option<String> {
    let mut b = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).ok()?;
    Some(hex::encode_upper(b))
}

/// The customer a signed device request acts for (the nonce burnt), or the refusal.
#[allow(clippy::result_large_err)] // the finished refusal, returned at once
fn customer(app: &App, headers: &HeaderMap, rd: &RequestDigest) -> Result<String, Response> {
    let device_id = device_request_once(app, headers, rd)?;
    match app.db.customer_of(&device_id) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(problem(
            StatusCode::FORBIDDEN,
            "device-not-linked",
            "Device not linked to a customer",
            "register the device again with the customer it acts for",
            Vec::new(),
        )),
        Err(e) => Err(internal_error(&e)),
    }
}

fn validation(detail: &str) -> Response {
    problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "Invalid request",
        detail,
        Vec::new(),
    )
}

fn valid_email(a: &str) -> bool {
    let Some((local, domain)) = a.split_once('@') else {
        return false;
    };
    a.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !a.contains(char::is_whitespace)
        && !domain.contains('@')
}

/// A mainland mobile number: 11 digits starting with 1, optionally after +86.
fn valid_phone(p: &str) -> bool {
    let digits: String = p.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = digits.strip_prefix("+86").unwrap_or(&digits);
    digits.len() == 11 && digits.starts_with('1') && digits.bytes().all(|b| b.is_ascii_digit())
}

fn mask_email(a: &str) -> String {
    let (local, domain) = a.split_once('@').unwrap_or((a, ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}***@{domain}")
}

fn mask_address(a: &str) -> String {
    let head: String = a.chars().take(6).collect();
    format!("{head}…")
}

fn chars_within(s: &str, min: usize, max: usize) -> bool {
    let n = s.trim().chars().count();
    (min..=max).contains(&n) && !s.chars().any(char::is_control)
}

/// `POST /v1/invoices`.
pub(super) async fn create_invoice(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let customer = match customer(&app, &headers, &rd) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let req: InvoiceRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !chars_within(&req.title, 1, 100) {
        return validation("title: the buyer's name, 1-100 characters");
    }
    if let Some(t) = &req.tax_id
        && !((15..=20).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()))
    {
        return validation("tax_id: 15-20 digits and capital letters");
    }
    let paid = match app.db.paid_payment(&req.payment_id) {
        Ok(Some(p)) if p.customer.as_deref() == Some(customer.as_str()) => p,
        Ok(_) => {
            return problem(
                StatusCode::NOT_FOUND,
                "unknown-payment",
                "No such payment",
                "no completed payment of this customer has this id",
                Vec::new(),
            );
        }
        Err(e) => return internal_error(&e),
    };
    let (kind, destination, outlet, pickup_code) = match &req.delivery {
        InvoiceDelivery::Email { address } => {
            if !valid_email(address.trim()) {
                return validation("delivery.address: an e-mail address like name@example.com");
            }
            ("email", mask_email(address.trim()), None, None)
        }
        InvoiceDelivery::Outlet { outlet_id } => {
            let all = outlets();
            let chosen = match outlet_id {
                None => all.into_iter().next(),
                Some(id) => all.into_iter().find(|o| &o.id == id),
            };
            let Some(o) = chosen else {
                return validation("delivery.outlet_id: not an outlet of the platform");
            };
            let Some(code) = random_digits(8) else {
                return internal_error(&"no randomness");
            };
            ("outlet", o.name.clone(), Some(o), Some(code))
        }
        InvoiceDelivery::Express {
            recipient,
            phone,
            address,
        } => {
            if !chars_within(recipient, 1, 50) {
                return validation("delivery.recipient: 1-50 characters");
            }
            if !valid_phone(phone) {
                return validation("delivery.phone: a mobile number (11 digits, +86 optional)");
            }
            if !chars_within(address, 5, 200) {
                return validation("delivery.address: a postal address, 5-200 characters");
            }
            ("express", mask_address(address.trim()), None, None)
        }
    };
    let Some(id) = random_hex(8) else {
        return internal_error(&"no randomness");
    };
    let now = SystemClock.now_unix();
    let invoice = Invoice {
        invoice_id: format!("INV{id}"),
        payment_id: req.payment_id.clone(),
        title: req.title.trim().to_string(),
        delivery_kind: kind.into(),
        destination,
        state: InvoiceState::Requested,
        invoice_number: None,
        outlet,
        pickup_code,
        tracking_number: None,
        amount: cny(paid.amount_fen),
        requested_at: now,
        updated_at: now,
    };
    match app.db.create_invoice(&customer, &invoice) {
        Ok(Ok(())) => (StatusCode::CREATED, json_ok(&invoice)).into_response(),
        // The same request again (its answer was lost): the invoice it made.
        Ok(Err(existing)) if existing.delivery_kind == kind && existing.title == invoice.title => {
            json_ok(&existing)
        }
        Ok(Err(existing)) => problem(
            StatusCode::CONFLICT,
            "invoice-exists",
            "An invoice was already requested",
            &format!(
                "payment {} already has invoice {}",
                existing.payment_id, existing.invoice_id
            ),
            Vec::new(),
        ),
        Err(e) => internal_error(&e),
    }
}

/// `GET /v1/invoices/{invoice_id}`.
pub(super) async fn get_invoice(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let customer = match customer(&app, &headers, &rd) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match app.db.invoice(&id) {
        Ok(Some((owner, inv))) if owner == customer => json_ok(&inv),
        Ok(_) => problem(
            StatusCode::NOT_FOUND,
            "unknown-invoice",
            "No such invoice",
            "this customer has no invoice with this id",
            Vec::new(),
        ),
        Err(e) => internal_error(&e),
    }
}

/// `POST /admin/invoices/{invoice_id}/advance`: the payee and the post move an invoice on
/// (issued, sent or ready for pick-up, delivered).
pub(super) async fn admin_advance_invoice(
    State(app): State<Shared>,
    Path(id): Path<String>,
) -> Response {
    let mut inv = match app.db.invoice(&id) {
        Ok(Some((_, inv))) => inv,
        Ok(None) => return validation("no such invoice"),
        Err(e) => return internal_error(&e),
    };
    let states = invoice_states(&inv.delivery_kind);
    let next = states
        .iter()
        .position(|s| *s == inv.state)
        .and_then(|i| states.get(i + 1));
    let Some(next) = next else {
        return problem(
            StatusCode::CONFLICT,
            "invoice-final",
            "Already delivered",
            "the invoice has reached its last state",
            Vec::new(),
        );
    };
    inv.state = *next;
    inv.updated_at = SystemClock.now_unix();
    if inv.state == InvoiceState::Issued {
        inv.invoice_number = random_digits(20);
    }
    if inv.state == InvoiceState::Sent && inv.delivery_kind == "express" {
        inv.tracking_number = random_digits(9).map(|d| format!("E{d}CN"));
    }
    match app.db.update_invoice(&inv) {
        Ok(()) => json_ok(&inv),
        Err(e) => internal_error(&e),
    }
}

fn account_list(app: &App, customer: &str) -> Response {
    match app.db.saved_accounts(customer) {
        Ok(items) => json_ok(&SavedAccountList { items }),
        Err(e) => internal_error(&e),
    }
}

/// `GET /v1/saved-accounts`.
pub(super) async fn list_saved_accounts(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    headers: HeaderMap,
) -> Response {
    match customer(&app, &headers, &rd) {
        Ok(c) => account_list(&app, &c),
        Err(r) => r,
    }
}

/// `PUT /v1/saved-accounts/{account_id}`: the whole list after saving.
pub(super) async fn put_saved_account(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let customer = match customer(&app, &headers, &rd) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input: SavedAccountInput = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let id_ok = (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return validation("account_id: 8-64 letters, digits, - and _");
    }
    let Some(biller) = find(&app, &input.biller_id) else {
        return validation("biller_id: not a biller of the platform");
    };
    // The account must be one the biller's lookup accepts, or no bill could ever be found.
    let account_ok = (1..=64).contains(&input.account.len())
        && biller.lookup_fields.first().is_none_or(|f| {
            regex::Regex::new(&f.pattern).is_ok_and(|re| re.is_match(&input.account))
        });
    if !account_ok {
        let example = biller
            .lookup_fields
            .first()
            .and_then(|f| f.example.clone())
            .unwrap_or_default();
        return validation(&format!(
            "account: not an account of this biller (e.g. {example})"
        ));
    }
    if !chars_within(&input.nickname, 1, 40) {
        return validation("nickname: 1-40 characters");
    }
    let saved = SavedAccount {
        account_id: id,
        biller_id: input.biller_id,
        account: input.account,
        nickname: input.nickname.trim().to_string(),
        updated_at: SystemClock.now_unix(),
    };
    match app.db.save_account(&customer, &saved) {
        Ok(_) => account_list(&app, &customer),
        Err(e) => internal_error(&e),
    }
}

/// `DELETE /v1/saved-accounts/{account_id}`: the whole list after removing.
pub(super) async fn delete_saved_account(
    State(app): State<Shared>,
    Extension(rd): Extension<RequestDigest>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let customer = match customer(&app, &headers, &rd) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match app.db.remove_account(&customer, &id) {
        Ok(()) => account_list(&app, &customer),
        Err(e) => internal_error(&e),
    }
}
