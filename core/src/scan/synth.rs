//! Camera-like synthetic frames: a rendered code placed in a scene with perspective, rotation,
//! blur, sensor noise, uneven light and clutter. Deterministic for a given seed.
//!
//! Used by `billtap demo`, the decode benchmark and tests; not compiled into the mobile
//! library (feature `synth`).

use super::QrImage;

/// How to place a code in a synthetic camera frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Side of the code (quiet zone included) in frame pixels.
    pub code_px: f32,
    /// Centre of the code in the frame, as fractions of width and height.
    pub center: (f32, f32),
    /// In-plane rotation in degrees.
    pub rotation_deg: f32,
    /// Keystone tilt: how much the far edges shrink (0 = flat, 0.3 = strong), x and y.
    pub tilt: (f32, f32),
    /// Box-blur radius in pixels, applied three times (≈ Gaussian); 0 = sharp.
    pub blur: u32,
    /// Standard deviation of sensor noise, in grey levels.
    pub noise: f32,
    /// Grey level of printed black and of paper white.
    pub ink_paper: (u8, u8),
    /// Strength of uneven lighting, 0 (even) to 1 (one side in shadow).
    pub shading: f32,
    /// Print the code light-on-dark.
    pub invert: bool,
    /// Fill the background with clutter (shapes, text-like stripes) instead of a flat table.
    pub clutter: bool,
    /// Seed for every random choice.
    pub seed: u64,
}

impl Scene {
    /// A clean, centred, flat code filling most of a square frame.
    pub fn clean(side: u32, seed: u64) -> Self {
        Scene {
            width: side,
            height: side,
            code_px: side as f32 * 0.8,
            center: (0.5, 0.5),
            rotation_deg: 0.0,
            tilt: (0.0, 0.0),
            blur: 0,
            noise: 0.0,
            ink_paper: (20, 235),
            shading: 0.0,
            invert: false,
            clutter: false,
            seed,
        }
    }
}

/// A small deterministic PRNG (SplitMix64): the same seed gives the same frame everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A float in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Approximately normal with mean 0 and standard deviation 1 (Irwin–Hall, 4 terms).
    pub fn normal(&mut self) -> f32 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
}

/// Solves the homography mapping the unit square's corners to `dst` (4 points).
#[expect(
    clippy::indexing_slicing,
    reason = "loop counters over fixed 8×9 arrays; no outside data reaches these indices"
)]
fn homography(dst: [(f32, f32); 4]) -> Option<[f64; 9]> {
    let src = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
    let mut a = [[0f64; 9]; 8];
    for (i, ((x, y), (u, v))) in src.iter().zip(dst.iter()).enumerate() {
        let (x, y, u, v) = (*x, *y, f64::from(*u), f64::from(*v));
        *a.get_mut(2 * i)? = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        *a.get_mut(2 * i + 1)? = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gauss–Jordan elimination with partial pivoting on the 8×9 augmented matrix.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&p, &q| {
            let (ap, aq) = (
                a.get(p).map_or(0.0, |r| r[col].abs()),
                a.get(q).map_or(0.0, |r| r[col].abs()),
            );
            ap.total_cmp(&aq)
        })?;
        a.swap(col, pivot);
        let pr = *a.get(col)?;
        if pr[col].abs() < 1e-12 {
            return None;
        }
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pr[col];
                for k in 0..9 {
                    row[k] -= f * pr[k];
                }
            }
        }
    }
    let h = |i: usize| a.get(i).map(|r| r[8] / r[i]);
    Some([h(0)?, h(1)?, h(2)?, h(3)?, h(4)?, h(5)?, h(6)?, h(7)?, 1.0])
}

fn invert3(m: &[f64; 9]) -> Option<[f64; 9]> {
    let [a, b, c, d, e, f, g, h, i] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    if det.abs() < 1e-12 {
        return None;
    }
    Some([
        (e * i - f * h) / det,
        (c * h - b * i) / det,
        (b * f - c * e) / det,
        (f * g - d * i) / det,
        (a * i - c * g) / det,
        (c * d - a * f) / det,
        (d * h - e * g) / det,
        (b * g - a * h) / det,
        (a * e - b * d) / det,
    ])
}

