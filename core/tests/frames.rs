//! Frame decoding against real images: rendered codes, camera-like scenes, PNG and JPEG files
//! decoded from disk, frames with a row stride, regions of interest and several codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use billtap_core::scan::synth::{Scene, render_scene};
use billtap_core::scan::{
    Format, LumaFrame, Region, ScanError, ScanOptions, render_png_luma, render_svg,
    render_terminal, scan_frame, scan_frame_with,
};

const BILL: &str = "00020101021226850016COM.BILLTAP.BILL0112BJ-WATER-0010216110105-3345-08710315W202610-008812304062026105204490053031565406268.405802CN5924BEIJING WATERWORKS GROUP6007BEIJING62370115W202610-00881230814Water Oct 202664240002ZH0108北京市自来水集团0202北京63048CF7";

fn fixture(name: &str) -> image::GrayImage {
    let path = format!(
        "{}/../tests/fixtures/frames/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    image::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_luma8()
}

#[test]
fn render_then_decode_round_trip() {
    for text in [
        BILL,
        "upi://pay?pa=a@b&am=1",
        "ST00012|Name=Водоканал|PersonalAcc=40702810138250123017|BankName=Б|BIC=044525225|CorrespAcc=30101810400000000225",
    ] {
        let img = render_png_luma(text, 4).unwrap();
        let frame = LumaFrame::new(&img.pixels, img.width, img.height, img.width).unwrap();
        let codes = scan_frame(&frame).unwrap();
        assert_eq!(codes.len(), 1, "{text}");
        assert_eq!(codes[0].text, text);
        assert_eq!(codes[0].raw, text.as_bytes());
        assert!(codes[0].payload.is_some(), "{text}: {:?}", codes[0].problem);
    }
}

#[test]
fn png_and_jpeg_files_decode() {
    for name in ["water-bill-crop.png", "water-bill-crop.jpg"] {
        let img = fixture(name);
        let (w, h) = img.dimensions();
        let frame = LumaFrame::new(img.as_raw(), w, h, w).unwrap();
        let codes = scan_frame(&frame).unwrap();
        assert_eq!(codes.len(), 1, "{name}");
        assert_eq!(codes[0].text, BILL, "{name}");
        let bill = codes[0].payload.as_ref().unwrap();
        assert_eq!(bill.format, Format::EmvMpm);
        assert_eq!(bill.amount.unwrap().to_plain_string(), "268.40");
        assert_eq!(bill.payee_name_local.as_deref(), Some("北京市自来水集团"));
    }
}

#[test]
fn png_encoded_scene_decodes_after_a_real_png_round_trip() {
    let code = render_png_luma(BILL, 5).unwrap();
    let scene = Scene {
        rotation_deg: 33.0,
        tilt: (0.2, -0.1),
        blur: 1,
        noise: 6.0,
        shading: 0.3,
        clutter: true,
        ..Scene::clean(700, 7)
    };
    let px = render_scene(&code, &scene);
    let mut png = Vec::new();
    image::GrayImage::from_raw(700, 700, px)
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let img = image::load_from_memory(&png).unwrap().to_luma8();
    let frame = LumaFrame::new(img.as_raw(), 700, 700, 700).unwrap();
    let codes = scan_frame(&frame).unwrap();
    assert_eq!(codes.first().map(|c| c.text.as_str()), Some(BILL));
}

#[test]
fn corners_are_top_left_top_right_bottom_right_bottom_left() {
    let code = render_png_luma(BILL, 4).unwrap();
    for (rotation, tl_quadrant) in [
        (0.0f32, (false, false)),
        (90.0, (true, false)),
        (180.0, (true, true)),
        (270.0, (false, true)),
    ] {
        let scene = Scene {
            rotation_deg: rotation,
            ..Scene::clean(600, 1)
        };
        let px = render_scene(&code, &scene);
        let frame = LumaFrame::new(&px, 600, 600, 600).unwrap();
        let codes = scan_frame(&frame).unwrap();
        assert_eq!(codes.len(), 1, "rotation {rotation}");
        let c = &codes[0].corners;
        // The symbol's top-left finder pattern is where the rotation put it.
        assert_eq!(
            (c[0].x > 300.0, c[0].y > 300.0),
            tl_quadrant,
            "rotation {rotation}: {c:?}"
        );
        // Corners go round the square: opposite corners are far apart, neighbours are not.
        let d = |a: usize, b: usize| ((c[a].x - c[b].x).powi(2) + (c[a].y - c[b].y).powi(2)).sqrt();
        assert!(
            d(0, 2) > d(0, 1) * 1.2 && d(1, 3) > d(1, 2) * 1.2,
            "rotation {rotation}: {c:?}"
        );
    }
}

#[test]
fn stride_padding_is_ignored() {
    let img = render_png_luma(BILL, 3).unwrap();
    let (w, h) = (img.width as usize, img.height as usize);
    let stride = w + 37;
    // Padding bytes hold garbage, as camera buffers do.
    let mut buf = vec![0u8; stride * h];
    for y in 0..h {
        buf[y * stride..y * stride + w].copy_from_slice(&img.pixels[y * w..(y + 1) * w]);
        for x in w..stride {
            buf[y * stride + x] = ((x * 31 + y * 17) % 256) as u8;
        }
    }
    let frame = LumaFrame::new(&buf, w as u32, h as u32, stride as u32).unwrap();
    assert_eq!(scan_frame(&frame).unwrap()[0].text, BILL);
}

/// Two codes side by side in one frame.
fn two_codes() -> (Vec<u8>, u32, u32) {
    let a = render_png_luma("upi://pay?pa=left@bank&am=10", 4).unwrap();
    let b = render_png_luma("upi://pay?pa=right@bank&am=20", 4).unwrap();
    let (w, h) = (a.width + b.width + 60, a.height.max(b.height) + 40);
    let mut px = vec![255u8; (w * h) as usize];
    for (img, x0) in [(&a, 20u32), (&b, a.width + 40)] {
        for y in 0..img.height {
            for x in 0..img.width {
                px[((y + 20) * w + x0 + x) as usize] = img.pixels[(y * img.width + x) as usize];
            }
        }
    }
    (px, w, h)
}

#[test]
fn every_code_in_the_frame_is_found() {
    let (px, w, h) = two_codes();
    let frame = LumaFrame::new(&px, w, h, w).unwrap();
    let mut texts: Vec<String> = scan_frame(&frame)
        .unwrap()
        .into_iter()
        .map(|c| c.text)
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            "upi://pay?pa=left@bank&am=10",
            "upi://pay?pa=right@bank&am=20"
        ]
    );
}

