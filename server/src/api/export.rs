//! `GET /api/v1/usage/export`: every aggregate of a usage query as one CSV file (in
//! `Usagesummary.ps1` column order), read through the usage source in the caller's scope.
//! Takes the ARM query parameters (`reportedStartTime`, `reportedEndTime`,
//! `aggregationGranularity`, `showDetails`, `subscriberId`); `api-version` may be left out.
//! Each export is written to the audit log.

use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use meterbook_core::access::ReadScope;
use meterbook_core::export::{usage_csv_fields, write_csv_record, USAGE_CSV_COLUMNS};
use meterbook_core::query::{UsageQuery, API_VERSION};
use meterbook_core::ArmCode;

use super::error::ApiError;
use super::usage::query_params;
use crate::audit::{self, Event};
use crate::auth::Caller;
use crate::source::AggregateQuery;
use crate::state::AppState;

/// Most rows one export holds (about 150 MB of CSV): beyond it, the caller is asked to narrow
/// the query rather than the server holding an unbounded file.
pub const MAX_EXPORT_ROWS: u64 = 500_000;
/// Most source pages one export follows, in case an upstream sends empty pages without end.
const MAX_EXPORT_PAGES: u64 = 10_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/usage/export", get(export_usage))
}

#[tracing::instrument(name = "export_usage", skip_all)]
async fn export_usage(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mut params = query_params(&uri)?;
    if !params
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("api-version"))
    {
        params.push(("api-version".into(), API_VERSION.into()));
    }
    let query = UsageQuery::parse(&params, Utc::now())?;
    let scope = caller.access.read_scope(query.subscriber.as_ref())?;
    // ARM pages hold one subscription or all; a tenant with several grants gets each in turn.
    let scopes: Vec<ReadScope> = match (scope.subscriptions(), scope.single()) {
        (Some(subs), None) => subs
            .iter()
            .map(|s| caller.access.read_scope(Some(s)))
            .collect::<Result<_, _>>()?,
        _ => vec![scope.clone()],
    };
    let aggregate_query = AggregateQuery {
        reported_start: query.reported_start,
        reported_end: query.reported_end,
        granularity: query.granularity,
        show_details: query.show_details,
    };
    let mut csv = String::new();
    write_csv_record(&mut csv, &USAGE_CSV_COLUMNS);
    let mut rows = 0u64;
    for scope in &scopes {
        let mut after = None;
        for pages in 1.. {
            if pages > MAX_EXPORT_PAGES {
                return Err(ApiError::new(
                    ArmCode::UpstreamFailed,
                    "The usage source kept paging without end; the export was stopped",
                ));
            }
            let page = state
                .source
                .aggregates(scope, &aggregate_query, after)
                .await?;
            for line in &page.items {
                write_csv_record(&mut csv, &usage_csv_fields(line));
                rows += 1;
            }
            if rows > MAX_EXPORT_ROWS {
                return Err(ApiError::new(
                    ArmCode::InvalidProperty,
                    format!(
                        "The export would hold more than {MAX_EXPORT_ROWS} rows; narrow the time range, use Daily granularity or showDetails=false, or name one subscription with subscriberId"
                    ),
                ));
            }
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
    }
    let detail = format!(
        "{} to {}, {}, {rows} rows",
        query.reported_start.to_rfc3339(),
        query.reported_end.to_rfc3339(),
        query.granularity.as_str()
    );
    audit::record(
        state.store.as_ref(),
        Event {
            actor: &caller.actor,
            action: "export",
            target: &scope.fingerprint(),
            address: &caller.address,
            detail: &detail,
        },
    )
    .await?;
    let filename = format!(
        "usage-{}-{}.csv",
        query.reported_start.format("%Y%m%dT%H"),
        query.reported_end.format("%Y%m%dT%H")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        csv,
    )
        .into_response())
}
