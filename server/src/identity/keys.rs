//! One issuer's signing keys: found through its discovery document (`jwks_uri`), fetched and
//! kept, and fetched again when a token names a key not seen yet (the issuer rotated its keys)
//! or after an hour, so keys rotate without a restart. A flood of tokens naming unknown keys
//! fetches at most once every [`REFETCH_AT_MOST`].

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::config::IssuerConfig;

/// Keys older than this are fetched again before use.
const KEEP_KEYS: Duration = Duration::from_secs(3_600);
/// An unknown key fetches the set again at most this often.
pub const REFETCH_AT_MOST: Duration = Duration::from_secs(5);
/// How long a discovery or JWKS request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no key could be had for a token.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the issuer has no signing key '{0}'")]
    Unknown(String),
    #[error("the issuer's signing keys could not be read: {0}")]
    Unavailable(String),
}

/// Where an issuer signs people in, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Endpoints {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// RP-initiated logout, where the issuer offers it.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// The keys of one configured issuer.
pub struct IssuerKeys {
    config: IssuerConfig,
    http: reqwest::Client,
    keys: RwLock<Fetched>,
    /// The discovery document's endpoints, once read.
    endpoints: RwLock<Option<Endpoints>>,
    /// Held while fetching, so concurrent misses fetch once.
    fetching: Mutex<()>,
}

#[derive(Default)]
struct Fetched {
    set: Option<JwkSet>,
    at: Option<Instant>,
}

/// What this needs of an OpenID Provider's discovery document.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    #[serde(flatten)]
    endpoints: Option<Endpoints>,
}

/// Whether two issuer identifiers are the same (a trailing slash aside: Entra ID writes none,
/// some configurations add one).
pub fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

impl IssuerKeys {
    /// Keys for `config`, fetched on first use; an unreadable `ca-file` is an error now.
    pub fn new(config: IssuerConfig) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!("issuer '{}': ca-file {}: {e}", config.name, path.display())
            })?;
            let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                anyhow::anyhow!("issuer '{}': ca-file {}: {e}", config.name, path.display())
            })?;
            http = http.add_root_certificate(ca);
        }
        Ok(Self {
            http: http.build()?,
            config,
            keys: RwLock::new(Fetched::default()),
            endpoints: RwLock::new(None),
            fetching: Mutex::new(()),
        })
    }

    /// The client this issuer is reached with (its trust roots), for the token exchange.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Where the issuer signs people in (read with its keys, once).
    pub async fn endpoints(&self) -> Result<Endpoints, KeyError> {
        if let Some(endpoints) = self.endpoints.read().await.clone() {
            return Ok(endpoints);
        }
        let _one_fetch = self.fetching.lock().await;
        let set = self.fetch().await?;
        let mut keys = self.keys.write().await;
        keys.set = Some(set);
        keys.at = Some(Instant::now());
        self.endpoints.read().await.clone().ok_or_else(|| {
            KeyError::Unavailable("its discovery document names no authorization endpoint".into())
        })
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// Keys known already, as if just fetched (tests that sign their own tokens).
    #[cfg(test)]
    pub fn with_keys(config: IssuerConfig, set: JwkSet) -> Self {
        Self {
            http: reqwest::Client::new(),
            config,
            keys: RwLock::new(Fetched {
                set: Some(set),
                at: Some(Instant::now()),
            }),
            endpoints: RwLock::new(None),
            fetching: Mutex::new(()),
        }
    }

    /// The key `kid` names (or the only key, for a token without `kid`).
    pub async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, KeyError> {
        let fresh = |f: &Fetched| f.at.is_some_and(|at| at.elapsed() < KEEP_KEYS);
        {
            let keys = self.keys.read().await;
            if fresh(&keys) {
                if let Some(key) = find(keys.set.as_ref(), kid) {
                    return key;
                }
            }
        }
        let _one_fetch = self.fetching.lock().await;
        {
            // Another request may have fetched while this one waited.
            let keys = self.keys.read().await;
            if let Some(key) = find(keys.set.as_ref(), kid) {
                if fresh(&keys) {
                    return key;
                }
            }
            let recently = keys.at.is_some_and(|at| at.elapsed() < REFETCH_AT_MOST);
            if recently && fresh(&keys) {
                return Err(KeyError::Unknown(kid.unwrap_or("(none)").to_owned()));
            }
        }
        let set = self.fetch().await?;
        let mut keys = self.keys.write().await;
        keys.set = Some(set);
        keys.at = Some(Instant::now());
        find(keys.set.as_ref(), kid)
            .unwrap_or_else(|| Err(KeyError::Unknown(kid.unwrap_or("(none)").to_owned())))
    }

    /// The issuer's key set, through its discovery document.
    async fn fetch(&self) -> Result<JwkSet, KeyError> {
        let unavailable = |e: String| KeyError::Unavailable(e);
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.url.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json(&url).await.map_err(unavailable)?;
        if !same_issuer(&discovery.issuer, &self.config.url) {
            return Err(unavailable(format!(
                "its discovery document names the issuer {}, not {}",
                discovery.issuer, self.config.url
            )));
        }
        let set: JwkSet = self
            .get_json(&discovery.jwks_uri)
            .await
            .map_err(unavailable)?;
        if let Some(endpoints) = discovery.endpoints {
            *self.endpoints.write().await = Some(endpoints);
        }
        tracing::info!(issuer = %self.config.name, keys = set.keys.len(), "fetched signing keys");
        Ok(set)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{url}: {e}"))
    }
}

/// The key `kid` names in `set`; `None` when the set does not hold it (yet).
fn find(set: Option<&JwkSet>, kid: Option<&str>) -> Option<Result<DecodingKey, KeyError>> {
    let set = set?;
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    Some(DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Unavailable(e.to_string())))
}
