//! Usage widgets in the portal (`/widgets`): operators and tenant users create read-only widget
//! tokens for one subscription they may read (optionally a few meter categories), with an
//! expiry; list and revoke them; and copy the embed code, shown once, when one is created.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::forms::{Fields, ServerForm};
use crate::island_code::IslandCode;
use crate::portal::message;
use crate::portal::views::{CreatedWidget, WidgetView, DEFAULT_WIDGET_DAYS, MAX_WIDGET_DAYS};

/// Everything the widgets page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetsData {
    pub is_operator: bool,
    pub grants: Vec<String>,
    pub categories: Vec<String>,
    pub csrf_token: String,
    pub widgets: Vec<WidgetView>,
}

#[server(endpoint = "load_widgets")]
pub async fn load_widgets() -> Result<WidgetsData, ServerFnError> {
    use crate::portal::{portal, signed_in};
    let viewer = signed_in()?;
    let widgets = portal()?.list_widgets(&viewer).await?;
    let mut categories: Vec<String> = meterbook_core::meter::catalog()
        .all()
        .iter()
        .map(|m| m.category.clone())
        .collect();
    categories.sort();
    categories.dedup();
    Ok(WidgetsData {
        is_operator: viewer.is_operator(),
        grants: viewer
            .access
            .subscriptions
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        categories,
        csrf_token: viewer.csrf_token.clone(),
        widgets,
    })
}

#[server(endpoint = "create_widget")]
pub async fn create_widget(
    csrf: String,
    name: String,
    subscription: String,
    categories: String,
    days: String,
) -> Result<CreatedWidget, ServerFnError> {
    use crate::portal::{check_csrf, portal, signed_in};
    let viewer = signed_in()?;
    check_csrf(&viewer, &csrf)?;
    let address = crate::viewer::current_client_address();
    Ok(portal()?
        .create_widget(
            &viewer,
            address,
            crate::portal::views::NewWidgetForm {
                name,
                subscription,
                categories,
                days,
            },
        )
        .await?)
}

#[server(endpoint = "revoke_widget")]
pub async fn revoke_widget(csrf: String, id: i64) -> Result<(), ServerFnError> {
    use crate::portal::{check_csrf, portal, signed_in};
    let viewer = signed_in()?;
    check_csrf(&viewer, &csrf)?;
    let address = crate::viewer::current_client_address();
    Ok(portal()?.revoke_widget(&viewer, address, id).await?)
}

fn create_call(f: &Fields) -> Option<CreateWidget> {
    Some(CreateWidget {
        csrf: f.text("csrf"),
        name: f.text("name"),
        subscription: f.text("subscription"),
        categories: f.text("categories"),
        days: f.text("days"),
    })
}

fn revoke_call(f: &Fields) -> Option<RevokeWidget> {
    Some(RevokeWidget {
        csrf: f.text("csrf"),
        id: f.number("id")?,
    })
}

#[component]
pub fn WidgetsPage() -> impl IntoView {
    view! {
        <h1>"Usage widgets"</h1>
        <p class="period">
            "A widget shows one subscription's usage this month on another page, such as an intranet "
            "or a customer portal. Anyone with its link sees that summary, so give it an expiry and "
            "revoke it when it is no longer needed."
        </p>
        <WidgetManager/>
        <IslandCode/>
    }
}

