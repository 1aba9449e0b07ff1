//! Continuation tokens and pages.
//!
//! A token carries the keyset position after the last aggregate of a page (not an offset, so deep
//! pages cost what the first one does), and an HMAC over that position and a fingerprint of the
//! query it came from. A token that was edited, signed by another server, or taken from a different
//! query (another tenant's, another time range) fails to open: a 400, never a wrong page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::query::UsageQuery;

/// Aggregates per page, as Azure Stack Hub serves them.
pub const PAGE_SIZE: usize = 1_000;

/// Bytes of HMAC kept in a token: 128 bits is plenty against forgery and keeps tokens short.
const TAG_LEN: usize = 16;
const TOKEN_VERSION: u8 = 2;

/// Where a page ends, in the order aggregates are served: (bucket start, subscription, meter,
/// resource), with the bucket in seconds since the epoch and the others as the store's own
/// numbers for them (0 for the resource of an aggregate without details). Numbers keep tokens
/// short and let the store seek straight to the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PageKey {
    pub bucket: i64,
    pub subscription: i64,
    pub meter: i64,
    pub resource: i64,
    /// The latest usage start the query reaches, found once for the first page and carried
    /// along, so later pages need not look for it again.
    pub scan_end: i64,
}

/// One page of items and the key to continue after, if there is more.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageKey>,
}

/// Where the next page starts, for any usage source: a key into Meterbook's own store, or the
/// continuation token of an upstream Azure Stack Hub (which Meterbook wraps in its own signed
/// token, so a client can neither alter it nor use it outside the query it came from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Key(PageKey),
    Upstream(String),
}

/// Why a continuation token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the continuation token is malformed")]
    Malformed,
    #[error("the continuation token does not belong to this query or was altered")]
    BadSignature,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<(i64, i64, i64, i64, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<String>,
}

