//! Local-block adaptive binarisation (the "hybrid" method of ZXing: 8×8 blocks, black point
//! per block, threshold = mean of the 5×5 neighbourhood of blocks), written for speed: one pass
//! for block statistics, one pass writing a machine word of pixels at a time. Bit-for-bit the same matrix as
//! rxing's `HybridBinarizer`, which spent ~60 % of decode time here (`docs/PERFORMANCE.md`).

use std::borrow::Cow;

use rxing::common::{
    BIT_FIELD_BASE_BITS as WORD, BitArray, BitFieldBaseType, BitMatrix, HybridBinarizer,
    LineOrientation,
};
use rxing::{Binarizer, Luma8LuminanceSource, LuminanceSource};

const BLOCK: usize = 8;
const MIN_DYNAMIC_RANGE: u32 = 24;

/// Black point of every 8×8 block (edge blocks are shifted inwards to stay 8×8).
fn black_points(px: &[u8], w: usize, h: usize, sub_w: usize, sub_h: usize) -> Vec<u32> {
    let (max_x, max_y) = (w - BLOCK, h - BLOCK);
    let mut bp = vec![0u32; sub_w * sub_h];
    for by in 0..sub_h {
        let y0 = (by * BLOCK).min(max_y);
        for bx in 0..sub_w {
            let x0 = (bx * BLOCK).min(max_x);
            let (mut sum, mut min, mut max) = (0u32, u8::MAX, u8::MIN);
            let mut range_met = false;
            for yy in 0..BLOCK {
                let start = (y0 + yy) * w + x0;
                let row = px.get(start..start + BLOCK).unwrap_or_default();
                sum += row.iter().map(|&p| u32::from(p)).sum::<u32>();
                // Like ZXing, stop tracking min/max once the block has enough contrast.
                if !range_met {
                    for &p in row {
                        min = min.min(p);
                        max = max.max(p);
                    }
                    range_met = u32::from(max - min) > MIN_DYNAMIC_RANGE;
                }
            }
            let mut average = sum >> 6;
            if u32::from(max - min) <= MIN_DYNAMIC_RANGE {
                // A flat block: assume background, unless its neighbours say it is dark.
                average = u32::from(min) / 2;
                if by > 0 && bx > 0 {
                    let at = |y: usize, x: usize| bp.get(y * sub_w + x).copied().unwrap_or(0);
                    let neighbour = (at(by - 1, bx) + 2 * at(by, bx - 1) + at(by - 1, bx - 1)) / 4;
                    if u32::from(min) < neighbour {
                        average = neighbour;
                    }
                }
            }
            if let Some(slot) = bp.get_mut(by * sub_w + bx) {
                *slot = average;
            }
        }
    }
    bp
}

/// Binarises a tightly packed luma image; `None` if it is smaller than 40×40 pixels.
pub(crate) fn hybrid_matrix(px: &[u8], w: usize, h: usize) -> Option<BitMatrix> {
    if w < BLOCK * 5 || h < BLOCK * 5 || px.len() < w * h {
        return None;
    }
    let (sub_w, sub_h) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
    let bp = black_points(px, w, h, sub_w, sub_h);
    // Threshold of each block: mean black point of the 5×5 blocks around it (clamped).
    let mut thr = vec![0u8; sub_w * sub_h];
    for by in 0..sub_h {
        let top = by.clamp(2, sub_h - 3);
        for bx in 0..sub_w {
            let left = bx.clamp(2, sub_w - 3);
            let mut sum = 0u32;
            for y in top - 2..=top + 2 {
                let row = y * sub_w;
                sum += bp
                    .get(row + left - 2..=row + left + 2)
                    .map_or(0, |s| s.iter().sum());
            }
            if let Some(t) = thr.get_mut(by * sub_w + bx) {
                *t = u8::try_from(sum / 25).unwrap_or(u8::MAX);
            }
        }
    }
    let mut matrix = BitMatrix::new(w as u32, h as u32).ok()?;
    // The last block row/column is shifted inwards and overlaps its neighbour; ZXing marks a
    // pixel black if either block's threshold does, i.e. the higher threshold wins.
    let last_x_start = w - BLOCK;
    let threshold_row = |rows: &[usize]| -> Vec<u8> {
        let mut out = vec![0u8; w];
        for &by in rows {
            let line = thr.get(by * sub_w..(by + 1) * sub_w).unwrap_or_default();
            for (bx, &t) in line.iter().enumerate() {
                let (x0, x1) = if bx + 1 == sub_w {
                    (last_x_start, w)
                } else {
                    (bx * BLOCK, (bx * BLOCK + BLOCK).min(w))
                };
                for v in out.get_mut(x0..x1).unwrap_or_default() {
                    *v = (*v).max(t);
                }
            }
        }
        out
    };
    let mut current: Option<(usize, bool, Vec<u8>)> = None;
    let mut mask = vec![0u8; w];
    for y in 0..h {
        let by = (y / BLOCK).min(sub_h - 1);
        let overlap = y >= h - BLOCK && by != sub_h - 1;
        if current
            .as_ref()
            .is_none_or(|(b, o, _)| *b != by || *o != overlap)
        {
            let rows: &[usize] = if overlap { &[by, sub_h - 1] } else { &[by] };
            current = Some((by, overlap, threshold_row(rows)));
        }
        let row_thr = current
            .as_ref()
            .map(|(_, _, r)| r.as_slice())
            .unwrap_or_default();
        let line = px.get(y * w..(y + 1) * w)?;
        // Compare a whole row first (vectorises), then pack eight 0/1 bytes into a byte with one
        // multiply: 0x0102…80 gathers byte i's low bit into bit 56 + i.
        for ((m, &p), &t) in mask.iter_mut().zip(line).zip(row_thr) {
            *m = u8::from(p <= t);
        }
        let mut bits = BitArray::with_size(w);
        for (i, word_bytes) in mask.chunks(WORD).enumerate() {
            let mut word: BitFieldBaseType = 0;
            let chunks = word_bytes.chunks_exact(8);
            let tail = chunks.remainder();
            let mut j = 0;
            for eight in chunks {
                let v = u64::from_le_bytes(eight.try_into().unwrap_or([0; 8]));
                word |=
                    ((v.wrapping_mul(0x0102_0408_1020_4080) >> 56) as BitFieldBaseType) << (8 * j);
                j += 1;
            }
            for (k, &b) in tail.iter().enumerate() {
                word |= BitFieldBaseType::from(b) << (8 * j + k);
            }
            bits.setBulk(i * WORD, word);
        }
        matrix.setRow(y as u32, &bits);
    }
    Some(matrix)
}

