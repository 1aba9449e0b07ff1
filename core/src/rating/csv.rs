//! Rate cards as CSV, one row per price tier or discount, for `meterbook rates import|export`:
//!
//! ```text
//! kind,subscription_id,currency,effective_from,effective_to,meter_id,included_quantity,tier_start,unit_price,discount_percent,offer
//! price,,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.05,,
//! price,,USD,2026-01-01,,B5C15376-6C94-4FDD-B655-1A69D138ACA3,100,0,0.002,,
//! price,,USD,2026-01-01,,B5C15376-6C94-4FDD-B655-1A69D138ACA3,100,1000,0.001,,
//! price,,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.04,,Premium
//! discount,11111111-1111-4111-8111-111111111111,USD,2026-01-01,,,,,,10,
//! ```
//!
//! Rows with the same subscription or offer (both empty: every tenant) and effective dates form
//! one version; a meter's rows in a version are its tiers. The `offer` column came last and may
//! be left out. Dates are `YYYY-MM-DD` (midnight UTC) or RFC 3339;
//! `effective_to` is exclusive and may be empty. Errors name the row (its line in the file).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::card::{Discount, MeterRate, RateCard, RateCardDraft, RateCardError, RateVersion, Tier};
use crate::csv::read_csv;
use crate::csv::write_csv_record;
use crate::directory::CatalogName;
use crate::SubscriptionId;

/// The header, in the order export writes it; import accepts the columns in any order.
pub const RATE_CSV_COLUMNS: [&str; 11] = [
    "kind",
    "subscription_id",
    "currency",
    "effective_from",
    "effective_to",
    "meter_id",
    "included_quantity",
    "tier_start",
    "unit_price",
    "discount_percent",
    "offer",
];

/// Reads a rate card from CSV, refusing it (naming the row) when any row or the card is invalid.
pub fn rate_card_from_csv(text: &str) -> Result<RateCard, RateCardError> {
    let records = read_csv(text).map_err(|e| RateCardError::new("CSV", e))?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(RateCardError::new("CSV", "the file is empty"));
    };
    let mut column = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        if !RATE_CSV_COLUMNS.contains(&name.as_str()) {
            return Err(RateCardError::new(
                "row 1",
                format!(
                    "unknown column '{name}' (the columns are {})",
                    RATE_CSV_COLUMNS.join(", ")
                ),
            ));
        }
        column.insert(name, i);
    }
    for required in ["kind", "currency", "effective_from"] {
        if !column.contains_key(required) {
            return Err(RateCardError::new(
                "row 1",
                format!("the column '{required}' is missing"),
            ));
        }
    }
    let mut builder = Builder::default();
    for (line, fields) in rows {
        let row = Row {
            line: *line,
            fields,
            column: &column,
        };
        builder
            .add(&row)
            .map_err(|message| RateCardError::new(format!("row {line}"), message))?;
    }
    builder.finish()
}

/// Writes a rate card as CSV (header first, CRLF line ends).
pub fn rate_card_to_csv(card: &RateCard) -> String {
    let mut out = String::new();
    write_csv_record(&mut out, &RATE_CSV_COLUMNS);
    let currency = card.currency().code();
    let date = |t: Option<DateTime<Utc>>| t.map(format_date).unwrap_or_default();
    for version in card.versions() {
        let scope = version
            .subscription_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let offer = version
            .offer
            .as_ref()
            .map(|o| o.to_string())
            .unwrap_or_default();
        for rate in &version.rates {
            for tier in &rate.tiers {
                write_csv_record(
                    &mut out,
                    &[
                        "price".to_owned(),
                        scope.clone(),
                        currency.to_owned(),
                        format_date(version.effective_from),
                        date(version.effective_to),
                        rate.meter_id.clone(),
                        rate.included_quantity.normalize().to_string(),
                        tier.from.normalize().to_string(),
                        tier.unit_price.normalize().to_string(),
                        String::new(),
                        offer.clone(),
                    ],
                );
            }
        }
    }
    for discount in card.discounts() {
        write_csv_record(
            &mut out,
            &[
                "discount".to_owned(),
                discount.subscription_id.to_string(),
                currency.to_owned(),
                format_date(discount.effective_from),
                date(discount.effective_to),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                discount.percent.normalize().to_string(),
                String::new(),
            ],
        );
    }
    out
}

