//! The platform API operations of `docs/api/openapi.yaml`: catalog, billers, bill lookup,
//! bills and payee resolution.

use super::*;

pub(super) async fn get_catalog(State(_app): State<Shared>, headers: HeaderMap) -> Response {
    let zh = zh(&headers);
    let name = |n: &api::Names| if zh { n.zh.clone() } else { n.en.clone() };
    let catalog = api::Catalog {
        version: catalog::version().into(),
        categories: catalog::categories()
            .iter()
            .map(|c| api::Category {
                id: c.id.clone(),
                name: name(&c.names),
                names: c.names.clone(),
                subcategories: c
                    .subs
                    .iter()
                    .map(|s| api::Subcategory {
                        id: format!("{}.{}", c.id, s.id),
                        name: name(&s.names),
                        names: s.names.clone(),
                    })
                    .collect(),
            })
            .collect(),
        from_cache: false,
    };
    let body = match serde_json::to_string(&catalog) {
        Ok(b) => b,
        Err(e) => return internal_error(&e),
    };
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// Search parameters.
#[derive(Debug, Deserialize)]
pub(super) struct SearchParams {
    q: Option<String>,
    category: Option<String>,
    region: Option<String>,
    page_size: Option<u32>,
    page_token: Option<String>,
}

/// Parses a JSON request body, or answers 400 with why it could not be read.
// The error is the handler's finished answer, returned at once; boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "Invalid request body",
            &e.to_string(),
            Vec::new(),
        )
    })
}

/// Parses a JSON request body and holds it to the spec's limits, or answers 400.
#[allow(clippy::result_large_err)]
pub(super) fn parse_checked<T: serde::de::DeserializeOwned + Checked>(
    body: &[u8],
) -> Result<T, Response> {
    let value: T = parse_body(body)?;
    value.validate().map_err(|why| invalid_parameter(&why))?;
    Ok(value)
}

/// A 400 for a request that breaks the spec's schema.
pub(super) fn invalid_parameter(detail: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "invalid-parameter",
        "Invalid parameter",
        detail,
        Vec::new(),
    )
}

/// `^[a-z_]+(\.[a-z_]+)?$`, at most 64 characters.
pub(super) fn valid_category(c: &str) -> bool {
    let part = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    c.len() <= 64
        && match c.split_once('.') {
            None => part(c),
            Some((a, b)) => part(a) && part(b),
        }
}

pub(super) async fn search_billers(
    State(app): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    let zh = zh(&headers);
    // A repeated or mistyped parameter is a problem document like every other error.
    let p = match query {
        Ok(Query(p)) => p,
        Err(e) => return invalid_parameter(&e.body_text()),
    };
    let size = p.page_size.unwrap_or(20);
    if !(1..=100).contains(&size) {
        return invalid_parameter("page_size must be 1–100");
    }
    let invalid = invalid_parameter;
    // The spec's parameter schemas, enforced: a client bug shows up as a 400, not as an
    // empty or surprising page.
    if p.q.as_deref().is_some_and(|q| q.chars().count() > 64) {
        return invalid("q is longer than 64 characters");
    }
    if p.category.as_deref().is_some_and(|c| !valid_category(c)) {
        return invalid("category must be an id like `utilities` or `utilities.water`");
    }
    if p.region
        .as_deref()
        .is_some_and(|r| !(2..=6).contains(&r.len()) || !r.bytes().all(|b| b.is_ascii_digit()))
    {
        return invalid("region must be 2–6 digits of a GB/T 2260 division code");
    }
    let offset = match p.page_token.as_deref() {
        None => 0,
        Some(t) => match t
            .strip_prefix('o')
            .filter(|n| (1..=9).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => return invalid("page_token is not one this server issued"),
        },
    };
    let q =
        p.q.as_deref()
            .map(str::to_lowercase)
            .filter(|q| !q.trim().is_empty());
    let matches: Vec<&Biller> = app
        .billers
        .iter()
        .filter(|b| {
            q.as_ref().is_none_or(|q| {
                b.names.zh.contains(q.as_str()) || b.names.en.to_lowercase().contains(q.as_str())
            })
        })
        .filter(|b| {
            p.category
                .as_ref()
                .is_none_or(|c| b.category == *c || b.category.starts_with(&format!("{c}.")))
        })
        .filter(|b| {
            p.region
                .as_ref()
                .is_none_or(|r| r.starts_with(&b.region) || b.region.starts_with(r.as_str()))
        })
        .collect();
    let items: Vec<Biller> = matches
        .iter()
        .skip(offset)
        .take(size as usize)
        .map(|b| localized(b, zh))
        .collect();
    let next = offset + size as usize;
    json_ok(&api::BillerPage {
        items,
        next_page_token: (next < matches.len()).then(|| format!("o{next}")),
    })
}

