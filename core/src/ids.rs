//! Subscription IDs: GUIDs, compared and stored in one canonical form.

use serde::{Deserialize, Serialize};

/// A subscription ID in canonical form: lower-case, hyphenated GUID.
///
/// Azure treats subscription IDs case-insensitively and tools send them with stray whitespace or
/// without hyphens; parsing to one form is what makes tenant isolation a string comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubscriptionId(String);

impl SubscriptionId {
    /// Parses `raw` (hyphenated or bare, any case, optional braces and surrounding whitespace).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let inner = trimmed
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(trimmed);
        let hex = canonical_guid_hex(inner)
            .ok_or_else(|| format!("'{}' is not a subscription ID (a GUID)", raw.trim()))?;
        Ok(Self(hyphenate(&hex.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hyphenated subscription IDs written in `text` (an audit entry's target or detail),
    /// each once, in the order they first appear.
    pub fn all_in(text: &str) -> Vec<Self> {
        let mut found: Vec<Self> = Vec::new();
        let words = text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'));
        for id in words
            .filter(|w| w.len() == 36)
            .filter_map(|w| Self::parse(w).ok())
        {
            if !found.contains(&id) {
                found.push(id);
            }
        }
        found
    }
}

/// The 32 hex digits of a GUID written as `8-4-4-4-12` or as 32 bare digits; `None` otherwise.
pub fn canonical_guid_hex(raw: &str) -> Option<String> {
    let bare: String = if raw.len() == 36 {
        let dashes_ok = raw
            .char_indices()
            .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
        if !dashes_ok {
            return None;
        }
        raw.chars().filter(|c| *c != '-').collect()
    } else {
        raw.to_owned()
    };
    (bare.len() == 32 && bare.chars().all(|c| c.is_ascii_hexdigit())).then_some(bare)
}

/// Writes 32 hex digits as `8-4-4-4-12`.
pub fn hyphenate(hex32: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex32[0..8],
        &hex32[8..12],
        &hex32[12..16],
        &hex32[16..20],
        &hex32[20..32]
    )
}

impl std::fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SubscriptionId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SubscriptionId> for String {
    fn from(id: SubscriptionId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_ids_in_any_case_spacing_and_hyphenation_are_the_same() {
        let canonical = SubscriptionId::parse("0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b").unwrap();
        for raw in [
            " 0F0A4A7B-1C2D-4E5F-8A9B-0C1D2E3F4A5B ",
            "0f0a4a7b1c2d4e5f8a9b0c1d2e3f4a5b",
            "{0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5b}",
        ] {
            assert_eq!(SubscriptionId::parse(raw).unwrap(), canonical, "{raw}");
        }
    }

    #[test]
    fn things_that_are_not_guids_are_refused() {
        for raw in [
            "",
            "abc",
            "0f0a4a7b-1c2d-4e5f-8a9b-0c1d2e3f4a5",
            "0f0a4a7b-1c2d-4e5f-8a9b_0c1d2e3f4a5b",
            "zzzzzzzz-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        ] {
            assert!(SubscriptionId::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn ids_are_found_in_text_once_each() {
        let a = "6a5c1b2e-0000-4000-8000-000000000001";
        let b = "6A5C1B2E-0000-4000-8000-000000000002";
        let text = format!("{a},{b} (and {a} again); not-a-guid 1234");
        let found: Vec<String> = SubscriptionId::all_in(&text)
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        assert_eq!(found, [a.to_owned(), b.to_lowercase()]);
        assert!(SubscriptionId::all_in("subs:").is_empty());
    }
}
