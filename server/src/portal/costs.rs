//! The portal's costs page: chargeback statements in the viewer's scope, formatted for reading,
//! with the months before the period as a chart; and the operators' rate card upload, a plain
//! multipart form that needs no script.

use std::collections::BTreeMap;

use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use chrono::{Datelike, Utc};
use meterbook_app::chart::stacked_columns;
use meterbook_app::portal::views::{
    CostGroup, CostLine, CostsRequest, CostsView, DeliveryRow, RateCardView, WebhooksView,
    MAX_LINES_SHOWN, TOP_GROUPS,
};
use meterbook_app::portal::{PortalData, PortalError};
use meterbook_app::viewer::{ClientAddress, Viewer};
use meterbook_core::audit::AuditAction;
use meterbook_core::rating::period::BillingPeriod;
use meterbook_core::rating::price::LinePricing;
use meterbook_core::rating::statement::{GroupBy, Statement};
use meterbook_core::rating::{read_rate_card, RateCardFormat};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::upload::read_upload;
use super::{scope_refused, store_failed, Portal};
use crate::audit::{self, Event};
use crate::chargeback::{self, ChargebackError, ChargebackRequest};
use crate::state::AppState;

/// Months the chart shows, ending with the period's.
const CHART_MONTHS: u32 = 6;
/// Groups the chart names; the rest are stacked as one.
const CHART_GROUPS: usize = 7;
/// Deliveries the page lists; the API and CLI read further back.
const DELIVERIES_SHOWN: u32 = 20;
/// The largest rate card file the form takes (as the API).
const MAX_CARD_BYTES: usize = 4 * 1024 * 1024;

fn failed(e: ChargebackError) -> PortalError {
    match e {
        ChargebackError::Store(e) => store_failed(e),
        ChargebackError::NoRateCard => PortalError::NotFound(
            "No rate card is saved yet, so nothing can be priced: an operator uploads one here \
             or with `meterbook rates import FILE`"
                .to_owned(),
        ),
        other => PortalError::Invalid(other.to_string()),
    }
}

pub(super) async fn costs(
    portal: &Portal,
    viewer: &Viewer,
    ask: CostsRequest,
) -> Result<CostsView, PortalError> {
    if portal.upstream {
        return Err(PortalError::NotFound(
            "Costs are priced from Meterbook's own store; this server reads usage from an \
             upstream Azure Stack Hub"
                .to_owned(),
        ));
    }
    let zone = portal.time_zone;
    let period = match ask.period.as_deref() {
        Some(text) => BillingPeriod::parse(text, zone)
            .map_err(|e| PortalError::Invalid(format!("Billing period: {e}")))?,
        None => BillingPeriod::month_of(Utc::now(), zone),
    };
    let group_by = GroupBy::parse(ask.by.as_deref().unwrap_or("subscription"))
        .map_err(|e| PortalError::Invalid(format!("Group by: {e}")))?;
    let scope = viewer.access.read_scope(None).map_err(scope_refused)?;
    let (rate_card, webhooks) = match viewer.is_operator() {
        true => (
            Some(rate_card_view(portal, viewer).await?),
            Some(webhooks_view(portal, viewer).await?),
        ),
        false => (None, None),
    };
    let store = portal.store.as_ref();
    let request = ChargebackRequest {
        period: period.clone(),
        zone,
        group_by: group_by.clone(),
        subscriptions: scope.subscriptions(),
    };
    let statement = match chargeback::statement(store, &request).await {
        Ok(statement) => statement,
        // An operator without a rate card still gets the form to upload one.
        Err(ChargebackError::NoRateCard) if rate_card.is_some() => {
            return Ok(CostsView {
                period: period.label,
                time_zone: zone.name().to_owned(),
                grouping: group_by.to_string(),
                currency: String::new(),
                total: "–".to_owned(),
                status: failed(ChargebackError::NoRateCard).to_string(),
                groups: Vec::new(),
                group_count: 0,
                lines: Vec::new(),
                line_count: 0,
                find: ask.find,
                chart: None,
                rate_card,
                webhooks,
            })
        }
        Err(e) => return Err(failed(e)),
    };
    let names = Names::of(portal, viewer, &statement, &group_by).await?;
    let chart = month_chart(portal, &request, &statement, &names).await?;
    let mut view = view_of(statement, &ask, chart, rate_card, &names);
    view.webhooks = webhooks;
    Ok(view)
}

