//! Who is looking at the portal: the signed-in person, as the server resolved them from their
//! session. The server puts a [`Viewer`] into each request; pages and server functions read it
//! from there and never from anything the browser sends.

use meterbook_core::access::{Access, Role};
use serde::{Deserialize, Serialize};

/// The signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: i64,
    pub username: String,
    pub access: Access,
    /// Must accompany every state-changing request of this session (sign-out, token changes).
    pub csrf_token: String,
}

impl Viewer {
    pub fn is_operator(&self) -> bool {
        self.access.role == Role::Operator
    }
}

/// The client's network address, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

/// The viewer of the request being served (on the server: page render or server function).
#[cfg(feature = "ssr")]
pub fn current_viewer() -> Option<Viewer> {
    use leptos::prelude::use_context;
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Viewer>().cloned())
}

/// The client address of the request being served.
#[cfg(feature = "ssr")]
pub fn current_client_address() -> String {
    use leptos::prelude::use_context;
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<ClientAddress>().map(|a| a.0.clone()))
        .unwrap_or_default()
}
