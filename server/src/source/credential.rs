//! Meterbook's own credential for the upstream hub: a token file an outside job keeps fresh, or a
//! service principal that gets its tokens itself. For the latter the hub says where to ask, as
//! Azure Stack Hub does for every client: `GET /metadata/endpoints?api-version=2015-01-01` names
//! the login endpoint (AD FS's `https://adfs.<region>.<domain>/adfs`, or Entra ID's
//! `https://login.microsoftonline.com/`) and the audience; the identity provider's discovery
//! document names its token endpoint; a client-credentials request there gets a token, kept until
//! shortly before it expires. A secret goes only to that token endpoint, and a certificate's
//! private key nowhere (it signs an assertion instead): neither reaches a browser, a client of
//! Meterbook's, or a log.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

pub use super::client_certificate::ClientCertificate;
use super::client_certificate::ASSERTION_TYPE;

/// A token is renewed when less than this is left of it (or half its lifetime, if shorter).
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// The hub's metadata request, as Azure tools send it.
pub const METADATA_PATH: &str = "/metadata/endpoints?api-version=2015-01-01";

/// How Meterbook authenticates to the upstream hub.
#[derive(Clone)]
pub enum UpstreamCredential {
    /// A file holding a bearer token, read at every call (an outside job renews it).
    TokenFile(PathBuf),
    /// A service principal's client ID and secret.
    ClientSecret {
        client_id: String,
        secret: String,
        /// The Entra ID directory (tenant ID or domain) of a hub that signs in with Entra ID;
        /// not needed for AD FS.
        tenant: Option<String>,
    },
    /// A service principal's client ID and certificate: each token request carries an assertion
    /// signed with the certificate's key.
    ClientCertificate {
        client_id: String,
        certificate: ClientCertificate,
        /// As for [`UpstreamCredential::ClientSecret`].
        tenant: Option<String>,
    },
}

/// What a service principal proves itself with at the token endpoint.
enum Proof<'a> {
    Secret(&'a str),
    Certificate(&'a ClientCertificate),
}

impl std::fmt::Debug for UpstreamCredential {
    /// Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TokenFile(path) => write!(f, "TokenFile({})", path.display()),
            Self::ClientSecret { client_id, .. } => write!(f, "ClientSecret({client_id})"),
            Self::ClientCertificate {
                client_id,
                certificate,
                ..
            } => write!(f, "ClientCertificate({client_id}, {certificate:?})"),
        }
    }
}

/// Why no token could be had; the message names what to check, never the secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

/// The hub's answer to [`METADATA_PATH`] (what is read of it).
#[derive(Debug, Deserialize)]
struct Metadata {
    authentication: Authentication,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Authentication {
    login_endpoint: String,
    audiences: Vec<String>,
}

#[derive(Deserialize)]
struct Discovery {
    token_endpoint: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

struct Held {
    token: String,
    renew_at: Instant,
}

/// Gets and keeps the upstream's bearer token.
pub struct Credentials {
    credential: UpstreamCredential,
    http: reqwest::Client,
    held: Mutex<Option<Held>>,
}

/// When a token that lasts `lifetime` from `now` is renewed.
fn renew_at(now: Instant, lifetime: Duration) -> Instant {
    now + lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 2))
}

impl Credentials {
    /// `http` is the client the upstream is reached with (its trust roots serve the identity
    /// provider too).
    pub fn new(credential: UpstreamCredential, http: reqwest::Client) -> Self {
        Self {
            credential,
            http,
            held: Mutex::new(None),
        }
    }

