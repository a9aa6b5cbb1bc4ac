//! Writes the decode benchmark's image set: deterministic camera-like frames in categories,
//! plus `manifest.json` with each image's category and expected payload.
//!
//! Usage: `gen-frames OUT_DIR [PER_CATEGORY]` (default 40 per category).

// Benchmark tooling, not library code: its inputs are its own constants.
#![allow(clippy::indexing_slicing)]

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use billtap_core::scan::synth::{Rng, Scene, render_scene};
use billtap_core::scan::{BilltapBill, EmvWriter, Initiation, render_png_luma};
use image::codecs::jpeg::JpegEncoder;
use serde_json::json;

/// Mod-10 recursive check digit (Swiss QR reference), for valid generated bills.
fn mod10(digits: &str) -> u32 {
    const T: [u32; 10] = [0, 9, 4, 6, 8, 2, 7, 1, 3, 5];
    let mut carry = 0;
    for d in digits.chars().filter_map(|c| c.to_digit(10)) {
        carry = T[((carry + d) % 10) as usize];
    }
    (10 - carry) % 10
}

/// A payload like a real bill, one of several formats, chosen by the seed.
fn bill_payload(rng: &mut Rng, i: usize) -> Result<String> {
    let n = |rng: &mut Rng, digits: u32| -> u64 { rng.next_u64() % 10u64.pow(digits) };
    let amount = format!("{}.{:02}", 10 + n(rng, 3), n(rng, 2));
    Ok(match i % 6 {
        0 | 1 => {
            let bill = BilltapBill {
                biller_id: format!("CN-{:04}", n(rng, 4)),
                account: format!("{:010}", n(rng, 10)),
                bill_id: Some(format!("B{:012}", n(rng, 12))),
                period: Some(format!("2026{:02}", 1 + n(rng, 2) % 12)),
            };
            let w = EmvWriter::new(Initiation::Dynamic)
                .billtap_bill(&bill)
                .field(52, "4900")
                .field(53, "156")
                .field(54, amount)
                .field(58, "CN")
                .field(59, "CITY UTILITIES CO")
                .field(60, "SHANGHAI")
                .template(62, &[(1, &format!("{:014}", n(rng, 14)))]);
            if i % 6 == 1 {
                w.template(64, &[(0, "ZH"), (1, "上海市城市公用事业有限公司")])
            } else {
                w
            }
            .build()?
        }
        2 => {
            let body = format!("{:026}", n(rng, 18));
            let reference = format!("{body}{}", mod10(&body));
            format!(
                "SPC\n0200\n1\nCH4431999123000889012\nS\nRobert Schneider AG\nRue du Lac\n1268\n2501\nBiel\nCH\n\n\n\n\n\n\n\n{amount}\nCHF\nS\nPia-Maria Rutschmann-Schnyder\nGrosse Marktgasse\n28\n9400\nRorschach\nCH\nQRR\n{reference}\nInvoice {:06}\nEPD\n",
                n(rng, 6)
            )
        }
        3 => format!(
            "BCD\n002\n1\nSCT\nBPOTBEB1\nRed Cross of Belgium\nBE72000000001616\nEUR{amount}\nCHAR\n\nInvoice {:08} utilities",
            n(rng, 8)
        ),
        4 => format!(
            "upi://pay?pa=electricity.board@okaxis&pn=State%20Electricity%20Board&am={amount}&cu=INR&tr=BILL{:010}&tn=Electricity%20bill",
            n(rng, 10)
        ),
        _ => format!(
            "ST00012|Name=ООО «Водоканал»|PersonalAcc=40702810138250123017|BankName=ПАО СБЕРБАНК|BIC=044525225|CorrespAcc=30101810400000000225|Sum={}|Purpose=Оплата за воду|PersAcc={:09}|PaymPeriod=102026",
            1000 + n(rng, 6),
            n(rng, 9)
        ),
    })
}