/// An rxing `Binarizer` whose matrix is computed by [`hybrid_matrix`] up front.
pub(crate) struct FastHybrid {
    source: Luma8LuminanceSource,
    matrix: BitMatrix,
}

impl FastHybrid {
    /// Binarises; falls back to rxing's own binariser for images under 40×40 pixels.
    pub(crate) fn new(px: Vec<u8>, w: usize, h: usize) -> Option<Self> {
        let matrix = match hybrid_matrix(&px, w, h) {
            Some(m) => m,
            None => {
                let src = Luma8LuminanceSource::new(px.clone(), w as u32, h as u32).ok()?;
                HybridBinarizer::new(src).get_black_matrix().ok()?.clone()
            }
        };
        let source = Luma8LuminanceSource::new(px, w as u32, h as u32).ok()?;
        Some(FastHybrid { source, matrix })
    }
}

impl Binarizer for FastHybrid {
    type Source = Luma8LuminanceSource;

    fn get_luminance_source(&self) -> &Self::Source {
        &self.source
    }

    fn get_black_row(&self, y: usize) -> rxing::common::Result<Cow<'_, BitArray>> {
        Ok(Cow::Owned(self.matrix.getRow(y as u32)))
    }

    fn get_black_row_from_matrix(&self, y: usize) -> rxing::common::Result<Cow<'_, BitArray>> {
        self.get_black_row(y)
    }

    fn get_black_matrix(&self) -> rxing::common::Result<&BitMatrix> {
        Ok(&self.matrix)
    }

    fn get_black_line(
        &self,
        l: usize,
        lt: LineOrientation,
    ) -> rxing::common::Result<Cow<'_, BitArray>> {
        Ok(Cow::Owned(match lt {
            LineOrientation::Row => self.matrix.getRow(l as u32),
            LineOrientation::Column => self.matrix.getCol(l as u32),
        }))
    }

    fn create_binarizer(&self, source: Self::Source) -> Self {
        let (w, h) = (source.get_width(), source.get_height());
        let px = source.get_matrix().to_vec();
        match FastHybrid::new(px, w, h) {
            Some(b) => b,
            None => FastHybrid {
                source,
                matrix: self.matrix.clone(),
            },
        }
    }

    fn get_width(&self) -> usize {
        self.source.get_width()
    }

    fn get_height(&self) -> usize {
        self.source.get_height()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::synth::Rng;

    fn reference(px: &[u8], w: usize, h: usize) -> BitMatrix {
        let src = Luma8LuminanceSource::new(px.to_vec(), w as u32, h as u32).unwrap();
        HybridBinarizer::new(src)
            .get_black_matrix()
            .unwrap()
            .clone()
    }

    #[test]
    fn same_matrix_as_rxing_hybrid_binarizer() {
        let mut rng = Rng::new(42);
        // Sizes that are and are not multiples of the block size, images with texture, flat
        // areas (the neighbour rule) and gradients.
        for (w, h) in [(40, 40), (64, 48), (101, 77), (333, 211), (640, 480)] {
            for kind in 0..3 {
                let px: Vec<u8> = (0..w * h)
                    .map(|i| {
                        let (x, y) = (i % w, i / w);
                        match kind {
                            0 => (rng.next_u64() & 0xFF) as u8,
                            1 => {
                                if (x / 7 + y / 5) % 3 == 0 {
                                    40
                                } else {
                                    200
                                }
                            }
                            _ => ((x * 255 / w) as u8 / 2)
                                .saturating_add(if (x / 3 + y / 3) % 2 == 0 { 30 } else { 0 }),
                        }
                    })
                    .collect();
                let ours = hybrid_matrix(&px, w, h).unwrap();
                let theirs = reference(&px, w, h);
                for y in 0..h as u32 {
                    for x in 0..w as u32 {
                        assert_eq!(
                            ours.get(x, y),
                            theirs.get(x, y),
                            "{w}×{h} kind {kind} at ({x}, {y})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn tiny_images_fall_back() {
        let px: Vec<u8> = (0..39 * 50)
            .map(|i| if (i / 3) % 2 == 0 { 20 } else { 230 })
            .collect();
        assert!(hybrid_matrix(&px, 39, 50).is_none());
        let fallback = FastHybrid::new(px.clone(), 39, 50).unwrap();
        assert_eq!(
            fallback.get_black_matrix().unwrap(),
            &reference(&px, 39, 50)
        );
    }
}
