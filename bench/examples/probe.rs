//! Times the stages of one rxing decode and a full `scan_frame` on one image (tuning aid).
#![allow(clippy::unwrap_used)]
use rxing::common::HybridBinarizer;
use rxing::multi::MultipleBarcodeReader;
use rxing::qrcode::cpp_port::QrReader;
use rxing::{Binarizer, BinaryBitmap, DecodeHints, Luma8LuminanceSource};
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let img = image::open(&path).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    let px = img.into_raw();
    for _ in 0..3 {
        let t = Instant::now();
        let source = Luma8LuminanceSource::new(px.clone(), w, h).unwrap();
        let bin = HybridBinarizer::new(source);
        let t1 = t.elapsed();
        let _m = bin.get_black_matrix().unwrap();
        let t2 = t.elapsed();
        let mut bitmap = BinaryBitmap::new(bin);
        let r = QrReader
            .decode_multiple_with_hints(&mut bitmap, &DecodeHints::default())
            .unwrap_or_default();
        let t3 = t.elapsed();
        let frame = billtap_core::scan::LumaFrame::new(&px, w, h, w).unwrap();
        let t4 = Instant::now();
        let c = billtap_core::scan::scan_frame(&frame).unwrap();
        println!(
            "src {:?} bin {:?} decode {:?} n={} | scan_frame {:?} n={} pass={:?}",
            t1,
            t2 - t1,
            t3 - t2,
            r.len(),
            t4.elapsed(),
            c.len(),
            c.first().map(|c| c.pass)
        );
    }
}
