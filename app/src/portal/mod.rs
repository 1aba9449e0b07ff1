//! The portal's contract with the server, in one module that points one way: what the server
//! provides ([`PortalData`]), the values pages show and forms send ([`views`]), why a request is
//! refused ([`PortalError`], each reason with its status), and what every server function does
//! first (find the portal, the viewer, check the form's CSRF token). Pages and the server import
//! this module; it imports neither.

#[cfg(feature = "ssr")]
mod data;
#[cfg(feature = "ssr")]
mod error;
pub mod views;

#[cfg(feature = "ssr")]
pub use data::{BoxFuture, PortalData, SharedPortalData};
#[cfg(feature = "ssr")]
pub use error::PortalError;

use leptos::prelude::ServerFnError;

/// The portal implementation in context, or an error for a misconfigured server.
#[cfg(feature = "ssr")]
pub fn portal() -> Result<SharedPortalData, PortalError> {
    leptos::prelude::use_context::<SharedPortalData>()
        .ok_or_else(|| PortalError::Unavailable("The portal is not configured".to_owned()))
}

/// The signed-in viewer (the request guard already refuses requests without one; this is the
/// second lock on the door).
#[cfg(feature = "ssr")]
pub fn signed_in() -> Result<crate::viewer::Viewer, PortalError> {
    crate::viewer::current_viewer().ok_or(PortalError::SignedOut)
}

/// The CSRF check of every state-changing server function.
#[cfg(feature = "ssr")]
pub fn check_csrf(viewer: &crate::viewer::Viewer, csrf: &str) -> Result<(), PortalError> {
    if csrf != viewer.csrf_token {
        return Err(PortalError::Forbidden(
            "This form is out of date (or came from another site). Reload the page and try again."
                .to_owned(),
        ));
    }
    Ok(())
}

/// The message of a server function's error as a person should read it, without Leptos' prefix.
pub fn message(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}
