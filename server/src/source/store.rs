//! The embedded store as a usage source.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use meterbook_core::access::ReadScope;
use meterbook_core::explore::{
    DirectoryGroups, Exploration, ExploreQuery, PageFrom, TimeBasis, UsageFact,
};
use meterbook_core::overview::DailyMeterTotal;
use meterbook_core::page::{Cursor, PAGE_SIZE};
use meterbook_core::query::AggregateQuery;

use super::{page_subscription, RowStream, SourceError, SourcePage, UsageSource, MAX_FACTS};
use crate::metrics;
use crate::store::{AggregateRequest, ExploreRequest, Store};

pub struct StoreSource {
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl UsageSource for StoreSource {
    async fn aggregates(
        &self,
        scope: &ReadScope,
        query: &AggregateQuery,
        after: Option<Cursor>,
    ) -> Result<SourcePage, SourceError> {
        let subscription = page_subscription(scope)?.cloned();
        let after = match after {
            None => None,
            Some(Cursor::Key(key)) => Some(key),
            Some(Cursor::Upstream(_)) => return Err(SourceError::ForeignCursor),
        };
        let page = metrics::timed(
            "aggregates",
            self.store.aggregates(&AggregateRequest {
                subscription,
                query: query.clone(),
                after,
                limit: PAGE_SIZE,
            }),
        )
        .await?;
        Ok(SourcePage {
            items: page.items,
            next: page.next.map(Cursor::Key),
        })
    }

    async fn daily_totals(
        &self,
        scope: &ReadScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DailyMeterTotal>, SourceError> {
        Ok(metrics::timed(
            "daily_totals",
            self.store.daily_totals(scope.subscriptions(), from, to),
        )
        .await?)
    }

    async fn facts(
        &self,
        scope: &ReadScope,
        basis: TimeBasis,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageFact>, SourceError> {
        let facts = metrics::timed(
            "facts",
            self.store
                .facts(scope.subscriptions(), basis, from, to, MAX_FACTS + 1),
        )
        .await?;
        if facts.len() > MAX_FACTS {
            return Err(SourceError::TooMany(MAX_FACTS));
        }
        Ok(facts)
    }

    async fn explore(
        &self,
        scope: &ReadScope,
        query: &ExploreQuery,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        page: &PageFrom,
        groups: &DirectoryGroups,
    ) -> Result<Exploration, SourceError> {
        let request = ExploreRequest {
            subscriptions: scope.subscriptions(),
            query,
            groups,
            from,
            to,
            page,
        };
        Ok(metrics::timed("explore", self.store.explore(&request)).await?)
    }

    async fn explore_rows(
        &self,
        scope: &ReadScope,
        query: &ExploreQuery,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<RowStream, SourceError> {
        let request = ExploreRequest {
            subscriptions: scope.subscriptions(),
            query,
            groups: &DirectoryGroups::new(),
            from,
            to,
            page: &PageFrom::First,
        };
        let rows = self.store.explore_rows(&request).await?;
        Ok(Box::pin(futures::stream::unfold(rows, |mut rows| async {
            let row = rows.recv().await?;
            Some((row.map_err(SourceError::from), rows))
        })))
    }

    fn describe(&self) -> String {
        "the embedded store".to_owned()
    }
}