/// A date alone when it is midnight UTC, RFC 3339 otherwise.
fn format_date(t: DateTime<Utc>) -> String {
    if t.time() == chrono::NaiveTime::MIN {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

struct Row<'a> {
    line: usize,
    fields: &'a [String],
    column: &'a HashMap<String, usize>,
}

impl Row<'_> {
    fn text(&self, name: &str) -> &str {
        self.column
            .get(name)
            .and_then(|&i| self.fields.get(i))
            .map_or("", |f| f.trim())
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        match self.text(name) {
            "" => Err(format!("{name} is empty")),
            text => Ok(text),
        }
    }

    fn decimal(&self, name: &str) -> Result<Option<Decimal>, String> {
        match self.text(name) {
            "" => Ok(None),
            text => text
                .parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(text))
                .map(Some)
                .map_err(|_| format!("{name} '{text}' is not a number")),
        }
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, String> {
        match self.text(name) {
            "" => Ok(None),
            text => parse_date(text)
                .map(Some)
                .ok_or_else(|| format!("{name} '{text}' is not a date (YYYY-MM-DD or RFC 3339)")),
        }
    }

    fn subscription(&self) -> Result<Option<SubscriptionId>, String> {
        match self.text("subscription_id") {
            "" => Ok(None),
            text => SubscriptionId::parse(text).map(Some),
        }
    }

    fn offer(&self) -> Result<Option<CatalogName>, String> {
        match self.text("offer") {
            "" => Ok(None),
            text => CatalogName::parse(text)
                .map(Some)
                .map_err(|e| format!("offer {e}")),
        }
    }
}

