//! Scanning for the host: payload parsing, camera frames, image files and QR rendering. The
//! types are core's own (`Scanned`, `DecodedCode`, `Frame`, `ScanOptions`); this module only
//! adds what the boundary needs: PNG decoding and rendering to bytes.

use billtap_core::scan::{self as core_scan, DecodedCode, Frame, ScanOptions, Scanned};

use crate::errors::ScanError;

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

/// Parses the bytes of one QR code into a payment (`resolve` takes the result as it is).
#[uniffi::export]
pub fn parse_payload(bytes: Vec<u8>) -> Result<Scanned, ScanError> {
    Ok(core_scan::parse_payload(&bytes, None)?)
}

/// Scans a camera frame for every code in it, payable ones first. CPU-bound: call off the
/// main thread (or use `Billtap.scanFrameAsync`). Camera previews pass `try_harder = false`
/// and rely on the next frame; stills pass `true`.
#[uniffi::export]
pub fn scan_frame(frame: Frame, options: ScanOptions) -> Result<Vec<DecodedCode>, ScanError> {
    Ok(core_scan::scan_frame_with(&frame.luma()?, &options)?)
}

/// Decodes a PNG file's bytes and scans every code in it.
///
/// Only PNG (screenshots, codes saved by apps): photos (JPEG, HEIC) are decoded by the phone's
/// own image decoder — faster, hardware-backed, and the only one that reads HEIC — and handed
/// to `scan_frame` as luma, which keeps a JPEG decoder (~150 KB) out of the library.
pub(crate) fn scan_encoded_image(encoded: &[u8]) -> Result<Vec<DecodedCode>, ScanError> {
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
    scan_frame(
        Frame {
            data: img.into_raw(),
            width: w,
            height: h,
            stride: w,
        },
        ScanOptions::default(),
    )
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
