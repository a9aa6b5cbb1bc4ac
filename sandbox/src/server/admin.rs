//! Admin endpoints for tests and demos: create bills, inject faults, announce and rotate keys.

use super::*;

pub(super) async fn admin_create_bill(State(app): State<Shared>, body: Bytes) -> Response {
    let new: NewBill = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if find(&app, &new.biller_id).is_none() || new.amount_fen <= 0 {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid bill",
            "unknown biller or non-positive amount",
            Vec::new(),
        );
    }
    match app
        .db
        .create(&new, app.counter.fetch_add(1, Ordering::Relaxed))
    {
        Ok(id) => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&crate::model::CreatedBill { id }).unwrap_or_default(),
        )
            .into_response(),
        Err(e) => problem(
            StatusCode::CONFLICT,
            "conflict",
            "Could not create the bill",
            &e.to_string(),
            Vec::new(),
        ),
    }
}

pub(super) async fn admin_fault(State(app): State<Shared>, body: Bytes) -> Response {
    let rule: FaultRule = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let known = rule.fault == "status_500"
        || rule.fault == "drop"
        || rule.fault == "bad_signature"
        || rule.fault == "stale"
        || rule.fault == "replay"
        || rule.fault == "unsigned_503"
        || rule.fault == "drop_after_commit"
        || rule.fault == "duplicate"
        || ["delay:", "delay_after:"].iter().any(|p| {
            rule.fault
                .strip_prefix(p)
                .is_some_and(|ms| ms.parse::<u64>().is_ok())
        });
    if !known {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Unknown fault",
            "fault must be delay:MS, delay_after:MS, status_500, drop, drop_after_commit, duplicate, bad_signature, stale, replay or unsigned_503",
            Vec::new(),
        );
    }
    match app.faults.lock() {
        Ok(mut f) => {
            f.push(rule);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(_) => internal_error(&"fault list unavailable"),
    }
}

/// Announces the next signing key and returns its `KEY_ID:BASE64` entry for apps to pin.
pub(super) async fn admin_next_key(State(app): State<Shared>, body: Bytes) -> Response {
    let req: NextKey = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let id = req.key_id.trim();
    let current = app.signer().pinned().id;
    // The same limits the client applies to `Billtap-Key-Id`.
    if id.is_empty() || id.len() > 64 || id == current {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid key id",
            &format!("key_id must be 1–64 characters and not the current key id {current:?}"),
            Vec::new(),
        );
    }
    let next = match ResponseSigner::generate(id) {
        Ok(s) => Arc::new(s),
        Err(e) => return internal_error(&e),
    };
    let entry = next.pinned().to_entry();
    app.keys
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .next = Some(next);
    (
        StatusCode::CREATED,
        axum::Json(crate::model::PinnedKeyEntry { pinned_key: entry }),
    )
        .into_response()
}

/// Switches signing to the announced key; the old key signs nothing from now on.
pub(super) async fn admin_rotate_key(State(app): State<Shared>) -> Response {
    let mut keys = app.keys.write().unwrap_or_else(PoisonError::into_inner);
    let Some(next) = keys.next.take() else {
        return problem(
            StatusCode::CONFLICT,
            "conflict",
            "No key announced",
            "announce the next key with POST /admin/keys/next first",
            Vec::new(),
        );
    };
    let entry = next.pinned().to_entry();
    keys.current = next;
    drop(keys);
    axum::Json(crate::model::PinnedKeyEntry { pinned_key: entry }).into_response()
}

/// `DELETE /admin/faults`: forgets every queued fault (tests that queue random faults start
/// each round clean).
pub(super) async fn admin_clear_faults(State(app): State<Shared>) -> Response {
    if let Ok(mut faults) = app.faults.lock() {
        faults.clear();
    }
    StatusCode::NO_CONTENT.into_response()
}
