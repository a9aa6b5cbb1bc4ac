//! Profiles `scan_frame` on one image, many times (tuning aid: run under `perf record`).
#![allow(clippy::unwrap_used, missing_docs)]
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let n: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(200);
    let img = image::open(&path).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    let px = img.into_raw();
    let frame = billtap_core::scan::LumaFrame::new(&px, w, h, w).unwrap();
    let t = Instant::now();
    let mut found = 0;
    for _ in 0..n {
        found += billtap_core::scan::scan_frame(&frame).unwrap().len();
    }
    println!("{:?} per frame, {found} codes", t.elapsed() / n as u32);
}