async fn rate_card_view(portal: &Portal, viewer: &Viewer) -> Result<RateCardView, PortalError> {
    let summary = match portal.store.rate_card().await.map_err(store_failed)? {
        Some(stored) => {
            let draft = stored.card.to_draft();
            format!(
                "Revision {}, saved {} UTC by {}: {} price versions and {} discounts, in {}.",
                stored.revision,
                stored.saved_at.format("%Y-%m-%d %H:%M"),
                stored.saved_by,
                draft.versions.len(),
                draft.discounts.len(),
                draft.currency
            )
        }
        None => "No rate card is saved yet: upload one to price usage.".to_owned(),
    };
    Ok(RateCardView {
        summary,
        csrf_token: viewer.csrf_token.clone(),
    })
}

async fn webhooks_view(portal: &Portal, viewer: &Viewer) -> Result<WebhooksView, PortalError> {
    let urls = portal
        .store
        .webhooks()
        .await
        .map_err(store_failed)?
        .into_iter()
        .map(|w| w.url)
        .collect();
    let deliveries = portal
        .store
        .deliveries(None, DELIVERIES_SHOWN)
        .await
        .map_err(store_failed)?
        .into_iter()
        .map(|d| {
            let outcome = match (&d.last_error, d.last_status, d.next_attempt_at) {
                (Some(error), _, Some(next)) => {
                    format!("{error}; next attempt {} UTC", next.format("%H:%M:%S"))
                }
                (Some(error), _, None) => error.clone(),
                (None, Some(status), _) => format!("answered {status}"),
                (None, None, _) => "waiting to be sent".to_owned(),
            };
            DeliveryRow {
                id: d.id,
                event: d.event,
                url: d.url,
                status: d.status.as_str().to_owned(),
                attempts: d.attempts,
                last_attempt: d
                    .last_attempt_at
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default(),
                outcome,
            }
        })
        .collect();
    Ok(WebhooksView {
        urls,
        deliveries,
        csrf_token: viewer.csrf_token.clone(),
    })
}

/// The cost of the period's month and the months before it, stacked by the statement's
/// largest groups. `None` for a range of days, which is not a month.
async fn month_chart(
    portal: &Portal,
    request: &ChargebackRequest<'_>,
    statement: &Statement,
    names: &Names,
) -> Result<Option<meterbook_app::chart::RenderedChart>, PortalError> {
    let Ok(last) = BillingPeriod::parse_month(&request.period.label, request.zone) else {
        return Ok(None);
    };
    let local = last.start.with_timezone(&request.zone);
    let mut months = Vec::with_capacity(CHART_MONTHS as usize);
    for back in (0..CHART_MONTHS).rev() {
        let index = local.year() * 12 + local.month0() as i32 - back as i32;
        let month = BillingPeriod::month(
            index.div_euclid(12),
            index.rem_euclid(12) as u32 + 1,
            request.zone,
        )
        .map_err(PortalError::Invalid)?;
        let statement = if back == 0 {
            statement.clone()
        } else {
            let earlier = ChargebackRequest {
                period: month.clone(),
                ..request.clone()
            };
            match chargeback::statement(portal.store.as_ref(), &earlier).await {
                Ok(statement) => statement,
                // A closed month frozen without this grouping has no figures to chart.
                Err(ChargebackError::NotFrozen { .. }) => continue,
                Err(e) => return Err(failed(e)),
            }
        };
        months.push((month.label, statement));
    }
    let mut largest: Vec<(String, Decimal)> = statement
        .groups
        .iter()
        .map(|g| (names.group(g.key.as_deref()), g.subtotal))
        .collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let shown: Vec<String> = largest
        .into_iter()
        .take(CHART_GROUPS)
        .map(|(n, _)| n)
        .collect();
    let mut series: Vec<(String, Vec<f64>)> = shown
        .iter()
        .map(|n| (n.clone(), vec![0.0; months.len()]))
        .collect();
    let mut other = vec![0.0; months.len()];
    for (column, (_, month)) in months.iter().enumerate() {
        for group in &month.groups {
            let amount = group.subtotal.to_f64().unwrap_or(0.0);
            let name = names.group(group.key.as_deref());
            match series.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values[column] += amount,
                None => other[column] += amount,
            }
        }
    }
    if other.iter().any(|v| *v != 0.0) {
        series.push(("Other".to_owned(), other));
    }
    let labels: Vec<String> = months.iter().map(|(label, _)| label.clone()).collect();
    let series: Vec<(&str, &[f64])> = series
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    Ok(stacked_columns(
        &labels,
        &series,
        &statement.currency.to_string(),
    ))
}

