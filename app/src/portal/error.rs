//! Why the portal refused or failed a request, and the HTTP status each reason is answered with.

use std::fmt;

use http::StatusCode;
use leptos::prelude::ServerFnError;

/// A refusal or failure of the portal. Its message is safe to show as written (causes are logged
/// where they happen). It is deliberately not a `std::error::Error`: server functions turn it
/// into their error only through the `From` below, which sets the status, never through
/// `ServerFnError`'s blanket conversion, which would answer 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalError {
    /// No signed-in person (the request guard refuses those first; this is the second lock).
    SignedOut,
    /// The viewer may not see or do this, or the form is not theirs (CSRF).
    Forbidden(String),
    /// The request asks for something invalid; the person can correct it.
    Invalid(String),
    /// What was asked for does not exist, or is not the viewer's to see.
    NotFound(String),
    /// The store or the usage source failed; trying again later may work.
    Unavailable(String),
}

impl PortalError {
    /// The one place a portal error gets its status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::SignedOut => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Sets this error's status on the response being rendered (a page or a server function).
    pub fn set_status(&self) {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(self.status());
        }
    }

    /// What a page shows in place of what it could not load, answered with this error's status.
    pub fn into_alert(self) -> leptos::prelude::AnyView {
        use leptos::prelude::*;
        self.set_status();
        view! { <p class="error" role="alert">{self.to_string()}</p> }.into_any()
    }
}

impl fmt::Display for PortalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignedOut => f.write_str("Sign in first"),
            Self::Forbidden(m) | Self::Invalid(m) | Self::NotFound(m) | Self::Unavailable(m) => {
                f.write_str(m)
            }
        }
    }
}

impl From<PortalError> for ServerFnError {
    fn from(error: PortalError) -> Self {
        error.set_status();
        ServerFnError::new(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_status_and_shows_its_message() {
        let cases = [
            (PortalError::SignedOut, 401, "Sign in first"),
            (PortalError::Forbidden("not yours".into()), 403, "not yours"),
            (PortalError::Invalid("bad period".into()), 400, "bad period"),
            (
                PortalError::NotFound("no token 7".into()),
                404,
                "no token 7",
            ),
            (
                PortalError::Unavailable("try later".into()),
                503,
                "try later",
            ),
        ];
        for (error, status, shown) in cases {
            assert_eq!(error.status().as_u16(), status);
            assert_eq!(error.to_string(), shown);
            let answered: ServerFnError = error.into();
            assert_eq!(crate::portal::message(&answered), shown);
        }
    }
}
