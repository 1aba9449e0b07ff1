//! Store code whose SQL both SQLite and PostgreSQL run, expanded once per store.

mod accounts;
mod rates;
pub(crate) mod reads;
pub(crate) mod webhooks;
mod widgets;

use meterbook_core::access::Role;
use meterbook_core::SubscriptionId;

pub(crate) use accounts::account_store;
pub(crate) use rates::rate_store;
pub(crate) use webhooks::webhook_store;
pub(crate) use widgets::widget_store;

pub(crate) fn parse_role(raw: &str) -> Role {
    // The column has a CHECK constraint; an unknown value can only come from a hand-edited
    // database, and the least privilege is the safe reading of it.
    Role::parse(raw).unwrap_or(Role::Provider)
}

/// Grants as stored; a value that is not a subscription ID (a hand-edited row) grants nothing.
pub(crate) fn parse_subscriptions(joined: Option<String>) -> Vec<SubscriptionId> {
    joined
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| SubscriptionId::parse(s).ok())
        .collect()
}