/// What the costs page calls groups and subscriptions: tenants by their directory names.
struct Names {
    group_by: GroupBy,
    /// Subscription ID -> display name.
    names: BTreeMap<String, String>,
}

impl Names {
    async fn of(
        portal: &Portal,
        viewer: &Viewer,
        statement: &Statement,
        group_by: &GroupBy,
    ) -> Result<Self, PortalError> {
        let ids = statement
            .groups
            .iter()
            .flat_map(|g| g.lines.iter().map(|l| l.subscription_id.to_string()))
            .collect();
        Ok(Self {
            group_by: group_by.clone(),
            names: portal.subscription_names(viewer, ids).await?,
        })
    }

    fn subscription(&self, id: &str) -> String {
        meterbook_core::directory::name_in(&self.names, id)
    }

    /// A group's name: its tenant's, its offer, its plans or its tag value; `(no offer)`,
    /// `(no plan)` and `(untagged)` for subscriptions without one.
    fn group(&self, key: Option<&str>) -> String {
        match (key, &self.group_by) {
            (Some(id), GroupBy::Subscription) => self.subscription(id),
            (Some(value), _) => value.to_owned(),
            (None, GroupBy::Offer) => "(no offer)".to_owned(),
            (None, GroupBy::Plan) => "(no plan)".to_owned(),
            (None, _) => "(untagged)".to_owned(),
        }
    }
}

/// Whether `text` holds `find`, in any case.
fn holds(text: &str, find: &str) -> bool {
    text.to_lowercase().contains(find)
}

fn view_of(
    statement: Statement,
    ask: &CostsRequest,
    chart: Option<meterbook_app::chart::RenderedChart>,
    rate_card: Option<RateCardView>,
    names: &Names,
) -> CostsView {
    let total = statement.total;
    let status = match statement.closed_at {
        Some(at) => format!(
            "Closed {} UTC: these are the period's frozen figures.",
            at.format("%Y-%m-%d %H:%M")
        ),
        None => format!(
            "Computed {} UTC from the usage received so far; late usage can still change it.",
            statement.computed_at.format("%Y-%m-%d %H:%M")
        ),
    };
    let find = ask.find.as_deref().map(str::to_lowercase);
    let line_found = |group: &str, line: &meterbook_core::rating::statement::StatementLine| {
        find.as_deref().is_none_or(|f| {
            holds(group, f)
                || holds(line.subscription_id.as_str(), f)
                || holds(&names.subscription(line.subscription_id.as_str()), f)
                || holds(&line.meter_name, f)
        })
    };
    // A group is found by its name, or by a line of it.
    let mut found: Vec<_> = statement
        .groups
        .iter()
        .filter(|g| {
            let name = names.group(g.key.as_deref());
            find.as_deref()
                .is_none_or(|f| holds(&name, f) || g.lines.iter().any(|l| line_found(&name, l)))
        })
        .collect();
    found.sort_by(|a, b| b.subtotal.cmp(&a.subtotal).then_with(|| a.key.cmp(&b.key)));
    let group_count = found.len();
    let shown = if ask.all_groups {
        group_count
    } else {
        TOP_GROUPS
    };
    let groups = found
        .iter()
        .take(shown)
        .map(|g| CostGroup {
            name: names.group(g.key.as_deref()),
            subtotal: money(g.subtotal),
            share: share(g.subtotal, total),
            unpriced_lines: g.unpriced_lines,
        })
        .collect();
    let mut line_count = 0;
    let mut lines = Vec::new();
    for group in &statement.groups {
        let name = names.group(group.key.as_deref());
        for line in group.lines.iter().filter(|l| line_found(&name, l)) {
            line_count += 1;
            if lines.len() < MAX_LINES_SHOWN {
                lines.push(cost_line(&name, line, names));
            }
        }
    }
    CostsView {
        period: statement.period.label.clone(),
        time_zone: statement.time_zone.clone(),
        grouping: statement.group_by.to_string(),
        currency: statement.currency.to_string(),
        total: money(total),
        status,
        groups,
        group_count,
        lines,
        line_count,
        find: ask.find.clone(),
        chart,
        rate_card,
        webhooks: None,
    }
}

