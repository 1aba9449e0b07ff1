//! What the audit log records: one closed list of actions, each named `<object>.<verb>`, so the
//! log, its filters (portal and `meterbook audit`) and the code that writes it cannot drift apart.

use std::fmt;
use std::str::FromStr;

/// One kind of audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    SignIn,
    SignInRefused,
    SignInThrottled,
    SignOut,
    TokenCreate,
    TokenRevoke,
    WidgetCreate,
    WidgetRevoke,
    UserAdd,
    UserDisable,
    UserEnable,
    UserSetPassword,
    GrantAdd,
    GrantRemove,
    UsageExport,
    RatesImport,
    ChargebackRun,
    ChargebackClose,
    ChargebackPush,
    WebhookAdd,
    WebhookRemove,
    WebhookRetry,
    SubscriptionAdd,
    SubscriptionSet,
    SubscriptionImport,
    ClaimRuleAdd,
    ClaimRuleRemove,
}

impl AuditAction {
    /// Every action, in the order the filters list them.
    pub const ALL: [AuditAction; 27] = [
        Self::SignIn,
        Self::SignInRefused,
        Self::SignInThrottled,
        Self::SignOut,
        Self::TokenCreate,
        Self::TokenRevoke,
        Self::WidgetCreate,
        Self::WidgetRevoke,
        Self::UserAdd,
        Self::UserDisable,
        Self::UserEnable,
        Self::UserSetPassword,
        Self::GrantAdd,
        Self::GrantRemove,
        Self::UsageExport,
        Self::RatesImport,
        Self::ChargebackRun,
        Self::ChargebackClose,
        Self::ChargebackPush,
        Self::WebhookAdd,
        Self::WebhookRemove,
        Self::WebhookRetry,
        Self::SubscriptionAdd,
        Self::SubscriptionSet,
        Self::SubscriptionImport,
        Self::ClaimRuleAdd,
        Self::ClaimRuleRemove,
    ];

    /// The name stored in the log and accepted by the filters.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "session.sign_in",
            Self::SignInRefused => "session.refuse",
            Self::SignInThrottled => "session.throttle",
            Self::SignOut => "session.sign_out",
            Self::TokenCreate => "token.create",
            Self::TokenRevoke => "token.revoke",
            Self::WidgetCreate => "widget.create",
            Self::WidgetRevoke => "widget.revoke",
            Self::UserAdd => "user.add",
            Self::UserDisable => "user.disable",
            Self::UserEnable => "user.enable",
            Self::UserSetPassword => "user.set_password",
            Self::GrantAdd => "grant.add",
            Self::GrantRemove => "grant.remove",
            Self::UsageExport => "usage.export",
            Self::RatesImport => "rates.import",
            Self::ChargebackRun => "chargeback.run",
            Self::ChargebackClose => "chargeback.close",
            Self::ChargebackPush => "chargeback.push",
            Self::WebhookAdd => "webhook.add",
            Self::WebhookRemove => "webhook.remove",
            Self::WebhookRetry => "webhook.retry",
            Self::SubscriptionAdd => "subscription.add",
            Self::SubscriptionSet => "subscription.set",
            Self::SubscriptionImport => "subscription.import",
            Self::ClaimRuleAdd => "claim_rule.add",
            Self::ClaimRuleRemove => "claim_rule.remove",
        }
    }
}

impl serde::Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A name that is not one of [`AuditAction::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an audited action (one of: {list})", list = names())]
pub struct UnknownAction(pub String);

fn names() -> String {
    let names: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
    names.join(", ")
}

impl FromStr for AuditAction {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_from_its_name() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(action));
        }
    }

    #[test]
    fn names_are_unique_and_follow_one_convention() {
        let mut seen = std::collections::HashSet::new();
        for action in AuditAction::ALL {
            let name = action.as_str();
            assert!(seen.insert(name), "{name} twice");
            let (object, verb) = name.split_once('.').expect("object.verb");
            for part in [object, verb] {
                assert!(
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn an_unknown_name_is_refused_listing_the_known_ones() {
        let err = "token_created"
            .parse::<AuditAction>()
            .expect_err("old name");
        assert!(err.to_string().contains("token.create"), "{err}");
    }
}
