//! Read-only pages rendered whole on the server. A page whose only interactions are plain forms
//! (a GET form for its filters, POSTs that redirect back to it) needs nothing in the browser but
//! a place for its HTML, so such pages share one server function and one component, and the
//! browser bundle carries none of their types, tables or formatting.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::routes::tokens::message;

/// The HTML of `page` (`costs`, `audit`) for the URL query string `search`, rendered for the
/// signed-in viewer.
#[server(endpoint = "render_page")]
pub async fn render_page(page: String, search: String) -> Result<String, ServerFnError> {
    let search = search.trim_start_matches('?');
    match page.as_str() {
        "costs" => crate::routes::costs::render(search).await,
        "audit" => crate::routes::audit::render(search).await,
        other => Err(ServerFnError::new(format!("There is no page '{other}'"))),
    }
}

/// A page rendered on the server: its title, and its HTML for the current URL.
#[component]
pub fn RenderedPage(
    page: &'static str,
    title: &'static str,
    loading: &'static str,
) -> impl IntoView {
    let search = use_location().search;
    let html = crate::codec::page_resource(
        move || search.get(),
        move |search| render_page(page.to_owned(), search),
    );
    view! {
        <h1>{title}</h1>
        <Transition fallback=move || view! { <p class="loading" role="status">{loading}</p> }>
            {move || Suspend::new(async move {
                match html.await {
                    Ok(html) => view! { <div class="rendered" inner_html=html></div> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{message(&e)}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
