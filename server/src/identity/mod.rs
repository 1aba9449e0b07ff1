//! Identity from the cloud's own directory: bearer tokens (JWTs) from the configured OpenID
//! Connect issuers (Entra ID, AD FS, Keycloak...) are accepted on the API beside Meterbook's own
//! `mbt_` tokens, checked for signature, issuer, audience, expiry and not-before, and mapped to a
//! role and scope by the operator's claim rules ([`meterbook_core::identity`]).

pub mod config;
pub mod keys;

pub use keys::{Endpoints, IssuerKeys};
pub mod rules;

use std::collections::BTreeMap;

use base64::Engine;
use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use meterbook_core::identity::Claims;
use serde_json::Value;

pub use config::{IdentityConfig, IssuerConfig};
use keys::same_issuer;
pub use keys::KeyError;

/// How far the issuer's clock and this server's may disagree: `exp` and `nbf` are met this much
/// late or early.
pub const CLOCK_SKEW_SECONDS: u64 = 120;

/// The asymmetric algorithms issuers sign with; a token naming another (`none`, or an HMAC one
/// that would take a public key for a secret) is refused before any key is looked at.
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Why a bearer token from a directory was refused; each says what to fix, none what a key is.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("tokens from the issuer '{0}' are not accepted here: no such issuer is configured")]
    UnknownIssuer(String),
    #[error("the token is signed with {0:?}, which this server does not accept")]
    Algorithm(Algorithm),
    #[error("the token's signature does not verify with the issuer's keys")]
    Signature,
    #[error("the token has expired; get a new one from the issuer")]
    Expired,
    #[error("the token is not valid yet (its nbf is in the future)")]
    NotYetValid,
    #[error("the token is for another audience; ask the issuer for a token for {0}")]
    Audience(String),
    #[error("the token is missing its {0} claim")]
    Missing(String),
    #[error("the ID token was not made for this sign-in (its nonce differs)")]
    Nonce,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A token that verified: its issuer's configured name, and its claims.
#[derive(Debug, Clone)]
pub struct Verified {
    pub issuer: String,
    pub claims: Claims,
}

/// The issuers this server trusts, with their keys.
pub struct Identity {
    issuers: Vec<IssuerKeys>,
    /// Whether Meterbook's own passwords still sign people in.
    pub local_accounts: bool,
}

impl Identity {
    pub fn new(config: &IdentityConfig) -> anyhow::Result<Self> {
        Ok(Self {
            issuers: config
                .issuers
                .iter()
                .cloned()
                .map(IssuerKeys::new)
                .collect::<anyhow::Result<_>>()?,
            local_accounts: config.local_accounts,
        })
    }

    /// The configured issuers, in the configuration's order.
    pub fn issuers(&self) -> impl Iterator<Item = &IssuerConfig> {
        self.issuers.iter().map(IssuerKeys::config)
    }

    /// The configured issuers' names.
    pub fn issuer_names(&self) -> Vec<&str> {
        self.issuers
            .iter()
            .map(|i| i.config().name.as_str())
            .collect()
    }

    /// Whether `token` looks like a JWT (three base64url parts, a JSON header), not a Meterbook
    /// token: which check it goes to.
    pub fn is_jwt(token: &str) -> bool {
        token.starts_with("eyJ") && token.split('.').count() == 3
    }