#[test]
fn region_of_interest_limits_the_search_and_maps_corners_back() {
    let (px, w, h) = two_codes();
    let frame = LumaFrame::new(&px, w, h, w).unwrap();
    let right = Region {
        x: w / 2,
        y: 0,
        width: w - w / 2,
        height: h,
    };
    let codes = scan_frame_with(
        &frame,
        &ScanOptions {
            region: Some(right),
            try_harder: true,
        },
    )
    .unwrap();
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].text, "upi://pay?pa=right@bank&am=20");
    assert!(
        codes[0].corners.iter().all(|p| p.x >= (w / 2) as f32),
        "corners in frame coordinates: {:?}",
        codes[0].corners
    );
}

#[test]
fn inverted_and_small_codes_decode() {
    let code = render_png_luma(BILL, 2).unwrap();
    let inverted = Scene {
        invert: true,
        ..Scene::clean(500, 3)
    };
    let small = Scene {
        code_px: 150.0,
        width: 640,
        height: 480,
        ..Scene::clean(640, 4)
    };
    for scene in [inverted, small] {
        let px = render_scene(&code, &scene);
        let frame = LumaFrame::new(&px, scene.width, scene.height, scene.width).unwrap();
        assert_eq!(
            scan_frame(&frame).unwrap().first().map(|c| c.text.as_str()),
            Some(BILL),
            "{scene:?}"
        );
    }
}

#[test]
fn frames_without_codes_give_nothing_not_errors() {
    let mut rng = billtap_core::scan::synth::Rng::new(9);
    let noise: Vec<u8> = (0..320 * 240)
        .map(|_| (rng.next_u64() & 0xFF) as u8)
        .collect();
    for px in [vec![0u8; 320 * 240], vec![255u8; 320 * 240], noise] {
        let frame = LumaFrame::new(&px, 320, 240, 320).unwrap();
        assert!(scan_frame(&frame).unwrap().is_empty());
    }
}

#[test]
fn inconsistent_frames_are_refused() {
    let px = vec![0u8; 100];
    assert!(matches!(
        LumaFrame::new(&px, 0, 10, 10),
        Err(ScanError::BadFrame(_))
    ));
    assert!(matches!(
        LumaFrame::new(&px, 10, 10, 9),
        Err(ScanError::BadFrame(_))
    ));
    assert!(matches!(
        LumaFrame::new(&px, 10, 11, 10),
        Err(ScanError::BadFrame(_))
    ));
    let frame = LumaFrame::new(&px, 10, 10, 10).unwrap();
    let outside = Region {
        x: 5,
        y: 5,
        width: 6,
        height: 2,
    };
    assert!(matches!(
        scan_frame_with(
            &frame,
            &ScanOptions {
                region: Some(outside),
                try_harder: false
            }
        ),
        Err(ScanError::BadFrame(_))
    ));
}

#[test]
fn svg_and_terminal_renderings_carry_the_code() {
    let svg = render_svg(BILL).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.contains("<path"));
    let term = render_terminal("hello").unwrap();
    let lines: Vec<&str> = term.lines().collect();
    // Version-1 symbol: 21 modules + 2×2 quiet zone = 25 columns, rows folded in pairs.
    assert_eq!(lines[0].chars().count(), 25);
    assert_eq!(lines.len(), 13);
    assert!(
        render_png_luma(&"9".repeat(8000), 2).is_err(),
        "too much data for any QR version"
    );
}
