//! `--identity-config FILE` (`MB_IDENTITY_CONFIG`): the OpenID Connect issuers whose tokens this
//! server accepts, as TOML:
//!
//! ```toml
//! [[issuer]]
//! name = "adfs"                                   # what claim rules and the audit log call it
//! url = "https://adfs.contoso.example/adfs"       # the tokens' `iss`, exactly
//! audiences = ["api://meterbook"]                 # the `aud` a token for this server carries
//! ca-file = "/etc/meterbook/adfs-ca.pem"          # optional: a private CA to trust for it
//! ```
//!
//! Checked whole at start: an error names the issuer and the key.

use std::path::{Path, PathBuf};

use meterbook_core::identity::is_name;
use serde::Deserialize;

/// Every issuer this server trusts (none: only Meterbook's own tokens and passwords).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    #[serde(default, rename = "issuer")]
    pub issuers: Vec<IssuerConfig>,
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
}

impl IdentityConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("reading the identity configuration {}: {e}", path.display())
        })?;
        Self::parse(&text)
            .map_err(|e| anyhow::anyhow!("in the identity configuration {}: {e}", path.display()))
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
