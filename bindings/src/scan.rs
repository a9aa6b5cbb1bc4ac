//! Scanning for the host: payload parsing, camera frames, image files and QR rendering.

use billtap_core::scan as core_scan;

use crate::errors::ScanError;

/// Which payload format a code carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum PayloadFormat {
    /// See `core_scan::Format::EmvMpm`.
    EmvMpm,
    /// See `core_scan::Format::EmvCpm`.
    EmvCpm,
    /// See `core_scan::Format::SwissQrBill`.
    SwissQrBill,
    /// See `core_scan::Format::Epc`.
    Epc,
    /// See `core_scan::Format::Upi`.
    Upi,
    /// See `core_scan::Format::Gost`.
    Gost,
    /// See `core_scan::Format::Spayd`.
    Spayd,
    /// See `core_scan::Format::ChineseEInvoice`.
    ChineseEInvoice,
    /// See `core_scan::Format::Wallet`.
    Wallet,
    /// See `core_scan::Format::Unknown`.
    Unknown,
}

impl From<core_scan::Format> for PayloadFormat {
    fn from(v: core_scan::Format) -> Self {
        match v {
            core_scan::Format::EmvMpm => PayloadFormat::EmvMpm,
            core_scan::Format::EmvCpm => PayloadFormat::EmvCpm,
            core_scan::Format::SwissQrBill => PayloadFormat::SwissQrBill,
            core_scan::Format::Epc => PayloadFormat::Epc,
            core_scan::Format::Upi => PayloadFormat::Upi,
            core_scan::Format::Gost => PayloadFormat::Gost,
            core_scan::Format::Spayd => PayloadFormat::Spayd,
            core_scan::Format::ChineseEInvoice => PayloadFormat::ChineseEInvoice,
            core_scan::Format::Wallet => PayloadFormat::Wallet,
            core_scan::Format::Unknown => PayloadFormat::Unknown,
        }
    }
}

/// What a bill reference means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum RefKind {
    /// See `core_scan::RefKind::BillNumber`.
    BillNumber,
    /// See `core_scan::RefKind::Reference`.
    Reference,
    /// See `core_scan::RefKind::Purpose`.
    Purpose,
    /// See `core_scan::RefKind::AccountNumber`.
    AccountNumber,
    /// See `core_scan::RefKind::BillerId`.
    BillerId,
    /// See `core_scan::RefKind::Ref1`.
    Ref1,
    /// See `core_scan::RefKind::Ref2`.
    Ref2,
    /// See `core_scan::RefKind::SwissQrReference`.
    SwissQrReference,
    /// See `core_scan::RefKind::CreditorReference`.
    CreditorReference,
    /// See `core_scan::RefKind::Message`.
    Message,
    /// See `core_scan::RefKind::CustomerLabel`.
    CustomerLabel,
    /// See `core_scan::RefKind::Terminal`.
    Terminal,
    /// See `core_scan::RefKind::Store`.
    Store,
    /// See `core_scan::RefKind::Mobile`.
    Mobile,
    /// See `core_scan::RefKind::VariableSymbol`.
    VariableSymbol,
    /// See `core_scan::RefKind::SpecificSymbol`.
    SpecificSymbol,
    /// See `core_scan::RefKind::ConstantSymbol`.
    ConstantSymbol,
    /// See `core_scan::RefKind::Period`.
    Period,
    /// See `core_scan::RefKind::PaymentId`.
    PaymentId,
    /// See `core_scan::RefKind::BillId`.
    BillId,
    /// See `core_scan::RefKind::InvoiceDate`.
    InvoiceDate,
}

impl From<core_scan::RefKind> for RefKind {
    fn from(v: core_scan::RefKind) -> Self {
        match v {
            core_scan::RefKind::BillNumber => RefKind::BillNumber,
            core_scan::RefKind::Reference => RefKind::Reference,
            core_scan::RefKind::Purpose => RefKind::Purpose,
            core_scan::RefKind::AccountNumber => RefKind::AccountNumber,
            core_scan::RefKind::BillerId => RefKind::BillerId,
            core_scan::RefKind::Ref1 => RefKind::Ref1,
            core_scan::RefKind::Ref2 => RefKind::Ref2,
            core_scan::RefKind::SwissQrReference => RefKind::SwissQrReference,
            core_scan::RefKind::CreditorReference => RefKind::CreditorReference,
            core_scan::RefKind::Message => RefKind::Message,
            core_scan::RefKind::CustomerLabel => RefKind::CustomerLabel,
            core_scan::RefKind::Terminal => RefKind::Terminal,
            core_scan::RefKind::Store => RefKind::Store,
            core_scan::RefKind::Mobile => RefKind::Mobile,
            core_scan::RefKind::VariableSymbol => RefKind::VariableSymbol,
            core_scan::RefKind::SpecificSymbol => RefKind::SpecificSymbol,
            core_scan::RefKind::ConstantSymbol => RefKind::ConstantSymbol,
            core_scan::RefKind::Period => RefKind::Period,
            core_scan::RefKind::PaymentId => RefKind::PaymentId,
            core_scan::RefKind::BillId => RefKind::BillId,
            core_scan::RefKind::InvoiceDate => RefKind::InvoiceDate,
        }
    }
}

