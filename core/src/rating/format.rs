//! Rate card files: CSV (one row per tier or discount, see [`super::csv`]) or JSON (the
//! [`RateCardDraft`] shape), for `meterbook rates import|export` and the rates API.

use super::card::{RateCard, RateCardDraft, RateCardError};
use super::csv::{rate_card_from_csv, rate_card_to_csv};

/// How a rate card is written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateCardFormat {
    Csv,
    Json,
}

impl RateCardFormat {
    /// The format a file name's extension names (`.csv`, `.json`), if any.
    pub fn of_file_name(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The format a `Content-Type` names (`text/csv`, `application/json`), if any.
    pub fn of_media_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match media.as_str() {
            "text/csv" => Some(Self::Csv),
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Reads and checks a rate card; the error names the row (CSV) or entry (JSON) at fault.
pub fn read_rate_card(text: &str, format: RateCardFormat) -> Result<RateCard, RateCardError> {
    match format {
        RateCardFormat::Csv => rate_card_from_csv(text),
        RateCardFormat::Json => {
            let draft: RateCardDraft = serde_json::from_str(text).map_err(|e| {
                RateCardError::new(
                    format!("JSON line {} column {}", e.line(), e.column()),
                    e.to_string(),
                )
            })?;
            RateCard::parse(draft)
        }
    }
}

/// Writes a rate card in `format`; what it writes reads back equal.
pub fn write_rate_card(card: &RateCard, format: RateCardFormat) -> String {
    match format {
        RateCardFormat::Csv => rate_card_to_csv(card),
        RateCardFormat::Json => {
            let mut json = serde_json::to_string_pretty(&card.to_draft())
                .unwrap_or_else(|e| unreachable!("a draft is plain data: {e}"));
            json.push('\n');
            json
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = "kind,subscription_id,currency,effective_from,effective_to,meter_id,included_quantity,tier_start,unit_price,discount_percent\n\
        price,,USD,2026-01-01,2026-07-01,09F8879E-87E9-4305-A572-4B7BE209F857,100,0,0.10,\n\
        price,,USD,2026-01-01,2026-07-01,09F8879E-87E9-4305-A572-4B7BE209F857,100,1000,0.05,\n\
        price,,USD,2026-07-01,,09F8879E-87E9-4305-A572-4B7BE209F857,0,0,0.08,\n\
        discount,11111111-1111-4111-8111-111111111111,USD,2026-01-01,,,,,,12.5\n";

    #[test]
    fn both_formats_read_back_what_they_write() {
        let card = read_rate_card(CARD, RateCardFormat::Csv).unwrap();
        for format in [RateCardFormat::Csv, RateCardFormat::Json] {
            let text = write_rate_card(&card, format);
            assert_eq!(read_rate_card(&text, format).unwrap(), card, "{format:?}");
        }
    }

    #[test]
    fn json_errors_say_where() {
        let err = read_rate_card(
            "{\"currency\": \"USD\",\n \"versions\": 5}",
            RateCardFormat::Json,
        )
        .unwrap_err();
        assert_eq!(err.location, "JSON line 2 column 14");
        let err = read_rate_card(
            r#"{"currency": "XXY", "versions": [{"effectiveFrom": "2026-01-01T00:00:00Z", "rates": []}]}"#,
            RateCardFormat::Json,
        )
        .unwrap_err();
        assert_eq!(err.location, "currency");
        // Dates in JSON meet the same strict parser as every outside time.
        for from in [
            "+262142-12-31T00:00:00Z",
            "2026-01-01T00:00:00.0000000001Z",
            "2026-01-01T00:00:00\u{2212}01:00",
        ] {
            let card = format!(
                r#"{{"currency": "USD", "versions": [{{"effectiveFrom": "{from}", "rates": []}}]}}"#
            );
            assert!(
                read_rate_card(&card, RateCardFormat::Json).is_err(),
                "{from}"
            );
        }
    }

    #[test]
    fn formats_are_known_by_extension_and_media_type() {
        assert_eq!(
            RateCardFormat::of_file_name("prices.CSV"),
            Some(RateCardFormat::Csv)
        );
        assert_eq!(
            RateCardFormat::of_file_name("card.json"),
            Some(RateCardFormat::Json)
        );
        assert_eq!(RateCardFormat::of_file_name("card.xlsx"), None);
        assert_eq!(RateCardFormat::of_file_name("card"), None);
        assert_eq!(
            RateCardFormat::of_media_type("text/csv; charset=utf-8"),
            Some(RateCardFormat::Csv)
        );
        assert_eq!(RateCardFormat::of_media_type("text/plain"), None);
    }
}