fn box_blur(px: &mut [f32], w: usize, h: usize, r: usize) {
    if r == 0 || w == 0 || h == 0 {
        return;
    }
    let mut tmp = vec![0f32; px.len()];
    let n = (2 * r + 1) as f32;
    for y in 0..h {
        let row = y * w;
        let mut acc: f32 = (0..=2 * r)
            .map(|k| {
                px.get(row + k.saturating_sub(r).min(w - 1))
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum();
        for x in 0..w {
            if let Some(t) = tmp.get_mut(row + x) {
                *t = acc / n;
            }
            let out = px.get(row + x.saturating_sub(r)).copied().unwrap_or(0.0);
            let inn = px.get(row + (x + r + 1).min(w - 1)).copied().unwrap_or(0.0);
            acc += inn - out;
        }
    }
    for x in 0..w {
        let mut acc: f32 = (0..=2 * r)
            .map(|k| {
                tmp.get(k.saturating_sub(r).min(h - 1) * w + x)
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum();
        for y in 0..h {
            if let Some(p) = px.get_mut(y * w + x) {
                *p = acc / n;
            }
            let out = tmp.get(y.saturating_sub(r) * w + x).copied().unwrap_or(0.0);
            let inn = tmp
                .get((y + r + 1).min(h - 1) * w + x)
                .copied()
                .unwrap_or(0.0);
            acc += inn - out;
        }
    }
}

fn clutter(px: &mut [f32], w: usize, h: usize, rng: &mut Rng) {
    for p in px.iter_mut() {
        *p = 120.0;
    }
    // Rectangles of all greys (papers, phone, keyboard keys) and stripes that look like text,
    // which give detectors false finder-pattern candidates.
    for _ in 0..40 {
        let (rw, rh) = (
            rng.range(20.0, w as f32 / 3.0) as usize,
            rng.range(20.0, h as f32 / 3.0) as usize,
        );
        let (x0, y0) = (
            rng.range(0.0, w as f32) as usize,
            rng.range(0.0, h as f32) as usize,
        );
        let g = rng.range(0.0, 255.0);
        for y in y0..(y0 + rh).min(h) {
            for x in x0..(x0 + rw).min(w) {
                if let Some(p) = px.get_mut(y * w + x) {
                    *p = g;
                }
            }
        }
    }
    for _ in 0..25 {
        let (x0, y0) = (
            rng.range(0.0, w as f32) as usize,
            rng.range(0.0, h as f32) as usize,
        );
        let lines = rng.range(2.0, 8.0) as usize;
        let glyph = rng.range(3.0, 9.0) as usize;
        for l in 0..lines {
            let mut x = x0;
            let y = y0 + l * glyph * 2;
            while x < (x0 + glyph * 30).min(w) {
                let gw = glyph * rng.range(0.4, 1.0) as usize + 1;
                if rng.unit() > 0.2 {
                    for yy in y..(y + glyph).min(h) {
                        for xx in x..(x + gw).min(w) {
                            if let Some(p) = px.get_mut(yy * w + xx) {
                                *p = 30.0;
                            }
                        }
                    }
                }
                x += gw + glyph / 2 + 1;
            }
        }
    }
}

/// Renders a camera-like 8-bit luma frame (row-major, stride = width) showing `code`.
pub fn render_scene(code: &QrImage, s: &Scene) -> Vec<u8> {
    let (w, h) = (s.width as usize, s.height as usize);
    let mut rng = Rng::new(s.seed);
    let mut px = vec![0f32; w * h];
    if s.clutter {
        clutter(&mut px, w, h, &mut rng);
    } else {
        let table = rng.range(90.0, 160.0);
        px.iter_mut().for_each(|p| *p = table);
    }
    // The code's corners: a square around the centre, rotated, then keystoned.
    let (cx, cy) = (s.center.0 * s.width as f32, s.center.1 * s.height as f32);
    let half = s.code_px / 2.0;
    let (sin, cos) = s.rotation_deg.to_radians().sin_cos();
    let corners = [(-1.0f32, -1.0f32), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)].map(|(ux, uy)| {
        // Keystone: points on the far side (negative y for tilt.1, negative x for tilt.0) shrink.
        let kx = ux * (1.0 - s.tilt.1 * (1.0 - uy) / 2.0);
        let ky = uy * (1.0 - s.tilt.0 * (1.0 - ux) / 2.0);
        let (x, y) = (kx * half, ky * half);
        (cx + x * cos - y * sin, cy + x * sin + y * cos)
    });
    let inv = homography(corners).and_then(|m| invert3(&m));
    let (ink, paper) = (f32::from(s.ink_paper.0), f32::from(s.ink_paper.1));
    let side = code.width as f32;
    if let Some(m) = inv {
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
                let d = m[6] * fx + m[7] * fy + m[8];
                let u = (m[0] * fx + m[1] * fy + m[2]) / d;
                let v = (m[3] * fx + m[4] * fy + m[5]) / d;
                if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
                    continue;
                }
                // Bilinear sample of the code image.
                let (sx, sy) = (u as f32 * side - 0.5, v as f32 * side - 0.5);
                let (x0, y0) = (sx.floor().max(0.0), sy.floor().max(0.0));
                let (fx, fy) = (sx - x0, sy - y0);
                let at = |xx: f32, yy: f32| -> f32 {
                    let xi = (xx as u32).min(code.width - 1) as usize;
                    let yi = (yy as u32).min(code.height - 1) as usize;
                    f32::from(
                        code.pixels
                            .get(yi * code.width as usize + xi)
                            .copied()
                            .unwrap_or(255),
                    ) / 255.0
                };
                let val = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + at(x0 + 1.0, y0) * fx * (1.0 - fy)
                    + at(x0, y0 + 1.0) * (1.0 - fx) * fy
                    + at(x0 + 1.0, y0 + 1.0) * fx * fy;
                let val = if s.invert { 1.0 - val } else { val };
                if let Some(p) = px.get_mut(y * w + x) {
                    *p = ink + (paper - ink) * val;
                }
            }
        }
    }
    if s.shading > 0.0 {
        let angle = rng.range(0.0, std::f32::consts::TAU);
        let (dx, dy) = (angle.cos(), angle.sin());
        let diag = ((w * w + h * h) as f32).sqrt();
        for y in 0..h {
            for x in 0..w {
                let t = ((x as f32 - w as f32 / 2.0) * dx + (y as f32 - h as f32 / 2.0) * dy)
                    / diag
                    + 0.5;
                if let Some(p) = px.get_mut(y * w + x) {
                    *p *= 1.0 - s.shading * t.clamp(0.0, 1.0);
                }
            }
        }
    }
    box_blur(&mut px, w, h, s.blur as usize);
    box_blur(&mut px, w, h, s.blur as usize);
    box_blur(&mut px, w, h, s.blur as usize);
    px.iter()
        .map(|&p| {
            let n = if s.noise > 0.0 {
                rng.normal() * s.noise
            } else {
                0.0
            };
            (p + n).round().clamp(0.0, 255.0) as u8
        })
        .collect()
}
