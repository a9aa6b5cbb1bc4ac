//! Bytes from a QR code → text: the ECI's encoding when the decoder gives one, else UTF-8,
//! else GB18030 (Chinese codes made by older generators are GBK/GB2312).

use encoding_rs::Encoding;

use super::ScanError;

/// The text encoding an ECI designator names (ISO/IEC 18004 / AIM ECI), if billtap reads it.
pub fn eci_to_encoding(eci: u32) -> Option<&'static Encoding> {
    let label: &[u8] = match eci {
        // 0–3 are ISO-8859-1 / CP437 defaults; windows-1252 is its superset in encoding_rs.
        0 | 2 => b"ibm437",
        1 | 3 => b"iso-8859-1",
        4 => b"iso-8859-2",
        5 => b"iso-8859-3",
        6 => b"iso-8859-4",
        7 => b"iso-8859-5",
        8 => b"iso-8859-6",
        9 => b"iso-8859-7",
        10 => b"iso-8859-8",
        11 => b"iso-8859-9",
        12 => b"iso-8859-10",
        13 => b"iso-8859-11",
        15 => b"iso-8859-13",
        16 => b"iso-8859-14",
        17 => b"iso-8859-15",
        18 => b"iso-8859-16",
        20 => b"shift_jis",
        21 => b"windows-1250",
        22 => b"windows-1251",
        23 => b"windows-1252",
        24 => b"windows-1256",
        25 => b"utf-16be",
        26 => b"utf-8",
        27 | 170 => b"us-ascii",
        28 => b"big5",
        29 => b"gb18030",
        30 => b"euc-kr",
        _ => return None,
    };
    Encoding::for_label(label)
}

/// Decodes QR code bytes to text, honouring the ECI when given.
pub fn decode_text(bytes: &[u8], eci: Option<u32>) -> Result<String, ScanError> {
    if bytes.is_empty() {
        return Err(ScanError::Empty);
    }
    if let Some(enc) = eci.and_then(eci_to_encoding) {
        let (text, had_errors) = enc.decode_without_bom_handling(bytes);
        if !had_errors {
            return Ok(text.into_owned());
        }
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_string());
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(ScanError::Undecodable);
    }
    Ok(text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_then_gb18030() {
        assert_eq!(decode_text("北京".as_bytes(), None).unwrap(), "北京");
        let (gbk, _, _) = encoding_rs::GBK.encode("北京市自来水");
        assert_eq!(decode_text(&gbk, None).unwrap(), "北京市自来水");
        assert_eq!(decode_text(&gbk, Some(29)).unwrap(), "北京市自来水");
        assert_eq!(decode_text(&[0xE9], Some(3)).unwrap(), "é");
        assert!(matches!(
            decode_text(&[0xFF, 0xFF, 0x80], None),
            Err(ScanError::Undecodable)
        ));
        assert!(matches!(decode_text(&[], None), Err(ScanError::Empty)));
    }
}