/// A date (its midnight UTC) or an RFC 3339 time, held to the years every outside time is.
fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(date) = crate::time::parse_date_input(text) {
        return Some(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    crate::time::parse_time_input(text).ok().map(|t| t.to_utc())
}

type VersionKey = (
    Option<SubscriptionId>,
    Option<CatalogName>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// Gathers rows into a draft, remembering which row made each part, so the card's own checks
/// can name rows too.
#[derive(Default)]
struct Builder {
    currency: Option<(String, usize)>,
    versions: Vec<RateVersion>,
    version_of: HashMap<VersionKey, usize>,
    discounts: Vec<Discount>,
    /// The row behind each location the card's checks may name.
    rows: HashMap<String, usize>,
}

impl Builder {
    fn add(&mut self, row: &Row<'_>) -> Result<(), String> {
        let currency = row.required("currency")?.to_ascii_uppercase();
        match &self.currency {
            None => self.currency = Some((currency, row.line)),
            Some((first, line)) if *first != currency => {
                return Err(format!(
                    "currency {currency} differs from {first} (row {line}); a rate card has one currency"
                ))
            }
            Some(_) => {}
        }
        let from = row
            .time("effective_from")?
            .ok_or("effective_from is empty")?;
        let to = row.time("effective_to")?;
        let subscription = row.subscription()?;
        let offer = row.offer()?;
        match row.required("kind")?.to_ascii_lowercase().as_str() {
            "price" => {
                let meter_id = row.required("meter_id")?.to_owned();
                let unit_price = row.decimal("unit_price")?.ok_or("unit_price is empty")?;
                let included = row.decimal("included_quantity")?.unwrap_or(Decimal::ZERO);
                let tier = Tier {
                    from: row.decimal("tier_start")?.unwrap_or(Decimal::ZERO),
                    unit_price,
                };
                let key = (subscription, offer, from, to);
                let v = match self.version_of.get(&key) {
                    Some(&v) => v,
                    None => {
                        self.versions.push(RateVersion {
                            subscription_id: key.0.clone(),
                            offer: key.1.clone(),
                            effective_from: from,
                            effective_to: to,
                            rates: Vec::new(),
                        });
                        let v = self.versions.len() - 1;
                        self.version_of.insert(key, v);
                        self.rows.insert(format!("versions[{v}]"), row.line);
                        v
                    }
                };
                let rates = &mut self.versions[v].rates;
                let key = crate::meter::meter_key(&meter_id);
                let r = match rates
                    .iter()
                    .position(|r| crate::meter::meter_key(&r.meter_id) == key)
                {
                    Some(r) => {
                        if rates[r].included_quantity != included {
                            return Err(format!(
                                "included_quantity {included} differs from {} on an earlier row of meter {meter_id} in this version",
                                rates[r].included_quantity
                            ));
                        }
                        r
                    }
                    None => {
                        rates.push(MeterRate {
                            meter_id,
                            included_quantity: included,
                            tiers: Vec::new(),
                        });
                        self.rows.insert(
                            format!("versions[{v}].rates[{}]", rates.len() - 1),
                            row.line,
                        );
                        rates.len() - 1
                    }
                };
                let tiers = &mut rates[r].tiers;
                tiers.push(tier);
                self.rows.insert(
                    format!("versions[{v}].rates[{r}].tiers[{}]", tiers.len() - 1),
                    row.line,
                );
            }
            "discount" => {
                let subscription_id = subscription.ok_or("a discount needs a subscription_id")?;
                if offer.is_some() {
                    return Err("a discount is a subscription's: leave offer empty".into());
                }
                let percent = row
                    .decimal("discount_percent")?
                    .ok_or("discount_percent is empty")?;
                self.discounts.push(Discount {
                    subscription_id,
                    percent,
                    effective_from: from,
                    effective_to: to,
                });
                self.rows
                    .insert(format!("discounts[{}]", self.discounts.len() - 1), row.line);
            }
            other => return Err(format!("kind '{other}' is neither price nor discount")),
        }
        Ok(())
    }

    fn finish(mut self) -> Result<RateCard, RateCardError> {
        let Some((currency, currency_row)) = self.currency.take() else {
            return Err(RateCardError::new(
                "CSV",
                "the file has a header but no rows",
            ));
        };
        self.rows.insert("currency".to_owned(), currency_row);
        // Tiers are listed in any order in a file; the card wants them ascending.
        for version in &mut self.versions {
            for rate in &mut version.rates {
                rate.tiers.sort_by_key(|t| t.from);
            }
        }
        let rows = self.rows;
        RateCard::parse(RateCardDraft {
            currency,
            versions: self.versions,
            discounts: self.discounts,
        })
        .map_err(|e| {
            // Name the row behind the most specific part of the location that made one.
            let mut location = e.location.as_str();
            loop {
                if let Some(line) = rows.get(location) {
                    return RateCardError::new(format!("row {line}"), e.message.clone());
                }
                match location.rfind(['.', '[']) {
                    Some(cut) if cut > 0 => location = &location[..cut],
                    _ => return e,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "kind,subscription_id,currency,effective_from,effective_to,meter_id,included_quantity,tier_start,unit_price,discount_percent\n";

    #[test]
    fn offer_rows_form_their_own_versions_and_export_reads_back() {
        let csv = format!(
            "{}\n{}",
            RATE_CSV_COLUMNS.join(","),
            "price,,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.05,,\n\
             price,,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.04,,Premium\n\
             price,,USD,2026-01-01,,B5C15376-6C94-4FDD-B655-1A69D138ACA3,0,0,0.01,,Premium\n"
        );
        let card = rate_card_from_csv(&csv).unwrap();
        assert_eq!(card.versions().len(), 2);
        assert_eq!(
            card.versions()[1].offer.as_ref().map(|o| o.as_str()),
            Some("Premium")
        );
        assert_eq!(card.versions()[1].rates.len(), 2);
        assert_eq!(rate_card_from_csv(&rate_card_to_csv(&card)).unwrap(), card);

        let both = format!(
            "{}\nprice,11111111-1111-4111-8111-111111111111,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.05,,Basic\n",
            RATE_CSV_COLUMNS.join(",")
        );
        let error = rate_card_from_csv(&both).unwrap_err();
        assert_eq!(error.location, "row 2");
        assert!(error.message.contains("not both"), "{error}");

        let bad = format!(
            "{}\nprice,,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.05,,Gold Plus\n",
            RATE_CSV_COLUMNS.join(",")
        );
        let error = rate_card_from_csv(&bad).unwrap_err();
        assert_eq!(error.location, "row 2");
        assert!(
            error.message.starts_with("offer 'Gold Plus' is not a name"),
            "{error}"
        );
    }

    #[test]
    fn rows_become_versions_tiers_and_discounts_and_export_reads_back() {
        let csv = format!(
            "{HEADER}price,,USD,2026-01-01,2026-07-01,6dab500f-a4fd-49c4-956d-229bb9c8c793,0,0,0.05,\n\
             price,,USD,2026-07-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.06,\n\
             price,,USD,2026-01-01,2026-07-01,B5C15376-6C94-4FDD-B655-1A69D138ACA3,100,1000,0.001,\n\
             price,,USD,2026-01-01,2026-07-01,B5C15376-6C94-4FDD-B655-1A69D138ACA3,100,0,0.002,\n\
             discount,11111111-1111-4111-8111-111111111111,usd,2026-01-01,,,,,,12.5\n"
        );
        let card = rate_card_from_csv(&csv).unwrap();
        assert_eq!(card.versions().len(), 2);
        let first = &card.versions()[0];
        assert_eq!(first.rates.len(), 2);
        assert_eq!(first.rates[1].tiers[0].from, Decimal::ZERO, "tiers sorted");
        assert_eq!(card.discounts()[0].percent.to_string(), "12.5");
        let again = rate_card_from_csv(&rate_card_to_csv(&card)).unwrap();
        assert_eq!(again, card);
    }

    #[test]
    fn errors_name_the_row_that_caused_them() {
        let negative = format!(
            "{HEADER}price,,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.05,\n\
             price,,USD,2026-01-01,,B5C15376-6C94-4FDD-B655-1A69D138ACA3,0,0,-1,\n"
        );
        let error = rate_card_from_csv(&negative).unwrap_err();
        assert_eq!(error.location, "row 3");
        assert!(error.message.contains("negative"), "{error}");

        let overlapping = format!(
            "{HEADER}price,,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.05,\n\
             price,,USD,2026-03-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.06,\n"
        );
        let error = rate_card_from_csv(&overlapping).unwrap_err();
        assert_eq!(error.to_string(), "row 3: overlaps versions[0] (the card's prices may have one version in effect at a time)");

        let currency = format!(
            "{HEADER}price,,XYZ,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,0.05,\n"
        );
        assert_eq!(rate_card_from_csv(&currency).unwrap_err().location, "row 2");

        let bad_number = format!(
            "{HEADER}price,,USD,2026-01-01,,6DAB500F-A4FD-49C4-956D-229BB9C8C793,0,0,cheap,\n"
        );
        let error = rate_card_from_csv(&bad_number).unwrap_err();
        assert_eq!(
            error.to_string(),
            "row 2: unit_price 'cheap' is not a number"
        );

        let unknown = "kind,price_per_unit\nprice,1\n";
        assert!(rate_card_from_csv(unknown)
            .unwrap_err()
            .message
            .contains("unknown column 'price_per_unit'"));
    }
}
