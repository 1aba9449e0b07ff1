//! `GET /api/v1/usage/export`: every aggregate of a usage query as one CSV file (in
//! `Usagesummary.ps1` column order), read through the usage source in the caller's scope and
//! streamed page by page, so an export of any size holds one page in memory.
//! Takes the ARM query parameters (`reportedStartTime`, `reportedEndTime`,
//! `aggregationGranularity`, `showDetails`, `subscriberId`); `api-version` may be left out.
//! Each export is written to the audit log before it is sent.

use meterbook_core::audit::AuditAction;
use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use futures::StreamExt;
use meterbook_core::access::ReadScope;
use meterbook_core::csv::write_csv_record;
use meterbook_core::export::{usage_csv_fields, USAGE_CSV_COLUMNS};
use meterbook_core::page::Cursor;
use meterbook_core::query::{AggregateQuery, UsageQuery, API_VERSION};
use meterbook_core::ArmCode;

use super::arm::query_params;
use super::download::csv_download;
use crate::api_error::ApiError;
use crate::audit;
use crate::auth::Caller;
use crate::owners::Owners;
use crate::source::UsageSource;
use crate::state::AppState;

/// Most source pages one export follows, in case an upstream sends empty pages without end.
const MAX_EXPORT_PAGES: u64 = 100_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/usage/export", get(export_usage))
}

/// The pages of an export, one scope after another, each as CSV rows.
struct ExportPages {
    source: Arc<dyn UsageSource>,
    scopes: VecDeque<ReadScope>,
    query: AggregateQuery,
    after: Option<Cursor>,
    fetched: u64,
    owners: Owners,
}

impl ExportPages {
    /// The next page's rows, or `None` after the last.
    async fn next_rows(&mut self) -> Result<Option<String>, ApiError> {
        let Some(scope) = self.scopes.front() else {
            return Ok(None);
        };
        self.fetched += 1;
        if self.fetched > MAX_EXPORT_PAGES {
            return Err(ApiError::new(
                ArmCode::UpstreamFailed,
                "The usage source kept paging without end; the export was stopped",
            ));
        }
        let page = self
            .source
            .aggregates(scope, &self.query, self.after.take())
            .await?;
        match page.next {
            Some(cursor) => self.after = Some(cursor),
            None => {
                self.scopes.pop_front();
            }
        }
        self.owners.learn(&page.items).await?;
        let mut csv = String::new();
        for line in &page.items {
            let owner = self.owners.of(&line.subscription_id);
            write_csv_record(&mut csv, &usage_csv_fields(line, owner));
        }
        Ok(Some(csv))
    }
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
    let scopes: VecDeque<ReadScope> = match (scope.subscriptions(), scope.single()) {
        (Some(subs), None) => subs
            .iter()
            .map(|s| caller.access.read_scope(Some(s)))
            .collect::<Result<_, _>>()?,
        _ => VecDeque::from([scope.clone()]),
    };
    let mut pages = ExportPages {
        source: state.source.clone(),
        scopes,
        query: query.aggregate.clone(),
        after: None,
        fetched: 0,
        owners: Owners::new(state.store.clone()),
    };
    // The first page is read before answering, so a refused or failing query still gets its
    // ARM error; once rows are on their way, a failure can only cut the download short (and is
    // logged), which a client sees as an incomplete transfer rather than a complete file.
    let mut first = String::new();
    write_csv_record(&mut first, &USAGE_CSV_COLUMNS);
    first.push_str(&pages.next_rows().await?.unwrap_or_default());
    let detail = format!(
        "{} to {}, {}",
        query.aggregate.reported_start.to_rfc3339(),
        query.aggregate.reported_end.to_rfc3339(),
        query.aggregate.granularity.as_str()
    );
    let target = scope.fingerprint();
    let event = caller.event(AuditAction::UsageExport, &target, &detail);
    audit::record_alone(state.store.as_ref(), event).await?;
    let rest = futures::stream::unfold(Some(pages), |state| async move {
        let mut pages = state?;
        match pages.next_rows().await {
            Ok(Some(rows)) => Some((Ok(rows), Some(pages))),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "export stopped part-way");
                Some((
                    Err(std::io::Error::other("the export stopped part-way")),
                    None,
                ))
            }
        }
    });
    let body = futures::stream::once(async { Ok::<_, std::io::Error>(first) }).chain(rest);
    let filename = format!(
        "usage-{}-{}.csv",
        query.aggregate.reported_start.format("%Y%m%dT%H"),
        query.aggregate.reported_end.format("%Y%m%dT%H")
    );
    Ok((csv_download(&filename), Body::from_stream(body)).into_response())
}
