//! Identity from the cloud's own directory: which role and subscriptions a token's claims grant.
//!
//! An operator writes [`ClaimRule`]s: "tokens from issuer `adfs` whose `groups` claim holds
//! `tenant-contoso` read Contoso's subscription", "whose `roles` holds `Meterbook.Operator` are
//! operators", "the service principal whose `appid` is ... is a provider". Every rule that
//! matches a token adds to what it grants ([`access_from_claims`]): the strongest role wins
//! (operator, then provider, then tenant), and a tenant reads the union of its rules'
//! subscriptions. A token no rule matches grants nothing. The same rules serve bearer tokens on
//! the API and people signing in, so removing a group in the directory removes access.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::{Access, Role};
use crate::SubscriptionId;

/// Longest issuer name, claim value and rule list a rule may hold.
pub const MAX_NAME: usize = 64;
pub const MAX_VALUE: usize = 256;
pub const MAX_RULE_SUBSCRIPTIONS: usize = 1_000;

/// The claims a rule may test: what Entra ID and AD FS put in tokens for people (`groups`,
/// `roles`, `upn`, `email`, `preferred_username`, `sub`, `oid`) and service principals (`appid`,
/// `azp`, `oid`, `roles`).
pub const CLAIMS: [&str; 9] = [
    "groups",
    "roles",
    "upn",
    "email",
    "preferred_username",
    "sub",
    "oid",
    "appid",
    "azp",
];

/// One mapping from a claim's value to a role (and, for tenants, subscriptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClaimRule {
    /// The configured issuer's name the rule applies to.
    pub issuer: String,
    /// One of [`CLAIMS`].
    pub claim: String,
    /// The value the claim must hold (exactly; for list claims, as one of its items).
    pub value: String,
    pub role: Role,
    /// What a tenant rule grants; empty for other roles.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub subscriptions: Vec<SubscriptionId>,
}

/// A rule as given: parsed whole by [`ClaimRule::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleDraft {
    pub issuer: String,
    pub claim: String,
    pub value: String,
    pub role: String,
    #[serde(default)]
    pub subscriptions: Vec<String>,
}

impl ClaimRule {
    /// Checks a draft: a known claim, a non-empty value, a role, and subscriptions exactly for
    /// tenants. The error names the field.
    pub fn parse(draft: RuleDraft) -> Result<Self, String> {
        let issuer = draft.issuer.trim();
        if !is_name(issuer) {
            return Err(format!(
                "issuer '{issuer}' is not an issuer's name: 1 to {MAX_NAME} letters, digits, '.', '_' or '-'"
            ));
        }
        let claim = draft.claim.trim().to_ascii_lowercase();
        if !CLAIMS.contains(&claim.as_str()) {
            return Err(format!(
                "claim '{claim}' is not one rules may test: {}",
                CLAIMS.join(", ")
            ));
        }
        let value = draft.value.trim();
        if value.is_empty() || value.len() > MAX_VALUE || value.chars().any(char::is_control) {
            return Err(format!(
                "value must be 1 to {MAX_VALUE} characters without control characters"
            ));
        }
        let role = Role::parse(&draft.role)?;
        let mut subscriptions = draft
            .subscriptions
            .iter()
            .map(|s| SubscriptionId::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        subscriptions.sort();
        subscriptions.dedup();
        match role {
            Role::Tenant if subscriptions.is_empty() => {
                return Err("a tenant rule needs at least one subscription".to_owned())
            }
            Role::Operator | Role::Provider if !subscriptions.is_empty() => {
                return Err(format!(
                    "subscriptions are for tenant rules; a {role} rule grants {}",
                    match role {
                        Role::Operator => "every subscription",
                        _ => "ingest only",
                    }
                ))
            }
            _ => {}
        }
        if subscriptions.len() > MAX_RULE_SUBSCRIPTIONS {
            return Err(format!(
                "a rule grants at most {MAX_RULE_SUBSCRIPTIONS} subscriptions"
            ));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            claim,
            value: value.to_owned(),
            role,
            subscriptions,
        })
    }

    /// Whether `claims` (of a token from `issuer`) hold this rule's value.
    pub fn matches(&self, issuer: &str, claims: &Claims) -> bool {
        self.issuer == issuer && claims.values(&self.claim).any(|v| v == self.value)
    }
}

impl fmt::Display for ClaimRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} = {} -> {}",
            self.issuer, self.claim, self.value, self.role
        )?;
        if !self.subscriptions.is_empty() {
            let ids: Vec<&str> = self.subscriptions.iter().map(|s| s.as_str()).collect();
            write!(f, " ({})", ids.join(", "))?;
        }
        Ok(())
    }
}

/// An issuer's short name: what rules, accounts and the audit log call it.
pub fn is_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A verified token's claims: text values, and lists of them (`groups`, `roles`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims(BTreeMap<String, Value>);

impl Claims {
    pub fn new(claims: BTreeMap<String, Value>) -> Self {
        Self(claims)
    }

