//! The audit log in the portal (`/audit`, operators only): the latest entries, optionally of one
//! action, newest first. The same log as `meterbook audit`. Nothing of it runs in the browser: its
//! filter is a plain GET form.

use leptos::prelude::*;
use leptos_router::hooks::use_location;
use meterbook_core::audit::AuditAction;
use serde::Deserialize;

use crate::portal::views::AuditView;
use crate::portal::PortalError;

/// Entries shown unless the page asks for more, and the most it may.
pub const DEFAULT_AUDIT_LIMIT: u32 = 100;
pub const MAX_AUDIT_LIMIT: u32 = 1_000;

/// The page's parameters.
#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    action: Option<String>,
    limit: Option<u32>,
}

/// The entries the URL query string `search` asks for, with the filter as read; tenants are
/// refused.
async fn load(search: &str) -> Result<(Option<AuditAction>, u32, Vec<AuditView>), PortalError> {
    use crate::portal::{portal, signed_in};
    let viewer = signed_in()?;
    let query: AuditQuery =
        serde_urlencoded::from_str(search.trim_start_matches('?')).unwrap_or_default();
    let limit = query
        .limit
        .unwrap_or(DEFAULT_AUDIT_LIMIT)
        .clamp(1, MAX_AUDIT_LIMIT);
    let action = match query.action.as_deref() {
        None | Some("") => None,
        Some(name) => Some(
            name.parse::<AuditAction>()
                .map_err(|e| PortalError::Invalid(e.to_string()))?,
        ),
    };
    let entries = portal()?.audit_entries(&viewer, action, limit).await?;
    Ok((action, limit, entries))
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let search = use_location().search.get_untracked();
    view! {
        <h1>"Audit log"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading the audit log…"</p> }>
            {Suspend::new(async move {
                match load(&search).await {
                    Ok((action, limit, entries)) => entries_view(action, limit, entries),
                    Err(e) => e.into_alert(),
                }
            })}
        </Suspense>
    }
}

/// The filter, then the entries or that none match.
fn entries_view(action: Option<AuditAction>, limit: u32, entries: Vec<AuditView>) -> AnyView {
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
                                    <td>
                                        {e.detail}
                                        {e.subscriptions
                                            .into_iter()
                                            .map(|(id, name)| view! {
                                                <div class="named-subscription">
                                                    {name} " " <code class="subscription-id">{id}</code>
                                                </div>
                                            })
                                            .collect_view()}
                                    </td>
                                </tr>
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
