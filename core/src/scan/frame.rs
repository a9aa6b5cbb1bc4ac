//! Camera frames (8-bit luma with a row stride) → every QR code in them.
//!
//! The pipeline is a ladder of passes, cheapest first; it stops at the first pass that finds
//! a code. Engines and passes were chosen by measurement (`docs/decisions/0002-qr-engines.md`,
//! `bench/`). Every engine call runs under `catch_unwind`: rqrr has panicked on valid images.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rxing::multi::MultipleBarcodeReader;
use rxing::qrcode::cpp_port::QrReader;
use rxing::{BinaryBitmap, DecodeHints};
use serde::Serialize;

use super::binarize::FastHybrid;
use super::{ScanError, ScanProblem, Scanned, parse_payload, text::decode_text};

/// A borrowed 8-bit luma plane, as cameras deliver it (Android `Y` plane, iOS `kCVPixelFormatType_420YpCbCr8` plane 0).
#[derive(Debug, Clone, Copy)]
pub struct LumaFrame<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: u32,
}

impl<'a> LumaFrame<'a> {
    /// Wraps a luma plane; `stride` is bytes per row (≥ width). Checks the buffer is big enough.
    pub fn new(data: &'a [u8], width: u32, height: u32, stride: u32) -> Result<Self, ScanError> {
        if width == 0 || height == 0 {
            return Err(ScanError::BadFrame(format!("empty frame {width}×{height}")));
        }
        if width > 16_384 || height > 16_384 {
            return Err(ScanError::BadFrame(format!(
                "frame {width}×{height} is larger than 16384 pixels on a side"
            )));
        }
        if stride < width {
            return Err(ScanError::BadFrame(format!(
                "row stride {stride} is smaller than width {width}"
            )));
        }
        let needed = u64::from(stride) * u64::from(height - 1) + u64::from(width);
        if (data.len() as u64) < needed {
            return Err(ScanError::BadFrame(format!(
                "{} bytes given, a {width}×{height} frame with stride {stride} needs {needed}",
                data.len()
            )));
        }
        Ok(LumaFrame {
            data,
            width,
            height,
            stride,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Copies a region into a tightly packed buffer (no stride).
    fn crop(&self, r: Region) -> Result<Gray, ScanError> {
        if r.width == 0
            || r.height == 0
            || r.x.saturating_add(r.width) > self.width
            || r.y.saturating_add(r.height) > self.height
        {
            return Err(ScanError::BadFrame(format!(
                "region {}×{} at ({}, {}) is not inside the {}×{} frame",
                r.width, r.height, r.x, r.y, self.width, self.height
            )));
        }
        let (w, h) = (r.width as usize, r.height as usize);
        let mut px = Vec::with_capacity(w * h);
        for row in 0..h {
            let start = (r.y as usize + row) * self.stride as usize + r.x as usize;
            let line = self
                .data
                .get(start..start + w)
                .ok_or_else(|| ScanError::BadFrame("row outside buffer".into()))?;
            px.extend_from_slice(line);
        }
        Ok(Gray {
            w,
            h,
            px,
            scale: 1.0,
            off_x: r.x as f32,
            off_y: r.y as f32,
        })
    }
}

/// A rectangle of interest inside a frame, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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

/// How hard to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ScanOptions {
    /// Only look inside this region (e.g. the viewfinder box).
    pub region: Option<Region>,
    /// Run every pass of the ladder (for still images); camera previews leave this off and
    /// rely on the next frame instead.
    pub try_harder: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            region: None,
            try_harder: true,
        }
    }
}

/// A point in frame coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Point {
    /// Horizontal position in pixels.
    pub x: f32,
    /// Vertical position in pixels.
    pub y: f32,
}

/// Which engine found a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Engine {
    /// rxing's port of zxing-cpp's QR reader.
    Rxing,
    /// rqrr (quirc port).
    Rqrr,
}

/// One code found in a frame or image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DecodedCode {
    /// The content bytes as encoded in the symbol.
    pub raw: Vec<u8>,
    /// The content as text.
    pub text: String,
    /// Corners in frame coordinates: top-left, top-right, bottom-right, bottom-left when the
    /// engine reports orientation, else the engine's order (for drawing a highlight).
    pub corners: Vec<Point>,
    /// The engine that decoded it.
    pub engine: Engine,
    /// The ladder pass that found it (for benchmarks and tuning).
    pub pass: String,
    /// The parsed payment, when the content is one.
    pub payload: Option<Scanned>,
    /// Why the content is not a usable payment, when it is not.
    pub problem: Option<ScanProblem>,
}

