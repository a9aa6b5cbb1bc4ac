//! The frame decoder: arbitrary small luma frames (size and stride from the first bytes) must
//! decode to codes or nothing, never panic or overrun.
#![no_main]
use billtap_core::scan::{LumaFrame, ScanOptions, scan_frame_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let w = u32::from(data[0] % 96) + 1;
    let h = u32::from(data[1] % 96) + 1;
    let stride = w + u32::from(data[2] % 8);
    let px = &data[3..];
    if let Ok(frame) = LumaFrame::new(px, w, h, stride) {
        let _ = scan_frame_with(&frame, &ScanOptions { region: None, try_harder: data[2] & 0x80 != 0 });
    }
});
