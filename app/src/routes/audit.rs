//! The audit log in the portal (`/audit`, operators only): the latest entries, optionally of one
//! action, newest first. The same log as `meterbook audit`. Rendered on the server (see
//! [`super::rendered`]): its filter is a plain GET form.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use meterbook_core::audit::AuditAction;

use crate::routes::rendered::RenderedPage;

/// Entries shown unless the page asks for more, and the most it may.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
pub const MAX_AUDIT_LIMIT: u32 = 1_000;

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

/// The page's parameters.
#[cfg(feature = "ssr")]
#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    action: Option<String>,
    limit: Option<u32>,
}

/// The audit page for the URL query string `search`, as HTML; tenants are refused (403).
#[cfg(feature = "ssr")]
pub(crate) async fn render(search: &str) -> Result<String, ServerFnError> {
    use crate::portal_data::{portal, signed_in};
    let viewer = signed_in()?;
    let query: AuditQuery = serde_urlencoded::from_str(search).unwrap_or_default();
    let limit = query
        .limit
        .unwrap_or(DEFAULT_AUDIT_LIMIT)
        .clamp(1, MAX_AUDIT_LIMIT);
    let action = match query.action.as_deref() {
        None | Some("") => None,
        Some(name) => Some(
            name.parse::<AuditAction>()
                .map_err(|e| ServerFnError::new(e.to_string()))?,
        ),
    };
    let entries = portal()?
        .audit_entries(&viewer, action, limit)
        .await
        .map_err(crate::routes::tokens::forbidden)?;
    Ok(crate::static_html::to_html(move || {
        view! {
            <form method="get" action="/audit" class="card query-form">
                <fieldset>
                    <legend>"Show"</legend>
                    <div class="field">
                        <label for="audit-action">"Action"</label>
                        <select id="audit-action" name="action">
                            <option value="" selected=action.is_none()>"Every action"</option>
                            {AuditAction::ALL
                                .into_iter()
                                .map(|a| {
                                    let name = a.as_str();
                                    view! { <option value=name selected=action == Some(a)>{name}</option> }
                                })
                                .collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="audit-limit">"Latest"</label>
                        <select id="audit-limit" name="limit">
                            {[100u32, 500, 1_000]
                                .into_iter()
                                .map(|n| view! { <option value=n selected=n == limit>{n}</option> })
                                .collect_view()}
                        </select>
                    </div>
                </fieldset>
                <div class="actions"><button type="submit">"Show"</button></div>
            </form>
            {if entries.is_empty() {
                view! { <p class="notice empty" role="status">"No entries match."</p> }.into_any()
            } else {
                view! { <AuditTable entries/> }.into_any()
            }}
        }
        .into_any()
    }))
}

#[component]
pub fn AuditPage() -> impl IntoView {
    view! { <RenderedPage page="audit" title="Audit log" loading="Loading the audit log…"/> }
}

#[cfg(feature = "ssr")]
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
