//! The portal's identity page (`/identity`, operators only): the trusted issuers and the claim
//! rules through [`PortalData`](meterbook_app::portal::PortalData), and the two forms it posts,
//! `/identity/rules/add` and `/identity/rules/remove`. Both change the rules through
//! [`crate::identity::rules`], with their audit entry, as the API and the command line do, and send
//! the browser back to the page with what was done or why not.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use meterbook_app::portal::views::{ClaimRuleView, IdentityView, IssuerView};
use meterbook_app::portal::PortalError;
use meterbook_app::viewer::{ClientAddress, Viewer};
use meterbook_core::access::Role;
use meterbook_core::directory::{shown_name, Directory};
use meterbook_core::identity::{ClaimRule, RuleDraft, CLAIMS};

use super::{store_failed, Portal};
use crate::identity::rules::{self, Actor, AddError};
use crate::people::PeopleError;
use crate::state::AppState;

const OPERATORS_ONLY: &str = "Only operators manage how the directory's people and tokens get in";

pub(super) async fn identity(
    portal: &Portal,
    viewer: &Viewer,
) -> Result<IdentityView, PortalError> {
    if !viewer.is_operator() {
        return Err(PortalError::Forbidden(OPERATORS_ONLY.to_owned()));
    }
    let stored = portal.store.claim_rules().await.map_err(store_failed)?;
    let granted: Vec<_> = stored
        .iter()
        .flat_map(|s| s.rule.subscriptions.iter().cloned())
        .collect();
    let directory = Directory::new(
        portal
            .store
            .directory_entries(&granted)
            .await
            .map_err(store_failed)?,
    );
    Ok(IdentityView {
        issuers: portal
            .identity
            .issuers()
            .map(|i| IssuerView {
                name: i.name.clone(),
                url: i.url.clone(),
                audiences: i.audiences.clone(),
                signs_in: i.signs_in(),
            })
            .collect(),
        local_accounts: portal.identity.local_accounts,
        rules: stored
            .into_iter()
            .map(|s| ClaimRuleView {
                id: s.id,
                subscriptions: s
                    .rule
                    .subscriptions
                    .iter()
                    .map(|id| (id.to_string(), shown_name(id, directory.get(id))))
                    .collect(),
                issuer: s.rule.issuer,
                claim: s.rule.claim,
                value: s.rule.value,
                role: s.rule.role.to_string(),
                created_at: s.created_at.format("%Y-%m-%d %H:%M").to_string(),
                created_by: s.created_by,
            })
            .collect(),
        claims: CLAIMS.map(str::to_owned).to_vec(),
        roles: [Role::Operator, Role::Tenant, Role::Provider]
            .map(|r| r.to_string())
            .to_vec(),
        csrf_token: viewer.csrf_token.clone(),
    })
}

/// Longest text a redirect carries back (a refusal may quote what was typed): well inside what
/// proxies allow in a `Location` header.
const MAX_SAID: usize = 400;

/// Sends the browser back to the identity page with `query`.
fn back(query: &[(&str, &str)]) -> Response {
    let short: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| {
            let end = v.char_indices().nth(MAX_SAID).map_or(v.len(), |(i, _)| i);
            (*k, &v[..end])
        })
        .collect();
    let query = serde_urlencoded::to_string(short).unwrap_or_default();
    Redirect::to(&format!("/identity?{query}")).into_response()
}

/// A rule as the page's notice names it: its subscriptions counted when there are many.
fn summary(rule: &ClaimRule) -> String {
    if rule.subscriptions.len() <= 3 {
        return rule.to_string();
    }
    let only = ClaimRule {
        subscriptions: Vec::new(),
        ..rule.clone()
    };
    format!("{only} ({} subscriptions)", rule.subscriptions.len())
}

/// An operator's form post, checked: its fields, and who sent it for the audit log.
struct OperatorPost<F> {
    form: F,
    actor: String,
    address: String,
}

impl<F> OperatorPost<F> {
    fn actor(&self) -> Actor<'_> {
        Actor {
            name: &self.actor,
            address: &self.address,
        }
    }
}

