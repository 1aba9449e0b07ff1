//! The browser code, sent only with pages that have islands.

use leptos::prelude::*;

/// Loads the WebAssembly that brings this page's islands to life. A page places it beside its
/// islands; a page without one (the overview, the explorer, costs, audit) sends no code at all.
/// The shell provides the site's [`LeptosOptions`] (the hashed file names).
#[component]
pub fn IslandCode() -> impl IntoView {
    use_context::<LeptosOptions>().map(|options| view! { <HydrationScripts options islands=true/> })
}