    /// The text values of claim `name`: itself if it is text, its text items if it is a list.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let value = self.0.get(name);
        let one = value.and_then(Value::as_str);
        let many = value
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        one.into_iter().chain(many)
    }

    /// The first text value of the first of `names` that has one.
    pub fn first(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.values(n).next())
    }

    /// Who the token speaks for, as people read it: a person's `upn`, `email` or
    /// `preferred_username`, a service principal's `appid` or `azp`, else `sub`.
    pub fn principal(&self) -> Option<&str> {
        self.first(&["upn", "email", "preferred_username", "appid", "azp", "sub"])
    }
}

/// What `claims` of a token from `issuer` may do under `rules`: the strongest role any matching
/// rule grants (operator, then provider, then tenant), a tenant the union of its rules'
/// subscriptions; `None` when no rule matches.
pub fn access_from_claims(rules: &[ClaimRule], issuer: &str, claims: &Claims) -> Option<Access> {
    let matching: Vec<&ClaimRule> = rules.iter().filter(|r| r.matches(issuer, claims)).collect();
    let has = |role| matching.iter().any(|r| r.role == role);
    let role = [Role::Operator, Role::Provider, Role::Tenant]
        .into_iter()
        .find(|role| has(*role))?;
    let mut subscriptions: Vec<SubscriptionId> = match role {
        Role::Tenant => matching
            .iter()
            .flat_map(|r| r.subscriptions.iter().cloned())
            .collect(),
        _ => Vec::new(),
    };
    subscriptions.sort();
    subscriptions.dedup();
    Some(Access {
        role,
        subscriptions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sub(n: u8) -> SubscriptionId {
        SubscriptionId::parse(&format!("{n:08x}-1111-4111-8111-111111111111")).unwrap()
    }

    fn rule(claim: &str, value: &str, role: &str, subs: &[SubscriptionId]) -> ClaimRule {
        ClaimRule::parse(RuleDraft {
            issuer: "adfs".into(),
            claim: claim.into(),
            value: value.into(),
            role: role.into(),
            subscriptions: subs.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    fn claims(value: Value) -> Claims {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_tenant_reads_the_union_of_the_subscriptions_its_groups_are_granted() {
        let rules = [
            rule("groups", "tenant-contoso", "tenant", &[sub(1)]),
            rule("groups", "tenant-fabrikam", "tenant", &[sub(2), sub(1)]),
            rule("groups", "tenant-other", "tenant", &[sub(3)]),
        ];
        let terry = claims(json!({"groups": ["tenant-contoso", "tenant-fabrikam"]}));
        let access = access_from_claims(&rules, "adfs", &terry).unwrap();
        assert_eq!(access.role, Role::Tenant);
        assert_eq!(access.subscriptions, [sub(1), sub(2)]);
        // Another issuer's token with the same group gets nothing.
        assert_eq!(access_from_claims(&rules, "entra", &terry), None);
        // A token whose group was removed gets nothing.
        assert_eq!(
            access_from_claims(&rules, "adfs", &claims(json!({"groups": []}))),
            None
        );
    }

    #[test]
    fn the_strongest_role_wins_and_single_value_claims_match_too() {
        let rules = [
            rule("groups", "tenant-contoso", "tenant", &[sub(1)]),
            rule("roles", "Meterbook.Operator", "operator", &[]),
            rule("appid", "usage-forwarder", "provider", &[]),
        ];
        let both = claims(json!({"groups": ["tenant-contoso"], "roles": ["Meterbook.Operator"]}));
        let access = access_from_claims(&rules, "adfs", &both).unwrap();
        assert_eq!(access.role, Role::Operator);
        assert!(access.subscriptions.is_empty());
        let forwarder = claims(json!({"appid": "usage-forwarder", "sub": "usage-forwarder"}));
        assert_eq!(
            access_from_claims(&rules, "adfs", &forwarder).map(|a| a.role),
            Some(Role::Provider)
        );
        assert_eq!(forwarder.principal(), Some("usage-forwarder"));
    }

    #[test]
    fn rules_are_refused_naming_what_is_wrong() {
        let draft = |claim: &str, role: &str, subs: Vec<String>| RuleDraft {
            issuer: "adfs".into(),
            claim: claim.into(),
            value: "x".into(),
            role: role.into(),
            subscriptions: subs,
        };
        for (bad, needle) in [
            (
                draft("shoe_size", "tenant", vec![sub(1).to_string()]),
                "claim 'shoe_size'",
            ),
            (
                draft("groups", "tenant", vec![]),
                "at least one subscription",
            ),
            (
                draft("groups", "operator", vec![sub(1).to_string()]),
                "every subscription",
            ),
            (draft("groups", "king", vec![]), "unknown role"),
            (
                draft("groups", "tenant", vec!["nope".into()]),
                "not a subscription ID",
            ),
            (
                RuleDraft {
                    issuer: "has space".into(),
                    ..draft("groups", "operator", vec![])
                },
                "issuer 'has space'",
            ),
        ] {
            let error = ClaimRule::parse(bad.clone()).unwrap_err();
            assert!(error.contains(needle), "{bad:?}: {error}");
        }
        let parsed = ClaimRule::parse(draft("GROUPS", "Operator", vec![])).unwrap();
        assert_eq!(parsed.claim, "groups");
        assert_eq!(parsed.to_string(), "adfs: groups = x -> operator");
    }
}