/// The scene for an image of a category.
fn scene_for(category: &str, rng: &mut Rng, seed: u64) -> Scene {
    let mut s = Scene::clean(640, seed);
    s.height = 480;
    s.code_px = rng.range(260.0, 380.0);
    s.center = (rng.range(0.4, 0.6), rng.range(0.42, 0.58));
    s.noise = 1.5;
    match category {
        "clean" => {}
        "rotated" => s.rotation_deg = rng.range(10.0, 350.0),
        "perspective" => {
            s.tilt = (rng.range(-0.35, 0.35), rng.range(-0.35, 0.35));
            s.rotation_deg = rng.range(-15.0, 15.0);
        }
        "blur" => {
            s.blur = 1 + (rng.next_u64() % 2) as u32;
            s.code_px = rng.range(300.0, 400.0);
        }
        "noise" => s.noise = rng.range(12.0, 28.0),
        "low_contrast" => {
            let ink = rng.range(90.0, 120.0) as u8;
            s.ink_paper = (ink, ink.saturating_add(rng.range(35.0, 60.0) as u8));
            s.shading = rng.range(0.3, 0.6);
            s.noise = 3.0;
        }
        "inverted" => {
            s.invert = true;
            s.rotation_deg = rng.range(-8.0, 8.0);
        }
        "small" => {
            s.code_px = rng.range(75.0, 110.0);
            s.noise = 2.0;
        }
        "clutter_720p" | "clutter_1080p" | "jpeg" => {
            let (w, h, px) = if category == "clutter_1080p" {
                (1920, 1080, (360.0, 640.0))
            } else {
                (1280, 720, (250.0, 430.0))
            };
            s.width = w;
            s.height = h;
            s.code_px = rng.range(px.0, px.1);
            s.center = (rng.range(0.3, 0.7), rng.range(0.35, 0.65));
            s.rotation_deg = rng.range(-25.0, 25.0);
            s.tilt = (rng.range(-0.2, 0.2), rng.range(-0.2, 0.2));
            s.blur = (rng.next_u64() % 2) as u32;
            s.noise = rng.range(2.0, 8.0);
            s.shading = rng.range(0.0, 0.4);
            s.ink_paper = (rng.range(20.0, 50.0) as u8, rng.range(200.0, 240.0) as u8);
            s.clutter = true;
        }
        _ => {}
    }
    s
}

const CATEGORIES: [&str; 11] = [
    "clean",
    "rotated",
    "perspective",
    "blur",
    "noise",
    "low_contrast",
    "inverted",
    "small",
    "clutter_720p",
    "clutter_1080p",
    "jpeg",
];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or_else(|| anyhow!("usage: gen-frames OUT_DIR [PER_CATEGORY]"))?;
    let per: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(40);
    let out = Path::new(&out);
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut manifest = Vec::new();
    for (ci, category) in CATEGORIES.iter().enumerate() {
        for i in 0..per {
            let seed = 0xB111_7A90 ^ ((ci as u64) << 32) ^ i as u64;
            let mut rng = Rng::new(seed);
            let payload = bill_payload(&mut rng, i)?;
            let module_px = 4;
            let code = render_png_luma(&payload, module_px)?;
            let scene = scene_for(category, &mut rng, seed);
            let px = render_scene(&code, &scene);
            let img = image::GrayImage::from_raw(scene.width, scene.height, px)
                .ok_or_else(|| anyhow!("frame size mismatch"))?;
            let name = if *category == "jpeg" {
                let name = format!("{category}-{i:03}.jpg");
                let file = std::fs::File::create(out.join(&name))?;
                let quality = 25 + (rng.next_u64() % 40) as u8;
                JpegEncoder::new_with_quality(std::io::BufWriter::new(file), quality)
                    .encode_image(&img)?;
                name
            } else {
                let name = format!("{category}-{i:03}.png");
                img.save(out.join(&name))?;
                name
            };
            manifest.push(json!({"file": name, "category": category, "payload": payload}));
        }
    }
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    eprintln!("wrote {} images to {}", manifest.len(), out.display());
    Ok(())
}
