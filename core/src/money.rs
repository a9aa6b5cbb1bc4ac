//! Money: a `Decimal` amount in an ISO 4217 currency, checked against the currency's minor units.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The currency code is not an ISO 4217 code.
    #[error("unknown currency code {0:?}: expected an ISO 4217 code such as CNY or 156")]
    UnknownCurrency(String),
    /// The amount text is not a plain decimal number.
    #[error("amount {0:?} is not a plain decimal number (digits with an optional '.')")]
    BadAmount(String),
    /// The amount has more decimals than the currency allows.
    #[error("amount {amount} has {scale} decimals but {currency} allows only {minor_units}")]
    TooPrecise {
        /// The amount as written.
        amount: String,
        /// Its number of decimals.
        scale: u32,
        /// The currency's alphabetic code.
        currency: &'static str,
        /// How many decimals the currency has.
        minor_units: u32,
    },
    /// The amount is zero or negative where a positive amount is required.
    #[error("amount {0} must be greater than zero")]
    NotPositive(String),
    /// Money written without its currency, as in `"2000.00"` instead of `"2000.00 CNY"`.
    #[error("{0:?} is not an amount and a currency code, like \"2000.00 CNY\"")]
    NoCurrency(String),
}

/// An ISO 4217 currency: alphabetic code, numeric code and minor units.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Looks a currency up by its alphabetic code (`"CNY"`), case-insensitively.
    pub fn from_alpha(code: &str) -> Result<Self, MoneyError> {
        iso_currency::Currency::from_code(&code.trim().to_ascii_uppercase())
            .and_then(Self::payable)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    /// Looks a currency up by its numeric code as written in EMV QR tag 53 (`"156"`).
    pub fn from_numeric_str(code: &str) -> Result<Self, MoneyError> {
        let unknown = || MoneyError::UnknownCurrency(code.to_string());
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unknown());
        }
        let n: u16 = code.parse().map_err(|_| unknown())?;
        iso_currency::Currency::from_numeric(n)
            .and_then(Self::payable)
            .ok_or_else(unknown)
    }

    /// Gold, SDR, the test code and "no currency" (XXX) are not money a bill can ask for.
    fn payable(c: iso_currency::Currency) -> Option<Self> {
        (!c.is_special()).then_some(Currency(c))
    }

    /// The alphabetic code, e.g. `"CNY"`.
    pub fn alpha(&self) -> &'static str {
        self.0.code()
    }

    /// The numeric code, e.g. `156`.
    pub fn numeric(&self) -> u16 {
        self.0.numeric()
    }

    /// How many decimals amounts in this currency may have (CNY 2, JPY 0, BHD 3).
    pub fn minor_units(&self) -> u32 {
        // Currencies without minor units in ISO 4217 (gold, SDR…) never appear on bills;
        // treating them as 0 decimals refuses fractional amounts rather than inventing some.
        u32::from(self.0.exponent().unwrap_or(0))
    }

    /// The English name, e.g. `"Chinese yuan"`.
    pub fn name(&self) -> &str {
        self.0.name()
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.alpha())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::from_alpha(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount of money in one currency; never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// The amount, with at most the currency's minor units as decimals.
    pub amount: Decimal,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// Builds money from a decimal, refusing more decimals than the currency allows.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let normalized = amount.normalize();
        if normalized.scale() > currency.minor_units() {
            return Err(MoneyError::TooPrecise {
                amount: amount.to_string(),
                scale: normalized.scale(),
                currency: currency.alpha(),
                minor_units: currency.minor_units(),
            });
        }
        Ok(Money { amount, currency })
    }

    /// Parses a plain decimal string (`"12.30"`, `"5"`, `"0.5"`) as a positive amount.
    pub fn parse_positive(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let amount = parse_plain_decimal(text)?;
        if amount <= Decimal::ZERO {
            return Err(MoneyError::NotPositive(text.to_string()));
        }
        Money::new(amount, currency)
    }

    /// Builds money from an integer count of minor units (kopecks, fen, cents).
    pub fn from_minor_units(minor: i64, currency: Currency) -> Self {
        Money {
            amount: Decimal::new(minor, currency.minor_units()),
            currency,
        }
    }

    /// The amount as a string with exactly the currency's decimals (`"12.30"`).
    pub fn to_plain_string(&self) -> String {
        let mut a = self.amount;
        a.rescale(self.currency.minor_units());
        a.to_string()
    }
}

/// Reads the [`Display`](fmt::Display) form, `"2000.00 CNY"`: a positive plain decimal, one
/// space, an ISO 4217 code (settings such as a warning limit are written this way).
impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (amount, code) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| MoneyError::NoCurrency(text.to_string()))?;
        Money::parse_positive(amount, Currency::from_alpha(code.trim())?)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_plain_string(), self.currency)
    }
}

