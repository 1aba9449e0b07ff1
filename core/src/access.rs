//! Who may do what: the roles of API tokens and the rules that follow from them.
//!
//! Operators read every subscription; tenants read only the subscriptions they were granted;
//! providers (resource providers and the agents that forward their usage) may only ingest.

use serde::{Deserialize, Serialize};

use crate::ids::SubscriptionId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    fn roles_parse_case_insensitively() {
        assert_eq!(Role::parse(" Operator ").unwrap(), Role::Operator);
        assert!(Role::parse("admin").is_err());
    }
}
