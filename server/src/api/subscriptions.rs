//! The tenant directory through Azure's own APIs, so Azure tools read names from Meterbook:
//!
//! - ARM's subscriptions API (`api-version=2016-06-01`, what `Get-AzSubscription` and Azure SDKs
//!   call): `GET /subscriptions` lists the caller's subscriptions, `GET /subscriptions/{id}` reads
//!   one; another's is `404`, as Azure answers.
//! - Azure Stack Hub's admin API (`api-version=2015-11-01`, operators only), under the cloud's
//!   provider subscription: `GET .../providers/Microsoft.Subscriptions.Admin/subscriptions` lists
//!   every subscription, `GET .../subscriptions/{id}` reads one and `PUT` adds or replaces one.
//!
//! Lists are ARM pages: `nextLink` carries a signed `$skipToken` while more follow.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use meterbook_core::directory::{
    draft_of_json, ArmList, DirectoryEntry, ADMIN_COLLECTION, ADMIN_NAMESPACE,
};
use meterbook_core::page::Fingerprint;
use meterbook_core::{ArmCode, SubscriptionId};

use super::arm::{self, api_version, operators_only, param, query_params, resource_route};
use crate::api_error::ApiError;
use crate::audit;
use crate::auth::Caller;
use crate::directory_sync;
use crate::state::AppState;
use crate::store::{EntrySource, PutOutcome};

/// The api-versions of ARM's subscriptions API whose answers carry these fields.
const TENANT_API_VERSIONS: [&str; 6] = [
    "2016-06-01",
    "2018-06-01",
    "2019-06-01",
    "2020-01-01",
    "2021-01-01",
    "2022-12-01",
];
const ADMIN_API_VERSIONS: [&str; 1] = ["2015-11-01"];
/// Entries per page unless `$top` asks for fewer.
const PAGE: usize = 100;
const MAX_PAGE: usize = 1_000;

pub fn router() -> Router<AppState> {
    let admin = resource_route(ADMIN_NAMESPACE, ADMIN_COLLECTION);
    Router::new()
        .route("/subscriptions", get(tenant_list))
        .route("/subscriptions/{subscription}", get(tenant_get))
        .route(&admin, get(admin_list))
        .route(&format!("{admin}/{{id}}"), get(admin_get).put(admin_put))
        .route("/api/v1/directory/sync", post(sync))
}

/// `POST /api/v1/directory/sync` (operators, upstream mode): reads the hub's directory now.
async fn sync(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<directory_sync::Synced>, ApiError> {
    operators_only(&caller, "sync the directory")?;
    directory_sync::sync(
        state.store.as_ref(),
        state.source.as_ref(),
        &caller.actor,
        &caller.address,
    )
    .await
    .map(Json)
    .map_err(|e| match e {
        directory_sync::SyncError::NotUpstream => ApiError::new(ArmCode::NotFound, e.to_string()),
        directory_sync::SyncError::Source(e) => e.into(),
        directory_sync::SyncError::Store(e) => e.into(),
    })
}

/// A page's size (`$top`) and where it starts (`$skipToken`, sealed for `fingerprint`).
fn paging(
    state: &AppState,
    params: &[(String, String)],
    fingerprint: &Fingerprint,
) -> Result<(usize, Option<SubscriptionId>), ApiError> {
    let invalid = |e: String| ApiError::new(ArmCode::InvalidProperty, e);
    let limit = match param(params, "$top") {
        None => PAGE,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "$top: '{text}' is not a number from 1 to {MAX_PAGE}"
                ))
            })?,
    };
    let after = param(params, "$skipToken")
        .map(|token| {
            let id: String = state
                .signer
                .open_position(fingerprint.as_str(), token)
                .map_err(|e| invalid(format!("$skipToken: {e}; start again without it")))?;
            SubscriptionId::parse(&id).map_err(invalid)
        })
        .transpose()?;
    Ok((limit, after))
}

/// The page's `nextLink` when it is full: this request from after its last entry.
fn next_link(
    state: &AppState,
    uri: &Uri,
    params: &[(String, String)],
    fingerprint: &Fingerprint,
    page: &[DirectoryEntry],
    limit: usize,
) -> Option<String> {
    let last = page.last().filter(|_| page.len() == limit)?;
    let token = state
        .signer
        .seal_position(fingerprint.as_str(), &last.subscription_id.as_str());
    Some(arm::link_with(state, uri, params, "$skipToken", &token))
}

async fn tenant_list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<ArmList<meterbook_core::directory::ArmSubscription>>, ApiError> {
    let params = query_params(&uri)?;
    api_version(&params, &TENANT_API_VERSIONS)?;
    let scope = caller.access.read_scope(None).ok();
    let fingerprint = Fingerprint::new("subscriptions").part(
        scope
            .as_ref()
            .map_or("none".to_owned(), |s| s.fingerprint()),
    );
    let (limit, after) = paging(&state, &params, &fingerprint)?;
    let page = match scope.as_ref().map(|s| s.subscriptions()) {
        // Nothing to read (a resource provider's token): an empty list, as ARM answers.
        None => Vec::new(),
        Some(None) => {
            state
                .store
                .directory_page(None, after.as_ref(), limit)
                .await?
        }
        Some(Some(granted)) => granted_page(&state, granted, after.as_ref(), limit).await?,
    };
    let next_link = next_link(&state, &uri, &params, &fingerprint, &page, limit);
    Ok(Json(ArmList {
        value: page.iter().map(DirectoryEntry::to_arm).collect(),
        next_link,
    }))
}

