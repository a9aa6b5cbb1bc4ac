//! Baselines for the engine decision: each engine alone, without billtap's ladder, on the
//! benchmark frames. Usage: `engines FRAMES_DIR` (after `gen-frames`). Prints decode rate and
//! median ms per engine; see docs/decisions/0002-qr-decoding-engines.md.

// Benchmark tooling, not library code.
#![allow(clippy::indexing_slicing)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use rxing::common::HybridBinarizer;
use rxing::multi::MultipleBarcodeReader;
use rxing::qrcode::QRCodeReader;
use rxing::qrcode::cpp_port::QrReader;
use rxing::{BinaryBitmap, DecodeHints, Luma8LuminanceSource, Reader};

/// Content bytes of every code found (compared with the payload's UTF-8 bytes, so a wrong
/// charset guess by an engine does not count as a miss of the symbol).
type Engine = fn(&[u8], u32, u32) -> Vec<Vec<u8>>;

fn rqrr_plain(px: &[u8], w: u32, h: u32) -> Vec<Vec<u8>> {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
        px[y * w as usize + x]
    });
    img.detect_grids()
        .iter()
        .filter_map(|g| {
            let mut out = Vec::new();
            g.decode_to(&mut out).ok().map(|_| out)
        })
        .collect()
}

fn bitmap(
    px: &[u8],
    w: u32,
    h: u32,
) -> Option<BinaryBitmap<HybridBinarizer<Luma8LuminanceSource>>> {
    Some(BinaryBitmap::new(HybridBinarizer::new(
        Luma8LuminanceSource::new(px.to_vec(), w, h).ok()?,
    )))
}

fn rxing_zxing_port(px: &[u8], w: u32, h: u32) -> Vec<Vec<u8>> {
    let Some(mut b) = bitmap(px, w, h) else {
        return Vec::new();
    };
    let hints = DecodeHints::default().with(rxing::DecodeHintValue::TryHarder(true));
    QRCodeReader
        .decode_with_hints(&mut b, &hints)
        .map(|r| vec![r.getText().as_bytes().to_vec()])
        .unwrap_or_default()
}

fn rxing_cpp_port(px: &[u8], w: u32, h: u32) -> Vec<Vec<u8>> {
    let Some(mut b) = bitmap(px, w, h) else {
        return Vec::new();
    };
    let hints = DecodeHints::default().with(rxing::DecodeHintValue::TryHarder(true));
    QrReader
        .decode_multiple_with_hints(&mut b, &hints)
        .unwrap_or_default()
        .iter()
        .map(|r| r.getRawBytes().to_vec())
        .collect()
}

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow!("usage: engines FRAMES_DIR"))?;
    let dir = Path::new(&dir);
    let manifest: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).context("manifest.json")?,
    )?;
    let frames: Vec<(Vec<u8>, u32, u32, String)> = manifest
        .iter()
        .map(|m| {
            let img = image::open(dir.join(m["file"].as_str().unwrap_or_default()))?.to_luma8();
            let (w, h) = img.dimensions();
            Ok((
                img.into_raw(),
                w,
                h,
                m["payload"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect::<Result<_>>()?;
    let engines: [(&str, Engine); 3] = [
        ("rqrr 0.11 alone", rqrr_plain),
        ("rxing QRCodeReader (ZXing port)", rxing_zxing_port),
        ("rxing cpp_port QrReader", rxing_cpp_port),
    ];
    println!("| engine, no ladder | decoded | median ms |\n|---|---:|---:|");
    for (name, engine) in engines {
        let mut ok = 0;
        let mut ms = Vec::new();
        for (px, w, h, payload) in &frames {
            let t = Instant::now();
            // rqrr has panicked on valid images: a panic counts as a miss, as in billtap.
            let found = catch_unwind(AssertUnwindSafe(|| engine(px, *w, *h))).unwrap_or_default();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            if found.iter().any(|t| t == payload.as_bytes()) {
                ok += 1;
            }
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.1} % | {:.2} |",
            100.0 * ok as f64 / frames.len() as f64,
            ms[ms.len() / 2]
        );
    }
    Ok(())
}
