//! Chargeback: a billing period's statement, from the stored usage and the rate card in effect.
//! The CLI and the API both come here, so a statement reads the same wherever it is asked for.
//!
//! A statement is computed when asked for. An operator may also record a run (kept, and compared
//! with the previous run of the same statement, so late usage shows as changes) and close a
//! period: closing records a final run of every statement the period has runs of (and the one by
//! subscription), and from then on the period answers those runs and runs no more.
//!
//! Closing also queues each frozen statement for every webhook (see [`crate::webhooks`]); an
//! operator can push a statement at any time too.

use chrono::{DateTime, SubsecRound, Utc};
use meterbook_core::directory::Directory;
use meterbook_core::rating::period::{BillingPeriod, Tz};
use meterbook_core::rating::price::PricingError;
use meterbook_core::rating::statement::{
    build_statement, price_spans, statement_changes, GroupBy, LineChange, Statement,
};
use meterbook_core::SubscriptionId;
use serde::Serialize;

use crate::store::{Changes, StatementKey, Store, StoreError, StoredRun};
use crate::webhooks::{statement_push, PERIOD_CLOSED, STATEMENT_PUSHED};

/// Why no statement could be made.
#[derive(Debug, thiserror::Error)]
pub enum ChargebackError {
    #[error(
        "no rate card has been saved yet: an operator imports one with \
         `meterbook rates import FILE` or PUT /api/v1/rates"
    )]
    NoRateCard,
    #[error("period {0} is closed: its statements are frozen")]
    Closed(String),
    #[error(
        "period {period} is closed and has no statement by {group_by}: closing froze only the \
         statements it had runs of"
    )]
    NotFrozen { period: String, group_by: String },
    #[error(
        "no webhook is configured to push to: an operator adds one with \
         `meterbook webhooks add URL` or POST /api/v1/webhooks"
    )]
    NoWebhooks,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pricing(#[from] PricingError),
}

/// What to charge back.
#[derive(Debug, Clone)]
pub struct ChargebackRequest<'a> {
    pub period: BillingPeriod,
    pub zone: Tz,
    pub group_by: GroupBy,
    /// `None`: every subscription (an operator's statement).
    pub subscriptions: Option<&'a [SubscriptionId]>,
}

impl ChargebackRequest<'_> {
    fn key<'k>(&'k self, group_by: &'k str) -> StatementKey<'k> {
        StatementKey {
            period: &self.period.label,
            time_zone: self.zone.name(),
            group_by,
        }
    }
}

/// The statement of `request`: the frozen one of a closed period, else computed now.
pub async fn statement(
    store: &dyn Store,
    request: &ChargebackRequest<'_>,
) -> Result<Statement, ChargebackError> {
    let closed_at = store
        .period_closed_at(&request.period.label, request.zone.name())
        .await?;
    let Some(closed_at) = closed_at else {
        return compute(store, request).await;
    };
    let group_by = request.group_by.to_string();
    let run = store
        .last_run(request.key(&group_by))
        .await?
        .ok_or_else(|| ChargebackError::NotFrozen {
            period: request.period.label.clone(),
            group_by: group_by.clone(),
        })?;
    let mut frozen = run.statement;
    frozen.closed_at = Some(closed_at);
    let mut frozen = match request.subscriptions {
        Some(subs) => frozen.for_subscriptions(subs),
        None => frozen,
    };
    // A statement frozen before the directory named it is named now; one frozen with names
    // keeps them.
    name_subscriptions(store, &mut frozen).await?;
    Ok(frozen)
}

/// The tenant directory's entries of `ids` (unknown ones are left out).
async fn directory_of(store: &dyn Store, ids: &[SubscriptionId]) -> Result<Directory, StoreError> {
    Ok(Directory::new(store.directory_entries(ids).await?))
}

/// Names the statement's subscriptions from the tenant directory.
async fn name_subscriptions(
    store: &dyn Store,
    statement: &mut Statement,
) -> Result<(), StoreError> {
    let directory = directory_of(store, &statement.subscriptions()).await?;
    statement.name_subscriptions(&directory);
    Ok(())
}

/// Prices the request's usage at the current rate card, each subscription at its offer's prices
/// in the tenant directory, grouped and named by the directory too.
async fn compute(
    store: &dyn Store,
    request: &ChargebackRequest<'_>,
) -> Result<Statement, ChargebackError> {
    let card = store
        .rate_card()
        .await?
        .ok_or(ChargebackError::NoRateCard)?
        .card;
    let usage = store
        .usage_totals(
            request.subscriptions,
            &price_spans(&card, &request.period),
            request.period.end,
            request.group_by.tag_key(),
        )
        .await?;
    let mut ids: Vec<SubscriptionId> = usage
        .iter()
        .map(|u| u.usage.subscription_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    let directory = directory_of(store, &ids).await?;
    Ok(build_statement(
        &card,
        &directory,
        request.period.clone(),
        request.zone.name(),
        request.group_by.clone(),
        usage,
        Utc::now(),
    )?)
}

/// A recorded run: the statement, and what changed since the previous run of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// The run's ID: pushes of it carry it, and the same ID is the same statement.
    pub run_id: i64,
    pub statement: Statement,
    /// When the previous run was computed; `None` for the first run.
    pub previous_run_at: Option<DateTime<Utc>>,
    pub changes: Vec<LineChange>,
}

/// A statement computed from usage, with the run it follows: what [`keep_run`] writes.
struct Computed {
    request: ChargebackRequest<'static>,
    grouping: String,
    previous: Option<StoredRun>,
    statement: Statement,
}

