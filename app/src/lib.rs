//! `meterbook-app`: the portal. Pages render on the server (feature `ssr`) and hydrate in the
//! browser (feature `hydrate`), so they are useful before the WebAssembly has loaded.

// Leptos views are deeply nested types; release builds of the hydrate side need the headroom.
#![recursion_limit = "256"]

pub mod chart;
pub mod codec;
pub mod format;
pub mod forms;
#[cfg(feature = "ssr")]
pub mod portal_data;
pub mod routes;
#[cfg(feature = "ssr")]
pub mod static_html;
pub mod viewer;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::StaticSegment;

use crate::routes::audit::AuditPage;
use crate::routes::costs::CostsPage;
use crate::routes::explorer::ExplorerPage;
use crate::routes::overview::OverviewPage;
use crate::routes::people::PeoplePage;
use crate::routes::sign_in::SignInPage;
use crate::routes::tokens::TokensPage;
use crate::routes::widgets::WidgetsPage;
use crate::viewer::Viewer;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The portal's Content-Security-Policy, sent with every page: scripts run only from this
/// response's nonce (Leptos's hydration script carries it) and what that script loads
/// (`'strict-dynamic'`), WebAssembly may be compiled, the API is read from this site only, and no
/// page may be framed. An injected `<script>` or `onclick=` runs nowhere. Styles stay
/// `'unsafe-inline'`: the server-drawn SVG charts carry style attributes.
#[cfg(feature = "ssr")]
fn send_content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Meterbook"/>
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"Meterbook"</A>
                <span class="tagline">"Usage and chargeback for your private cloud"</span>
                <Account/>
            </header>
            <main>
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=OverviewPage/>
                    <Route path=StaticSegment("usage") view=ExplorerPage/>
                    <Route path=StaticSegment("costs") view=CostsPage/>
                    <Route path=StaticSegment("tokens") view=TokensPage/>
                    <Route path=StaticSegment("widgets") view=WidgetsPage/>
                    <Route path=StaticSegment("people") view=PeoplePage/>
                    <Route path=StaticSegment("audit") view=AuditPage/>
                    <Route path=StaticSegment("sign-in") view=SignInPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// The signed-in person, if any (no error when nobody is: the sign-in page has no viewer).
#[server(endpoint = "who_am_i")]
pub async fn who_am_i() -> Result<Option<Viewer>, ServerFnError> {
    Ok(crate::viewer::current_viewer())
}

/// The navigation and sign-out of a signed-in person.
#[component]
fn Account() -> impl IntoView {
    let viewer = crate::codec::page_resource(|| (), |_| who_am_i());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                viewer.await.ok().flatten().map(|v| {
                    let role = if v.is_operator() { "operator" } else { "tenant" };
                    view! {
                        <nav class="account" aria-label="Portal">
                            <A href="/">"Overview"</A>
                            <A href="/usage">"Explore usage"</A>
                            <A href="/costs">"Costs"</A>
                            <A href="/tokens">"API tokens"</A>
                            <A href="/widgets">"Widgets"</A>
                            {v.is_operator().then(|| view! {
                                <A href="/people">"People"</A>
                                <A href="/audit">"Audit log"</A>
                            })}
                            <span class="who">{v.username.clone()} " (" {role} ")"</span>
                            <form method="post" action="/auth/sign-out">
                                <input type="hidden" name="csrf" value=v.csrf_token.clone()/>
                                <button type="submit" class="link">"Sign out"</button>
                            </form>
                        </nav>
                    }
                })
            })}
        </Transition>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="notice">
            <h1>"Page not found"</h1>
            <p>"There is no page at this address. " <A href="/">"Go to the usage overview"</A> "."</p>
        </section>
    }
}

/// The browser's entry point: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
