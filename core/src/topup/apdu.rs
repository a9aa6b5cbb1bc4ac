//! ISO 7816-4 APDUs: commands (short and extended), responses and their status words. Parsing
//! takes any bytes a card (or a hostile reader) sends and never panics.

use super::TopupError;

/// A command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Class.
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Lc is its length).
    pub data: Vec<u8>,
    /// Expected response length (`Le`): none, or 1–65,536 (256 and 65,536 encode as zero).
    pub le: Option<u32>,
}

/// The largest command data an APDU carries (extended Lc).
pub const MAX_DATA: usize = 65_535;

impl Command {
    /// A command without data or Le.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// With command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// With an expected response length.
    pub fn with_le(mut self, le: u32) -> Self {
        self.le = Some(le);
        self
    }

    /// Whether it needs the extended form (data over 255 bytes or Le over 256).
    pub fn is_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|le| le > 256)
    }

    /// The bytes on the wire (ISO 7816-4 cases 1–4, short or extended).
    pub fn to_bytes(&self) -> Result<Vec<u8>, TopupError> {
        if self.data.len() > MAX_DATA || self.le.is_some_and(|le| le == 0 || le > 65_536) {
            return Err(TopupError::Apdu(
                "a command's data is at most 65,535 bytes and Le 1–65,536".into(),
            ));
        }
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        let n = self.data.len();
        if self.is_extended() {
            out.push(0);
            if n > 0 {
                out.extend_from_slice(&(n as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                let le = if le == 65_536 { 0 } else { le as u16 };
                out.extend_from_slice(&le.to_be_bytes());
            }
        } else {
            if n > 0 {
                out.push(n as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.push(if le == 256 { 0 } else { le as u8 });
            }
        }
        Ok(out)
    }

    /// Reads a command's bytes (the card's side: the simulated card, test rigs).
    pub fn parse(bytes: &[u8]) -> Result<Command, TopupError> {
        let bad = |why: &str| TopupError::Apdu(format!("malformed command APDU: {why}"));
        let (&[cla, ins, p1, p2], body) =
            split4(bytes).ok_or_else(|| bad("shorter than 4 bytes"))?;
        let mut c = Command::new(cla, ins, p1, p2);
        match body {
            [] => {}
            [le] => c.le = Some(if *le == 0 { 256 } else { u32::from(*le) }),
            [0, rest @ ..] if rest.len() >= 2 => {
                // Extended: 00 then Lc(2) data [Le(2)], or Le(2) alone.
                let (hi, lo, tail) = match rest {
                    [hi, lo, tail @ ..] => (*hi, *lo, tail),
                    _ => return Err(bad("truncated extended length")),
                };
                let n = usize::from(u16::from_be_bytes([hi, lo]));
                if tail.is_empty() {
                    c.le = Some(if n == 0 { 65_536 } else { n as u32 });
                } else {
                    let data = tail.get(..n).ok_or_else(|| bad("shorter than its Lc"))?;
                    c.data = data.to_vec();
                    match tail.get(n..).unwrap_or_default() {
                        [] => {}
                        [a, b] => {
                            let le = u16::from_be_bytes([*a, *b]);
                            c.le = Some(if le == 0 { 65_536 } else { u32::from(le) });
                        }
                        _ => return Err(bad("bytes after the extended Le")),
                    }
                }
            }
            [lc, rest @ ..] => {
                let n = usize::from(*lc);
                let data = rest.get(..n).ok_or_else(|| bad("shorter than its Lc"))?;
                c.data = data.to_vec();
                match rest.get(n..).unwrap_or_default() {
                    [] => {}
                    [le] => c.le = Some(if *le == 0 { 256 } else { u32::from(*le) }),
                    _ => return Err(bad("bytes after Le")),
                }
            }
        }
        Ok(c)
    }
}

fn split4(bytes: &[u8]) -> Option<(&[u8; 4], &[u8])> {
    let (head, tail) = bytes.split_first_chunk::<4>()?;
    Some((head, tail))
}

/// A response status word (SW1 SW2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000`: success.
    pub const OK: StatusWord = StatusWord(0x9000);

    /// Whether the command succeeded (`9000`, or `61xx`: more data waits).
    pub fn is_ok(&self) -> bool {
        self.0 == 0x9000 || self.0 >> 8 == 0x61
    }

    /// What it means, for a person (ISO 7816-4 and the PBOC e-purse's own codes).
    pub fn meaning(&self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x6281 => "part of the returned data may be corrupted",
            0x6283 => "the file or application is blocked",
            0x6581 => "memory failure: the card could not write",
            0x6700 => "wrong length",
            0x6900 => "command not allowed",
            0x6901 => "the transaction was refused by the card",
            0x6981 => "command incompatible with the file structure",
            0x6982 => "security status not satisfied (a wrong MAC or a missing key)",
            0x6983 => "the key is blocked",
            0x6985 => "conditions of use not satisfied (a load not initialised, or out of order)",
            0x6986 => "command not allowed (no current file)",
            0x6988 => "a MAC or cryptogram is wrong",
            0x6A80 => "wrong data",
            0x6A81 => "function not supported",
            0x6A82 => "file or application not found",
            0x6A83 => "record not found",
            0x6A86 => "wrong P1 P2",
            0x6A88 => "referenced data not found",
            0x6B00 => "wrong parameters",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x9302 => "MAC invalid",
            0x9303 => "the application is permanently blocked",
            0x9401 => "insufficient balance",
            0x9403 => "the key index is not supported",
            0x9406 => "the required MAC is not available",
            sw if sw >> 8 == 0x61 => "more response data is available",
            sw if sw >> 8 == 0x6C => "wrong Le: the card says how many bytes to ask for",
            sw if sw & 0xFFF0 == 0x63C0 => "verification failed; tries left in the last digit",
            _ => "an error the card did not explain",
        }
    }
}

