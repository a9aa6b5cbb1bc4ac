//! The HTTP server: routes of `docs/api/openapi.yaml` (`ops`), a signing layer over every
//! response (`trust`), what billers print (`printed`) and admin endpoints for tests (`admin`).
//! This file holds the shared state, the router and the problem-document helpers.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use billtap_core::platform::{ResponseSigner, request_digest, valid_nonce};
use billtap_core::ports::{Clock, SystemClock};
use billtap_core::scan::{BilltapBill, EmvWriter, Initiation, render_png_luma};
use serde::Deserialize;

use crate::catalog;
use crate::db::Db;
use crate::model::{
    Biller, Checked, FaultRule, LookupRequest, NewBill, NextKey, ResolveRequest, localized,
    unionpay_account,
};
use billtap_core::platform::api;

mod admin;
mod keep;
mod meter_card;
mod ops;
mod pay;
mod printed;
mod topup;
mod trust;

use admin::*;
use keep::*;
use ops::*;
use pay::*;
use printed::*;
use topup::*;
use trust::*;

pub use printed::merchant_payload;

/// Shared server state.
pub struct App {
    /// The card issuer's master keys by key version.
    pub(crate) issuer_keys: Vec<crate::issuer::IssuerKeys>,
    pub(crate) billers: Vec<Biller>,
    pub(crate) db: Db,
    pub(crate) keys: RwLock<SigningKeys>,
    pub(crate) faults: Mutex<Vec<FaultRule>>,
    pub(crate) counter: AtomicU64,
    /// The bearer token admin calls must carry.
    pub(crate) admin_token: String,
}

impl App {
    /// The signing key now. A poisoned lock still holds a whole key (it is only ever replaced),
    /// so it is used rather than failing every response.
    pub(crate) fn signer(&self) -> Arc<ResponseSigner> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .clone()
    }
}

/// The key the sandbox signs with, and the one announced to replace it (`/admin/keys/…`).
pub struct SigningKeys {
    /// Signs every response now.
    pub(crate) current: Arc<ResponseSigner>,
    /// Becomes `current` at the next rotation.
    pub(crate) next: Option<Arc<ResponseSigner>>,
}

type Shared = Arc<App>;

fn zh(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    billtap_core::platform::Lang::of(accept) == billtap_core::platform::Lang::Zh
}

/// An RFC 9457 problem response.
fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: &str,
    errors: Vec<api::FieldError>,
) -> Response {
    let body = api::Problem {
        kind: format!("https://billtap.example/problems/{kind}"),
        title: title.into(),
        status: status.as_u16(),
        detail: Some(detail.into()),
        errors,
    };
    let text = serde_json::to_string(&body).unwrap_or_default();
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// The 404 for a bill id the sandbox does not have.
fn unknown_bill(id: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "unknown-bill",
        "Unknown bill",
        &format!("no bill {id}"),
        Vec::new(),
    )
}

/// A 500 problem document (the sandbox's own failure, e.g. its database).
fn internal_error(e: &dyn std::fmt::Display) -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        &e.to_string(),
        Vec::new(),
    )
}

fn json_ok(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => internal_error(&e),
    }
}

/// Builds the router over shared state.
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/v1/catalog", get(get_catalog))
        .route("/v1/billers", get(search_billers))
        .route("/v1/billers/{biller_id}", get(get_biller))
        .route("/v1/bills/lookup", post(lookup_bills))
        .route("/v1/bills/{bill_id}", get(get_bill))
        .route("/v1/bills/{bill_id}/qr.png", get(bill_qr))
        .route("/v1/bills/{bill_id}/print", get(bill_page))
        .route("/v1/payees/resolve", post(resolve_payee))
        .route("/v1/devices", post(register_device))
        .route("/v1/payments/quotes", post(create_quote))
        .route("/v1/payments", post(create_payment))
        .route("/v1/payments/by-key/{key}", get(payment_by_key))
        .route("/v1/invoices", post(create_invoice))
        .route("/v1/invoices/{invoice_id}", get(get_invoice))
        .route("/v1/saved-accounts", get(list_saved_accounts))
        .route(
            "/v1/saved-accounts/{account_id}",
            axum::routing::put(put_saved_account).delete(delete_saved_account),
        )
        .route("/v1/topups", post(create_topup))
        .route("/v1/topups/{order_id}/complete", post(complete_topup))
        .route("/v1/topups/{order_id}/settle", post(settle_topup))
        .route("/v1/meter-cards", post(meter_card::create))
        .route(
            "/v1/meter-cards/{order_id}/report",
            post(meter_card::report),
        )
        .route("/admin/ledger", get(admin_ledger))
        .route(
            "/admin/invoices/{invoice_id}/advance",
            post(admin_advance_invoice),
        )
        .route("/static/logos/{file}", get(biller_logo))
        .route("/admin/bills", post(admin_create_bill))
        .route(
            "/admin/faults",
            post(admin_fault).delete(admin_clear_faults),
        )
        .route("/admin/keys/next", post(admin_next_key))
        .route("/admin/keys/rotate", post(admin_rotate_key))
        .fallback(|| async {
            problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "no such endpoint",
                Vec::new(),
            )
        })
        .layer(middleware::from_fn_with_state(
            app.clone(),
            sign_and_inject_faults,
        ))
        .with_state(app)
}