impl DecodedCode {
    /// The parse result as one value: the payment, or why the content is not one.
    pub fn result(&self) -> Result<&Scanned, &ScanProblem> {
        match (&self.payload, &self.problem) {
            (Some(s), _) => Ok(s),
            (None, Some(p)) => Err(p),
            (None, None) => Err(&NO_PROBLEM),
        }
    }

    /// Whether the code is a payment billtap can pay itself.
    pub fn is_payable(&self) -> bool {
        self.payload.as_ref().is_some_and(|s| s.payable)
    }
}

/// Never built by this module (every code gets a payload or a problem); there so `result` is
/// total for values a caller assembled by hand.
static NO_PROBLEM: std::sync::LazyLock<ScanProblem> =
    std::sync::LazyLock::new(|| ScanProblem::from(&ScanError::Empty));

/// A camera frame's luma plane, owned (what a host hands over: Android `ImageProxy` plane 0,
/// iOS `CVPixelBuffer` plane 0); [`LumaFrame`] is the borrowed view the decoder reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Frame {
    /// Luma bytes, `stride * (height - 1) + width` at least.
    pub data: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row.
    pub stride: u32,
}

impl Frame {
    /// The checked borrowed view.
    pub fn luma(&self) -> Result<LumaFrame<'_>, ScanError> {
        LumaFrame::new(&self.data, self.width, self.height, self.stride)
    }
}

/// A tightly packed grey image plus the transform back to frame coordinates.
#[derive(Clone)]
struct Gray {
    w: usize,
    h: usize,
    px: Vec<u8>,
    /// Frame pixels per image pixel.
    scale: f32,
    off_x: f32,
    off_y: f32,
}

impl Gray {
    fn to_frame(&self, x: f32, y: f32) -> Point {
        Point {
            x: x * self.scale + self.off_x,
            y: y * self.scale + self.off_y,
        }
    }

    /// Box-filter downscale by an integer factor: averages away sensor noise and JPEG blocks.
    fn downscaled(&self, f: usize) -> Gray {
        let (w, h) = (self.w / f, self.h / f);
        let mut px = Vec::with_capacity(w * h);
        let area = (f * f) as u32;
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0u32;
                for dy in 0..f {
                    let row = (y * f + dy) * self.w + x * f;
                    sum += self
                        .px
                        .get(row..row + f)
                        .map_or(0, |s| s.iter().map(|&p| u32::from(p)).sum());
                }
                px.push((sum / area) as u8);
            }
        }
        Gray {
            w,
            h,
            px,
            scale: self.scale * f as f32,
            ..*self
        }
    }

    /// Bilinear 2× upscale: gives small codes enough pixels per module for the detectors.
    fn upscaled2(&self) -> Gray {
        let (w, h) = (self.w * 2, self.h * 2);
        let mut px = vec![0u8; w * h];
        let at = |x: usize, y: usize| {
            u32::from(
                *self
                    .px
                    .get(y.min(self.h - 1) * self.w + x.min(self.w - 1))
                    .unwrap_or(&0),
            )
        };
        for y in 0..h {
            let (sy, fy) = (y / 2, (y % 2) as u32);
            for x in 0..w {
                let (sx, fx) = (x / 2, (x % 2) as u32);
                let a = at(sx, sy) * (2 - fx) + at(sx + 1, sy) * fx;
                let b = at(sx, sy + 1) * (2 - fx) + at(sx + 1, sy + 1) * fx;
                if let Some(p) = px.get_mut(y * w + x) {
                    *p = ((a * (2 - fy) + b * fy) / 4) as u8;
                }
            }
        }
        Gray {
            w,
            h,
            px,
            scale: self.scale / 2.0,
            ..*self
        }
    }

    /// The 1st and 99th percentile grey levels, sampling every `step`-th pixel.
    fn percentiles(&self, step: usize) -> (u8, u8) {
        let mut hist = [0u32; 256];
        let mut n = 0u32;
        for &p in self.px.iter().step_by(step.max(1)) {
            if let Some(h) = hist.get_mut(usize::from(p)) {
                *h += 1;
                n += 1;
            }
        }
        let cut = n / 100;
        let mut acc = 0u32;
        let lo = hist.iter().position(|c| {
            acc += c;
            acc > cut
        });
        acc = 0;
        let hi = hist.iter().rposition(|c| {
            acc += c;
            acc > cut
        });
        (lo.unwrap_or(0) as u8, hi.unwrap_or(255) as u8)
    }

    /// Contrast stretch to the 1st–99th percentile: rescues low-contrast, foggy frames.
    fn stretched(&self) -> Gray {
        let (lo, hi) = self.percentiles(1);
        if hi <= lo.saturating_add(1) {
            return self.clone();
        }
        let (lo, range) = (u32::from(lo), u32::from(hi - lo));
        // A lookup table: one division per grey level instead of one per pixel.
        let lut: Vec<u8> = (0..=255u32)
            .map(|p| (p.saturating_sub(lo) * 255 / range).min(255) as u8)
            .collect();
        let px = self
            .px
            .iter()
            .map(|&p| lut.get(usize::from(p)).copied().unwrap_or(255))
            .collect();
        Gray {
            w: self.w,
            h: self.h,
            px,
            scale: self.scale,
            off_x: self.off_x,
            off_y: self.off_y,
        }
    }
}

