//! `GET /openapi.json`: the OpenAPI 3.1 contract of the ARM-compatible usage API and the native
//! API, served to anyone (it is the public contract, and holds no data).
//!
//! The document is built by `utoipa` from the wire types themselves (the ARM usage page, the
//! error envelope, ingest outcomes, webhooks), so a field renamed in code is renamed here. The
//! operations are declared in this one module, each beside the route it describes, and a test
//! walks every declared operation against the router; `cargo xtask test` has schemathesis check
//! that answers keep to it.

use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use meterbook_core::error::{ErrorBody, ErrorDetail, ErrorEnvelope};
use meterbook_core::usage::{UsageAggregate, UsageAggregatePage, UsageAggregateProperties};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use meterbook_core::access::Role;
use meterbook_core::identity::{ClaimRule, RuleDraft};

use super::billing::Saved;
use super::identity::{RuleAnswer, Rules};
use super::metadata::{Authentication, Endpoints};
use super::webhooks::{Added, Listed, NewWebhook};
use crate::chargeback::Pushed;
use crate::state::AppState;
use crate::store::{DeliveryInfo, DeliveryStatus, IngestOutcome, WebhookInfo};

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> axum::response::Response {
    Json(ApiDoc::openapi()).into_response()
}

/// The ARM API version the usage APIs take.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum ApiVersion {
    #[schema(rename = "2015-06-01-preview")]
    V2015,
}

/// The API version of `/metadata/endpoints`, as on Azure Stack Hub.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum MetadataApiVersion {
    #[schema(rename = "2015-01-01")]
    V2015,
}

/// How usage is bucketed.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum AggregationGranularity {
    Daily,
    Hourly,
}

/// What a download is written as.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
enum Format {
    Json,
    Csv,
}

/// The explorer's query, the same for its page and its CSV export.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ExploreParams {
    /// today, last-7-days, this-month (default), last-month or custom
    period: Option<String>,
    /// With period=custom: the first day, YYYY-MM-DD
    from: Option<String>,
    /// With period=custom: the last day, YYYY-MM-DD
    to: Option<String>,
    /// usage (default) or reported
    basis: Option<String>,
    /// hourly, daily or monthly
    granularity: Option<String>,
    /// subscription, category, meter, resource-group, resource, location, offer, plan or tag:NAME
    by: Option<String>,
    subscription: Option<String>,
    /// A meter category; repeated, usage of any of them
    category: Option<String>,
    meter: Option<String>,
    #[param(rename = "resource-group")]
    resource_group: Option<String>,
    resource: Option<String>,
    location: Option<String>,
    /// NAME=VALUE
    tag: Option<String>,
    /// An offer's name in the tenant directory: usage of the subscriptions on it
    offer: Option<String>,
    /// A plan's name in the tenant directory: usage of the subscriptions that have it
    plan: Option<String>,
    unit: Option<String>,
    sort: Option<String>,
    rows: Option<String>,
    /// The previous page's next token
    after: Option<String>,
    /// The next page's previous token
    before: Option<String>,
}

/// The whole contract.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Meterbook",
        description = "Usage and chargeback for Azure Stack Hub-style private clouds: the Azure \
                       Stack Hub usage API (Microsoft.Commerce), ingest, exports, the explorer, \
                       rate cards, chargeback, webhooks and OData for BI tools. Every \
                       operation but the health checks takes `Authorization: Bearer <token>`.",
        license(name = "Apache-2.0")
    ),
    paths(
        tenant_usage, provider_usage, rate_card, ingest, usage_export, explore, explore_export,
        get_rates, put_rates, get_chargeback, post_run, post_close, post_push, list_webhooks,
        add_webhook, remove_webhook, list_deliveries, retry_delivery, odata_usage,
        odata_chargeback, odata_service, odata_metadata, list_claim_rules, add_claim_rule,
        remove_claim_rule, metadata_endpoints, healthz, readyz, metrics
    ),
    components(schemas(
        ApiVersion, AggregationGranularity, Format, UsageAggregatePage, UsageAggregate, UsageAggregateProperties, ErrorEnvelope, ErrorBody,
        ErrorDetail, IngestOutcome, Saved, Pushed, NewWebhook, Added, WebhookInfo,
        DeliveryInfo, DeliveryStatus, Listed<WebhookInfo>, Listed<DeliveryInfo>, RuleDraft,
        ClaimRule, Role, RuleAnswer, Rules, Endpoints, Authentication, MetadataApiVersion
    )),
    modifiers(&BearerTokens),
    security(("bearer" = [])),
    tags(
        (name = "usage", description = "The Azure Stack Hub usage API and usage exports"),
        (name = "ingest", description = "Resource providers' usage records"),
        (name = "billing", description = "Rate cards and chargeback statements"),
        (name = "webhooks", description = "Where statements are pushed"),
        (name = "odata", description = "OData v4 feeds for Power BI and Excel"),
        (name = "identity", description = "The cloud's directory: where to sign in, and claim rules"),
        (name = "operations", description = "Health checks and metrics")
    )
)]
pub struct ApiDoc;

