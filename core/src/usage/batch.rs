//! Ingest bodies: a JSON array of records, an ARM page (`{"value":[...]}`), a single record, or
//! NDJSON (one record or page per line).
//!
//! The body is scanned once for its records' extent without building a tree, and each record is
//! counted and parsed on its own, so a body of a million tiny elements is refused at the record
//! after the limit, and a record too big to be one (`[[1,1,1,...]]`) is refused unparsed: memory
//! stays near the size of the body.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::UsageRecord;

/// The outcome of parsing an ingest body: each record in order, parsed or with the reason it was
/// refused.
pub type ParsedBatch = Vec<Result<UsageRecord, String>>;

/// Why a body was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("{0}")]
    Malformed(String),
    #[error("the batch has more than {0} records; send at most {0} per request")]
    TooManyRecords(usize),
}

/// Parses an ingest body, refusing it once it holds more than `max_records` records. Fails as a
/// whole only when the body is not JSON at all or is too large; a record that cannot be read is
/// listed with its reason.
pub fn parse_batch(body: &str, max_records: usize) -> Result<ParsedBatch, BatchError> {
    let trimmed = body.trim_start();
    if trimmed.is_empty() {
        return Err(BatchError::Malformed(
            "the body is empty; send a JSON array or NDJSON of usage records".into(),
        ));
    }
    let mut out = Vec::new();
    let whole_err = match read_json(trimmed, &mut out, max_records) {
        Ok(()) => return Ok(out),
        Err(Read::TooMany) => return Err(BatchError::TooManyRecords(max_records)),
        Err(Read::Json(e)) => e,
    };
    out.clear();
    for (i, line) in trimmed.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match read_json(line, &mut out, max_records) {
            Ok(()) => {}
            Err(Read::TooMany) => return Err(BatchError::TooManyRecords(max_records)),
            Err(Read::Json(e)) if i == 0 => {
                return Err(BatchError::Malformed(format!(
                    "the body is neither JSON nor NDJSON: {whole_err}; line 1: {e}"
                )))
            }
            Err(Read::Json(e)) => {
                if out.len() >= max_records {
                    return Err(BatchError::TooManyRecords(max_records));
                }
                out.push(Err(format!("line {} is not JSON: {e}", i + 1)));
            }
        }
    }
    Ok(out)
}

enum Read {
    TooMany,
    Json(serde_json::Error),
}

/// Reads one JSON text into `out`. On a syntax error, what it had read stays in `out` (the caller
/// starts again as NDJSON or drops the line's part).
fn read_json(text: &str, out: &mut ParsedBatch, max: usize) -> Result<(), Read> {
    let before = out.len();
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Records { out, max }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match result {
        Ok(()) => Ok(()),
        Err(_) if out.len() > max => Err(Read::TooMany),
        Err(e) => {
            out.truncate(before);
            Err(Read::Json(e))
        }
    }
}

/// A top-level value: records go into `out` as they are read. Going past `max` pushes one more
/// entry and stops with an error, which [`read_json`] tells apart by the length.
struct Records<'a> {
    out: &'a mut ParsedBatch,
    max: usize,
}

const TOO_MANY: &str = "too many records";