/// Below this 1st–99th percentile spread (grey levels) a frame is treated as low-contrast.
const LOW_CONTRAST_RANGE: u8 = 110;

/// A pass of the ladder: a preprocessing step plus an engine.
#[derive(Clone, Copy)]
enum Pass {
    Rxing,
    RxingInverted,
    RxingDown2,
    RxingUp2,
    RxingStretched,
    #[cfg(feature = "rqrr")]
    Rqrr,
    #[cfg(feature = "rqrr")]
    RqrrDown2,
}

impl Pass {
    fn name(self) -> &'static str {
        match self {
            Pass::Rxing => "rxing",
            Pass::RxingInverted => "rxing-inverted",
            Pass::RxingDown2 => "rxing-down2",
            Pass::RxingUp2 => "rxing-up2",
            Pass::RxingStretched => "rxing-stretched",
            #[cfg(feature = "rqrr")]
            Pass::Rqrr => "rqrr",
            #[cfg(feature = "rqrr")]
            Pass::RqrrDown2 => "rqrr-down2",
        }
    }
}

/// Scans a frame for QR codes with default options (every pass).
///
/// CPU-bound: call it off the UI thread.
pub fn scan_frame(frame: &LumaFrame<'_>) -> Result<Vec<DecodedCode>, ScanError> {
    scan_frame_with(frame, &ScanOptions::default())
}

/// Scans a frame for QR codes; returns every code found by the first successful pass.
pub fn scan_frame_with(
    frame: &LumaFrame<'_>,
    opts: &ScanOptions,
) -> Result<Vec<DecodedCode>, ScanError> {
    let region = opts.region.unwrap_or(Region {
        x: 0,
        y: 0,
        width: frame.width,
        height: frame.height,
    });
    let base = frame.crop(region)?;
    let small = base.w.min(base.h) < 480;
    // A foggy or badly lit frame leaves local blocks under the binariser's minimum contrast;
    // stretching first is cheaper than failing every other pass (bench: low_contrast).
    let (lo, hi) = base.percentiles(7);
    let low_contrast = hi.saturating_sub(lo) < LOW_CONTRAST_RANGE;
    let mut ladder = if low_contrast {
        vec![Pass::RxingStretched, Pass::Rxing, Pass::RxingDown2]
    } else {
        vec![Pass::Rxing, Pass::RxingDown2]
    };
    if opts.try_harder {
        if small {
            ladder.push(Pass::RxingUp2);
        }
        if !low_contrast {
            ladder.push(Pass::RxingStretched);
        }
        // The second engine: 4 of the 440 bench frames (strong perspective) that rxing misses,
        // for ~260 KB of library; the phone library leaves it out (docs/decisions/0005).
        #[cfg(feature = "rqrr")]
        ladder.extend([Pass::Rqrr, Pass::RqrrDown2]);
    }
    for pass in ladder {
        let found = run_pass(pass, &base);
        if !found.is_empty() {
            tracing::debug!(
                pass = pass.name(),
                codes = found.len(),
                width = base.w,
                height = base.h,
                "codes found"
            );
            return Ok(payable_first(found));
        }
    }
    tracing::debug!(
        width = base.w,
        height = base.h,
        low_contrast,
        "no code in frame"
    );
    Ok(Vec::new())
}

/// A bill often carries several codes (an e-invoice code, an app-download link, the payment
/// code): the one billtap can pay comes first, then other payments, then the rest, each group
/// in the order the engine found them.
fn payable_first(mut codes: Vec<DecodedCode>) -> Vec<DecodedCode> {
    codes.sort_by_key(|c| match &c.payload {
        Some(s) if s.payable => 0,
        Some(_) => 1,
        None => 2,
    });
    codes
}