/// Computes every subscription's statement of `period`. Refused for a closed period. Only
/// reads, so the writes that follow hold the store's write lock briefly.
async fn compute_run(
    store: &dyn Store,
    period: &BillingPeriod,
    zone: Tz,
    group_by: &GroupBy,
) -> Result<Computed, ChargebackError> {
    if store
        .period_closed_at(&period.label, zone.name())
        .await?
        .is_some()
    {
        return Err(ChargebackError::Closed(period.label.clone()));
    }
    let request = ChargebackRequest {
        period: period.clone(),
        zone,
        group_by: group_by.clone(),
        subscriptions: None,
    };
    let grouping = group_by.to_string();
    let previous = store.last_run(request.key(&grouping)).await?;
    let statement = compute(store, &request).await?;
    Ok(Computed {
        request,
        grouping,
        previous,
        statement,
    })
}

/// Keeps a computed statement in `changes` and compares it with the previous run.
async fn keep_run(
    changes: &mut Changes,
    computed: Computed,
    actor: &str,
) -> Result<Run, ChargebackError> {
    let Computed {
        request,
        grouping,
        previous,
        statement,
    } = computed;
    let run_id = changes
        .save_run(request.key(&grouping), &statement, actor)
        .await?;
    let (previous_run_at, line_changes) = match previous {
        Some(run) => (
            Some(run.statement.computed_at),
            statement_changes(&run.statement, &statement),
        ),
        None => (None, Vec::new()),
    };
    Ok(Run {
        run_id,
        statement,
        previous_run_at,
        changes: line_changes,
    })
}

/// Computes every subscription's statement of `period`, keeps it in `changes`, and compares it
/// with the previous run. Refused for a closed period.
pub async fn record_run(
    store: &dyn Store,
    changes: &mut Changes,
    period: &BillingPeriod,
    zone: Tz,
    group_by: &GroupBy,
    actor: &str,
) -> Result<Run, ChargebackError> {
    let computed = compute_run(store, period, zone, group_by).await?;
    keep_run(changes, computed, actor).await
}

/// What closing a period did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Closed {
    pub period: String,
    pub time_zone: String,
    /// The statements frozen (`subscription`, `tag:Department`, ...), each with its last run.
    pub frozen: Vec<Run>,
    /// Webhook deliveries queued: each frozen statement to each webhook.
    pub deliveries_queued: u64,
}

/// Records a final run of every statement `period` has runs of (and of the one by
/// subscription), then closes the period, in `changes`. Refused if it is closed already.
pub async fn close_period(
    store: &dyn Store,
    changes: &mut Changes,
    period: &BillingPeriod,
    zone: Tz,
    actor: &str,
) -> Result<Closed, ChargebackError> {
    let mut groupings = store.run_groupings(&period.label, zone.name()).await?;
    let by_subscription = GroupBy::Subscription.to_string();
    if !groupings.contains(&by_subscription) {
        groupings.insert(0, by_subscription);
    }
    let mut computed = Vec::with_capacity(groupings.len());
    for grouping in &groupings {
        // Stored groupings were made from a GroupBy and parse back.
        let group_by = GroupBy::parse(grouping).map_err(StoreError::Corrupt)?;
        computed.push(compute_run(store, period, zone, &group_by).await?);
    }
    let mut frozen = Vec::with_capacity(computed.len());
    for run in computed {
        frozen.push(keep_run(changes, run, actor).await?);
    }
    // Kept to the second, as the store keeps it: the pushed statement and the one readers get
    // say the same.
    let closed_at = Utc::now().trunc_subsecs(0);
    let pushes: Vec<_> = frozen
        .iter()
        .map(|run| {
            let mut statement = run.statement.clone();
            statement.closed_at = Some(closed_at);
            statement_push(PERIOD_CLOSED, run.run_id, &statement)
        })
        .collect();
    let deliveries_queued = changes
        .close_period(&period.label, zone.name(), actor, closed_at, &pushes)
        .await?
        .ok_or_else(|| ChargebackError::Closed(period.label.clone()))?;
    Ok(Closed {
        period: period.label.clone(),
        time_zone: zone.name().to_owned(),
        frozen,
        deliveries_queued,
    })
}

/// What pushing a statement did.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pushed {
    /// The run pushed: a closed period's frozen statement, else a run recorded for the push.
    pub run_id: i64,
    pub period: String,
    pub group_by: String,
    pub deliveries_queued: u64,
}

/// Queues a statement for every webhook in `changes`: a closed period's frozen statement, or else
/// a run recorded now (so what was sent is on record).
pub async fn push_statement(
    store: &dyn Store,
    changes: &mut Changes,
    period: &BillingPeriod,
    zone: Tz,
    group_by: &GroupBy,
    actor: &str,
) -> Result<Pushed, ChargebackError> {
    if store.webhooks().await?.is_empty() {
        return Err(ChargebackError::NoWebhooks);
    }
    let grouping = group_by.to_string();
    let closed_at = store.period_closed_at(&period.label, zone.name()).await?;
    let (run_id, statement) = match closed_at {
        Some(closed_at) => {
            let key = StatementKey {
                period: &period.label,
                time_zone: zone.name(),
                group_by: &grouping,
            };
            let run = store
                .last_run(key)
                .await?
                .ok_or_else(|| ChargebackError::NotFrozen {
                    period: period.label.clone(),
                    group_by: grouping.clone(),
                })?;
            let mut statement = run.statement;
            statement.closed_at = Some(closed_at);
            (run.id, statement)
        }
        None => {
            let run = record_run(store, changes, period, zone, group_by, actor).await?;
            (run.run_id, run.statement)
        }
    };
    let deliveries_queued = changes
        .queue_push(&statement_push(STATEMENT_PUSHED, run_id, &statement))
        .await?;
    Ok(Pushed {
        run_id,
        period: period.label.clone(),
        group_by: grouping,
        deliveries_queued,
    })
}
