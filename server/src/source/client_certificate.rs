//! A service principal's certificate: proof of its identity at the token endpoint without a shared
//! secret. Meterbook signs a short-lived client assertion (RFC 7523, `private_key_jwt`) with the
//! certificate's private key; AD FS and Entra ID find the registered certificate by the SHA-1
//! thumbprint in the assertion's `x5t` header, as MSAL sends it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// How long an assertion is good for: one token request, with room for clock skew.
const ASSERTION_LIFETIME_SECONDS: i64 = 600;

/// The `client_assertion_type` of a signed JWT (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A certificate and its RSA private key, read from one PEM file (as Azure CLI's and
/// azure-identity's certificate credentials take it).
#[derive(Clone)]
pub struct ClientCertificate {
    key: EncodingKey,
    /// Base64url SHA-1 of the certificate's DER (`x5t`): what AD FS and Entra ID look the
    /// certificate up by with RS256 (MSAL's long-standing header; `x5t#S256` goes with PS256).
    sha1_thumbprint: String,
}

impl std::fmt::Debug for ClientCertificate {
    /// The thumbprint names the certificate; the key never prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientCertificate(x5t {})", self.sha1_thumbprint)
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

impl ClientCertificate {
    /// Reads a PEM holding the certificate (its own, or a chain with it) and its unencrypted
    /// RSA private key, in any order; the certificate used is the one of that key.
    pub fn from_pem(pem_text: &[u8]) -> Result<Self, String> {
        let blocks = pem::parse_many(pem_text).map_err(|e| format!("not PEM: {e}"))?;
        if blocks.iter().any(|b| b.tag() == "ENCRYPTED PRIVATE KEY")
            || blocks
                .iter()
                .any(|b| b.headers().get("Proc-Type").is_some())
        {
            return Err(
                "the private key is encrypted: give it unencrypted, readable by \
                        Meterbook only (openssl pkcs8 -nocrypt)"
                    .into(),
            );
        }
        let key = blocks
            .iter()
            .find(|b| b.tag().ends_with("PRIVATE KEY"))
            .ok_or("no PRIVATE KEY block: the file must hold the certificate and its key")?;
        let not_rsa = || "the private key is not an RSA key Meterbook can sign with".to_owned();
        let pair = match key.tag() {
            "PRIVATE KEY" => ring::signature::RsaKeyPair::from_pkcs8(key.contents()),
            "RSA PRIVATE KEY" => ring::signature::RsaKeyPair::from_der(key.contents()),
            _ => return Err(not_rsa()),
        }
        .map_err(|_| not_rsa())?;
        // A certificate holds its subject's public key (RSAPublicKey DER, inside its
        // SubjectPublicKeyInfo): the one holding this key's is the service principal's.
        let public = pair.public().as_ref();
        let certificates: Vec<_> = blocks.iter().filter(|b| b.tag() == "CERTIFICATE").collect();
        if certificates.is_empty() {
            return Err(
                "no CERTIFICATE block: the file must hold the certificate and its key".into(),
            );
        }
        let certificate = certificates
            .iter()
            .find(|c| c.contents().windows(public.len()).any(|w| w == public))
            .ok_or(
                "no certificate in the file is the private key's: give the service principal's \
                    certificate with its own key",
            )?;
        let key = EncodingKey::from_rsa_pem(pem::encode(key).as_bytes()).map_err(|_| not_rsa())?;
        let sha1 = ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            certificate.contents(),
        );
        Ok(Self {
            key,
            sha1_thumbprint: URL_SAFE_NO_PAD.encode(sha1),
        })
    }