/// API tokens (`meterbook token create`) are bearer tokens.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Power BI and Excel send the token as a Basic password (any user name) to OData.
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

// The ARM usage API. Its paths share one route (namespaces and resources are matched
// case-insensitively), so each operation is declared on a function of its own here.

/// A tenant's usage aggregates, like `Get-UsageAggregates` (paged by `continuationToken`).
#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/UsageAggregates",
    tag = "usage",
    params(
        ("subscriptionId" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The tenant subscription"),
        ("api-version" = ApiVersion, Query),
        ("reportedStartTime" = String, Query, format = DateTime, example = "2026-10-01T00:00:00Z", description = "On the hour, UTC"),
        ("reportedEndTime" = String, Query, format = DateTime, example = "2026-11-01T00:00:00Z", description = "On the hour, UTC, not in the future"),
        ("aggregationGranularity" = Option<AggregationGranularity>, Query, description = "Daily when absent"),
        ("showDetails" = Option<bool>, Query, description = "Split by instance (default true)"),
        ("continuationToken" = Option<String>, Query, description = "From the previous page's nextLink"),
    ),
    responses(
        (status = 200, description = "A page of usage aggregates", body = UsageAggregatePage),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn tenant_usage() {}

/// Every tenant's usage, for operators (Azure Stack Hub's provider usage API).
#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates",
    tag = "usage",
    params(
        ("subscriptionId" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", example = "00000000-0000-0000-0000-000000000000", description = "The provider subscription"),
        ("api-version" = ApiVersion, Query),
        ("reportedStartTime" = String, Query, format = DateTime, example = "2026-10-01T00:00:00Z", description = "On the hour, UTC"),
        ("reportedEndTime" = String, Query, format = DateTime, example = "2026-11-01T00:00:00Z", description = "On the hour, UTC, not in the future"),
        ("aggregationGranularity" = Option<AggregationGranularity>, Query, description = "Daily when absent"),
        ("showDetails" = Option<bool>, Query, description = "Split by instance (default true)"),
        ("subscriberId" = Option<String>, Query, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "One tenant subscription only"),
        ("continuationToken" = Option<String>, Query, description = "From the previous page's nextLink"),
    ),
    responses(
        (status = 200, description = "A page of usage aggregates", body = UsageAggregatePage),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn provider_usage() {}

/// The prices of a tenant's meters, in the shape of Azure's RateCard API.
#[utoipa::path(
    get,
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/RateCard",
    tag = "billing",
    params(
        ("subscriptionId" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The tenant subscription"),
        ("api-version" = String, Query, description = "2015-06-01-preview or 2016-08-31-preview"),
        ("$filter" = Option<String>, Query, description = "OfferDurableId, Currency, Locale and RegionInfo (accepted; prices are the rate card's)"),
    ),
    responses(
        (status = 200, description = "Meters with their rates", body = Object),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn rate_card() {}

/// Submits usage records (a JSON array, an ARM page, or NDJSON); all or nothing.
#[utoipa::path(
    post,
    path = "/api/v1/usage-records",
    tag = "ingest",
    request_body(
        description = "Usage records in the ARM usage shape: a JSON array, an ARM page \
                       (`{\"value\": [...]}`), or NDJSON (one record a line). Not routed on a server \
                       that fronts an upstream hub.",
        content(
            (Vec<Object> = "application/json"),
            (String = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 200, description = "What the batch changed", body = IngestOutcome),
        (status = "default", description = "An ARM error; invalid records are listed in details", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn ingest() {}

/// Every aggregate of a usage query as CSV, in `Usagesummary.ps1`'s columns.
#[utoipa::path(
    get,
    path = "/api/v1/usage/export",
    tag = "usage",
    params(
        ("reportedStartTime" = String, Query, format = DateTime, example = "2026-10-01T00:00:00Z", description = "On the hour, UTC"),
        ("reportedEndTime" = String, Query, format = DateTime, example = "2026-11-01T00:00:00Z", description = "On the hour, UTC, not in the future"),
        ("aggregationGranularity" = Option<AggregationGranularity>, Query, description = "Daily when absent"),
        ("showDetails" = Option<bool>, Query),
        ("subscriberId" = Option<String>, Query, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "One subscription only"),
    ),
    responses(
        (status = 200, description = "The CSV file", content_type = "text/csv", body = String),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn usage_export() {}

/// One page of the explorer: totals, chart series, rows and filter options.
#[utoipa::path(
    get,
    path = "/api/v1/explore",
    tag = "usage",
    params(
        ExploreParams,
        ("chart" = Option<String>, Query, description = "svg: the chart drawn beside the numbers"),
    ),
    responses(
        (status = 200, description = "The exploration", body = Object),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn explore() {}

/// The whole exploration as CSV (the explorer's table).
#[utoipa::path(
    get,
    path = "/api/v1/explore/export",
    tag = "usage",
    params(ExploreParams),
    responses(
        (status = 200, description = "The CSV file", content_type = "text/csv", body = String),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn explore_export() {}

/// The rate card in effect (tenants see the prices that apply to them).
#[utoipa::path(
    get,
    path = "/api/v1/rates",
    tag = "billing",
    params(("format" = Option<Format>, Query, description = "json when absent")),
    responses(
        (status = 200, description = "The rate card", content(
            (Object = "application/json"),
            (String = "text/csv"),
        )),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn get_rates() {}

/// Saves a new rate card (operators); a refused card changes nothing.
#[utoipa::path(
    put,
    path = "/api/v1/rates",
    tag = "billing",
    request_body(content(
        (Object = "application/json"),
        (String = "text/csv"),
    )),
    responses(
        (status = 200, description = "The revision saved", body = Saved),
        (status = "default", description = "An ARM error naming the row at fault", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn put_rates() {}

/// A billing period's statement in the caller's scope.
#[utoipa::path(
    get,
    path = "/api/v1/chargeback",
    tag = "billing",
    params(
        ("period" = Option<String>, Query, description = "A month, YYYY-MM (the current month when absent), or days, YYYY-MM-DD..YYYY-MM-DD"),
        ("by" = Option<String>, Query, description = "subscription (default), offer, plan or tag:NAME"),
        ("format" = Option<Format>, Query, description = "json when absent"),
        ("subscriberId" = Option<String>, Query, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
    ),
    responses(
        (status = 200, description = "The statement", content(
            (Object = "application/json"),
            (String = "text/csv"),
        )),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn get_chargeback() {}

/// Records a run of a statement and what changed since the previous one (operators).
#[utoipa::path(
    post,
    path = "/api/v1/chargeback/runs",
    tag = "billing",
    params(
        ("period" = Option<String>, Query, description = "A month, YYYY-MM, or days, YYYY-MM-DD..YYYY-MM-DD"),
        ("by" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "The run, with its changes", body = Object),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn post_run() {}

/// Closes a period: freezes its statements and queues them for every webhook (operators).
#[utoipa::path(
    post,
    path = "/api/v1/chargeback/close",
    tag = "billing",
    params(("period" = Option<String>, Query, description = "A month, YYYY-MM, or days, YYYY-MM-DD..YYYY-MM-DD")),
    responses(
        (status = 200, description = "The frozen statements", body = Object),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn post_close() {}

/// Pushes a statement to every webhook now (operators).
#[utoipa::path(
    post,
    path = "/api/v1/chargeback/push",
    tag = "billing",
    params(
        ("period" = Option<String>, Query, description = "A month, YYYY-MM, or days, YYYY-MM-DD..YYYY-MM-DD"),
        ("by" = Option<String>, Query),
    ),
    responses(
        (status = 202, description = "Deliveries queued", body = Pushed),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn post_push() {}

/// The webhooks statements are pushed to (operators).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "Every webhook", body = Listed<WebhookInfo>),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn list_webhooks() {}

/// Adds a webhook; its signing secret is shown in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The webhook and its secret", body = Added),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn add_webhook() {}

/// Removes a webhook.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn remove_webhook() {}

/// The delivery log.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/deliveries",
    tag = "webhooks",
    params(
        ("status" = Option<DeliveryStatus>, Query),
        ("limit" = Option<i64>, Query, description = "Most deliveries listed"),
    ),
    responses(
        (status = 200, description = "Recent deliveries", body = Listed<DeliveryInfo>),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn list_deliveries() {}

/// Retries a failed delivery now.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/deliveries/{id}/retry",
    tag = "webhooks",
    params(("id" = i64, Path)),
    responses(
        (status = 202, description = "Queued again"),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn retry_delivery() {}

/// Usage aggregates as an OData v4 feed (Power BI: Basic auth with the token as password).
#[utoipa::path(
    get,
    path = "/odata/UsageAggregates",
    tag = "odata",
    security(("bearer" = []), ("basic" = [])),
    params(
        ("$filter" = Option<String>, Query, description = "usageStartTime ge/lt DATE, subscriptionId eq 'GUID', joined by and"),
        ("$select" = Option<String>, Query),
        ("$top" = Option<i64>, Query),
        ("$skiptoken" = Option<i64>, Query),
    ),
    responses(
        (status = 200, description = "An OData collection", body = Object),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn odata_usage() {}

/// Chargeback lines as an OData v4 feed.
#[utoipa::path(
    get,
    path = "/odata/ChargebackLines",
    tag = "odata",
    security(("bearer" = []), ("basic" = [])),
    params(
        ("$filter" = Option<String>, Query, description = "period eq 'YYYY-MM'"),
        ("$select" = Option<String>, Query),
        ("$top" = Option<i64>, Query),
        ("$skiptoken" = Option<i64>, Query),
    ),
    responses(
        (status = 200, description = "An OData collection", body = Object),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn odata_chargeback() {}

/// The OData service document: the feeds there are.
#[utoipa::path(
    get,
    path = "/odata",
    tag = "odata",
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The service document", body = Object),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn odata_service() {}

/// The OData CSDL metadata of the feeds.
#[utoipa::path(
    get,
    path = "/odata/$metadata",
    tag = "odata",
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "CSDL XML", content_type = "application/xml", body = String),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn odata_metadata() {}

/// The claim rules that map the directory's tokens to roles, and the configured issuers
/// (operators).
#[utoipa::path(
    get,
    path = "/api/v1/identity/rules",
    tag = "identity",
    responses(
        (status = 200, description = "Every rule", body = Rules),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn list_claim_rules() {}

/// Adds a claim rule (operators): a claim's value from one issuer maps to a role, and for tenants
/// to subscriptions. Audited.
#[utoipa::path(
    post,
    path = "/api/v1/identity/rules",
    tag = "identity",
    request_body = RuleDraft,
    responses(
        (status = 201, description = "The rule", body = RuleAnswer),
        (status = "default", description = "An ARM error: 400 naming the field, 409 when the same mapping exists", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn add_claim_rule() {}

/// Removes a claim rule (operators). Audited.
#[utoipa::path(
    delete,
    path = "/api/v1/identity/rules/{id}",
    tag = "identity",
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn remove_claim_rule() {}

/// Where clients sign in for this cloud, as Azure Stack Hub answers it (the first configured
/// issuer). No authentication; 404 when no issuer is configured.
#[utoipa::path(
    get,
    path = "/metadata/endpoints",
    tag = "identity",
    security(()),
    params(("api-version" = MetadataApiVersion, Query)),
    responses(
        (status = 200, description = "The login endpoint and audiences", body = Endpoints),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn metadata_endpoints() {}

/// Liveness: the process answers. No authentication.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = Object))
)]
#[allow(dead_code)]
fn healthz() {}

/// Readiness: the store answers with current migrations and the server is not draining.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "`{\"status\":\"ready\"}`", body = Object),
        (status = 503, description = "Not ready, or draining", body = Object),
    )
)]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus metrics (operators).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "The text exposition format", content_type = "text/plain", body = String),
        (status = "default", description = "An ARM error", body = ErrorEnvelope),
    )
)]
#[allow(dead_code)]
fn metrics() {}
