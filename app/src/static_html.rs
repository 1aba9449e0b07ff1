//! Views rendered to HTML outside the portal's router: the embeddable widget's document.

use leptos::prelude::*;
use leptos::tachys::view::RenderHtml;

/// Renders a view to HTML outside any page (in a server function or a plain handler). Nothing
/// hydrates this HTML, so the hydration markers (`<!>`, empty comments) go; text cannot hold one,
/// since rendering escapes its `<`.
pub fn to_html(view: impl FnOnce() -> AnyView) -> String {
    Owner::new().with(|| view().to_html()).replace("<!>", "")
}