    /// Checks `token`: its issuer is configured, its signature verifies with one of the issuer's
    /// keys, it is for one of the issuer's audiences, and it is within its lifetime (give or take
    /// [`CLOCK_SKEW_SECONDS`]).
    pub async fn verify(&self, token: &str) -> Result<Verified, BearerError> {
        decode_header(token).map_err(|_| BearerError::Malformed)?;
        // The issuer is read before the signature is checked only to choose whose keys check it.
        let claimed = unverified_issuer(token).ok_or(BearerError::Missing("iss".into()))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| same_issuer(&i.config().url, &claimed))
            .ok_or_else(|| BearerError::UnknownIssuer(claimed.clone()))?;
        let claims = check(issuer, token, &claimed, &issuer.config().audiences).await?;
        Ok(Verified {
            issuer: issuer.config().name.clone(),
            claims,
        })
    }

    /// The issuer named `name`, if it is configured.
    pub fn issuer(&self, name: &str) -> Option<&IssuerKeys> {
        self.issuers.iter().find(|i| i.config().name == name)
    }

    /// Checks an ID token the issuer named `name` just gave for Meterbook's sign-in: as
    /// [`Identity::verify`], for the audience of Meterbook's client ID, and carrying `nonce`
    /// (so it was made for this sign-in and no other).
    pub async fn verify_id_token(
        &self,
        name: &str,
        token: &str,
        nonce: &str,
    ) -> Result<Claims, BearerError> {
        let issuer = self
            .issuer(name)
            .ok_or_else(|| BearerError::UnknownIssuer(name.to_owned()))?;
        let claimed = unverified_issuer(token).ok_or(BearerError::Missing("iss".into()))?;
        if !same_issuer(&issuer.config().url, &claimed) {
            return Err(BearerError::UnknownIssuer(claimed));
        }
        let client_id = issuer.config().client_id.clone().unwrap_or_default();
        let claims = check(issuer, token, &claimed, &[client_id]).await?;
        if claims.values("nonce").next() != Some(nonce) {
            return Err(BearerError::Nonce);
        }
        Ok(claims)
    }
}

/// Checks `token`'s signature with `issuer`'s keys, its `iss` (`claimed`, which matched the
/// configured URL but for a trailing slash), its audience (one of `audiences`) and its lifetime.
async fn check(
    issuer: &IssuerKeys,
    token: &str,
    claimed: &str,
    audiences: &[String],
) -> Result<Claims, BearerError> {
    let header = decode_header(token).map_err(|_| BearerError::Malformed)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(BearerError::Algorithm(header.alg));
    }
    let key = issuer.key(header.kid.as_deref()).await?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = CLOCK_SKEW_SECONDS;
    validation.validate_nbf = true;
    validation.set_audience(audiences);
    validation.set_issuer(&[claimed]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = decode::<BTreeMap<String, Value>>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.into_kind() {
            ErrorKind::ExpiredSignature => BearerError::Expired,
            ErrorKind::ImmatureSignature => BearerError::NotYetValid,
            ErrorKind::InvalidAudience => BearerError::Audience(audiences.join(" or ")),
            ErrorKind::MissingRequiredClaim(claim) => BearerError::Missing(claim),
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => BearerError::Signature,
            _ => BearerError::Malformed,
        }
    })?;
    Ok(Claims::new(data.claims))
}

