//! Chargeback: a billing period's statement, from the stored usage and the rate card in effect.
//! The CLI and the API both come here, so a statement reads the same wherever it is asked for.

use chrono::Utc;
use meterbook_core::rating::period::{BillingPeriod, Tz};
use meterbook_core::rating::price::PricingError;
use meterbook_core::rating::statement::{build_statement, price_spans, GroupBy, Statement};
use meterbook_core::SubscriptionId;

use crate::store::{Store, StoreError};

/// Why no statement could be made.
#[derive(Debug, thiserror::Error)]
pub enum ChargebackError {
    #[error(
        "no rate card has been saved yet: an operator imports one with \
         `meterbook rates import FILE` or PUT /api/v1/rates"
    )]
    NoRateCard,
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

/// The statement of `request` at the current rate card.
pub async fn statement(
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
    Ok(build_statement(
        &card,
        request.period.clone(),
        request.zone.name(),
        request.group_by.clone(),
        usage,
        Utc::now(),
    )?)
}