/// Reads the [`Display`](fmt::Display) form of any amount, zero included (`"0.00 CNY"`): how
/// money crosses the FFI.
pub fn parse_display(text: &str) -> Result<Money, MoneyError> {
    let (amount, code) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| MoneyError::NoCurrency(text.to_string()))?;
    Money::new(
        parse_plain_decimal(amount)?,
        Currency::from_alpha(code.trim())?,
    )
}

// Money crosses the FFI as its display string, `"268.40 CNY"`: exact (no float on the way),
// readable in a debugger, and the same form the CLI prints and settings use.
#[cfg(feature = "uniffi")]
uniffi::custom_type!(Money, String, {
    lower: |m| m.to_string(),
    try_lift: |s| Ok(parse_display(&s)?),
});

// A bare decimal (a tip percentage) crosses as its exact string, never a float.
#[cfg(feature = "uniffi")]
uniffi::custom_type!(Decimal, String, {
    remote,
    lower: |d| d.to_string(),
    try_lift: |s| Ok(s.parse::<Decimal>()?),
});

// A currency crosses as its ISO 4217 alphabetic code.
#[cfg(feature = "uniffi")]
uniffi::custom_type!(Currency, String, {
    lower: |c| c.alpha().to_string(),
    try_lift: |s| Ok(Currency::from_alpha(&s)?),
});

/// Parses digits with at most one `.`; no sign, exponent, spaces or thousands separators,
/// because payment codes that carry those are malformed and must not be guessed at.
pub fn parse_plain_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let bad = || MoneyError::BadAmount(text.to_string());
    let mut dots = 0;
    let mut digits = 0;
    for b in text.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return Err(bad()),
        }
    }
    if digits == 0 || dots > 1 || text.starts_with('.') && text.len() == 1 {
        return Err(bad());
    }
    // 28 significant digits is Decimal's limit; bill amounts are far below it.
    if digits > 20 {
        return Err(bad());
    }
    let normalised = text.strip_suffix('.').unwrap_or(text);
    Decimal::from_str(normalised).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_its_display_form() {
        for text in ["2000.00 CNY", "5 JPY", "0.125 BHD", "12.3 EUR"] {
            let m: Money = text.parse().unwrap();
            assert_eq!(m.to_string().parse::<Money>().unwrap(), m, "{text}");
        }
        assert_eq!(
            " 2000.00 CNY ".parse::<Money>().unwrap().to_string(),
            "2000.00 CNY"
        );
        for bad in [
            "2000",
            "CNY 2000",
            "2000 XXX",
            "-5 CNY",
            "0 CNY",
            "1,000 CNY",
            "1.234 CNY",
            "",
        ] {
            assert!(bad.parse::<Money>().is_err(), "{bad}");
        }
    }

    #[test]
    fn currencies_resolve_both_ways() {
        let cny = Currency::from_numeric_str("156").unwrap();
        assert_eq!(cny.alpha(), "CNY");
        assert_eq!(cny.minor_units(), 2);
        assert_eq!(Currency::from_alpha("jpy").unwrap().minor_units(), 0);
        assert_eq!(Currency::from_alpha("BHD").unwrap().minor_units(), 3);
        assert!(Currency::from_numeric_str("15").is_err());
        assert!(Currency::from_numeric_str("999").is_err());
        assert!(Currency::from_alpha("XYZ").is_err());
    }

    #[test]
    fn amounts_respect_minor_units() {
        let cny = Currency::from_alpha("CNY").unwrap();
        let jpy = Currency::from_alpha("JPY").unwrap();
        assert_eq!(
            Money::parse_positive("12.3", cny)
                .unwrap()
                .to_plain_string(),
            "12.30"
        );
        assert_eq!(
            Money::parse_positive("12.30", cny)
                .unwrap()
                .to_plain_string(),
            "12.30"
        );
        assert!(matches!(
            Money::parse_positive("12.345", cny),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(Money::parse_positive("1.5", jpy).is_err());
        assert_eq!(
            Money::parse_positive("1500", jpy)
                .unwrap()
                .to_plain_string(),
            "1500"
        );
        assert_eq!(
            Money::parse_positive("10.", cny).unwrap().to_plain_string(),
            "10.00"
        );
        for bad in ["", ".", "-1", "1e3", "1,000", " 1", "1.2.3", "0", "0.00"] {
            assert!(Money::parse_positive(bad, cny).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            Money::from_minor_units(12345, cny).to_plain_string(),
            "123.45"
        );
    }
}
