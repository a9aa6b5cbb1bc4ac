//! The Rust side of the FFI overhead benchmark: the same `billtap_ffi` calls the Python and
//! Kotlin benchmarks make, called directly. Usage: `ffi-baseline FRAMES_DIR ITERATIONS`, where
//! FRAMES_DIR holds `*.gray` files named `NAME-WxH.gray`. Prints one JSON object.

use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use billtap_core::scan::{Frame, ScanOptions};
use billtap_ffi::{parse_payload, scan_frame};

/// The payload every language parses in the call-overhead loop.
const PIX: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

/// Reads `NAME-WxH.gray` frames in name order.
fn frames(dir: &str) -> Result<Vec<Frame>> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "gray"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let dims = stem
                .rsplit('-')
                .next()
                .ok_or_else(|| anyhow!("{stem}: no size"))?;
            let (w, h) = dims
                .split_once('x')
                .ok_or_else(|| anyhow!("{stem}: size is not WxH"))?;
            let (w, h): (u32, u32) = (w.parse()?, h.parse()?);
            let data = std::fs::read(p).with_context(|| p.display().to_string())?;
            Ok(Frame {
                data,
                width: w,
                height: h,
                stride: w,
            })
        })
        .collect()
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow!("usage: ffi-baseline FRAMES_DIR ITERATIONS"))?;
    let iterations: u32 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let frames = frames(&dir)?;
    let bytes = PIX.as_bytes().to_vec();
    for _ in 0..iterations / 10 {
        parse_payload(bytes.clone())?;
    }
    let t = Instant::now();
    for _ in 0..iterations {
        parse_payload(bytes.clone())?;
    }
    let parse_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);
    let mut scan_ms = Vec::new();
    let mut found = 0;
    for f in &frames {
        let t = Instant::now();
        found += scan_frame(f.clone(), ScanOptions::default())?.len();
        scan_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "{}",
        serde_json::json!({"parse_us": parse_us, "scan_ms": scan_ms, "found": found})
    );
    Ok(())
}
