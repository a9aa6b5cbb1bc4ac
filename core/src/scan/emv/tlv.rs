//! The TLV layer: two-digit tags and lengths counted in characters, templates, the CRC.

use super::{F, MAX_DEPTH};
use crate::scan::ScanError;

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as EMV QR tag 63 requires.
pub fn crc16_ccitt_false(bytes: &[u8]) -> u16 {
    crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740).checksum(bytes)
}

/// One TLV element: tag 00–99, value as characters.
#[derive(Debug, Clone)]
pub(super) struct Tlv {
    pub(super) tag: u8,
    pub(super) value: String,
}

pub(super) fn two_digits(chars: &[char], at: usize) -> Option<u8> {
    let a = chars.get(at)?.to_digit(10)?;
    let b = chars.get(at + 1)?.to_digit(10)?;
    u8::try_from(a * 10 + b).ok()
}

/// Splits a TLV string into elements; lengths count characters.
pub(super) fn parse_tlv(chars: &[char], base: usize) -> Result<Vec<Tlv>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let pos = base + i;
        let tag = two_digits(chars, i)
            .ok_or_else(|| format!("expected a two-digit tag at character {pos}"))?;
        let len = two_digits(chars, i + 2).ok_or_else(|| {
            format!(
                "expected a two-digit length for tag {tag:02} at character {}",
                pos + 2
            )
        })? as usize;
        let start = i + 4;
        let value: String = chars
            .get(start..start + len)
            .ok_or_else(|| {
                format!(
                    "tag {tag:02} says {len} characters but only {} remain",
                    chars.len().saturating_sub(start)
                )
            })?
            .iter()
            .collect();
        out.push(Tlv { tag, value });
        i = start + len;
    }
    Ok(out)
}

pub(super) fn parse_template(value: &str, tag: &str, depth: usize) -> Result<Vec<Tlv>, ScanError> {
    if depth > MAX_DEPTH {
        return Err(ScanError::malformed(
            F,
            format!("template {tag} is nested too deeply"),
        ));
    }
    let chars: Vec<char> = value.chars().collect();
    let fields = parse_tlv(&chars, 0)
        .map_err(|e| ScanError::malformed(F, format!("inside template {tag}: {e}")))?;
    check_unique(&fields, tag)?;
    Ok(fields)
}

pub(super) fn check_unique(fields: &[Tlv], within: &str) -> Result<(), ScanError> {
    let mut seen = [false; 100];
    for f in fields {
        let slot = seen.get_mut(usize::from(f.tag));
        match slot {
            Some(s) if *s => {
                return Err(ScanError::malformed(
                    F,
                    if within.is_empty() {
                        format!("tag {:02} appears twice", f.tag)
                    } else {
                        format!("tag {:02} appears twice inside template {within}", f.tag)
                    },
                ));
            }
            Some(s) => *s = true,
            None => {}
        }
    }
    Ok(())
}

pub(super) fn verify_crc(t: &str, top: &[Tlv]) -> Result<(), ScanError> {
    let last = top
        .last()
        .ok_or_else(|| ScanError::malformed(F, "no fields"))?;
    if last.tag != 63 {
        if top.iter().any(|f| f.tag == 63) {
            return Err(ScanError::malformed(
                F,
                "the CRC (tag 63) must be the last field",
            ));
        }
        return Err(ScanError::MissingField {
            format: F,
            field: "CRC (tag 63)",
        });
    }
    if last.value.len() != 4 || !last.value.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ScanError::invalid(
            F,
            "CRC (tag 63)",
            "must be exactly 4 hexadecimal digits",
        ));
    }
    // Tag 63 is the last field and its value is 4 ASCII characters, so the covered bytes are
    // everything but the last 4 bytes.
    let covered = t.len().saturating_sub(4);
    let bytes = t
        .as_bytes()
        .get(..covered)
        .ok_or_else(|| ScanError::malformed(F, "too short"))?;
    let computed = format!("{:04X}", crc16_ccitt_false(bytes));
    if !computed.eq_ignore_ascii_case(&last.value) {
        return Err(ScanError::Checksum {
            format: F,
            stated: last.value.to_ascii_uppercase(),
            computed,
        });
    }
    Ok(())
}
