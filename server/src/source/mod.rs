//! Where usage comes from: Meterbook's own store, or an upstream Azure Stack Hub that Meterbook
//! fronts as an authenticated proxy. The API and the portal read through [`UsageSource`] and do
//! not know which; every read carries a [`ReadScope`], which only an access check can make.

mod client_certificate;
pub mod credential;
mod store;
mod upstream;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use meterbook_core::access::ReadScope;
use meterbook_core::explore::{
    DirectoryGroups, Exploration, ExploreQuery, Explorer, PageFrom, TimeBasis, UsageFact, UsageRow,
};
use meterbook_core::overview::DailyMeterTotal;
use meterbook_core::page::Cursor;
use meterbook_core::query::AggregateQuery;
use meterbook_core::usage::AggregateLine;
use meterbook_core::{ArmCode, ArmError, SubscriptionId};

pub use store::StoreSource;
pub use upstream::{UpstreamConfig, UpstreamSource};

use crate::store::StoreError;

/// Most usage records one explorer query reads where the source cannot aggregate them itself
/// (an upstream hub; about 200 MB held while it is answered). The store has no such limit.
pub const MAX_FACTS: usize = 1_000_000;

/// The rows of an explorer query, in its order.
pub type RowStream = BoxStream<'static, Result<UsageRow, SourceError>>;

/// A page of aggregates and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePage {
    pub items: Vec<AggregateLine>,
    pub next: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upstream failed, refused Meterbook's credential, or answered nonsense; the message is
    /// written for the person who asked and holds no secret.
    #[error("{0}")]
    Upstream(ArmError),
    /// A continuation cursor of the other kind of source (e.g. after a restart in another mode).
    #[error("the continuation token does not belong to this server's usage source")]
    ForeignCursor,
    /// An explorer query would read more usage records than one request holds in memory.
    #[error(
        "the period holds more than {0} usage records; choose a shorter period or one subscription"
    )]
    TooMany(usize),
    /// ARM pages read one subscription or all of them.
    #[error("name one subscription to read")]
    ScopeTooWide,
}

impl SourceError {
    pub(crate) fn upstream(code: ArmCode, message: impl Into<String>) -> Self {
        Self::Upstream(ArmError::new(code, message))
    }
}

/// The subscription an ARM page is filtered to: one, or `None` for all (an operator's scope).
/// ARM pages cannot hold a chosen few, so a scope of several subscriptions is refused.
pub(crate) fn page_subscription(scope: &ReadScope) -> Result<Option<&SubscriptionId>, SourceError> {
    match (scope.subscriptions(), scope.single()) {
        (None, _) => Ok(None),
        (Some(_), Some(one)) => Ok(Some(one)),
        (Some(_), None) => Err(SourceError::ScopeTooWide),
    }
}

#[async_trait]
pub trait UsageSource: Send + Sync + 'static {
    /// One page of ARM aggregates of one subscription or, for an operator's scope, of all.
    async fn aggregates(
        &self,
        scope: &ReadScope,
        query: &AggregateQuery,
        after: Option<Cursor>,
    ) -> Result<SourcePage, SourceError>;

    /// Per subscription, meter and UTC day of usage: totals of the usage in `[from, to)` of the
    /// scope's subscriptions.
    async fn daily_totals(
        &self,
        scope: &ReadScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailyMeterTotal>, SourceError>;

    /// The hourly usage of the scope whose `basis` time is in `[from, to)`, one fact per record
    /// (per hourly aggregate upstream): what the explorer reads. At most [`MAX_FACTS`].
    async fn facts(
        &self,
        scope: &ReadScope,
        basis: TimeBasis,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageFact>, SourceError>;

    /// The upstream hub's tenant directory, for a source that reads a hub; `None` for the
    /// embedded store, which keeps its own.
    async fn hub_directory(
        &self,
    ) -> Result<Option<Vec<meterbook_core::directory::EntryDraft>>, SourceError> {
        Ok(None)
    }

    /// One explorer view of the scope's usage in the period `[from, to)` on the query's basis;
    /// `groups` names each subscription's group when the query groups by offer or plan. By
    /// default the facts are read and folded in memory (at most [`MAX_FACTS`]); a source that
    /// can aggregate does so itself.
    async fn explore(
        &self,
        scope: &ReadScope,
        query: &ExploreQuery,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        page: &PageFrom,
        groups: &DirectoryGroups,
    ) -> Result<Exploration, SourceError> {
        let facts = self.facts(scope, query.basis, from, to).await?;
        Ok(Explorer::new(query.clone(), from, to, &facts, groups).page_from(page))
    }

    /// Every row of an explorer query, in its order (for the CSV download).
    async fn explore_rows(
        &self,
        scope: &ReadScope,
        query: &ExploreQuery,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<RowStream, SourceError> {
        let facts = self.facts(scope, query.basis, from, to).await?;
        // Rows are not grouped: no groups are needed.
        let rows = Explorer::new(query.clone(), from, to, &facts, &DirectoryGroups::new())
            .rows()
            .to_vec();
        Ok(Box::pin(futures::stream::iter(rows.into_iter().map(Ok))))
    }

    /// A short description for logs and the start-up banner.
    fn describe(&self) -> String;
}
