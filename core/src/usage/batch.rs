//! Ingest bodies: a JSON array of records, an ARM page (`{"value":[...]}`), a single record, or
//! NDJSON (one record or page per line).
//!
//! Records are parsed one at a time as the body is read and counted as they come, so a body of a
//! million tiny elements is refused at the record after the limit instead of being held in memory
//! whole first.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
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

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a usage record, an array of them, or an ARM page")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            self.push(UsageRecord::from_value(&item))
                .map_err(de::Error::custom)?;
        }
        Ok(())
    }

    /// A page's `value` array is streamed; any other object is one record, read whole.
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut fields = Map::new();
        let mut page = false;
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case("value") && !page {
                let inner = map.next_value_seed(PageValue {
                    records: Records {
                        out: self.out,
                        max: self.max,
                    },
                })?;
                match inner {
                    Some(value) => {
                        fields.insert(key, value);
                    }
                    None => page = true,
                }
            } else {
                let value = map.next_value::<Value>()?;
                fields.insert(key, value);
            }
        }
        if page {
            return Ok(());
        }
        self.push(UsageRecord::from_value(&Value::Object(fields)))
            .map_err(de::Error::custom)
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

/// The `value` field of an object: an array is a page's records (streamed, `None`); anything else
/// is kept as the field of a single record.
struct PageValue<'a> {
    records: Records<'a>,
}

impl<'de> DeserializeSeed<'de> for PageValue<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Value>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PageValue<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Value>, A::Error> {
        self.records.visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Value>, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Option<Value>, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Option<Value>, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Option<Value>, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Option<Value>, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Option<Value>, E> {
        Ok(Some(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Option<Value>, E> {
        Ok(Some(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(Some(Value::Null))
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