/// Why a warning was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum WarningCode {
    /// See `core_scan::WarningCode::UnknownVersion`.
    UnknownVersion,
    /// See `core_scan::WarningCode::MissingField`.
    MissingField,
    /// See `core_scan::WarningCode::UnexpectedValue`.
    UnexpectedValue,
    /// See `core_scan::WarningCode::Deprecated`.
    Deprecated,
    /// See `core_scan::WarningCode::PayerInput`.
    PayerInput,
    /// See `core_scan::WarningCode::Unverified`.
    Unverified,
}

impl From<core_scan::WarningCode> for WarningCode {
    fn from(v: core_scan::WarningCode) -> Self {
        match v {
            core_scan::WarningCode::UnknownVersion => WarningCode::UnknownVersion,
            core_scan::WarningCode::MissingField => WarningCode::MissingField,
            core_scan::WarningCode::UnexpectedValue => WarningCode::UnexpectedValue,
            core_scan::WarningCode::Deprecated => WarningCode::Deprecated,
            core_scan::WarningCode::PayerInput => WarningCode::PayerInput,
            core_scan::WarningCode::Unverified => WarningCode::Unverified,
        }
    }
}

/// One bill reference carried by a code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BillReference {
    /// What it means.
    pub kind: RefKind,
    /// Its value as printed.
    pub value: String,
}

/// Something odd about a code that does not stop it being used; show it to the user.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Warning {
    /// Machine-readable reason.
    pub code: WarningCode,
    /// A sentence for the user.
    pub message: String,
}

/// A parsed payment code: the common view for bill lookup.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Payload {
    /// The format.
    pub format: PayloadFormat,
    /// Whether billtap can pay it (false for e-invoices and external wallets).
    pub payable: bool,
    /// Payee name as printed in the code: unverified until the platform confirms it.
    pub payee_name: Option<String>,
    /// Payee name in the local language.
    pub payee_name_local: Option<String>,
    /// Payee city.
    pub payee_city: Option<String>,
    /// Amount as a decimal string with the currency's minor units (`"268.40"`); none = payer enters it.
    pub amount: Option<String>,
    /// ISO 4217 alphabetic currency code.
    pub currency: Option<String>,
    /// Decimals of the currency (CNY 2, JPY 0), so hosts format amounts right.
    pub currency_minor_units: Option<u32>,
    /// Bill references for lookup.
    pub references: Vec<BillReference>,
    /// Reusable (static) code.
    pub is_static: bool,
    /// Warnings for the user.
    pub warnings: Vec<Warning>,
    /// The format's own fields as JSON (shape in docs/json.md, `detail`).
    pub detail_json: String,
}

impl From<core_scan::Scanned> for Payload {
    fn from(s: core_scan::Scanned) -> Self {
        Payload {
            format: s.format.into(),
            payable: s.payable,
            payee_name: s.payee_name.clone(),
            payee_name_local: s.payee_name_local.clone(),
            payee_city: s.payee_city.clone(),
            amount: s.amount.map(|m| m.to_plain_string()),
            currency: s.currency.map(|c| c.alpha().to_string()),
            currency_minor_units: s.currency.map(|c| c.minor_units()),
            references: s
                .references
                .iter()
                .map(|r| BillReference {
                    kind: r.kind.into(),
                    value: r.value.clone(),
                })
                .collect(),
            is_static: s.is_static(),
            warnings: s
                .warnings
                .iter()
                .map(|w| Warning {
                    code: w.code.into(),
                    message: w.message.clone(),
                })
                .collect(),
            detail_json: serde_json::to_string(&s.detail).unwrap_or_else(|_| "null".into()),
        }
    }
}

/// Why a decoded code's content is not a usable payment (a code was found, its content failed).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PayloadProblem {
    /// The public error: its variant says how to react.
    pub code: String,
    /// The format recognised.
    pub format: PayloadFormat,
    /// A sentence for the user.
    pub message: String,
}

/// A corner of a found code, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct Corner {
    /// Horizontal position.
    pub x: f32,
    /// Vertical position.
    pub y: f32,
}

/// One code found in a frame or image.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ScannedCode {
    /// The content as text.
    pub text: String,
    /// The content bytes.
    pub raw: Vec<u8>,
    /// Top-left, top-right, bottom-right, bottom-left, for drawing a highlight.
    pub corners: Vec<Corner>,
    /// The parsed payment, when the content is one.
    pub payload: Option<Payload>,
    /// Why the content is not a usable payment, when it is not.
    pub problem: Option<PayloadProblem>,
}