    /// A client assertion for `client_id` at `token_endpoint` (its audience), signed RS256,
    /// valid from `now` (Unix seconds) for ten minutes, with a fresh `jti`.
    pub fn assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: i64,
    ) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.x5t = Some(self.sha1_thumbprint.clone());
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| format!("no randomness for the assertion: {e}"))?;
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: token_endpoint,
            jti: URL_SAFE_NO_PAD.encode(jti),
            iat: now,
            nbf: now,
            exp: now + ASSERTION_LIFETIME_SECONDS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("signing the client assertion: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    /// openssl (on every machine this builds on) in `dir`; its stdout.
    fn openssl(dir: &std::path::Path, args: &[&str]) -> String {
        let out = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// A self-signed certificate and its key: (cert.pem, key.pem) in `dir`.
    fn certificate(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=meterbook-upstream",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ],
        );
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        (read("cert.pem"), read("key.pem"))
    }

    /// Another certificate, of another key, as a chain or a mix-up would put beside it.
    fn another(dir: &std::path::Path) -> Vec<u8> {
        let other = dir.join("other");
        std::fs::create_dir_all(&other).unwrap();
        certificate(&other).0
    }

    #[test]
    fn an_assertion_is_signed_by_the_certificates_key_and_names_it_by_thumbprint() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = certificate(dir.path());
        // Key first, then another key's certificate (a CA, say), then its own: the one of the
        // key is used.
        let pem = [key.clone(), another(dir.path()), cert].concat();
        let certificate = ClientCertificate::from_pem(&pem).unwrap();
        let endpoint = "https://adfs.local.azurestack.external/adfs/oauth2/token";
        let now = chrono::Utc::now().timestamp();
        let assertion = certificate
            .assertion("meterbook-upstream", endpoint, now)
            .unwrap();

        let public = openssl(
            dir.path(),
            &["x509", "-in", "cert.pem", "-pubkey", "-noout"],
        );
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[endpoint]);
        validation.set_issuer(&["meterbook-upstream"]);
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &assertion,
            &DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
            &validation,
        )
        .expect("the certificate's public key verifies the assertion");
        assert_eq!(decoded.claims["sub"], "meterbook-upstream");
        assert_eq!(decoded.claims["exp"], now + ASSERTION_LIFETIME_SECONDS);
        let fingerprint = openssl(
            dir.path(),
            &["x509", "-in", "cert.pem", "-noout", "-fingerprint", "-sha1"],
        );
        let hex: Vec<u8> = fingerprint
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .split(':')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        assert_eq!(decoded.header.x5t, Some(URL_SAFE_NO_PAD.encode(hex)));
        // Each assertion is new: a token endpoint refuses a replayed jti.
        let again = certificate
            .assertion("meterbook-upstream", endpoint, now)
            .unwrap();
        assert_ne!(again, assertion);
        let shown = format!("{certificate:?}");
        let key_text = String::from_utf8(key).unwrap();
        let key_line = key_text.lines().nth(1).unwrap();
        assert!(!shown.contains(key_line), "{shown}");
    }

    #[test]
    fn files_without_both_halves_or_with_a_key_it_cannot_use_are_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = certificate(dir.path());
        let refusal = |pem: &[u8]| ClientCertificate::from_pem(pem).unwrap_err();
        assert!(
            refusal(&cert).contains("no PRIVATE KEY"),
            "{}",
            refusal(&cert)
        );
        assert!(
            refusal(&key).contains("no CERTIFICATE"),
            "{}",
            refusal(&key)
        );
        assert!(refusal(b"not a pem").contains("no PRIVATE KEY"));
        let why = refusal(&[another(dir.path()), key.clone()].concat());
        assert!(
            why.contains("no certificate in the file is the private key's"),
            "{why}"
        );
        openssl(
            dir.path(),
            &[
                "pkcs8",
                "-topk8",
                "-in",
                "key.pem",
                "-out",
                "encrypted.pem",
                "-passout",
                "pass:x",
            ],
        );
        let encrypted = std::fs::read(dir.path().join("encrypted.pem")).unwrap();
        let why = refusal(&[cert.clone(), encrypted].concat());
        assert!(why.contains("encrypted"), "{why}");
        openssl(
            dir.path(),
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "ec.pem",
            ],
        );
        let ec = std::fs::read(dir.path().join("ec.pem")).unwrap();
        let why = refusal(&[cert, ec].concat());
        assert!(why.contains("not an RSA key"), "{why}");
    }
}