/// The forms and the list: the part of the page that runs in the browser, so a change shows
/// its outcome in place (a new secret is shown once, and only here).
#[island]
fn WidgetManager() -> impl IntoView {
    let create = ServerAction::<CreateWidget>::new();
    let revoke = ServerAction::<RevokeWidget>::new();
    let data = crate::codec::page_resource(
        move || (create.version().get(), revoke.version().get()),
        |_| load_widgets(),
    );
    view! {
        <CreatedWidgetNotice create/>
        <Transition fallback=|| view! { <p class="loading" role="status">"Loading widgets…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <WidgetsBody page create revoke/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert">"The widgets could not be loaded: " {message(&e)}</p>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CreatedWidgetNotice(create: ServerAction<CreateWidget>) -> impl IntoView {
    move || {
        create.value().get().map(|result| match result {
            Ok(created) => view! {
                <section class="notice created" role="status">
                    <h2>"Widget created: " {created.name.clone()}</h2>
                    <p>"Copy the embed code now: the link is shown only this once (Meterbook keeps only a hash of it)."</p>
                    <label for="embed-iframe">"Embed as an iframe"</label>
                    <textarea id="embed-iframe" class="embed" readonly rows="3" data-testid="embed-iframe">{created.iframe.clone()}</textarea>
                    <label for="embed-script">"Or with a script that inserts it"</label>
                    <textarea id="embed-script" class="embed" readonly rows="2" data-testid="embed-script">{created.script.clone()}</textarea>
                    <p><a href=created.url.clone() rel="external" target="_blank" data-testid="widget-url">"Open the widget"</a></p>
                </section>
            }
            .into_any(),
            Err(e) => view! {
                <p class="error" role="alert">"The widget was not created: " {message(&e)}</p>
            }
            .into_any(),
        })
    }
}

#[component]
fn WidgetsBody(
    page: WidgetsData,
    create: ServerAction<CreateWidget>,
    revoke: ServerAction<RevokeWidget>,
) -> impl IntoView {
    let csrf = page.csrf_token.clone();
    let subscription_field = if page.is_operator {
        view! {
            <input id="widget-sub" name="subscription" required placeholder="subscription ID (a GUID)"/>
        }
        .into_any()
    } else {
        view! {
            <select id="widget-sub" name="subscription" required>
                {page.grants.iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
            </select>
        }
        .into_any()
    };
    let rows = page
        .widgets
        .into_iter()
        .map(|w| {
            let csrf = csrf.clone();
            let categories = if w.categories.is_empty() {
                "all".to_owned()
            } else {
                w.categories.join(", ")
            };
            view! {
                <tr>
                    <td>{w.name.clone()}</td>
                    <td><code>{w.subscription.clone()}</code></td>
                    <td>{categories}</td>
                    <td>{w.created_by.clone()}</td>
                    <td>{w.created_at.clone()}</td>
                    <td>{w.expires_at.clone()}</td>
                    <td>{w.state.clone()}</td>
                    <td>
                        {w.live.then(|| view! {
                            <ServerForm action=revoke call=revoke_call>
                                <input type="hidden" name="csrf" value=csrf/>
                                <input type="hidden" name="id" value=w.id/>
                                <button type="submit" class="secondary" aria-label=format!("Revoke widget {}", w.name)>"Revoke"</button>
                            </ServerForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="new-widget-title">
            <h2 id="new-widget-title">"New widget"</h2>
            <ServerForm action=create call=create_call class="stacked-form">
                <input type="hidden" name="csrf" value=page.csrf_token.clone()/>
                <label for="widget-name">"Name (shown as the widget's title)"</label>
                <input id="widget-name" name="name" required maxlength="64" placeholder="e.g. Team Atlas cloud usage"/>
                <label for="widget-sub">"Subscription"</label>
                {subscription_field}
                <label for="widget-categories">"Meter categories (separate with commas; empty for all)"</label>
                <input id="widget-categories" name="categories" list="widget-category-list" placeholder="e.g. Compute, Storage"/>
                <datalist id="widget-category-list">
                    {page.categories.iter().map(|c| view! { <option value=c.clone()></option> }).collect_view()}
                </datalist>
                <label for="widget-days">"Expires after (days)"</label>
                <input id="widget-days" name="days" type="number" min="1" max=MAX_WIDGET_DAYS value=DEFAULT_WIDGET_DAYS required/>
                <button type="submit">"Create widget"</button>
            </ServerForm>
        </section>
        <section class="card" aria-labelledby="widgets-title">
            <h2 id="widgets-title">{if page.is_operator { "All widgets" } else { "Your widgets" }}</h2>
            <div class="table-scroll">
                <table class="usage-table">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Subscription"</th>
                            <th scope="col">"Categories"</th>
                            <th scope="col">"Created by"</th>
                            <th scope="col">"Created (UTC)"</th>
                            <th scope="col">"Expires (UTC)"</th>
                            <th scope="col">"State"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
