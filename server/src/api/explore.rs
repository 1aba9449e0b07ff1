//! The explorer over HTTP, for the portal's browser code and for scripts:
//! `GET /api/v1/explore` answers one page as JSON (with `next` / `previous` continuation tokens,
//! passed back as `after` / `before`), `GET /api/v1/explore/export` the whole query as CSV. Both
//! take the portal's URL parameters (see `ExploreQuery`) and read in the caller's scope.

use axum::body::Body;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use futures::StreamExt;
use meterbook_app::chart::explorer_chart;
use meterbook_core::audit::AuditAction;
use meterbook_core::csv::write_csv_record;
use meterbook_core::explore::{explore_csv_fields, ExploreQuery, EXPLORE_CSV_COLUMNS};
use meterbook_core::ArmCode;

use super::download::csv_download;
use crate::api_error::ApiError;
use crate::audit;
use crate::auth::Caller;
use crate::explore::{
    explore, explore_rows, parse_request, scope_names, scope_of, ExploreError, Paging,
};
use crate::state::AppState;

/// `GET /api/v1/explore`: an exploration's fields, and with `chart=svg` the chart drawn as SVG
/// beside them.
#[derive(serde::Serialize)]
struct ExploreResponse {
    #[serde(flatten)]
    exploration: meterbook_core::explore::Exploration,
    #[serde(skip_serializing_if = "Option::is_none")]
    chart_svg: Option<meterbook_app::chart::RenderedChart>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/explore", get(explore_page))
        .route("/api/v1/explore/export", get(explore_export))
}

impl From<ExploreError> for ApiError {
    fn from(e: ExploreError) -> Self {
        match e {
            ExploreError::Query(message) => Self::new(ArmCode::InvalidProperty, message),
            ExploreError::Token(e) => Self::new(
                ArmCode::InvalidProperty,
                format!("after/before: {e}; start again from the first page"),
            ),
            ExploreError::Scope(e) => e.into(),
            ExploreError::Source(e) => e.into(),
            ExploreError::Store(e) => e.into(),
        }
    }
}

/// The query and paging parameters of a request.
fn parse(uri: &Uri) -> Result<(ExploreQuery, Paging), ApiError> {
    Ok(parse_request(uri.query().unwrap_or(""))?)
}

#[tracing::instrument(name = "explore", skip_all)]
async fn explore_page(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (query, paging) = parse(&uri)?;
    let with_svg = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "chart=svg"));
    let page = explore(
        state.source.as_ref(),
        state.store.as_ref(),
        &state.signer,
        &caller.access,
        query,
        paging,
        Utc::now(),
    )
    .await?;
    // The portal asks for the chart drawn on the server (`chart=svg`); scripts get the numbers.
    let chart_svg = if with_svg {
        page.chart.as_ref().and_then(explorer_chart)
    } else {
        None
    };
    Ok(Json(ExploreResponse {
        exploration: page,
        chart_svg,
    })
    .into_response())
}

#[tracing::instrument(name = "explore_export", skip_all)]
async fn explore_export(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (query, _) = parse(&uri)?;
    let scope = scope_of(&caller.access, &query).map_err(ExploreError::from)?;
    let detail = format!("explorer: {}", query.to_query_string());
    let (rows, (from, to)) = explore_rows(
        state.source.as_ref(),
        state.store.as_ref(),
        &scope,
        &query,
        Utc::now(),
    )
    .await?;
    let names = scope_names(state.store.as_ref(), &scope).await?;
    // Fused: the first row is read apart, and an empty query's stream is over already.
    let mut rows = rows.fuse();
    // The first row is read before answering, so a failing query still gets its ARM error; once
    // rows are on their way, a failure can only cut the download short (and is logged).
    let mut first = String::new();
    write_csv_record(&mut first, &EXPLORE_CSV_COLUMNS);
    if let Some(row) = rows.next().await {
        write_csv_record(
            &mut first,
            &explore_csv_fields(&row.map_err(ExploreError::from)?, &names),
        );
    }
    let target = scope.fingerprint();
    let event = caller.event(AuditAction::UsageExport, &target, &detail);
    audit::record_alone(state.store.as_ref(), event).await?;
    let rest = rows.ready_chunks(256).map(move |chunk| {
        let mut csv = String::new();
        for row in chunk {
            match row {
                Ok(row) => write_csv_record(&mut csv, &explore_csv_fields(&row, &names)),
                Err(e) => {
                    tracing::error!(error = %e, "explorer export stopped part-way");
                    return Err(std::io::Error::other("the export stopped part-way"));
                }
            }
        }
        Ok(csv)
    });
    let body = futures::stream::once(async { Ok::<_, std::io::Error>(first) }).chain(rest);
    let filename = format!(
        "usage-{}-{}.csv",
        from.format("%Y%m%d"),
        (to - chrono::Duration::seconds(1)).format("%Y%m%d")
    );
    Ok((csv_download(&filename), Body::from_stream(body)).into_response())
}
