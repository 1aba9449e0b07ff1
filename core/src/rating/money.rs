//! Currencies and the one rounding rule.
//!
//! Money is `rust_decimal::Decimal`, never `f64`. Amounts are carried at full precision and
//! rounded once, per invoice line, to the currency's minor unit, half away from zero (the
//! commercial rule: 0.125 USD becomes 0.13, -0.125 becomes -0.13). Totals are sums of rounded
//! lines, so a statement always adds up.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// ISO 4217 codes Meterbook accepts, with their minor units (digits after the point).
const CURRENCIES: [(&str, u32); 44] = [
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// A currency Meterbook knows: a parsed ISO 4217 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Currency {
    code: &'static str,
    minor_units: u32,
}

impl Currency {
    /// Parses an ISO 4217 code (any case, surrounding spaces ignored).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, minor_units)| Self { code, minor_units })
            .ok_or_else(|| {
                format!(
                    "'{}' is not a currency Meterbook knows (an ISO 4217 code such as USD or EUR)",
                    raw.trim()
                )
            })
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Digits after the point in amounts of this currency (USD 2, JPY 0, KWD 3).
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }

    /// The rounding rule: to the minor unit, half away from zero. Applied once per line.
    pub fn round(&self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(self.minor_units, RoundingStrategy::MidpointAwayFromZero)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

// By hand: a derived impl would borrow the `&'static str` from the input and so only read
// `'static` input.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code.to_owned()
    }
}

/// A quantity reported as `f64` (what providers send and the store keeps), as the decimal the
/// provider wrote: the shortest text that reads back as the same `f64`. `None` for NaN and
/// infinities, which the ingest API never stores.
pub fn quantity_decimal(quantity: f64) -> Option<Decimal> {
    if !quantity.is_finite() {
        return None;
    }
    // Shortest round-trip text ("0.1", not 0.1000000000000000055...), then exact parse; very large
    // or tiny values fall back to the nearest decimal rust_decimal can hold.
    format!("{quantity}")
        .parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_f64_retain(quantity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn codes_parse_in_any_case_and_unknown_ones_are_refused() {
        assert_eq!(Currency::parse(" usd ").unwrap().code(), "USD");
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        let error = Currency::parse("XYZ").unwrap_err();
        assert!(error.contains("'XYZ'"), "{error}");
    }

    #[test]
    fn amounts_round_half_away_from_zero_to_the_minor_unit() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.round(d("0.125")), d("0.13"));
        assert_eq!(usd.round(d("0.124999")), d("0.12"));
        assert_eq!(usd.round(d("-0.125")), d("-0.13"));
        assert_eq!(usd.round(d("2.675")), d("2.68"));
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.round(d("102.5")), d("103"));
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(kwd.round(d("1.2345")), d("1.235"));
    }

    #[test]
    fn quantities_are_the_decimals_providers_wrote() {
        assert_eq!(quantity_decimal(0.1), Some(d("0.1")));
        assert_eq!(quantity_decimal(1e-7), Some(d("0.0000001")));
        assert_eq!(quantity_decimal(24.0), Some(d("24")));
        assert_eq!(quantity_decimal(f64::NAN), None);
    }
}
