//! The claim rules that map a directory's tokens to roles; operators only:
//! - `GET /api/v1/identity/rules`: every rule, with the issuers this server trusts.
//! - `POST /api/v1/identity/rules` `{"issuer", "claim", "value", "role", "subscriptions"}`: adds
//!   one (`201`); refused with `400` naming the field, `409` when the same mapping exists.
//! - `DELETE /api/v1/identity/rules/{id}`: removes one.
//!
//! Every change is audited, and applies to the next request a token makes.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use meterbook_core::identity::{ClaimRule, RuleDraft};
use meterbook_core::ArmCode;
use serde::Serialize;

use super::arm::operators_only;
use crate::api_error::{unreadable_body, ApiError};
use crate::auth::Caller;
use crate::identity::rules::{self, Actor, AddError};
use crate::state::AppState;
use crate::store::StoredRule;

/// A rule is a few short strings and subscription IDs.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/identity/rules", get(list).post(add))
        .route("/api/v1/identity/rules/{id}", axum::routing::delete(remove))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// A rule as the API answers it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleAnswer {
    id: i64,
    #[serde(flatten)]
    rule: ClaimRule,
    created_at: DateTime<Utc>,
    created_by: String,
}

impl From<StoredRule> for RuleAnswer {
    fn from(s: StoredRule) -> Self {
        Self {
            id: s.id,
            rule: s.rule,
            created_at: s.created_at,
            created_by: s.created_by,
        }
    }
}

/// Every rule, and the issuers rules may name.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Rules {
    value: Vec<RuleAnswer>,
    /// The configured issuers' names, which rules refer to.
    issuers: Vec<String>,
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Rules>, ApiError> {
    operators_only(&caller, "read claim rules")?;
    Ok(Json(Rules {
        value: state
            .store
            .claim_rules()
            .await?
            .into_iter()
            .map(RuleAnswer::from)
            .collect(),
        issuers: state
            .identity
            .issuer_names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }))
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<RuleAnswer>), ApiError> {
    operators_only(&caller, "add claim rules")?;
    let shape = "send {\"issuer\", \"claim\", \"value\", \"role\", \"subscriptions\"}";
    let body = body.map_err(|e| unreadable_body(&e, MAX_BODY_BYTES, shape))?;
    let draft: RuleDraft = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ArmCode::InvalidProperty, format!("{shape}: {e}")))?;
    let rule = ClaimRule::parse(draft).map_err(|e| ApiError::new(ArmCode::InvalidProperty, e))?;
    let actor = Actor {
        name: &caller.actor,
        address: &caller.address,
    };
    let issuers = state.identity.issuer_names();
    let id = rules::add(state.store.as_ref(), Some(&issuers), actor, &rule)
        .await
        .map_err(|e| match e {
            AddError::UnknownIssuer(message) => ApiError::new(ArmCode::InvalidProperty, message),
            AddError::Exists(message) => ApiError::new(ArmCode::Conflict, message),
            AddError::Store(e) => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(RuleAnswer {
            id,
            rule,
            created_at: Utc::now(),
            created_by: caller.actor.clone(),
        }),
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    operators_only(&caller, "remove claim rules")?;
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::new(
            ArmCode::InvalidProperty,
            format!("'{id}' is not a claim rule ID"),
        )
    })?;
    let actor = Actor {
        name: &caller.actor,
        address: &caller.address,
    };
    match rules::remove(state.store.as_ref(), actor, id).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::new(
            ArmCode::NotFound,
            format!("There is no claim rule {id}"),
        )),
    }
}