/// The `iss` a JWT claims, read without checking anything.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: BTreeMap<String, Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const ISSUER: &str = "https://idp.example/adfs";

    /// A fresh RSA key (openssl, as on every machine this builds on): its private PEM, and its
    /// public half as a JWK with `kid`.
    fn key(kid: &str) -> (EncodingKey, jsonwebtoken::jwk::Jwk) {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("key.pem");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "openssl {args:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        run(&["genrsa", "-out", pem.to_str().unwrap(), "2048"]);
        let modulus = run(&["rsa", "-in", pem.to_str().unwrap(), "-noout", "-modulus"]);
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwk = serde_json::from_value(json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"
        }))
        .unwrap();
        let private = EncodingKey::from_rsa_pem(&std::fs::read(&pem).unwrap()).unwrap();
        (private, jwk)
    }

    fn identity(jwks: Vec<jsonwebtoken::jwk::Jwk>) -> Identity {
        let config = IssuerConfig::api_only("adfs", ISSUER, vec!["api://meterbook".into()], None);
        Identity {
            issuers: vec![IssuerKeys::with_keys(
                config,
                jsonwebtoken::jwk::JwkSet { keys: jwks },
            )],
            local_accounts: true,
        }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sign(key: &EncodingKey, kid: &str, claims: Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(&header, &claims, key).unwrap()
    }

    fn claims(change: impl FnOnce(&mut Value)) -> Value {
        let mut claims = json!({
            "iss": ISSUER, "aud": "api://meterbook", "sub": "billing-script",
            "appid": "billing-script", "roles": ["Meterbook.Reader"],
            "iat": now(), "nbf": now(), "exp": now() + 600
        });
        change(&mut claims);
        claims
    }

    #[tokio::test]
    async fn a_token_verifies_within_the_clock_skew_and_every_refusal_says_why() {
        let (private, jwk) = key("k1");
        let id = identity(vec![jwk]);
        let verified = id
            .verify(&sign(&private, "k1", claims(|_| {})))
            .await
            .unwrap();
        assert_eq!(verified.issuer, "adfs");
        assert_eq!(verified.claims.principal(), Some("billing-script"));
        // An issuer that writes a trailing slash is the same issuer.
        let slash = sign(
            &private,
            "k1",
            claims(|c| c["iss"] = json!(format!("{ISSUER}/"))),
        );
        assert!(id.verify(&slash).await.is_ok());

        // A minute past expiry or a minute before nbf is within the skew; ten minutes is not.
        let late = sign(&private, "k1", claims(|c| c["exp"] = json!(now() - 60)));
        assert!(id.verify(&late).await.is_ok());
        let early = sign(&private, "k1", claims(|c| c["nbf"] = json!(now() + 60)));
        assert!(id.verify(&early).await.is_ok());
        let refusals = [
            (claims(|c| c["exp"] = json!(now() - 600)), "has expired"),
            (claims(|c| c["nbf"] = json!(now() + 600)), "not valid yet"),
            (
                claims(|c| c["aud"] = json!("api://other")),
                "another audience",
            ),
            (
                claims(|c| c["iss"] = json!("https://evil.example/")),
                "not accepted here",
            ),
            (
                claims(|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
                "missing its exp",
            ),
        ];
        for (bad, needle) in refusals {
            let error = id
                .verify(&sign(&private, "k1", bad.clone()))
                .await
                .unwrap_err();
            assert!(error.to_string().contains(needle), "{bad}: {error}");
        }

        // Signed by another key under a known kid: the signature does not verify.
        let (other, _) = key("k2");
        let forged = id
            .verify(&sign(&other, "k1", claims(|_| {})))
            .await
            .unwrap_err();
        assert!(matches!(forged, BearerError::Signature), "{forged}");

        // `none` and HMAC algorithms are refused before any key is used.
        let none = format!(
            "{}.{}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(br#"{"alg":"none","typ":"JWT"}"#),
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&claims(|_| {})).unwrap())
        );
        assert!(id.verify(&none).await.is_err());
        let hmac = encode(
            &Header::new(Algorithm::HS256),
            &claims(|_| {}),
            &EncodingKey::from_secret(b"public"),
        )
        .unwrap();
        assert!(matches!(
            id.verify(&hmac).await.unwrap_err(),
            BearerError::Algorithm(Algorithm::HS256)
        ));
        assert!(matches!(
            id.verify("eyJ.not.ajwt").await.unwrap_err(),
            BearerError::Malformed
        ));
    }

    #[tokio::test]
    async fn an_unknown_key_just_after_a_fetch_is_refused_without_asking_the_issuer_again() {
        let (private, jwk) = key("old");
        let id = identity(vec![jwk]);
        // The keys were fetched a moment ago: a token under a kid never seen is refused at once
        // (a flood of such tokens must not hammer the issuer; rotation is tested against a real
        // issuer in the integration tests).
        let (newer, _) = key("new");
        let error = id
            .verify(&sign(&newer, "new", claims(|_| {})))
            .await
            .unwrap_err();
        assert!(
            matches!(error, BearerError::Key(KeyError::Unknown(_))),
            "{error}"
        );
        assert!(id
            .verify(&sign(&private, "old", claims(|_| {})))
            .await
            .is_ok());
    }
}
