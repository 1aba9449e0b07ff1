//! The usage explorer's answers, in one place for the JSON API, the CSV download and the portal:
//! read the tenant directory for what the query asks of it (offer and plan filters narrow the
//! subscriptions read; grouping by offer or plan names each subscription's group), ask the usage
//! source for the view (the store computes it in SQL; an upstream hub's usage is folded by
//! [`meterbook_core::explore::Explorer`]), and sign the tokens of the pages around it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use meterbook_core::access::{Access, ReadScope, ScopeError};
use meterbook_core::explore::{
    row_key, DirectoryGroups, Exploration, ExploreQuery, PageFrom, RowPosition,
};
use meterbook_core::page::{TokenError, TokenSigner};
use meterbook_core::SubscriptionId;

use crate::source::{RowStream, SourceError, UsageSource};
use crate::store::{DirectoryStore, StoreError};

/// Where the page to show starts, as the client asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Paging {
    #[default]
    First,
    After(String),
    Before(String),
}

impl Paging {
    /// From the `after` / `before` URL parameters (at most one may be set).
    pub fn from_params(after: Option<&str>, before: Option<&str>) -> Result<Self, ExploreError> {
        match (
            after.filter(|t| !t.is_empty()),
            before.filter(|t| !t.is_empty()),
        ) {
            (None, None) => Ok(Self::First),
            (Some(t), None) => Ok(Self::After(t.to_owned())),
            (None, Some(t)) => Ok(Self::Before(t.to_owned())),
            (Some(_), Some(_)) => Err(ExploreError::Query(
                "give after or before, not both".to_owned(),
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    #[error("{0}")]
    Query(String),
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The explorer query and paging of a URL query string.
pub fn parse_request(raw_query: &str) -> Result<(ExploreQuery, Paging), ExploreError> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(raw_query.trim_start_matches('?'))
            .map_err(|_| ExploreError::Query("the query string is malformed".to_owned()))?;
    let query = ExploreQuery::from_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ExploreError::Query(e.0))?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let paging = Paging::from_params(param("after"), param("before"))?;
    Ok((query, paging))
}

/// The scope a query reads: the viewer's, narrowed to the query's subscription if it names one.
pub fn scope_of(access: &Access, query: &ExploreQuery) -> Result<ReadScope, ScopeError> {
    access.read_scope(query.subscription.as_ref())
}

/// `scope` narrowed to the subscriptions the query's offer and plan filters keep (the tenant
/// directory's members of them); `scope` itself when the query has no such filter.
pub async fn directory_scope(
    directory: &dyn DirectoryStore,
    scope: &ReadScope,
    query: &ExploreQuery,
) -> Result<ReadScope, StoreError> {
    let filters = &query.filters;
    if !filters.reads_directory() {
        return Ok(scope.clone());
    }
    let members = directory
        .directory_members(filters.offer.as_ref(), filters.plan.as_ref())
        .await?;
    Ok(scope.narrowed_to(&members))
}

/// The display names of the subscriptions in `scope` the directory knows, by ID (every
/// subscription's for an operator's scope, read a thousand at a time).
pub async fn scope_names(
    directory: &dyn DirectoryStore,
    scope: &ReadScope,
) -> Result<BTreeMap<String, String>, StoreError> {
    const PER_PAGE: usize = 1_000;
    let named = |entries: Vec<meterbook_core::directory::DirectoryEntry>| {
        entries
            .into_iter()
            .map(|e| (e.subscription_id.to_string(), e.display_name))
    };
    if let Some(subscriptions) = scope.subscriptions() {
        return Ok(named(directory.directory_entries(subscriptions).await?).collect());
    }
    let mut names = BTreeMap::new();
    let mut after: Option<SubscriptionId> = None;
    loop {
        let page = directory
            .directory_page(None, after.as_ref(), PER_PAGE)
            .await?;
        let full = page.len() == PER_PAGE;
        after = page.last().map(|e| e.subscription_id.clone());
        names.extend(named(page));
        if !full {
            return Ok(names);
        }
    }
}

/// Every row of `query` in `scope` (narrowed by its offer and plan filters), in the query's
/// order, and the period they cover.
pub async fn explore_rows(
    source: &dyn UsageSource,
    directory: &dyn DirectoryStore,
    scope: &ReadScope,
    query: &ExploreQuery,
    now: DateTime<Utc>,
) -> Result<(RowStream, (DateTime<Utc>, DateTime<Utc>)), ExploreError> {
    let period = query.period.window(now);
    let scope = directory_scope(directory, scope, query).await?;
    Ok((source.explore_rows(&scope, query, period).await?, period))
}

/// One page of the explorer, with signed tokens for the pages after and before it, and the
/// offers and plans of its subscriptions among the filter options.
pub async fn explore(
    source: &dyn UsageSource,
    directory: &dyn DirectoryStore,
    signer: &TokenSigner,
    access: &Access,
    query: ExploreQuery,
    paging: Paging,
    now: DateTime<Utc>,
) -> Result<Exploration, ExploreError> {
    // The scope and the token are checked before any usage is read.
    let scope = scope_of(access, &query)?;
    let (from, to) = query.period.window(now);
    let fingerprint = query.fingerprint(&scope.fingerprint(), from, to);
    let open = |token: &str| signer.open_position::<RowPosition>(&fingerprint, token);
    let from_page = match &paging {
        Paging::First => PageFrom::First,
        Paging::After(token) => PageFrom::After(open(token)?),
        Paging::Before(token) => PageFrom::Before(open(token)?),
    };
    let read = directory_scope(directory, &scope, &query).await?;
    let groups = if query.group_by.is_directory() {
        directory.directory_groups(&query.group_by).await?
    } else {
        DirectoryGroups::new()
    };
    let mut page = source
        .explore(&read, &query, (from, to), &from_page, &groups)
        .await?;
    let offered: Vec<SubscriptionId> = page
        .options
        .subscriptions
        .iter()
        .filter_map(|o| SubscriptionId::parse(&o.value).ok())
        .collect();
    page.options
        .add_directory(&directory.directory_entries(&offered).await?);
    let shown_end = page.first_row + page.rows.len();
    let seal = |row, index| {
        let key = row_key(row, &page.query);
        signer.seal_position(&fingerprint, &RowPosition { key, index })
    };
    let next = (shown_end < page.total_rows)
        .then(|| page.rows.last().map(|last| seal(last, shown_end - 1)))
        .flatten();
    let previous = (page.first_row > 0)
        .then(|| page.rows.first().map(|first| seal(first, page.first_row)))
        .flatten();
    page.next = next;
    page.previous = previous;
    Ok(page)
}