/// A page of a tenant's own subscriptions: each granted one, named by the directory or as
/// unknown to it.
async fn granted_page(
    state: &AppState,
    granted: &[SubscriptionId],
    after: Option<&SubscriptionId>,
    limit: usize,
) -> Result<Vec<DirectoryEntry>, ApiError> {
    let mut ids: Vec<SubscriptionId> = granted
        .iter()
        .filter(|id| after.is_none_or(|a| *id > a))
        .cloned()
        .collect();
    ids.sort();
    ids.dedup();
    ids.truncate(limit);
    let known = state.store.directory_page(Some(&ids), None, limit).await?;
    Ok(ids
        .iter()
        .map(|id| {
            known
                .iter()
                .find(|e| e.subscription_id == *id)
                .cloned()
                .unwrap_or_else(|| DirectoryEntry::unknown(id))
        })
        .collect())
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        ArmCode::SubscriptionNotFound,
        format!("The subscription '{id}' could not be found."),
    )
}

async fn tenant_get(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    uri: Uri,
) -> Result<Json<meterbook_core::directory::ArmSubscription>, ApiError> {
    let params = query_params(&uri)?;
    api_version(&params, &TENANT_API_VERSIONS)?;
    // Unknown, unreadable and malformed IDs get the same answer: none says what exists.
    let id = SubscriptionId::parse(&raw).map_err(|_| not_found(raw.trim()))?;
    if !caller.access.can_read(&id) {
        return Err(not_found(id.as_str()));
    }
    match state.store.directory_entry(&id).await? {
        Some(entry) => Ok(Json(entry.to_arm())),
        None if !caller.access.can_read_all() => Ok(Json(DirectoryEntry::unknown(&id).to_arm())),
        None => Err(not_found(id.as_str())),
    }
}

/// Refuses an admin request under another subscription than the cloud's provider subscription,
/// or from anyone but an operator to `act`.
fn admin_request(
    state: &AppState,
    caller: &Caller,
    provider: &str,
    act: &str,
) -> Result<SubscriptionId, ApiError> {
    let provider = SubscriptionId::parse(provider)
        .ok()
        .filter(|p| *p == state.provider_subscription)
        .ok_or_else(|| {
            ApiError::new(
                ArmCode::SubscriptionNotFound,
                format!(
                    "Subscription {} is not this cloud's provider subscription",
                    provider.trim()
                ),
            )
        })?;
    operators_only(caller, act)?;
    Ok(provider)
}

async fn admin_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let provider = admin_request(&state, &caller, &provider, "list the cloud's subscriptions")?;
    let params = query_params(&uri)?;
    api_version(&params, &ADMIN_API_VERSIONS)?;
    let fingerprint = Fingerprint::new("admin-subscriptions");
    let (limit, after) = paging(&state, &params, &fingerprint)?;
    let page = state
        .store
        .directory_page(None, after.as_ref(), limit)
        .await?;
    let next_link = next_link(&state, &uri, &params, &fingerprint, &page, limit);
    Ok(Json(ArmList {
        value: page.iter().map(|e| e.to_admin(&provider)).collect(),
        next_link,
    })
    .into_response())
}

async fn admin_get(
    State(state): State<AppState>,
    caller: Caller,
    Path((provider, raw)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let provider = admin_request(&state, &caller, &provider, "read the cloud's subscriptions")?;
    api_version(&query_params(&uri)?, &ADMIN_API_VERSIONS)?;
    let id = SubscriptionId::parse(&raw).map_err(|_| not_found(raw.trim()))?;
    let entry = state
        .store
        .directory_entry(&id)
        .await?
        .ok_or_else(|| not_found(id.as_str()))?;
    Ok(Json(entry.to_admin(&provider)).into_response())
}

/// `PUT`: the body is the subscription in the admin API's shape (`displayName` required;
/// `owner`, `state`, `offerId`, `tenantId`, `delegatedProviderSubscriptionId`, `plans`, `tags`);
/// it replaces what the directory had. `201` when it was new, `200` otherwise.
async fn admin_put(
    State(state): State<AppState>,
    caller: Caller,
    Path((provider, raw)): Path<(String, String)>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let provider = admin_request(
        &state,
        &caller,
        &provider,
        "change the cloud's subscriptions",
    )?;
    api_version(&query_params(&uri)?, &ADMIN_API_VERSIONS)?;
    let invalid = |e: String| ApiError::new(ArmCode::InvalidProperty, e);
    let id = SubscriptionId::parse(&raw)
        .map_err(|e| invalid(format!("the path's subscription: {e}")))?;
    let body: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
    let mut draft = draft_of_json(&body).map_err(invalid)?;
    if let Some(given) = &draft.subscription_id {
        if SubscriptionId::parse(given).ok().as_ref() != Some(&id) {
            return Err(invalid(format!(
                "subscriptionId '{given}' is not the path's subscription {id}"
            )));
        }
    }
    draft.subscription_id = Some(id.to_string());
    let entry = draft.into_entry(None).map_err(invalid)?;
    let mut changes = state.store.begin().await?;
    let outcome = changes
        .put_directory_entry(&entry, EntrySource::Local)
        .await?;
    if let Some(action) = outcome.audited_as() {
        let event = caller.event(action, id.as_str(), &entry.display_name);
        audit::record(&mut changes, event).await?;
    }
    changes.commit().await?;
    let status = match outcome {
        PutOutcome::Added => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    Ok((status, Json(entry.to_admin(&provider))).into_response())
}