fn cost_line(
    group: &str,
    l: &meterbook_core::rating::statement::StatementLine,
    names: &Names,
) -> CostLine {
    CostLine {
        group: group.to_owned(),
        subscription: names.subscription(l.subscription_id.as_str()),
        subscription_id: l.subscription_id.to_string(),
        meter: l.meter_name.clone(),
        quantity: quantity(l.quantity),
        unit: l.unit.clone(),
        price: match (l.pricing, l.unit_price) {
            (LinePricing::Unpriced, _) | (_, None) => "no price".to_owned(),
            (LinePricing::Included, _) => "included".to_owned(),
            (LinePricing::Tier(0), Some(p)) => p.normalize().to_string(),
            (LinePricing::Tier(n), Some(p)) => format!("{} (tier {})", p.normalize(), n + 1),
        },
        discount: if l.discount_percent.is_zero() {
            String::new()
        } else {
            format!("{}%", l.discount_percent.normalize())
        },
        amount: l.amount.map_or_else(|| "–".to_owned(), money),
    }
}

/// An amount as written on a statement: thousands separated, its own decimal places (amounts
/// are already rounded to the currency's minor unit).
fn money(amount: Decimal) -> String {
    thousands(&amount.to_string())
}

/// A quantity to three decimal places at most.
fn quantity(q: Decimal) -> String {
    thousands(&q.round_dp(3).normalize().to_string())
}

fn share(part: Decimal, total: Decimal) -> String {
    if total.is_zero() {
        return "–".to_owned();
    }
    match part
        .checked_div(total)
        .and_then(|f| f.checked_mul(Decimal::ONE_HUNDRED))
    {
        Some(percent) => format!("{:.1}%", percent.round_dp(1)),
        None => "–".to_owned(),
    }
}

