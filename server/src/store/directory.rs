//! The tenant directory as the store keeps it: an entry per known subscription (its name, owner,
//! state, offer, plans, directory tenant, reseller and tags), read here and written in
//! [`super::Changes`].

use async_trait::async_trait;
use meterbook_core::audit::AuditAction;
use meterbook_core::directory::{CatalogName, DirectoryEntry};
use meterbook_core::explore::{Dimension, DirectoryGroups};
use meterbook_core::SubscriptionId;

use super::StoreError;

/// Who wrote an entry last: the upstream hub's admin API (whose names win at each sync) or this
/// Meterbook (the command line, an import, the admin API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntrySource {
    Local,
    Hub,
}

impl EntrySource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Hub => "hub",
        }
    }
}

/// What putting an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Added,
    Changed,
    /// The directory held the same already; nothing was written.
    Unchanged,
}

impl PutOutcome {
    /// How the audit log names a put of one entry that changed something.
    pub fn audited_as(self) -> Option<AuditAction> {
        match self {
            Self::Added => Some(AuditAction::SubscriptionAdd),
            Self::Changed => Some(AuditAction::SubscriptionSet),
            Self::Unchanged => None,
        }
    }
}

/// What putting many entries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutCounts {
    pub added: u64,
    pub changed: u64,
    pub unchanged: u64,
}

#[async_trait]
pub trait DirectoryStore: Send + Sync + 'static {
    /// One subscription's entry, if the directory knows it.
    async fn directory_entry(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<DirectoryEntry>, StoreError>;

    /// Up to `limit` entries in subscription ID order, after `after`; of the subscriptions in
    /// `only` (`None`: every one).
    async fn directory_page(
        &self,
        only: Option<&[SubscriptionId]>,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<DirectoryEntry>, StoreError>;

    /// Up to `limit` entries after `after`, in subscription ID order, whose name, owner, ID or
    /// offer holds `find` (in any case).
    async fn directory_find(
        &self,
        find: &str,
        after: Option<&SubscriptionId>,
        limit: usize,
    ) -> Result<Vec<DirectoryEntry>, StoreError>;

    /// The entries of `ids` the directory knows, in subscription ID order.
    async fn directory_entries(
        &self,
        ids: &[SubscriptionId],
    ) -> Result<Vec<DirectoryEntry>, StoreError>;

    /// The entries whose display name is `name`, in any case (several subscriptions may share
    /// one), in subscription ID order.
    async fn directory_named(&self, name: &str) -> Result<Vec<DirectoryEntry>, StoreError>;

    /// The subscriptions on `offer` that have `plan` (`None`: any), names compared without case,
    /// in subscription ID order: what the explorer's offer and plan filters keep.
    async fn directory_members(
        &self,
        offer: Option<&CatalogName>,
        plan: Option<&CatalogName>,
    ) -> Result<Vec<SubscriptionId>, StoreError>;

    /// Each subscription's group by `by` (its offer, or its plans as one value); empty for a
    /// dimension the directory does not hold. Subscriptions without one are left out.
    async fn directory_groups(&self, by: &Dimension) -> Result<DirectoryGroups, StoreError>;
}
