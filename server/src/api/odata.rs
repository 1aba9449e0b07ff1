//! The OData v4 feed (`/odata/`) for BI tools: Power BI's OData connector loads a month of usage
//! or a period's chargeback lines from it, following `@odata.nextLink`. Reads are scoped like
//! every other read. Besides bearer tokens, the feed takes HTTP Basic credentials whose password
//! is an API token (any user name), because that is what BI tools' credential dialogs offer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::{Duration, Utc};
use meterbook_core::meter::catalog;
use meterbook_core::odata::{
    metadata_xml, parse_select, select, service_document, ODataFilter, ODATA_PAGE_SIZE,
};
use meterbook_core::rating::period::{BillingPeriod, MAX_PERIOD_DAYS};
use meterbook_core::rating::statement::{pricing_label, GroupBy};
use meterbook_core::time::floor_day;
use meterbook_core::ArmCode;
use serde_json::{json, Map, Value};

use super::arm::{base_url, query_params};
use crate::api_error::ApiError;
use crate::auth::Caller;
use crate::chargeback::{self, ChargebackRequest};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/odata", get(service))
        .route("/odata/", get(service))
        .route("/odata/$metadata", get(metadata))
        .route("/odata/UsageAggregates", get(usage_aggregates))
        .route("/odata/ChargebackLines", get(chargeback_lines))
        .layer(middleware::from_fn(basic_as_bearer))
}

/// `Authorization: Basic base64(user:token)` becomes `Bearer token`.
async fn basic_as_bearer(mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, token)| token.to_owned()));
    if let Some(bearer) = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        request.headers_mut().insert(header::AUTHORIZATION, bearer);
    }
    next.run(request).await
}

/// The object a `json!({...})` literal makes.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// An OData JSON answer.
fn odata_json(body: Value) -> Response {
    odata(
        Json(body).into_response(),
        "application/json;odata.metadata=minimal",
    )
}

/// `response` as OData: its content type and the protocol version.
fn odata(mut response: Response, content_type: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("OData-Version", HeaderValue::from_static("4.0"));
    response
}

async fn service(State(state): State<AppState>, _caller: Caller) -> Response {
    odata_json(service_document(&format!("{}/odata", base_url(&state))))
}

async fn metadata(_caller: Caller) -> Response {
    odata(metadata_xml().into_response(), "application/xml")
}

/// Largest `$top` (and `$skiptoken`): OData's Edm.Int32, more rows than any feed holds.
const MAX_COUNT: u32 = i32::MAX as u32;

/// The query options every entity set takes.
struct Options {
    params: Vec<(String, String)>,
    filter: ODataFilter,
    selected: Option<Vec<String>>,
    top: Option<usize>,
    skip: usize,
}

fn options(uri: &Uri, set: &str) -> Result<Options, ApiError> {
    let params = query_params(uri)?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let invalid = |e: String| ApiError::new(ArmCode::InvalidProperty, e);
    let count = |name: &str| {
        param(name)
            .map(|v| match v.parse::<u32>() {
                Ok(n) if n <= MAX_COUNT => Ok(n as usize),
                _ => Err(invalid(format!(
                    "{name}: '{v}' is not a whole number from 0 to {MAX_COUNT}"
                ))),
            })
            .transpose()
    };
    Ok(Options {
        filter: ODataFilter::parse(param("$filter").unwrap_or("")).map_err(invalid)?,
        selected: parse_select(param("$select"), set).map_err(invalid)?,
        top: count("$top")?,
        skip: count("$skiptoken")?.unwrap_or(0),
        params,
    })
}

/// One page of `rows` from `options.skip`, with the next page's link when there is more.
fn page(
    state: &AppState,
    uri: &Uri,
    set: &str,
    options: &Options,
    rows: Vec<Map<String, Value>>,
) -> Response {
    let end = rows.len().min(options.top.unwrap_or(usize::MAX));
    let stop = end.min(options.skip.saturating_add(ODATA_PAGE_SIZE));
    let base = base_url(state);
    let value: Vec<Value> = rows
        .into_iter()
        .take(stop)
        .skip(options.skip)
        .map(|row| select(row, options.selected.as_deref()))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{base}/odata/$metadata#{set}"),
        "value": value,
    });
    if stop < end {
        let mut kept: Vec<(&str, String)> = options
            .params
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        kept.push(("$skiptoken", stop.to_string()));
        let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
        body["@odata.nextLink"] = json!(format!("{base}{}?{query}", uri.path()));
    }
    odata_json(body)
}