/// Seals and opens continuation tokens with the server's secret.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(<secret>)")
    }
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn tag(&self, fingerprint: &str, payload: &[u8]) -> Vec<u8> {
        // Hmac accepts keys of any length, so this cannot fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(fingerprint.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac.finalize().into_bytes()[..TAG_LEN].to_vec()
    }

    /// A token for continuing `fingerprint`'s query at `cursor`.
    pub fn seal(&self, fingerprint: &str, cursor: &Cursor) -> String {
        let payload = match cursor {
            Cursor::Key(key) => Payload {
                v: TOKEN_VERSION,
                k: Some((
                    key.bucket,
                    key.subscription,
                    key.meter,
                    key.resource,
                    key.scan_end,
                )),
                u: None,
            },
            Cursor::Upstream(token) => Payload {
                v: TOKEN_VERSION,
                k: None,
                u: Some(token.clone()),
            },
        };
        self.seal_position(fingerprint, &payload)
    }

    /// A token for any position `T` (the explorer's row keys), bound to `fingerprint`'s query.
    pub fn seal_position<T: Serialize>(&self, fingerprint: &str, position: &T) -> String {
        // Serializing plain values cannot fail.
        let bytes = serde_json::to_vec(position).unwrap_or_default();
        let tag = self.tag(fingerprint, &bytes);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&bytes),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The position a token made by [`Self::seal_position`] for `fingerprint` carries.
    pub fn open_position<T: serde::de::DeserializeOwned>(
        &self,
        fingerprint: &str,
        token: &str,
    ) -> Result<T, TokenError> {
        let (payload_b64, tag_b64) = token.trim().split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| TokenError::Malformed)?;
        let expected = self.tag(fingerprint, &payload);
        if !constant_time_eq(&tag, &expected) {
            return Err(TokenError::BadSignature);
        }
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)
    }

    /// The position a token continues from, if it was sealed by this signer for this query.
    pub fn open(&self, fingerprint: &str, token: &str) -> Result<Cursor, TokenError> {
        match self.open_position::<Payload>(fingerprint, token)? {
            Payload {
                v: TOKEN_VERSION,
                k: Some((bucket, subscription, meter, resource, scan_end)),
                u: None,
            } => Ok(Cursor::Key(PageKey {
                bucket,
                subscription,
                meter,
                resource,
                scan_end,
            })),
            Payload {
                v: TOKEN_VERSION,
                k: None,
                u: Some(token),
            } => Ok(Cursor::Upstream(token)),
            _ => Err(TokenError::Malformed),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a continuation token is bound to, written so that no two different lists of parts
/// write the same text: each part is its length, `:`, itself and `;`. A part may hold any
/// character (a `|` in a tag filter cannot shift the next part), and the text depends on
/// nothing but the parts given (no `Debug` output, no serializer's field order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// A fingerprint for one kind of token (`usage`, `explore`, ...).
    pub fn new(kind: &str) -> Self {
        Self(String::new()).part(kind)
    }

    pub fn part(mut self, part: impl std::fmt::Display) -> Self {
        let part = part.to_string();
        self.0.push_str(&format!("{}:{part};", part.len()));
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a usage page's token is bound to: who asked about which data (`scope`, e.g. the API and
/// the caller's subscriptions), and every part of the query that changes the result set or its
/// order.
pub fn query_fingerprint(scope: &str, query: &UsageQuery) -> String {
    Fingerprint::new("usage")
        .part(scope)
        .part(query.aggregate.reported_start.timestamp())
        .part(query.aggregate.reported_end.timestamp())
        .part(query.aggregate.granularity.as_str())
        .part(query.aggregate.show_details)
        .part(query.subscriber.as_ref().map_or("*", |s| s.as_str()))
        .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::API_VERSION;
    use chrono::{TimeZone, Utc};

    fn key() -> Cursor {
        Cursor::Key(PageKey {
            bucket: 1_790_000_000,
            subscription: 3,
            meter: 17,
            resource: 40_123,
            scan_end: 1_790_086_400,
        })
    }

    fn query(start_day: u32) -> UsageQuery {
        let params: Vec<(String, String)> = vec![
            ("api-version".into(), API_VERSION.into()),
            (
                "reportedStartTime".into(),
                format!("2026-10-{start_day:02}T00:00:00Z"),
            ),
            ("reportedEndTime".into(), "2026-11-01T00:00:00Z".into()),
        ];
        UsageQuery::parse(
            &params,
            Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn fingerprints_of_different_parts_differ_whatever_the_parts_hold() {
        let of = |parts: &[&str]| parts.iter().fold(Fingerprint::new("t"), |f, p| f.part(p)).0;
        assert_ne!(of(&["a|b", "c"]), of(&["a", "b|c"]));
        assert_ne!(of(&["a;", ""]), of(&["a", ";"]));
        assert_ne!(of(&["1:a;"]), of(&["1", "a"]));
        assert_eq!(of(&["x", "y"]), "1:t;1:x;1:y;");
    }

    #[test]
    fn a_token_round_trips_for_the_same_query() {
        let signer = TokenSigner::new(b"secret");
        let fp = query_fingerprint("tenant:a", &query(1));
        let token = signer.seal(&fp, &key());
        assert_eq!(signer.open(&fp, &token).unwrap(), key());
    }

    #[test]
    fn an_upstream_token_round_trips_inside_a_signed_one() {
        let signer = TokenSigner::new(b"secret");
        let fp = query_fingerprint("tenant:a", &query(1));
        let upstream = Cursor::Upstream("opaque+upstream/token==".into());
        let token = signer.seal(&fp, &upstream);
        assert_eq!(signer.open(&fp, &token).unwrap(), upstream);
        assert_eq!(
            signer.open(&query_fingerprint("tenant:b", &query(1)), &token),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let signer = TokenSigner::new(b"secret");
        let fp = query_fingerprint("tenant:a", &query(1));
        let token = signer.seal(&fp, &key());
        let (payload, tag) = token.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[12] ^= 1;
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(signer.open(&fp, &forged).is_err());
        assert_eq!(signer.open(&fp, "garbage"), Err(TokenError::Malformed));
        assert_eq!(signer.open(&fp, "a.b.c"), Err(TokenError::Malformed));
        assert_eq!(signer.open(&fp, ""), Err(TokenError::Malformed));
    }

    #[test]
    fn a_token_cannot_be_reused_with_another_query_scope_or_server() {
        let signer = TokenSigner::new(b"secret");
        let token = signer.seal(&query_fingerprint("tenant:a", &query(1)), &key());
        let other_range = query_fingerprint("tenant:a", &query(2));
        let other_tenant = query_fingerprint("tenant:b", &query(1));
        assert_eq!(
            signer.open(&other_range, &token),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            signer.open(&other_tenant, &token),
            Err(TokenError::BadSignature)
        );
        let other_server = TokenSigner::new(b"other");
        assert_eq!(
            other_server.open(&query_fingerprint("tenant:a", &query(1)), &token),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tokens_are_url_safe() {
        let signer = TokenSigner::new(b"secret");
        let token = signer.seal("fp", &key());
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{token}"
        );
    }
}
