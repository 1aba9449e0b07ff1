//! The tenant directory in the portal (`/tenants`, operators only): find subscriptions by name,
//! owner, ID or offer, add or edit one, and import a CSV or JSON file, the same as
//! `meterbook subscriptions`. Nothing of it runs in the browser: the search is a GET form, and
//! changes are form posts the server answers by sending the browser back here.

use leptos::prelude::*;
use leptos_router::hooks::use_location;
use serde::Deserialize;

use crate::portal::views::{DirectoryRequest, DirectoryRow, DirectoryView};
use crate::portal::PortalError;

/// The page's parameters, and what a form post left to say.
#[derive(Debug, Default, Deserialize)]
struct TenantsQuery {
    find: Option<String>,
    after: Option<String>,
    edit: Option<String>,
    saved: Option<String>,
    imported: Option<String>,
    error: Option<String>,
}

fn query_of(search: &str) -> TenantsQuery {
    serde_urlencoded::from_str(search.trim_start_matches('?')).unwrap_or_default()
}

async fn load(query: &TenantsQuery) -> Result<DirectoryView, PortalError> {
    use crate::portal::{portal, signed_in};
    let viewer = signed_in()?;
    let request = DirectoryRequest {
        find: query.find.clone().filter(|f| !f.trim().is_empty()),
        after: query.after.clone(),
        edit: query.edit.clone(),
    };
    portal()?.directory(&viewer, request).await
}

#[component]
pub fn TenantsPage() -> impl IntoView {
    let query = query_of(&use_location().search.get_untracked());
    view! {
        <h1>"Tenants"</h1>
        <Suspense fallback=|| view! { <p class="loading" role="status">"Loading the directory…"</p> }>
            {Suspend::new(async move {
                match load(&query).await {
                    Ok(directory) => page(&query, directory),
                    Err(e) => e.into_alert(),
                }
            })}
        </Suspense>
    }
}

fn page(query: &TenantsQuery, directory: DirectoryView) -> AnyView {
    let notice = match (&query.saved, &query.imported) {
        (Some(id), _) => Some(format!("Saved {id}.")),
        (_, Some(what)) => Some(format!("Imported: {what}.")),
        _ => None,
    };
    let next = directory.next_after.as_ref().map(|after| {
        let query = serde_urlencoded::to_string([
            ("find", directory.find.clone().unwrap_or_default()),
            ("after", after.clone()),
        ])
        .unwrap_or_default();
        format!("/tenants?{query}")
    });
    let csrf = directory.csrf_token.clone();
    view! {
        {notice.map(|n| view! { <p class="notice" role="status">{n}</p> })}
        {query.error.clone().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <form method="get" action="/tenants" class="card query-form">
            <div class="field">
                <label for="tenants-find">"Find"</label>
                <input id="tenants-find" name="find" type="search" value=directory.find.clone().unwrap_or_default()
                    placeholder="Name, owner, subscription ID or offer"/>
            </div>
            <div class="actions"><button type="submit">"Find"</button></div>
        </form>
        <RowsTable rows=directory.rows.clone() find=directory.find.clone()/>
        {next.map(|href| view! { <p><a href=href rel="next">"Next →"</a></p> })}
        <EditForm row=directory.editing.clone() known=directory.editing_known states=directory.states.clone() csrf=csrf.clone()/>
        <section class="card" aria-labelledby="import-title">
            <h2 id="import-title">"Import"</h2>
            <form method="post" action="/tenants/import" enctype="multipart/form-data">
                <input type="hidden" name="csrf" value=csrf/>
                <label for="tenants-file">"A directory file (.csv or .json)"</label>
                <input id="tenants-file" name="file" type="file" accept=".csv,.json"/>
                <button type="submit">"Import"</button>
            </form>
            <p class="muted">
                "CSV: a header row of subscription_id, display_name, owner, state, offer, plans, tenant_id, "
                "delegated_provider, tags (any order; only subscription_id is required). JSON: an array, or "
                "the admin API's list. A file with an error is refused whole, naming the row."
            </p>
        </section>
    }
    .into_any()
}

#[component]
fn RowsTable(rows: Vec<DirectoryRow>, find: Option<String>) -> impl IntoView {
    if rows.is_empty() {
        let text = match find {
            Some(f) => format!("No subscription matches “{f}”."),
            None => "The directory knows no subscription yet: add one below, or import a file."
                .to_owned(),
        };
        return view! { <p class="notice empty" role="status">{text}</p> }.into_any();
    }
    view! {
        <section class="card">
            <div class="table-scroll">
                <table class="usage-table tenants">
                    <caption class="visually-hidden">"Subscriptions of the tenant directory"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Owner"</th>
                            <th scope="col">"State"</th>
                            <th scope="col">"Offer"</th>
                            <th scope="col">"Plans"</th>
                            <th scope="col">"Tags"</th>
                            <th scope="col"><span class="visually-hidden">"Edit"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|r| {
                                let edit = format!("/tenants?edit={}#edit-title", r.id);
                                view! {
                                    <tr>
                                        <th scope="row">
                                            {r.name.clone()}
                                            <br/>
                                            <code class="subscription-id">{r.id.clone()}</code>
                                        </th>
                                        <td>{r.owner}</td>
                                        <td>{r.state}</td>
                                        <td>{r.offer}</td>
                                        <td>{r.plans}</td>
                                        <td>{r.tags}</td>
                                        <td><a href=edit aria-label=format!("Edit {}", r.name)>"Edit"</a></td>
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
fn EditForm(row: DirectoryRow, known: bool, states: Vec<String>, csrf: String) -> impl IntoView {
    let title = if known {
        format!("Edit {}", row.name)
    } else {
        "Add a subscription".to_owned()
    };
    let field = |id: &'static str, label: &'static str, name: &'static str, value: String| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <input id=id name=name type="text" value=value/>
            </div>
        }
    };
    view! {
        <section class="card" aria-labelledby="edit-title">
            <h2 id="edit-title">{title}</h2>
            <form method="post" action="/tenants/save" class="query-form">
                <input type="hidden" name="csrf" value=csrf/>
                <fieldset>
                    <div class="field">
                        <label for="tenant-id">"Subscription ID"</label>
                        <input id="tenant-id" name="id" type="text" value=row.id.clone() required readonly=known/>
                    </div>
                    {field("tenant-name", "Display name", "name", row.name.clone())}
                    {field("tenant-owner", "Owner (user principal name)", "owner", row.owner.clone())}
                    <div class="field">
                        <label for="tenant-state">"State"</label>
                        <select id="tenant-state" name="state">
                            {states
                                .into_iter()
                                .map(|s| {
                                    let selected = s == row.state;
                                    let value = s.clone();
                                    view! { <option value=value selected=selected>{s}</option> }
                                })
                                .collect_view()}
                        </select>
                    </div>
                    {field("tenant-offer", "Offer", "offer", row.offer.clone())}
                    {field("tenant-plans", "Plans (; between)", "plans", row.plans.clone())}
                    {field("tenant-tags", "Tags (name=value; …)", "tags", row.tags.clone())}
                </fieldset>
                <div class="actions">
                    <button type="submit">{if known { "Save" } else { "Add" }}</button>
                    {known.then(|| view! { <a href="/tenants">"Add another instead"</a> })}
                </div>
            </form>
        </section>
    }
}
