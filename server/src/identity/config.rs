//! `--identity-config FILE` (`MB_IDENTITY_CONFIG`): the OpenID Connect issuers whose tokens this
//! server accepts, as TOML:
//!
//! ```toml
//! [[issuer]]
//! name = "adfs"                                   # what claim rules and the audit log call it
//! url = "https://adfs.contoso.example/adfs"       # the tokens' `iss`, exactly
//! audiences = ["api://meterbook"]                 # the `aud` a token for this server carries
//! ca-file = "/etc/meterbook/adfs-ca.pem"          # optional: a private CA to trust for it
//! # People sign in with it when Meterbook is registered there as a client:
//! client-id = "meterbook-portal"
//! client-secret-file = "/etc/meterbook/adfs-secret"   # or client-secret-env = "MB_ADFS_SECRET"
//! display-name = "Contoso AD FS"                      # the sign-in button's words
//!
//! # local-accounts = false   (top level: passwords off, the directory only)
//! ```
//!
//! Checked whole at start: an error names the issuer and the key.

use std::path::{Path, PathBuf};

use meterbook_core::identity::is_name;
use serde::Deserialize;

/// Every issuer this server trusts (none: only Meterbook's own tokens and passwords).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IdentityConfig {
    #[serde(default, rename = "issuer")]
    pub issuers: Vec<IssuerConfig>,
    /// Whether people may still sign in with Meterbook's own passwords (break-glass accounts).
    #[serde(default = "yes")]
    pub local_accounts: bool,
}

fn yes() -> bool {
    true
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            local_accounts: true,
        }
    }
}

/// One issuer: an Entra ID tenant, an AD FS farm, a Keycloak realm...
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IssuerConfig {
    pub name: String,
    pub url: String,
    pub audiences: Vec<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Meterbook's client ID at the issuer: people sign in with it (authorization code + PKCE).
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The environment variable holding the client secret, instead of a file.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// What the sign-in button says ("Sign in with ..."); the name when absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The client secret, read at load from the file or the environment; never printed.
    #[serde(skip)]
    pub client_secret: Option<Secret>,
}

/// A secret that `Debug` does not show.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl IssuerConfig {
    /// An issuer whose tokens the API accepts (no sign-in for people).
    pub fn api_only(
        name: &str,
        url: &str,
        audiences: Vec<String>,
        ca_file: Option<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            audiences,
            ca_file,
            client_id: None,
            client_secret_file: None,
            client_secret_env: None,
            display_name: None,
            client_secret: None,
        }
    }

    /// Whether people sign in with this issuer.
    pub fn signs_in(&self) -> bool {
        self.client_id.is_some() && self.client_secret.is_some()
    }
}

impl IdentityConfig {
    /// Reads and checks the file at `path`, and the client secrets it names.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("reading the identity configuration {}: {e}", path.display())
        })?;
        let mut config = Self::parse(&text).map_err(|e| {
            anyhow::anyhow!("in the identity configuration {}: {e}", path.display())
        })?;
        for issuer in &mut config.issuers {
            let at = format!("issuer '{}'", issuer.name);
            let secret = match (&issuer.client_secret_file, &issuer.client_secret_env) {
                (Some(file), _) => Some(std::fs::read_to_string(file).map_err(|e| {
                    anyhow::anyhow!("{at}: client-secret-file {}: {e}", file.display())
                })?),
                (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("{at}: client-secret-env names {var}, which is not set")
                })?),
                (None, None) => None,
            };
            issuer.client_secret = secret
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .map(Secret);
            if issuer.client_id.is_some() && issuer.client_secret.is_none() {
                anyhow::bail!(
                    "{at}: client-id needs client-secret-file or client-secret-env (not empty)"
                );
            }
        }
        if !config.local_accounts && !config.issuers.iter().any(IssuerConfig::signs_in) {
            anyhow::bail!(
                "local-accounts = false needs an issuer people sign in with (client-id): \
                 otherwise nobody could sign in"
            );
        }
        Ok(config)
    }

    /// Parses and checks a configuration's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        for (i, issuer) in config.issuers.iter().enumerate() {
            let at = format!("issuer {} ('{}')", i + 1, issuer.name);
            if !is_name(&issuer.name) {
                return Err(format!(
                    "{at}: name must be 1 to 64 letters, digits, '.', '_' or '-'"
                ));
            }
            if config.issuers[..i].iter().any(|o| o.name == issuer.name) {
                return Err(format!("{at}: the name is used twice"));
            }
            let url = url::Url::parse(&issuer.url).map_err(|e| format!("{at}: url: {e}"))?;
            if url.scheme() != "https" {
                return Err(format!(
                    "{at}: url must be https (OpenID Connect issuers are)"
                ));
            }
            if issuer.audiences.is_empty() || issuer.audiences.iter().any(|a| a.trim().is_empty()) {
                return Err(format!(
                    "{at}: audiences must name at least one audience (what tokens for \
                     Meterbook carry in `aud`, such as api://meterbook)"
                ));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_read_and_bad_ones_refused_by_name_and_key() {
        let config = IdentityConfig::parse(
            r#"
            [[issuer]]
            name = "adfs"
            url = "https://127.0.0.1:8443/adfs"
            audiences = ["api://meterbook"]
            ca-file = "/tmp/ca.pem"
            "#,
        )
        .unwrap();
        assert_eq!(config.issuers[0].name, "adfs");
        assert_eq!(
            config.issuers[0].ca_file.as_deref(),
            Some(Path::new("/tmp/ca.pem"))
        );
        assert_eq!(
            IdentityConfig::parse("").unwrap(),
            IdentityConfig::default()
        );

        for (text, needle) in [
            (
                "[[issuer]]\nname = 'a'\nurl = 'http://idp/'\naudiences = ['x']",
                "must be https",
            ),
            (
                "[[issuer]]\nname = 'a'\nurl = 'https://idp/'\naudiences = []",
                "at least one audience",
            ),
            (
                "[[issuer]]\nname = 'a b'\nurl = 'https://idp/'\naudiences = ['x']",
                "name must be",
            ),
            (
                "[[issuer]]\nname = 'a'\nurl = 'https://idp/'\naudiences = ['x']\ncolour = 'red'",
                "unknown field",
            ),
            (
                "[[issuer]]\nname = 'a'\nurl = 'https://i/'\naudiences = ['x']\n\
                 [[issuer]]\nname = 'a'\nurl = 'https://j/'\naudiences = ['x']",
                "used twice",
            ),
        ] {
            let error = IdentityConfig::parse(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