/// `1234567.5` as `1,234,567.5`.
fn thousands(number: &str) -> String {
    let (sign, digits) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::with_capacity(number.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Sends the browser back to the costs page with `query` (what a form post did, or why not).
fn back_to_costs(query: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(query).unwrap_or_default();
    Redirect::to(&format!("/costs?{query}")).into_response()
}

/// `POST /costs/rate-card` (multipart: `csrf`, and the file as `card`): an operator replaces the
/// rate card from the costs page. Answers by sending the browser back to the page, with the new
/// revision or the reason the card was refused.
pub async fn upload_rate_card(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    address: Option<Extension<ClientAddress>>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let refused = |message: &str| back_to_costs(&[("error", message)]);
    let Some(Extension(viewer)) = viewer else {
        return Redirect::to("/sign-in?next=%2Fcosts").into_response();
    };
    if !viewer.is_operator() {
        return refused("Only operators change the rate card");
    }
    let upload = match read_upload(
        multipart,
        &viewer,
        "card",
        MAX_CARD_BYTES,
        "a rate card file (.csv or .json)",
    )
    .await
    {
        Ok(upload) => upload,
        Err(e) => return refused(&e),
    };
    let (file_name, bytes) = (upload.file_name, upload.bytes);
    let format = if file_name.to_ascii_lowercase().ends_with(".json") {
        RateCardFormat::Json
    } else {
        RateCardFormat::Csv
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return refused("The file is not UTF-8 text");
    };
    let card = match read_rate_card(text, format) {
        Ok(card) => card,
        Err(e) => {
            return refused(&format!(
                "The rate card {file_name} was refused, nothing changed: {e}"
            ))
        }
    };
    let actor = format!("user:{}", viewer.username);
    let saved = async {
        let mut changes = state.store.begin().await?;
        let revision = changes.save_rate_card(&card, &actor).await?;
        audit::record(
            &mut changes,
            Event {
                actor: &actor,
                action: AuditAction::RatesImport,
                target: &format!("revision {revision}"),
                address: &address.map(|a| a.0 .0.clone()).unwrap_or_default(),
                detail: &file_name,
            },
        )
        .await?;
        changes.commit().await?;
        Ok::<_, crate::store::StoreError>(revision)
    };
    match saved.await {
        Ok(revision) => back_to_costs(&[("saved", &revision.to_string())]),
        Err(e) => refused(&store_failed(e).to_string()),
    }
}

/// `POST /costs/deliveries/retry` (a form: `csrf`, `id`): an operator gives a failed webhook
/// delivery another attempt from the costs page, and is sent back to it.
pub async fn retry_delivery(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    address: Option<Extension<ClientAddress>>,
    body: axum::body::Bytes,
) -> Response {
    let refused = |message: &str| back_to_costs(&[("error", message)]);
    let Some(Extension(viewer)) = viewer else {
        return Redirect::to("/sign-in?next=%2Fcosts").into_response();
    };
    if !viewer.is_operator() {
        return refused("Only operators retry webhook deliveries");
    }
    #[derive(serde::Deserialize)]
    struct RetryForm {
        csrf: String,
        id: i64,
    }
    let Ok(form) = serde_urlencoded::from_bytes::<RetryForm>(&body) else {
        return refused("The retry form was incomplete");
    };
    if form.csrf != viewer.csrf_token {
        return refused("The form has expired; reload the page and try again");
    }
    let actor = format!("user:{}", viewer.username);
    let retried = async {
        let mut changes = state.store.begin().await?;
        let retried = changes.retry_delivery(form.id, Utc::now()).await?;
        if retried {
            audit::record(
                &mut changes,
                Event {
                    actor: &actor,
                    action: AuditAction::WebhookRetry,
                    target: &format!("delivery {}", form.id),
                    address: &address.map(|a| a.0 .0.clone()).unwrap_or_default(),
                    detail: "",
                },
            )
            .await?;
            changes.commit().await?;
        }
        Ok::<_, crate::store::StoreError>(retried)
    };
    match retried.await {
        Ok(true) => {
            state.webhook_wake.notify_one();
            back_to_costs(&[("retried", &form.id.to_string())])
        }
        Ok(false) => refused(&format!(
            "Delivery {} is not a failed delivery to a webhook still configured",
            form.id
        )),
        Err(e) => refused(&store_failed(e).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn numbers_are_grouped_in_thousands() {
        let d = |s| Decimal::from_str(s).unwrap();
        assert_eq!(money(d("1234567.50")), "1,234,567.50");
        assert_eq!(money(d("-1000")), "-1,000");
        assert_eq!(money(d("999.99")), "999.99");
        assert_eq!(quantity(d("12345.678901")), "12,345.679");
        assert_eq!(quantity(d("2.000")), "2");
        assert_eq!(share(d("1"), d("3")), "33.3%");
        assert_eq!(share(d("1"), Decimal::ZERO), "–");
    }
}