pub(super) fn find<'a>(app: &'a App, id: &str) -> Option<&'a Biller> {
    app.billers.iter().find(|b| b.id == id)
}

pub(super) async fn get_biller(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match find(&app, &id) {
        Some(b) => json_ok(&localized(b, zh(&headers))),
        None => problem(
            StatusCode::NOT_FOUND,
            "unknown-biller",
            "Unknown biller",
            &format!("no biller {id}"),
            Vec::new(),
        ),
    }
}

pub(super) async fn lookup_bills(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let zh = zh(&headers);
    let req: LookupRequest = match parse_checked(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(biller) = find(&app, &req.biller_id) else {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown-biller",
            "Unknown biller",
            &format!("no biller {}", req.biller_id),
            Vec::new(),
        );
    };
    let from_refs = |kind: &str| {
        req.references
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.value.clone())
    };
    let mut errors = Vec::new();
    let mut account = None;
    for f in &biller.lookup_fields {
        let value = req
            .fields
            .get(&f.key)
            .cloned()
            .or_else(|| from_refs("account_number"));
        match value {
            None => errors.push(api::FieldError {
                field: f.key.clone(),
                message: format!("{} is required", f.label.en),
            }),
            Some(v) => match regex::Regex::new(&f.pattern) {
                Ok(re) if re.is_match(&v) => account = Some(v),
                _ => errors.push(api::FieldError {
                    field: f.key.clone(),
                    message: match &f.example {
                        Some(e) => {
                            format!(
                                "{} does not have the expected format (e.g. {e})",
                                f.label.en
                            )
                        }
                        None => format!("{} does not have the expected format", f.label.en),
                    },
                }),
            },
        }
    }
    if !errors.is_empty() {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid lookup fields",
            "some lookup fields are invalid",
            errors,
        );
    }
    let account = account.unwrap_or_default();
    let mut bills = match app.db.bills_of(biller, &account, zh) {
        Ok(b) => b,
        Err(e) => {
            return internal_error(&e);
        }
    };
    if let Some(bill_id) = from_refs("bill_id") {
        bills.retain(|b| b.id == bill_id);
    }
    if bills.is_empty() && biller.amount_rule.kind != "payer_chosen" {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown-account",
            "Unknown account",
            "the biller has no such account or bill",
            Vec::new(),
        );
    }
    json_ok(&api::LookupResult {
        biller: localized(biller, zh),
        bills,
    })
}

pub(super) async fn get_bill(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match app.db.bill(&id, &app.billers, zh(&headers)) {
        Ok(Some(b)) => json_ok(&b),
        Ok(None) => unknown_bill(&id),
        Err(e) => internal_error(&e),
    }
}

pub(super) async fn resolve_payee(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let zh = zh(&headers);
    let req: ResolveRequest = match parse_checked(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let billtap_guid = req
        .guid
        .as_deref()
        .is_some_and(|g| g.eq_ignore_ascii_case(billtap_core::scan::BILLTAP_BILL_GUID));
    // The billtap bill profile lives in a merchant-account template, tags 26–51.
    let template_tag = req
        .merchant_account_tag
        .as_deref()
        .is_none_or(|t| t.parse::<u8>().is_ok_and(|n| (26..=51).contains(&n)));
    let unionpay = matches!(req.merchant_account_tag.as_deref(), Some("15" | "16"));
    let biller = match req.account.as_deref() {
        Some(acct) if req.scheme == "emv_mpm" && unionpay => unionpay_biller(&app, acct),
        Some(id) if req.scheme == "emv_mpm" && billtap_guid && template_tag => find(&app, id),
        _ => None,
    };
    let matches = biller.map(|b| {
        req.payee_name_in_code
            .as_deref()
            .is_none_or(|n| billtap_core::platform::printed_name_matches(n, &b.names))
    });
    json_ok(&api::Resolution {
        account: req.account.clone(),
        merchant_account_tag: req.merchant_account_tag.clone(),
        registered: biller.is_some(),
        biller: biller.map(|b| localized(b, zh)),
        name_matches_code: matches,
    })
}
