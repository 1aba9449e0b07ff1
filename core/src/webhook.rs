//! How a webhook push is signed, so its receiver can tell it came from Meterbook unchanged and
//! recently: the `Meterbook-Signature` header is `t=<unix seconds>,v1=<hex>`, where the hex is
//! HMAC-SHA256, keyed by the webhook's secret, of the timestamp, a dot, and the body as sent.
//! Signing the timestamp with the body stops a captured push being replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Meterbook-Signature";

/// The signature header's value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex(&mac(secret, timestamp, body)))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not t=<seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature is {0} s from now: too old (or too new) to accept")]
    Stale(i64),
}

/// Checks a signature header against `body`, accepting timestamps up to `tolerance_seconds` from
/// `now` either way. The comparison takes the same time wherever the bytes differ.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signature = unhex(v),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Malformed);
    };
    let mut check = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    check.update(&signed_bytes(timestamp, body));
    check
        .verify_slice(&signature)
        .map_err(|_| SignatureError::Mismatch)?;
    let age = now - timestamp;
    if age.abs() > tolerance_seconds {
        return Err(SignatureError::Stale(age));
    }
    Ok(())
}

fn signed_bytes(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{timestamp}.").into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&signed_bytes(timestamp, body));
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hmac_of_timestamp_dot_body() {
        // Worked out independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn verify_accepts_its_own_signature_and_refuses_changes() {
        let body = br#"{"period":"2026-10"}"#;
        let header = sign("s3cret", 1_000, body);
        assert_eq!(verify("s3cret", &header, body, 1_100, 300), Ok(()));
        assert_eq!(
            verify("s3cret", &header, br#"{"period":"2026-11"}"#, 1_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("other", &header, body, 1_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("s3cret", &header, body, 2_000, 300),
            Err(SignatureError::Stale(1_000))
        );
        // A changed timestamp breaks the signature rather than passing the age check.
        let replayed = header.replace("t=1000", "t=1900");
        assert_eq!(
            verify("s3cret", &replayed, body, 2_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("s3cret", "v1=zz", body, 1_000, 300),
            Err(SignatureError::Malformed)
        );
    }
}