impl Records<'_> {
    fn push(&mut self, record: Result<UsageRecord, String>) -> Result<(), &'static str> {
        self.out.push(record);
        if self.out.len() > self.max {
            Err(TOO_MANY)
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn not_records() -> Result<UsageRecord, String> {
    Err("expected a record object, an array of records or an ARM page".into())
}

/// Largest record read, in bytes of JSON: a real one is well under a kilobyte, and a bigger one is
/// refused before it is parsed into a tree (`[[1,1,1,...]]` would otherwise cost gigabytes).
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Refuses what is too big to be one record, before it is parsed.
fn check_size(bytes: usize) -> Result<(), String> {
    if bytes > MAX_RECORD_BYTES {
        return Err(format!(
            "a record is at most {MAX_RECORD_BYTES} bytes of JSON"
        ));
    }
    Ok(())
}

/// One record from its fields' JSON text, parsed only when it is of a size a record can have.
fn record_of(fields: &[(&str, &RawValue)]) -> Result<UsageRecord, String> {
    check_size(fields.iter().map(|(k, v)| k.len() + v.get().len()).sum())?;
    let mut map = Map::new();
    for (key, raw) in fields {
        let value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        map.insert((*key).to_owned(), value);
    }
    UsageRecord::from_value(&Value::Object(map))
}

/// A top-level element of an array: an object is a record, anything else is not one.
fn element_of(raw: &RawValue) -> Result<UsageRecord, String> {
    check_size(raw.get().len())?;
    let value: Value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    UsageRecord::from_value(&value)
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a usage record, an array of them, or an ARM page")
    }

    /// Each element is taken as its text (no tree is built while scanning) and counted.
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            self.push(element_of(raw)).map_err(de::Error::custom)?;
        }
        Ok(())
    }

    /// An object with a `value` array is a page, whose records are read like an array's; any
    /// other object is one record.
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut fields: Vec<(String, &'de RawValue)> = Vec::new();
        let mut page: Option<&'de RawValue> = None;
        while let Some(key) = map.next_key::<String>()? {
            let raw = map.next_value::<&'de RawValue>()?;
            if page.is_none()
                && key.eq_ignore_ascii_case("value")
                && raw.get().trim_start().starts_with('[')
            {
                page = Some(raw);
            } else {
                fields.push((key, raw));
            }
        }
        if let Some(raw) = page {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            return Records {
                out: self.out,
                max: self.max,
            }
            .deserialize(&mut de)
            .map_err(de::Error::custom);
        }
        let fields: Vec<(&str, &RawValue)> = fields.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        self.push(record_of(&fields)).map_err(de::Error::custom)
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.push(not_records()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<(), E> {
        self.push(not_records()).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<(), E> {
        self.push(not_records()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        self.push(not_records()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(mut self, _: &str) -> Result<(), E> {
        self.push(not_records()).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.push(not_records()).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn one() -> Value {
        json!({
            "subscriptionId": "0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            "meterId": "6DAB500F-A4FD-49C4-956D-229BB9C8C793",
            "usageStartTime": "2026-10-01T00:00:00Z",
            "usageEndTime": "2026-10-01T01:00:00Z",
            "quantity": 1.0,
        })
    }

    #[test]
    fn batches_may_be_arrays_pages_single_records_or_ndjson() {
        let one = one();
        let array = Value::Array(vec![one.clone(), one.clone()]).to_string();
        assert_eq!(parse_batch(&array, 10).unwrap().len(), 2);
        let page = json!({"nextLink": "x", "value": [one.clone()]}).to_string();
        let parsed = parse_batch(&page, 10).unwrap();
        assert_eq!(parsed.len(), 1);
        assert!(parsed[0].is_ok());
        assert!(parse_batch(&one.to_string(), 10).unwrap()[0].is_ok());
        let ndjson = format!("{one}\n\n{one}\n{one}\n");
        let parsed = parse_batch(&ndjson, 10).unwrap();
        assert_eq!(parsed.len(), 3);
        assert!(parsed.iter().all(Result::is_ok));
        let broken = format!("{one}\n{{oops\n");
        let parsed = parse_batch(&broken, 10).unwrap();
        assert!(parsed[1].as_ref().unwrap_err().contains("line 2"));
        assert!(parse_batch("garbage", 10).is_err());
        assert!(parse_batch("  ", 10).is_err());
    }

    #[test]
    fn an_object_whose_value_field_is_not_an_array_is_one_record() {
        let mut record = one();
        record["value"] = json!(5);
        let parsed = parse_batch(&record.to_string(), 10).unwrap();
        assert_eq!(parsed.len(), 1);
        assert!(parsed[0].is_ok(), "{parsed:?}");
    }

    #[test]
    fn what_is_not_a_record_is_listed_not_refused_whole() {
        let parsed = parse_batch("[1, \"x\", null, [2]]", 10).unwrap();
        assert_eq!(parsed.len(), 4);
        assert!(parsed.iter().all(Result::is_err));
        assert!(parse_batch("7", 10).unwrap()[0].is_err());
    }

    #[test]
    fn a_record_too_big_to_be_one_is_refused_unparsed() {
        let nested = format!("[[{}1]]", "1,".repeat(MAX_RECORD_BYTES));
        let parsed = parse_batch(&nested, 10).unwrap();
        assert!(parsed[0].as_ref().unwrap_err().contains("at most"));
        let page = format!("{{\"value\":[[{}1]]}}", "1,".repeat(MAX_RECORD_BYTES));
        assert!(parse_batch(&page, 10).unwrap()[0]
            .as_ref()
            .unwrap_err()
            .contains("at most"));
        let mut fat = one();
        fat["padding"] = serde_json::Value::from(vec![1; MAX_RECORD_BYTES]);
        assert!(parse_batch(&fat.to_string(), 10).unwrap()[0]
            .as_ref()
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn a_body_with_more_records_than_allowed_is_refused_as_it_is_read() {
        let many = format!("[{}1]", "1,".repeat(1_000_000));
        assert_eq!(
            parse_batch(&many, 100),
            Err(BatchError::TooManyRecords(100))
        );
        let page = format!("{{\"value\":[{}1]}}", "1,".repeat(200));
        assert_eq!(
            parse_batch(&page, 100),
            Err(BatchError::TooManyRecords(100))
        );
        let ndjson = format!("{}\n", one()).repeat(101);
        assert_eq!(
            parse_batch(&ndjson, 100),
            Err(BatchError::TooManyRecords(100))
        );
        let exact = format!("{}\n", one()).repeat(100);
        assert_eq!(parse_batch(&exact, 100).unwrap().len(), 100);
    }
}