/// A form post of `F` from a signed-in operator that carries their own CSRF token (`csrf` reads
/// it from the form), or where to send the browser instead. The operator is checked before the
/// form is read, as on the tenants page.
fn operator_post<F: serde::de::DeserializeOwned>(
    viewer: Option<Extension<Viewer>>,
    address: Option<Extension<ClientAddress>>,
    body: &[u8],
    csrf: impl Fn(&F) -> &str,
) -> Result<OperatorPost<F>, Box<Response>> {
    let Some(Extension(viewer)) = viewer else {
        return Err(Box::new(
            Redirect::to("/sign-in?next=%2Fidentity").into_response(),
        ));
    };
    if !viewer.is_operator() {
        return Err(Box::new(back(&[("error", OPERATORS_ONLY)])));
    }
    let Ok(form) = serde_urlencoded::from_bytes::<F>(body) else {
        return Err(Box::new(back(&[("error", "The form was incomplete")])));
    };
    if csrf(&form) != viewer.csrf_token {
        return Err(Box::new(back(&[(
            "error",
            "The form has expired; reload the page and try again",
        )])));
    }
    Ok(OperatorPost {
        form,
        actor: format!("user:{}", viewer.username),
        address: address.map(|a| a.0 .0.clone()).unwrap_or_default(),
    })
}

/// The add form's fields.
#[derive(serde::Deserialize)]
pub struct AddForm {
    csrf: String,
    issuer: String,
    claim: String,
    value: String,
    role: String,
    /// Names or IDs, comma-separated.
    #[serde(default)]
    subscriptions: String,
}

/// `POST /identity/rules/add` (a form).
pub async fn add(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    address: Option<Extension<ClientAddress>>,
    body: axum::body::Bytes,
) -> Response {
    let post = match operator_post(viewer, address, &body, |f: &AddForm| &f.csrf) {
        Ok(post) => post,
        Err(response) => return *response,
    };
    let store = state.store.as_ref();
    let form = &post.form;
    let subscriptions = match crate::people::resolve_subscriptions(store, &form.subscriptions).await
    {
        Ok(subs) => subs.iter().map(|s| s.to_string()).collect(),
        Err(PeopleError::Refused(why)) => {
            return back(&[("error", &format!("Subscriptions: {why}"))])
        }
        Err(PeopleError::Store(e)) => return back(&[("error", &store_failed(e).to_string())]),
        Err(e @ PeopleError::Password(_)) => {
            tracing::error!(error = ?e, "resolving a rule's subscriptions");
            return back(&[(
                "error",
                "Meterbook could not read the subscriptions; try again",
            )]);
        }
    };
    let rule = match ClaimRule::parse(RuleDraft {
        issuer: form.issuer.clone(),
        claim: form.claim.clone(),
        value: form.value.clone(),
        role: form.role.clone(),
        subscriptions,
    }) {
        Ok(rule) => rule,
        Err(e) => return back(&[("error", &e)]),
    };
    let issuers = state.identity.issuer_names();
    match rules::add(store, Some(&issuers), post.actor(), &rule).await {
        Ok(_) => back(&[("added", &summary(&rule))]),
        Err(AddError::UnknownIssuer(e) | AddError::Exists(e)) => back(&[("error", &e)]),
        Err(AddError::Store(e)) => back(&[("error", &store_failed(e).to_string())]),
    }
}

/// The remove form's fields.
#[derive(serde::Deserialize)]
pub struct RemoveForm {
    csrf: String,
    id: String,
}

/// `POST /identity/rules/remove` (a form).
pub async fn remove(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    address: Option<Extension<ClientAddress>>,
    body: axum::body::Bytes,
) -> Response {
    let post = match operator_post(viewer, address, &body, |f: &RemoveForm| &f.csrf) {
        Ok(post) => post,
        Err(response) => return *response,
    };
    let Some(id) = post.form.id.trim().parse::<i64>().ok().filter(|n| *n > 0) else {
        return back(&[(
            "error",
            "That is not a claim rule; reload the page and try again",
        )]);
    };
    match rules::remove(state.store.as_ref(), post.actor(), id).await {
        Ok(Some(rule)) => back(&[("removed", &summary(&rule))]),
        Ok(None) => back(&[("error", "That rule was already removed")]),
        Err(e) => back(&[("error", &store_failed(e).to_string())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meterbook_core::SubscriptionId;

    #[test]
    fn notices_stay_short_whatever_the_rule_or_the_refusal_holds() {
        let subscriptions: Vec<SubscriptionId> = (0..1_000)
            .map(|n| SubscriptionId::parse(&format!("00000000-0000-0000-0000-{n:012}")).unwrap())
            .collect();
        let rule = ClaimRule {
            issuer: "adfs".into(),
            claim: "groups".into(),
            value: "tenant-contoso".into(),
            role: Role::Tenant,
            subscriptions,
        };
        assert_eq!(
            summary(&rule),
            "adfs: groups = tenant-contoso -> tenant (1000 subscriptions)"
        );
        let response = back(&[("error", &"é".repeat(10_000))]);
        let location = response.headers()["location"].to_str().unwrap();
        assert!(location.len() < 4_096, "{}", location.len());
        assert!(location.starts_with("/identity?error=%C3%A9"));
    }
}
