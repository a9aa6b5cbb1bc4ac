//! What a biller prints: bill QR codes, merchant codes, logos and the printable bill page.

use super::*;

/// A biller's Latin name and city as printers write EMV tags 59 and 60 (upper case, the
/// name cut at the tag's 25 characters), and its city in Chinese, from the catalog's cities.
pub(super) fn emv_names(biller: &Biller) -> Option<(String, String, &'static str)> {
    let city = catalog::city(&biller.region)?;
    let name = biller.names.en.to_uppercase().chars().take(25).collect();
    Some((name, city.en.to_uppercase(), &city.zh))
}

/// Encodes an image as a PNG response, or a 500 problem saying what could not be drawn.
pub(super) fn png_response<P, C>(img: &image::ImageBuffer<P, C>, what: &str) -> Response
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut out = Vec::new();
    match img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png) {
        Ok(()) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            out,
        )
            .into_response(),
        Err(_) => internal_error(&format!("could not render the {what}")),
    }
}

/// The EMV bill-profile payload printed on a bill (docs/bill-qr-profile.md).
pub(super) fn bill_payload(app: &App, bill_id: &str) -> Option<String> {
    let bill = app.db.bill(bill_id, &app.billers, true).ok()??;
    let biller = find(app, &bill.biller_id)?;
    let account = app.db.account_of(bill_id)?;
    let (name_en, city_en, _) = emv_names(biller)?;
    EmvWriter::new(Initiation::Dynamic)
        .billtap_bill(&BilltapBill {
            biller_id: biller.id.clone(),
            account,
            bill_id: Some(bill.id.clone()),
            period: bill.period.clone(),
        })
        .field(52, "4900")
        .field(53, "156")
        .field(54, bill.amount_due.amount.clone())
        .field(58, "CN")
        .field(59, name_en)
        .field(60, city_en)
        .template(62, &[(1, &bill.id)])
        .template(64, &[(0, "ZH"), (1, &biller.names.zh)])
        .build()
        .ok()
}

/// The static UnionPay merchant QR a registered biller displays at its counter (tag 15 with
/// its [`unionpay_account`], names in Latin and Chinese), for tests and demos of `resolve`.
pub fn merchant_payload(app: &App, biller_id: &str) -> Option<String> {
    let (index, biller) = app
        .billers
        .iter()
        .enumerate()
        .find(|(_, b)| b.id == biller_id)?;
    let mcc = match biller.category.split('.').next() {
        Some("health") => "8062",
        Some("education") => "8211",
        Some("utilities") => "4900",
        Some("transport") => "4111",
        _ => "9399",
    };
    let (name_en, city_en, city_zh) = emv_names(biller)?;
    EmvWriter::new(Initiation::Static)
        .field(15, unionpay_account(index, &biller.region))
        .field(52, mcc)
        .field(53, "156")
        .field(58, "CN")
        .field(59, name_en)
        .field(60, city_en)
        .template(64, &[(0, "ZH"), (1, &biller.names.zh), (2, city_zh)])
        .build()
        .ok()
}

/// The biller a scanned UnionPay merchant account (tag 15 or 16) is registered as.
pub(super) fn unionpay_biller<'a>(app: &'a App, account: &str) -> Option<&'a Biller> {
    app.billers
        .iter()
        .enumerate()
        .find(|(i, b)| unionpay_account(*i, &b.region) == account)
        .map(|(_, b)| b)
}

pub(super) async fn bill_qr(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(payload) = bill_payload(&app, &id) else {
        return unknown_bill(&id);
    };
    match render_png_luma(&payload, 6)
        .ok()
        .and_then(|q| image::GrayImage::from_raw(q.width, q.height, q.pixels))
    {
        Some(img) => png_response(&img, "QR code"),
        None => internal_error(&"could not render the QR code"),
    }
}

/// A biller's logo (`logo_url` in the catalog): a 96×96 identicon on its category's colour,
/// the same for an id on every start, so app developers get real images to lay out.
pub(super) async fn biller_logo(State(app): State<Shared>, Path(file): Path<String>) -> Response {
    let Some(biller) = file.strip_suffix(".png").and_then(|id| find(&app, id)) else {
        return problem(
            StatusCode::NOT_FOUND,
            "unknown-biller",
            "Unknown biller",
            "no logo: no biller has this id",
            Vec::new(),
        );
    };
    png_response(&logo(biller), "logo")
}

/// Draws a biller's identicon: a mirrored 5×5 grid from an FNV-1a hash of the id (stable
/// across Rust versions, unlike `DefaultHasher`), white on the category colour.
pub(super) fn logo(biller: &Biller) -> image::RgbImage {
    const SIDE: u32 = 96;
    const CELL: u32 = 16; // 5 cells of 16 px with an 8 px margin
    let colour = match biller.category.split('.').next() {
        Some("utilities") => [0x1f, 0x6f, 0xd0],
        Some("non_tax") => [0x8a, 0x4b, 0xc8],
        Some("social_security") => [0xd0, 0x6a, 0x1f],
        Some("education") => [0x2e, 0x9d, 0x52],
        Some("health") => [0xd0, 0x30, 0x3a],
        Some("transport") => [0x12, 0x8c, 0x9a],
        Some("government") => [0x5a, 0x5a, 0x66],
        Some("charity") => [0xc0, 0x3d, 0x8c],
        _ => [0xc8, 0x9b, 0x10],
    };
    let hash = biller.id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let (cx, cy) = (
            x.checked_sub(8).map(|v| v / CELL),
            y.checked_sub(8).map(|v| v / CELL),
        );
        let on = match (cx, cy) {
            (Some(cx), Some(cy)) if cx < 5 && cy < 5 => {
                let col = cx.min(4 - cx); // mirrored: columns 0–2 decide
                hash >> (cy * 3 + col) & 1 == 1
            }
            _ => false,
        };
        image::Rgb(if on { [0xff, 0xff, 0xff] } else { colour })
    })
}

pub(super) async fn bill_page(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(Some(bill)) = app.db.bill(&id, &app.billers, true) else {
        return unknown_bill(&id);
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{name} 缴费通知单</title>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>{name}</h1>\
         <p>户号 Account: {acct}<br>账期 Period: {period}<br>应缴金额 Amount due: ¥{amount}<br>缴费期限 Due: {due}</p>\
         <p><img src=\"qr.png\" alt=\"bill QR code\" width=\"300\"></p><p>扫码缴费 Scan to pay · bill {id}</p></body></html>",
        name = esc(&bill.biller_name),
        acct = esc(&bill.account_masked),
        period = esc(bill.period.as_deref().unwrap_or("")),
        amount = esc(&bill.amount_due.amount),
        due = esc(bill.due_date.as_deref().unwrap_or("")),
        id = esc(&bill.id),
    ))
    .into_response()
}
