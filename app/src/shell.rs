//! The HTML document and the router: every page, rendered on the server.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{SsrMode, StaticSegment};

use crate::routes::audit::AuditPage;
use crate::routes::costs::CostsPage;
use crate::routes::explorer::ExplorerPage;
use crate::routes::identity::IdentityPage;
use crate::routes::overview::OverviewPage;
use crate::routes::people::PeoplePage;
use crate::routes::sign_in::SignInPage;
use crate::routes::tenants::TenantsPage;
use crate::routes::tokens::TokensPage;
use crate::routes::widgets::WidgetsPage;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    send_content_security_policy();
    provide_context(options.clone());
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options id="leptos"/>
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
fn send_content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    // Signing in and out with a directory continues there (a form's redirect is checked too).
    let directories = crate::portal::portal()
        .map(|p| p.sign_in_options().origins)
        .unwrap_or_default();
    let form_action = std::iter::once("'self'".to_owned())
        .chain(directories)
        .collect::<Vec<_>>()
        .join(" ");
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action {form_action}; frame-ancestors 'none'"
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
                // Whole pages, rendered before the first byte is sent: a page's status (403, 404)
                // is known by then, and nothing on it waits for the browser.
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=OverviewPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("usage") view=ExplorerPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("costs") view=CostsPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("tokens") view=TokensPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("widgets") view=WidgetsPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("people") view=PeoplePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("tenants") view=TenantsPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("identity") view=IdentityPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("sign-in") view=SignInPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The navigation and sign-out of the signed-in person (nothing on the sign-in page).
#[component]
fn Account() -> impl IntoView {
    crate::viewer::current_viewer().map(|v| {
        let role = if v.is_operator() {
            "operator"
        } else {
            "tenant"
        };
        view! {
            <nav class="account" aria-label="Portal">
                <A href="/">"Overview"</A>
                <A href="/usage">"Explore usage"</A>
                <A href="/costs">"Costs"</A>
                <A href="/tokens">"API tokens"</A>
                <A href="/widgets">"Widgets"</A>
                {v.is_operator().then(|| view! {
                    <A href="/tenants">"Tenants"</A>
                    <A href="/people">"People"</A>
                    <A href="/identity">"Identity"</A>
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
}

#[component]
fn NotFound() -> impl IntoView {
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
