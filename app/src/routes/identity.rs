//! Identity in the portal (`/identity`, operators only): the directories Meterbook trusts (Entra
//! ID, AD FS, ...) and the claim rules that turn their tokens' claims into roles and
//! subscriptions, for people signing in and for bearer tokens on the API alike. Rules are added
//! and removed as `meterbook identity rules` and `/api/v1/identity/rules` do; nothing runs in the
//! browser: both are form posts the server answers by sending the browser back here.

use leptos::prelude::*;
use leptos_router::hooks::use_location;
use serde::Deserialize;

use crate::portal::views::{ClaimRuleView, IdentityView, IssuerView};
use crate::portal::PortalError;

/// What a form post left to say.
#[derive(Debug, Default, Deserialize)]
struct IdentityQuery {
    added: Option<String>,
    removed: Option<String>,
    error: Option<String>,
}

async fn load() -> Result<IdentityView, PortalError> {
    use crate::portal::{portal, signed_in};
    let viewer = signed_in()?;
    portal()?.identity(&viewer).await
}

#[component]
pub fn IdentityPage() -> impl IntoView {
    let search = use_location().search.get_untracked();
    let query: IdentityQuery =
        serde_urlencoded::from_str(search.trim_start_matches('?')).unwrap_or_default();
    view! {
        <h1>"Identity"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading the claim rules…"</p> }>
            {Suspend::new(async move {
                match load().await {
                    Ok(identity) => page(&query, identity),
                    Err(e) => e.into_alert(),
                }
            })}
        </Suspense>
    }
}

fn page(query: &IdentityQuery, identity: IdentityView) -> AnyView {
    let notice = match (&query.added, &query.removed) {
        (Some(rule), _) => Some(format!("Added: {rule}.")),
        (_, Some(rule)) => Some(format!("Removed: {rule}.")),
        _ => None,
    };
    let csrf = identity.csrf_token.clone();
    let passwords = if identity.local_accounts {
        "Meterbook's own accounts (passwords) sign in too: keep one operator for break-glass use."
    } else {
        "Meterbook's own passwords are switched off (local-accounts = false): only the directories sign people in."
    };
    view! {
        {notice.map(|n| view! { <p class="notice" role="status">{n}</p> })}
        {query.error.clone().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <Issuers issuers=identity.issuers.clone()/>
        <p class="muted">{passwords}</p>
        <Rules rules=identity.rules.clone() csrf=csrf.clone()/>
        <AddRule identity=identity csrf=csrf/>
    }
    .into_any()
}

#[component]
fn Issuers(issuers: Vec<IssuerView>) -> impl IntoView {
    if issuers.is_empty() {
        return view! {
            <p class="notice empty" role="status">
                "No directory is configured: start Meterbook with --identity-config naming your "
                "Entra ID or AD FS (see the README) for its people to sign in and its tokens to be accepted."
            </p>
        }
        .into_any();
    }
    view! {
        <section class="card" aria-labelledby="issuers-title">
            <h2 id="issuers-title">"Directories"</h2>
            <div class="table-scroll">
                <table class="usage-table">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Issuer"</th>
                            <th scope="col">"Audiences of API tokens"</th>
                            <th scope="col">"People sign in"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {issuers
                            .into_iter()
                            .map(|i| view! {
                                <tr>
                                    <th scope="row">{i.name}</th>
                                    <td><code>{i.url}</code></td>
                                    <td>{i.audiences.join(", ")}</td>
                                    <td>{if i.signs_in { "Yes" } else { "No (API tokens only)" }}</td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn Rules(rules: Vec<ClaimRuleView>, csrf: String) -> impl IntoView {
    if rules.is_empty() {
        return view! {
            <p class="notice empty" role="status">
                "No claim rule yet: nobody from a directory gets in until a rule maps their claims to a role."
            </p>
        }
        .into_any();
    }
    view! {
        <section class="card" aria-labelledby="rules-title">
            <h2 id="rules-title">"Claim rules"</h2>
            <p class="muted">
                "Every rule that matches a token adds to what it grants: the strongest role wins, and "
                "a tenant reads the subscriptions of all its rules. Changes apply at the next sign-in "
                "and to the next API request."
            </p>
            <div class="table-scroll">
                <table class="usage-table claim-rules">
                    <caption class="visually-hidden">"Claim rules"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"When"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Subscriptions"</th>
                            <th scope="col">"Added"</th>
                            <th scope="col"><span class="visually-hidden">"Remove"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {rules
                            .into_iter()
                            .map(|r| {
                                let when = format!("{} from {}", r.claim, r.issuer);
                                let label = format!("Remove the rule for {} {}", r.claim, r.value);
                                view! {
                                    <tr>
                                        <th scope="row">{when} " holds " <code>{r.value.clone()}</code></th>
                                        <td>{r.role}</td>
                                        <td>
                                            {r.subscriptions
                                                .into_iter()
                                                .map(|(id, name)| view! {
                                                    <span class="granted">{name}<br/><code class="subscription-id">{id}</code><br/></span>
                                                })
                                                .collect_view()}
                                        </td>
                                        <td>{r.created_at} <br/> <span class="muted">{r.created_by}</span></td>
                                        <td>
                                            <form method="post" action="/identity/rules/remove">
                                                <input type="hidden" name="csrf" value=csrf.clone()/>
                                                <input type="hidden" name="id" value=r.id.to_string()/>
                                                <button type="submit" class="secondary" aria-label=label>"Remove"</button>
                                            </form>
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

#[component]
fn AddRule(identity: IdentityView, csrf: String) -> impl IntoView {
    let options = |values: Vec<String>| {
        values
            .into_iter()
            .map(|v| {
                let value = v.clone();
                view! { <option value=value>{v}</option> }
            })
            .collect_view()
    };
    let issuers: Vec<String> = identity.issuers.iter().map(|i| i.name.clone()).collect();
    view! {
        <section class="card" aria-labelledby="add-rule-title">
            <h2 id="add-rule-title">"Add a rule"</h2>
            <form method="post" action="/identity/rules/add" class="query-form">
                <input type="hidden" name="csrf" value=csrf/>
                <fieldset>
                    <div class="field">
                        <label for="rule-issuer">"Directory"</label>
                        <select id="rule-issuer" name="issuer" required>{options(issuers)}</select>
                    </div>
                    <div class="field">
                        <label for="rule-claim">"Claim"</label>
                        <select id="rule-claim" name="claim">{options(identity.claims)}</select>
                    </div>
                    <div class="field">
                        <label for="rule-value">"Holds the value"</label>
                        <input id="rule-value" name="value" type="text" required
                            placeholder="e.g. tenant-contoso"/>
                    </div>
                    <div class="field">
                        <label for="rule-role">"Role"</label>
                        <select id="rule-role" name="role">{options(identity.roles)}</select>
                    </div>
                    <div class="field">
                        <label for="rule-subscriptions">"Subscriptions (tenants: names or IDs)"</label>
                        <input id="rule-subscriptions" name="subscriptions" type="text"/>
                    </div>
                </fieldset>
                <div class="actions"><button type="submit">"Add rule"</button></div>
            </form>
            <p class="muted">
                "People: groups (AD FS and Entra ID group claims) or roles (app roles). Service principals: "
                "appid, or roles for an app role granted to them."
            </p>
        </section>
    }
}
