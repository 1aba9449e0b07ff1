//! The audit log in the portal (`/audit`, operators only): the latest entries, optionally of one
//! action, newest first. The same log as `meterbook audit`.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::routes::tokens::message;

/// Entries shown unless the page asks for more, and the most it may.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
pub const MAX_AUDIT_LIMIT: u32 = 1_000;

/// Actions the log records, for the filter.
pub const AUDIT_ACTIONS: [&str; 15] = [
    "sign_in",
    "sign_in_failed",
    "sign_in_limited",
    "sign_out",
    "token_created",
    "token_revoked",
    "widget_created",
    "widget_revoked",
    "user_added",
    "user_disabled",
    "user_enabled",
    "password_changed",
    "grant_added",
    "grant_removed",
    "export",
];

/// One entry as the portal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    /// `YYYY-MM-DD HH:MM:SS` UTC.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub address: String,
    pub detail: String,
}

#[server(endpoint = "load_audit")]
pub async fn load_audit(
    action: Option<String>,
    limit: Option<u32>,
) -> Result<Vec<AuditView>, ServerFnError> {
    use crate::portal_data::{portal, signed_in};
    let viewer = signed_in()?;
    let limit = limit
        .unwrap_or(DEFAULT_AUDIT_LIMIT)
        .clamp(1, MAX_AUDIT_LIMIT);
    let action = action.filter(|a| !a.is_empty());
    portal()?
        .audit_entries(&viewer, action, limit)
        .await
        .map_err(crate::routes::tokens::forbidden)
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let entries = crate::codec::page_resource(
        move || {
            let q = query.read();
            (
                q.get("action"),
                q.get("limit").and_then(|l| l.parse::<u32>().ok()),
            )
        },
        |(action, limit)| load_audit(action, limit),
    );
    let current = move || query.read().get("action").unwrap_or_default();
    view! {
        <h1>"Audit log"</h1>
        <Form method="GET" action="/audit" attr:class="card query-form">
            <fieldset>
                <legend>"Show"</legend>
                <div class="field">
                    <label for="audit-action">"Action"</label>
                    <select id="audit-action" name="action">
                        <option value="" selected=move || current().is_empty()>"Every action"</option>
                        {AUDIT_ACTIONS
                            .into_iter()
                            .map(|a| view! { <option value=a selected=move || current() == a>{a}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="audit-limit">"Latest"</label>
                    <select id="audit-limit" name="limit">
                        {[100u32, 500, 1_000]
                            .into_iter()
                            .map(|n| view! { <option value=n>{n}</option> })
                            .collect_view()}
                    </select>
                </div>
            </fieldset>
            <div class="actions"><button type="submit">"Show"</button></div>
        </Form>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading the audit log…"</p> }>
            {move || Suspend::new(async move {
                match entries.await {
                    Ok(entries) if entries.is_empty() => view! {
                        <p class="notice empty" role="status">"No entries match."</p>
                    }
                    .into_any(),
                    Ok(entries) => view! { <AuditTable entries/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{message(&e)}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AuditTable(entries: Vec<AuditView>) -> impl IntoView {
    view! {
        <section class="card">
            <div class="table-scroll">
                <table class="usage-table audit">
                    <caption class="visually-hidden">"Audit log entries, newest first"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"When (UTC)"</th>
                            <th scope="col">"Who"</th>
                            <th scope="col">"Action"</th>
                            <th scope="col">"Target"</th>
                            <th scope="col">"From"</th>
                            <th scope="col">"Detail"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {entries
                            .into_iter()
                            .map(|e| view! {
                                <tr>
                                    <td>{e.at}</td>
                                    <td>{e.actor}</td>
                                    <td><code>{e.action}</code></td>
                                    <td>{e.target}</td>
                                    <td>{e.address}</td>
                                    <td>{e.detail}</td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