impl From<core_scan::DecodedCode> for ScannedCode {
    fn from(c: core_scan::DecodedCode) -> Self {
        let (payload, problem) = match c.payload {
            Ok(p) => (Some(p.into()), None),
            Err(e) => {
                let format = e.format().into();
                let code = e.code().to_string();
                let message = ScanError::from(e).to_string();
                (
                    None,
                    Some(PayloadProblem {
                        code,
                        format,
                        message,
                    }),
                )
            }
        };
        ScannedCode {
            text: c.text,
            raw: c.raw,
            corners: c
                .corners
                .iter()
                .map(|p| Corner { x: p.x, y: p.y })
                .collect(),
            payload,
            problem,
        }
    }
}

/// A rectangle inside a frame (e.g. the viewfinder box).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// A camera frame's luma plane (Android `ImageProxy` plane 0, iOS `CVPixelBuffer` plane 0).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Frame {
    /// Luma bytes, `stride * (height - 1) + width` at least.
    pub data: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row.
    pub stride: u32,
    /// Only look here.
    pub region: Option<Region>,
    /// Preview mode: only the cheap passes, rely on the next frame (`false` for stills).
    pub fast: bool,
}

/// How to render a QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QrFormat {
    /// PNG image bytes with this many pixels per module.
    Png {
        /// Pixels per module (1–64).
        module_px: u32,
    },
    /// SVG document (UTF-8).
    Svg,
    /// Unicode block text for terminals (UTF-8).
    Terminal,
}

/// Parses the bytes of one QR code into a payment payload.
#[uniffi::export]
pub fn parse_payload(bytes: Vec<u8>) -> Result<Payload, ScanError> {
    Ok(core_scan::parse_payload(&bytes, None)?.into())
}

/// Scans a camera frame for every code in it. CPU-bound: call off the main thread (or use
/// `Billtap.scanFrameAsync`).
#[uniffi::export]
pub fn scan_frame(frame: Frame) -> Result<Vec<ScannedCode>, ScanError> {
    let luma = core_scan::LumaFrame::new(&frame.data, frame.width, frame.height, frame.stride)?;
    let opts = core_scan::ScanOptions {
        region: frame.region.map(|r| core_scan::Region {
            x: r.x,
            y: r.y,
            width: r.width,
            height: r.height,
        }),
        try_harder: !frame.fast,
    };
    Ok(core_scan::scan_frame_with(&luma, &opts)?
        .into_iter()
        .map(ScannedCode::from)
        .collect())
}

/// Decodes a PNG file's bytes and scans every code in it.
///
/// Only PNG (screenshots, codes saved by apps): photos (JPEG, HEIC) are decoded by the phone's
/// own image decoder — faster, hardware-backed, and the only one that reads HEIC — and handed
/// to `scan_frame` as luma, which keeps a JPEG decoder (~150 KB) out of the library.
pub(crate) fn scan_encoded_image(encoded: &[u8]) -> Result<Vec<ScannedCode>, ScanError> {
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !encoded.starts_with(PNG_SIGNATURE) {
        let kind = if encoded.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "a JPEG file"
        } else if encoded
            .get(4..12)
            .is_some_and(|b| b.starts_with(b"ftyphei") || b.starts_with(b"ftypmif"))
        {
            "a HEIC file"
        } else {
            "not a PNG file"
        };
        return Err(ScanError::BadImage {
            reason: format!(
                "the image is {kind}: scan_image reads PNG only; decode photos with the OS image decoder and pass the pixels to scan_frame"
            ),
        });
    }
    let img = image::load_from_memory_with_format(encoded, image::ImageFormat::Png)
        .map_err(|_| ScanError::BadImage {
            reason: "the PNG file is damaged or truncated".into(),
        })?
        .to_luma8();
    let (w, h) = img.dimensions();
    scan_frame(Frame {
        data: img.into_raw(),
        width: w,
        height: h,
        stride: w,
        region: None,
        fast: false,
    })
}

/// Renders text as a QR code (PNG bytes, SVG or terminal text as UTF-8 bytes).
#[uniffi::export]
pub fn render_qr(text: String, format: QrFormat) -> Result<Vec<u8>, ScanError> {
    match format {
        QrFormat::Svg => Ok(core_scan::render_svg(&text)?.into_bytes()),
        QrFormat::Terminal => Ok(core_scan::render_terminal(&text)?.into_bytes()),
        QrFormat::Png { module_px } => {
            let q = core_scan::render_png_luma(&text, module_px)?;
            let img = image::GrayImage::from_raw(q.width, q.height, q.pixels).ok_or_else(|| {
                ScanError::Render {
                    reason: "rendered image has the wrong size".into(),
                }
            })?;
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .map_err(|e| ScanError::Render {
                    reason: e.to_string(),
                })?;
            Ok(png)
        }
    }
}
