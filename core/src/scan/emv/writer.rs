//! Writing EMV MPM payloads (bills billtap prints, tests).

use super::{BILLTAP_BILL_GUID, BilltapBill, F, crc16_ccitt_false};
use crate::scan::ScanError;
use crate::scan::types::Initiation;

/// Builds EMV MPM payloads (format indicator first, CRC last) for printing bills and tests.
#[derive(Debug, Clone, Default)]
pub struct EmvWriter {
    fields: Vec<(u8, String)>,
}

impl EmvWriter {
    /// Starts a payload with format indicator `01` and the given point of initiation.
    pub fn new(initiation: Initiation) -> Self {
        let poi = match initiation {
            Initiation::Static => "11",
            Initiation::Dynamic => "12",
        };
        EmvWriter {
            fields: vec![(0, "01".into()), (1, poi.into())],
        }
    }

    /// Adds a plain field.
    pub fn field(mut self, tag: u8, value: impl Into<String>) -> Self {
        self.fields.push((tag, value.into()));
        self
    }

    /// Adds a template built from sub-fields.
    pub fn template(mut self, tag: u8, subs: &[(u8, &str)]) -> Self {
        let mut v = String::new();
        for (t, s) in subs {
            v.push_str(&format!("{t:02}{:02}{s}", s.chars().count()));
        }
        self.fields.push((tag, v));
        self
    }

    /// Adds billtap's bill template (tag 26) for a biller, account and optional bill/period.
    pub fn billtap_bill(self, bill: &BilltapBill) -> Self {
        let mut subs: Vec<(u8, &str)> = vec![
            (0, BILLTAP_BILL_GUID),
            (1, &bill.biller_id),
            (2, &bill.account),
        ];
        if let Some(b) = &bill.bill_id {
            subs.push((3, b));
        }
        if let Some(p) = &bill.period {
            subs.push((4, p));
        }
        self.template(26, &subs)
    }

    /// Serialises the fields and appends the CRC; refuses values over 99 characters.
    pub fn build(self) -> Result<String, ScanError> {
        let mut out = String::new();
        for (tag, v) in &self.fields {
            let n = v.chars().count();
            if n > 99 || *tag > 99 {
                return Err(ScanError::invalid(
                    F,
                    "field",
                    format!("tag {tag:02} value has {n} characters; at most 99"),
                ));
            }
            out.push_str(&format!("{tag:02}{n:02}{v}"));
        }
        out.push_str("6304");
        let crc = crc16_ccitt_false(out.as_bytes());
        out.push_str(&format!("{crc:04X}"));
        Ok(out)
    }
}