fn run_pass(pass: Pass, base: &Gray) -> Vec<DecodedCode> {
    match pass {
        Pass::Rxing => rxing_decode(base, pass, true),
        Pass::RxingDown2 if base.w >= 160 && base.h >= 160 => {
            rxing_decode(&base.downscaled(2), pass, true)
        }
        Pass::RxingUp2 => rxing_decode(&base.upscaled2(), pass, false),
        Pass::RxingStretched => rxing_decode(&base.stretched(), pass, false),
        #[cfg(feature = "rqrr")]
        Pass::Rqrr => rqrr_decode(base, pass),
        #[cfg(feature = "rqrr")]
        Pass::RqrrDown2 if base.w >= 160 && base.h >= 160 => rqrr_decode(&base.downscaled(2), pass),
        _ => Vec::new(),
    }
}

fn finish(
    raw: Vec<u8>,
    fallback_text: &str,
    corners: [Point; 4],
    engine: Engine,
    pass: Pass,
) -> DecodedCode {
    let text = decode_text(&raw, None).unwrap_or_else(|_| fallback_text.to_string());
    let payload = if raw.is_empty() {
        parse_payload(fallback_text.as_bytes(), None)
    } else {
        parse_payload(&raw, None)
    };
    let (payload, problem) = match payload {
        Ok(p) => (Some(p), None),
        Err(e) => (None, Some(ScanProblem::from(&e))),
    };
    DecodedCode {
        raw,
        text,
        corners: corners.to_vec(),
        engine,
        pass: pass.name().to_string(),
        payload,
        problem,
    }
}

/// Binarises once (local-block adaptive threshold), then tries a fast finder scan, a
/// thorough one, and the inverted bit matrix: inversion on bits is far cheaper than
/// binarising an inverted image again.
fn rxing_decode(img: &Gray, pass: Pass, with_inverted: bool) -> Vec<DecodedCode> {
    let run = || -> (Vec<rxing::RXingResult>, bool) {
        let Some(binarizer) = FastHybrid::new(img.px.clone(), img.w, img.h) else {
            return (Vec::new(), false);
        };
        let mut bitmap = BinaryBitmap::new(binarizer);
        let fast = DecodeHints::default();
        let thorough = DecodeHints::default().with(rxing::DecodeHintValue::TryHarder(true));
        for hints in [&fast, &thorough] {
            let found = QrReader
                .decode_multiple_with_hints(&mut bitmap, hints)
                .unwrap_or_default();
            if !found.is_empty() {
                return (found, false);
            }
        }
        if with_inverted {
            bitmap.get_black_matrix_mut().flip_self();
            let found = QrReader
                .decode_multiple_with_hints(&mut bitmap, &thorough)
                .unwrap_or_default();
            return (found, true);
        }
        (Vec::new(), false)
    };
    let (results, inverted) = catch_unwind(AssertUnwindSafe(run)).unwrap_or_default();
    let name = if inverted { Pass::RxingInverted } else { pass };
    results
        .into_iter()
        .map(|r| {
            let pts = r.getPoints();
            let p = |i: usize| {
                pts.get(i)
                    .map_or(Point { x: 0.0, y: 0.0 }, |q| img.to_frame(q.x, q.y))
            };
            // rxing reports top-left, top-right, bottom-left, bottom-right.
            let corners = [p(0), p(1), p(3), p(2)];
            finish(
                r.getRawBytes().to_vec(),
                r.getText(),
                corners,
                Engine::Rxing,
                name,
            )
        })
        .collect()
}

#[cfg(feature = "rqrr")]
fn rqrr_decode(img: &Gray, pass: Pass) -> Vec<DecodedCode> {
    let run = || -> Vec<(Vec<u8>, [Point; 4])> {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(img.w, img.h, |x, y| {
            img.px.get(y * img.w + x).copied().unwrap_or(255)
        });
        let mut out = Vec::new();
        for grid in prepared.detect_grids() {
            let mut raw = Vec::new();
            // A grid that fails to decode (damaged, not a QR) is skipped, not an error.
            if grid.decode_to(&mut raw).is_ok() {
                let b = grid.bounds;
                let c = |i: usize| {
                    b.get(i).map_or(Point { x: 0.0, y: 0.0 }, |q| {
                        img.to_frame(q.x as f32, q.y as f32)
                    })
                };
                out.push((raw, [c(0), c(1), c(2), c(3)]));
            }
        }
        out
    };
    catch_unwind(AssertUnwindSafe(run))
        .unwrap_or_default()
        .into_iter()
        .map(|(raw, corners)| finish(raw, "", corners, Engine::Rqrr, pass))
        .collect()
}
