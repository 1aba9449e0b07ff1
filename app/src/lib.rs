//! `meterbook-app`: the portal. Pages are Leptos components rendered on the server only (feature
//! `ssr`); the few parts that act in the browser are islands (`#[island]`), and only they are
//! compiled into the WebAssembly (feature `hydrate`). Every page works before it has loaded.

// Leptos views are deeply nested types; release builds of the hydrate side need the headroom.
#![recursion_limit = "256"]

pub mod chart;
pub mod codec;
pub mod format;
pub mod forms;
pub mod island_code;
pub mod portal;
pub mod routes;
#[cfg(feature = "ssr")]
mod shell;
#[cfg(feature = "ssr")]
pub mod static_html;
pub mod viewer;

#[cfg(feature = "ssr")]
pub use shell::{shell, App};

/// The browser's entry point: brings the page's islands to life (the rest is plain HTML).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