    /// A bearer token for the hub at `hub` (its base URL).
    pub async fn bearer(&self, hub: &str) -> Result<String, CredentialError> {
        let (client_id, proof, tenant) = match &self.credential {
            UpstreamCredential::TokenFile(path) => return read_token_file(path).await,
            UpstreamCredential::ClientSecret {
                client_id,
                secret,
                tenant,
            } => (client_id, Proof::Secret(secret), tenant),
            UpstreamCredential::ClientCertificate {
                client_id,
                certificate,
                tenant,
            } => (client_id, Proof::Certificate(certificate), tenant),
        };
        let mut held = self.held.lock().await;
        if let Some(h) = held.as_ref().filter(|h| Instant::now() < h.renew_at) {
            return Ok(h.token.clone());
        }
        let fail = |what: String| CredentialError(what);
        let metadata: Metadata = self
            .get_json(&format!("{hub}{METADATA_PATH}"))
            .await
            .map_err(|e| fail(format!("the hub's metadata ({METADATA_PATH}): {e}")))?;
        let login = metadata.authentication.login_endpoint.trim_end_matches('/');
        let audience = metadata
            .authentication
            .audiences
            .first()
            .ok_or_else(|| fail("the hub's metadata names no audience".into()))?;
        // AD FS names itself whole; Entra ID's login endpoint needs the directory after it.
        let authority = if login.to_ascii_lowercase().ends_with("/adfs") {
            login.to_owned()
        } else {
            let tenant = tenant.as_deref().ok_or_else(|| {
                fail(format!(
                    "the hub signs in with {login}: give its directory with --upstream-tenant"
                ))
            })?;
            format!("{login}/{tenant}")
        };
        let discovery: Discovery = self
            .get_json(&format!("{authority}/.well-known/openid-configuration"))
            .await
            .map_err(|e| fail(format!("the identity provider's discovery: {e}")))?;
        let endpoint = &discovery.token_endpoint;
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client_id.clone()),
            ("resource", audience.clone()),
        ];
        let check = match proof {
            Proof::Secret(secret) => {
                form.push(("client_secret", secret.to_owned()));
                "secret"
            }
            Proof::Certificate(certificate) => {
                let assertion = certificate
                    .assertion(client_id, endpoint, chrono::Utc::now().timestamp())
                    .map_err(fail)?;
                form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
                form.push(("client_assertion", assertion));
                "certificate (is it registered with that client?)"
            }
        };
        let sent = self
            .http
            .post(endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| fail(format!("{endpoint}: {e}")))?;
        if !sent.status().is_success() {
            return Err(fail(format!(
                "{endpoint} refused client {client_id} ({}): check the client ID and {check}",
                sent.status()
            )));
        }
        let answer: TokenAnswer = sent
            .json()
            .await
            .map_err(|e| fail(format!("{}: {e}", discovery.token_endpoint)))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300));
        tracing::info!(
            client_id,
            lifetime_s = lifetime.as_secs(),
            "upstream token obtained"
        );
        *held = Some(Held {
            token: answer.access_token.clone(),
            renew_at: renew_at(Instant::now(), lifetime),
        });
        Ok(answer.access_token)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{url}: {e}"))
    }
}

async fn read_token_file(path: &PathBuf) -> Result<String, CredentialError> {
    let text = tokio::fs::read_to_string(path).await.map_err(|e| {
        tracing::error!(file = %path.display(), error = %e, "upstream token file unreadable");
        CredentialError(
            "Meterbook cannot read its credential for the upstream Azure Stack Hub; the operator \
             should check --upstream-token-file"
                .into(),
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CredentialError(
            "Meterbook's credential file for the upstream Azure Stack Hub is empty".into(),
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_five_minutes_early_or_at_half_their_life() {
        let now = Instant::now();
        let hour = renew_at(now, Duration::from_secs(3_600));
        assert_eq!(hour - now, Duration::from_secs(3_300));
        let short = renew_at(now, Duration::from_secs(120));
        assert_eq!(short - now, Duration::from_secs(60));
    }

    #[test]
    fn the_secret_never_prints() {
        let credential = UpstreamCredential::ClientSecret {
            client_id: "meterbook-upstream".into(),
            secret: "s3cret".into(),
            tenant: None,
        };
        assert_eq!(
            format!("{credential:?}"),
            "ClientSecret(meterbook-upstream)"
        );
    }
}
