//! Forms that call a server function. Without WebAssembly the browser posts the form to the
//! function's URL, which answers with a redirect back to the page; with it, the submit is taken
//! over here and dispatched to the action, so the page updates in place.
//!
//! This stands in for Leptos's `<ActionForm>`, which turns the form into the function's
//! arguments in the browser with `serde_qs`: a query-string deserializer in the bundle for a
//! handful of text fields. Each form here says how its fields make the call instead.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys::{Element, FormData, HtmlFormElement, SubmitEvent};

/// The fields of a submitted form, by name (with the name and value of the button that
/// submitted it, as the browser would post them).
pub struct Fields(FormData);

impl Fields {
    /// The field's text; empty when the form has no such field.
    pub fn text(&self, name: &str) -> String {
        self.optional(name).unwrap_or_default()
    }

    /// The field's text, or `None` when the form has no such field.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).as_string()
    }

    /// A whole number, or `None` when the field is absent or not a number.
    pub fn number(&self, name: &str) -> Option<i64> {
        self.optional(name)?.trim().parse().ok()
    }
}

/// Reads a submitted form; `None` if the event did not come from a form.
fn fields_of(event: &SubmitEvent) -> Option<Fields> {
    let form: HtmlFormElement = event.target()?.dyn_into().ok()?;
    let data = FormData::new_with_form(&form).ok()?;
    if let Some(button) = event.submitter().and_then(|s| s.dyn_into::<Element>().ok()) {
        if let Some(name) = button.get_attribute("name") {
            let value = button.get_attribute("value").unwrap_or_default();
            data.append_with_str(&name, &value).ok()?;
        }
    }
    Some(Fields(data))
}

/// A `<form>` that posts to server function `S`, dispatching `action` when the WebAssembly has
/// loaded. `call` makes the function's arguments from the fields; when it cannot (a field the
/// page itself filled in is missing), the browser posts the form and the server says what is
/// wrong.
#[component]
pub fn ServerForm<S>(
    action: ServerAction<S>,
    call: fn(&Fields) -> Option<S>,
    #[prop(optional)] class: &'static str,
    children: Children,
) -> impl IntoView
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let on_submit = move |event: SubmitEvent| {
        if let Some(arguments) = fields_of(&event).as_ref().and_then(call) {
            event.prevent_default();
            action.dispatch(arguments);
        }
    };
    view! {
        <form action=S::url() method="post" class=class on:submit=on_submit>
            {children()}
        </form>
    }
}