#[tracing::instrument(name = "odata_usage", skip_all)]
async fn usage_aggregates(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let options = options(&uri, "UsageAggregates")?;
    let scope = caller
        .access
        .read_scope(options.filter.subscription.as_ref())?;
    // Without bounds: the last 31 whole days and today.
    let before = options
        .filter
        .before
        .unwrap_or_else(|| floor_day(Utc::now()) + Duration::days(1));
    let from = options
        .filter
        .from
        .unwrap_or_else(|| before - Duration::days(32));
    if before <= from || (before - from).num_days() > MAX_PERIOD_DAYS {
        return Err(ApiError::new(
            ArmCode::InvalidProperty,
            format!("$filter: the usage time range must be 1 second to {MAX_PERIOD_DAYS} days"),
        ));
    }
    let mut totals = state.source.daily_totals(&scope, from, before).await?;
    // Daily totals cover whole days; keep the days the range starts.
    totals.retain(|t| {
        let start = t.day.and_time(chrono::NaiveTime::MIN).and_utc();
        from <= start && start < before
    });
    totals.sort_by(|a, b| {
        (a.day, &a.subscription_id, &a.meter_id).cmp(&(b.day, &b.subscription_id, &b.meter_id))
    });
    let rows = totals
        .into_iter()
        .map(|t| {
            let meter = catalog().describe(&t.meter_id);
            let start = t.day.and_time(chrono::NaiveTime::MIN).and_utc();
            let row = json!({
                "Id": format!("{}/{}/{}", t.day, t.subscription_id, t.meter_id),
                "SubscriptionId": t.subscription_id,
                "MeterId": t.meter_id,
                "MeterName": meter.name,
                "MeterCategory": meter.category,
                "Unit": meter.unit,
                "UsageDate": t.day.to_string(),
                "UsageStartTime": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "Quantity": t.quantity,
                "Records": t.records,
            });
            object(row)
        })
        .collect();
    Ok(page(&state, &uri, "UsageAggregates", &options, rows))
}

#[tracing::instrument(name = "odata_chargeback", skip_all)]
async fn chargeback_lines(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.upstream {
        return Err(ApiError::new(
            ArmCode::NotFound,
            "Chargeback reads the embedded store; this server reads usage from an upstream",
        ));
    }
    let options = options(&uri, "ChargebackLines")?;
    let scope = caller
        .access
        .read_scope(options.filter.subscription.as_ref())?;
    let period = match &options.filter.period {
        Some(text) => BillingPeriod::parse(text, state.time_zone)
            .map_err(|e| ApiError::new(ArmCode::InvalidProperty, format!("$filter: {e}")))?,
        None => BillingPeriod::month_of(Utc::now(), state.time_zone),
    };
    let statement = chargeback::statement(
        state.store.as_ref(),
        &ChargebackRequest {
            period,
            zone: state.time_zone,
            group_by: GroupBy::Subscription,
            subscriptions: scope.subscriptions(),
        },
    )
    .await?;
    // OData writes decimals as JSON numbers, or as strings (exact) for clients that ask with
    // `IEEE754Compatible=true`.
    let exact = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("ieee754compatible=true"));
    let decimal = |d: Option<rust_decimal::Decimal>| match d {
        None => Value::Null,
        Some(d) if exact => Value::from(d.normalize().to_string()),
        Some(d) => Value::from(rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(0.0)),
    };
    let currency = statement.currency.code();
    let rows = statement
        .groups
        .iter()
        .flat_map(|g| g.lines.iter())
        .enumerate()
        .map(|(n, line)| {
            let row = json!({
                "Id": format!("{}/{}/{n}", statement.period.label, line.subscription_id),
                "Period": statement.period.label,
                "PeriodStart": statement.period.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "SubscriptionId": line.subscription_id.as_str(),
                "SubscriptionName": line.subscription_name,
                "SubscriptionOwner": line.subscription_owner,
                "MeterId": line.meter_id,
                "MeterName": line.meter_name,
                "Unit": line.unit,
                "Pricing": pricing_label(line.pricing),
                "UnitPrice": decimal(line.unit_price),
                "DiscountPercent": decimal(Some(line.discount_percent)),
                "Quantity": decimal(Some(line.quantity)),
                "Currency": currency,
                "Amount": decimal(line.amount),
            });
            object(row)
        })
        .collect();
    Ok(page(&state, &uri, "ChargebackLines", &options, rows))
}