impl std::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.meaning())
    }
}

/// A response APDU: data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// SW1 SW2.
    pub sw: StatusWord,
}

impl Response {
    /// Reads a response's bytes: data then two status bytes.
    pub fn parse(bytes: &[u8]) -> Result<Response, TopupError> {
        let (data, sw) = bytes.split_last_chunk::<2>().ok_or_else(|| {
            TopupError::Apdu("a response of fewer than 2 bytes (no status word)".into())
        })?;
        Ok(Response {
            data: data.to_vec(),
            sw: StatusWord(u16::from_be_bytes(*sw)),
        })
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }

    /// A response with a status word and no data.
    pub fn status(sw: u16) -> Response {
        Response {
            data: Vec::new(),
            sw: StatusWord(sw),
        }
    }

    /// The data of a successful response, or the card's refusal as an error.
    pub fn ok_data(self, what: &str) -> Result<Vec<u8>, TopupError> {
        if self.sw.is_ok() {
            Ok(self.data)
        } else {
            Err(TopupError::Card {
                step: what.to_string(),
                sw: self.sw.0,
                meaning: self.sw.meaning().to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_four_cases_short_and_extended_round_trip() {
        let cases = [
            Command::new(0x00, 0xA4, 0x04, 0x00),
            Command::new(0x80, 0x5C, 0x00, 0x02).with_le(4),
            Command::new(0x00, 0xA4, 0x04, 0x00).with_data(b"1PAY.SYS.DDF01".to_vec()),
            Command::new(0x80, 0x50, 0x00, 0x02)
                .with_data(vec![0; 11])
                .with_le(16),
            Command::new(0x00, 0xB0, 0x95, 0x00).with_le(256),
            Command::new(0x00, 0xD6, 0x00, 0x00).with_data(vec![7; 300]),
            Command::new(0x00, 0xB0, 0x00, 0x00).with_le(65_536),
            Command::new(0x00, 0xD6, 0x00, 0x00)
                .with_data(vec![1; 256])
                .with_le(300),
        ];
        for c in cases {
            let bytes = c.to_bytes().unwrap();
            assert_eq!(
                Command::parse(&bytes).unwrap(),
                c,
                "{}",
                hex::encode(&bytes)
            );
        }
        assert_eq!(
            hex::encode_upper(
                Command::new(0x80, 0x5C, 0x00, 0x02)
                    .with_le(4)
                    .to_bytes()
                    .unwrap()
            ),
            "805C000204"
        );
        assert!(Command::new(0, 0, 0, 0).with_le(0).to_bytes().is_err());
        assert!(
            Command::new(0, 0, 0, 0)
                .with_data(vec![0; 70_000])
                .to_bytes()
                .is_err()
        );
    }

    #[test]
    fn bad_bytes_are_typed_errors() {
        for bad in [
            &b""[..],
            &[0x00],
            &[0, 0, 0],
            &[0, 0, 0, 0, 5, 1, 2],
            &[0, 0, 0, 0, 1, 9, 9, 9],
        ] {
            assert!(Command::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Response::parse(&[0x90]).is_err());
        let r = Response::parse(&[1, 2, 0x94, 0x01]).unwrap();
        assert_eq!((r.data.as_slice(), r.sw.0), (&[1u8, 2][..], 0x9401));
        assert_eq!(r.sw.meaning(), "insufficient balance");
        assert!(matches!(
            r.ok_data("load"),
            Err(TopupError::Card { sw: 0x9401, .. })
        ));
    }
}
