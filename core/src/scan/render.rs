//! QR rendering for bills and receipts: PNG-ready luma, SVG and terminal text.

use qrcode::{EcLevel, QrCode};

use super::ScanError;

/// A rendered QR code as an 8-bit luma image (0 = black, 255 = white), quiet zone included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrImage {
    /// Width in pixels (equal to height).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major luma pixels, `width * height` bytes.
    pub pixels: Vec<u8>,
}

fn code(text: &str) -> Result<QrCode, ScanError> {
    // Level M: survives a smudge or a fold on a printed bill and keeps modules large.
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| ScanError::Render(e.to_string()))
}

/// The module matrix (true = dark), without quiet zone.
pub fn render_matrix(text: &str) -> Result<Vec<Vec<bool>>, ScanError> {
    let c = code(text)?;
    let w = c.width();
    let colors = c.to_colors();
    Ok(colors
        .chunks(w)
        .map(|row| row.iter().map(|m| *m == qrcode::Color::Dark).collect())
        .collect())
}

/// Renders text as a QR image with `module_px` pixels per module and a 4-module quiet zone.
pub fn render_png_luma(text: &str, module_px: u32) -> Result<QrImage, ScanError> {
    let matrix = render_matrix(text)?;
    let m = module_px.clamp(1, 64) as usize;
    let n = matrix.len();
    let size = (n + 8) * m;
    let mut pixels = vec![255u8; size * size];
    for (y, row) in matrix.iter().enumerate() {
        for (x, dark) in row.iter().enumerate() {
            if !dark {
                continue;
            }
            for dy in 0..m {
                let start = ((y + 4) * m + dy) * size + (x + 4) * m;
                if let Some(span) = pixels.get_mut(start..start + m) {
                    span.fill(0);
                }
            }
        }
    }
    let side = u32::try_from(size).map_err(|_| ScanError::Render("image too large".into()))?;
    Ok(QrImage {
        width: side,
        height: side,
        pixels,
    })
}

/// Renders text as an SVG document.
pub fn render_svg(text: &str) -> Result<String, ScanError> {
    Ok(code(text)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// Renders text for a terminal using Unicode half blocks (two module rows per line).
pub fn render_terminal(text: &str) -> Result<String, ScanError> {
    let matrix = render_matrix(text)?;
    let n = matrix.len();
    let dark = |x: isize, y: isize| -> bool {
        if x < 0 || y < 0 {
            return false;
        }
        matrix
            .get(y as usize)
            .and_then(|r| r.get(x as usize))
            .copied()
            .unwrap_or(false)
    };
    let mut out = String::new();
    let q = 2isize;
    let mut y = -q;
    while y < n as isize + q {
        for x in -q..n as isize + q {
            // Terminals are usually light-on-dark: print light modules as blocks.
            out.push(match (!dark(x, y), !dark(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
        y += 2;
    }
    Ok(out)
}
