//! Who may do what: the roles of API tokens and the rules that follow from them.
//!
//! Operators read every subscription; tenants read only the subscriptions they were granted;
//! providers (resource providers and the agents that forward their usage) may only ingest.

use serde::{Deserialize, Serialize};

use crate::ids::SubscriptionId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Tenant,
    Provider,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "operator" => Ok(Self::Operator),
            "tenant" => Ok(Self::Tenant),
            "provider" => Ok(Self::Provider),
            other => Err(format!(
                "unknown role '{other}': use operator, tenant or provider"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Tenant => "tenant",
            Self::Provider => "provider",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an authenticated caller may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    pub role: Role,
    /// The subscriptions a tenant was granted; ignored for other roles.
    pub subscriptions: Vec<SubscriptionId>,
}

impl Access {
    /// May read the usage of `subscription`.
    pub fn can_read(&self, subscription: &SubscriptionId) -> bool {
        match self.role {
            Role::Operator => true,
            Role::Tenant => self.subscriptions.contains(subscription),
            Role::Provider => false,
        }
    }

    /// May read every tenant's usage at once (the provider API, the overview).
    pub fn can_read_all(&self) -> bool {
        self.role == Role::Operator
    }

    /// May submit usage records.
    pub fn can_ingest(&self) -> bool {
        matches!(self.role, Role::Provider | Role::Operator)
    }

    /// The scope of a read of `requested` (one subscription) or, with `None`, of everything this
    /// caller may read. This is the one place read access is decided.
    pub fn read_scope(&self, requested: Option<&SubscriptionId>) -> Result<ReadScope, ScopeError> {
        match (self.role, requested) {
            (Role::Operator, None) => Ok(ReadScope(None)),
            (Role::Operator, Some(s)) => Ok(ReadScope(Some(vec![s.clone()]))),
            (Role::Tenant, None) if !self.subscriptions.is_empty() => {
                Ok(ReadScope(Some(self.subscriptions.clone())))
            }
            (Role::Tenant, Some(s)) if self.can_read(s) => Ok(ReadScope(Some(vec![s.clone()]))),
            (Role::Tenant, Some(s)) => Err(ScopeError::NotGranted(s.clone())),
            (Role::Tenant, None) | (Role::Provider, _) => Err(ScopeError::NoReadAccess),
        }
    }
}

/// The subscriptions one read covers. The only way to make one is [`Access::read_scope`], so
/// code that holds a `ReadScope` holds a decision that the read is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadScope(Option<Vec<SubscriptionId>>);

impl ReadScope {
    /// The subscriptions covered; `None` means every subscription (an operator's read).
    pub fn subscriptions(&self) -> Option<&[SubscriptionId]> {
        self.0.as_deref()
    }

    /// The one subscription covered, when the scope is exactly one.
    pub fn single(&self) -> Option<&SubscriptionId> {
        match self.0.as_deref() {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    /// Whether `subscription` is inside the scope.
    pub fn covers(&self, subscription: &SubscriptionId) -> bool {
        self.0
            .as_ref()
            .is_none_or(|subs| subs.contains(subscription))
    }

    /// The part of the scope that is also in `subscriptions`.
    pub fn narrowed_to(&self, subscriptions: &[SubscriptionId]) -> Self {
        let kept = subscriptions.iter().filter(|s| self.covers(s)).cloned();
        Self(Some(kept.collect()))
    }

    /// A stable text form, for binding continuation tokens to the scope they were issued for.
    pub fn fingerprint(&self) -> String {
        match &self.0 {
            None => "all".to_owned(),
            Some(subs) => {
                let ids: Vec<&str> = subs.iter().map(SubscriptionId::as_str).collect();
                format!("subs:{}", ids.join(","))
            }
        }
    }
}

/// Why a read was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("no access to the usage of subscription {0}")]
    NotGranted(SubscriptionId),
    #[error("this identity may not read usage")]
    NoReadAccess,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(n: u8) -> SubscriptionId {
        SubscriptionId::parse(&format!("{n:08x}-0000-0000-0000-000000000000")).unwrap()
    }

    #[test]
    fn tenants_read_only_their_own_subscriptions() {
        let tenant = Access {
            role: Role::Tenant,
            subscriptions: vec![sub(1)],
        };
        assert!(tenant.can_read(&sub(1)));
        assert!(!tenant.can_read(&sub(2)));
        assert!(!tenant.can_read_all());
        assert!(!tenant.can_ingest());
    }

    #[test]
    fn operators_read_everything_and_providers_only_ingest() {
        let operator = Access {
            role: Role::Operator,
            subscriptions: vec![],
        };
        assert!(operator.can_read(&sub(9)) && operator.can_read_all() && operator.can_ingest());
        let provider = Access {
            role: Role::Provider,
            subscriptions: vec![sub(1)],
        };
        assert!(!provider.can_read(&sub(1)) && !provider.can_read_all() && provider.can_ingest());
    }

    #[test]
    fn read_scopes_follow_the_role() {
        let tenant = Access {
            role: Role::Tenant,
            subscriptions: vec![sub(1), sub(2)],
        };
        assert_eq!(
            tenant.read_scope(None).unwrap().subscriptions(),
            Some(&[sub(1), sub(2)][..])
        );
        assert_eq!(
            tenant.read_scope(Some(&sub(2))).unwrap().single(),
            Some(&sub(2))
        );
        assert_eq!(
            tenant.read_scope(Some(&sub(3))),
            Err(ScopeError::NotGranted(sub(3)))
        );
        let lapsed = Access {
            role: Role::Tenant,
            subscriptions: vec![],
        };
        assert_eq!(lapsed.read_scope(None), Err(ScopeError::NoReadAccess));
        let operator = Access {
            role: Role::Operator,
            subscriptions: vec![],
        };
        let all = operator.read_scope(None).unwrap();
        assert!(all.subscriptions().is_none() && all.covers(&sub(7)));
        assert_eq!(all.fingerprint(), "all");
        let provider = Access {
            role: Role::Provider,
            subscriptions: vec![],
        };
        assert_eq!(
            provider.read_scope(Some(&sub(1))),
            Err(ScopeError::NoReadAccess)
        );
    }

    #[test]
    fn roles_parse_case_insensitively() {
        assert_eq!(Role::parse(" Operator ").unwrap(), Role::Operator);
        assert!(Role::parse("admin").is_err());
    }

    #[test]
    fn a_scope_narrowed_to_some_subscriptions_keeps_only_those_it_covered() {
        let all = ReadScope(None);
        assert_eq!(
            all.narrowed_to(&[sub(1), sub(2)]).subscriptions(),
            Some(&[sub(1), sub(2)][..])
        );
        let mine = ReadScope(Some(vec![sub(1), sub(3)]));
        assert_eq!(
            mine.narrowed_to(&[sub(1), sub(2)]).subscriptions(),
            Some(&[sub(1)][..])
        );
        assert_eq!(mine.narrowed_to(&[]).subscriptions(), Some(&[][..]));
    }
}
