//! `meterbook-app`: the portal. Pages render on the server (feature `ssr`) and hydrate in the
//! browser (feature `hydrate`), so they are useful before the WebAssembly has loaded.

// Leptos views are deeply nested types; release builds of the hydrate side need the headroom.
#![recursion_limit = "256"]

pub mod chart;
pub mod format;
#[cfg(feature = "ssr")]
pub mod portal_data;
pub mod routes;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::StaticSegment;

use crate::routes::overview::OverviewPage;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/meterbook.css"/>
        <Title text="Meterbook"/>
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"Meterbook"</A>
                <span class="tagline">"Usage and chargeback for your private cloud"</span>
            </header>
            <main>
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=OverviewPage/>
                </Routes>
            </main>
        </Router>
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
