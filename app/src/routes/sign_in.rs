//! The sign-in page: a plain form posted to `/auth/sign-in`, so it works before the WebAssembly
//! loads. Failures come back as a reason in the query string; the page says what it means and
//! never whether the account exists.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The sentence for a reason code the sign-in handler sent back.
pub fn reason_text(code: &str) -> Option<&'static str> {
    match code {
        "missing" => Some("Enter your username and your password."),
        "invalid" => Some("That username and password do not match an account that may sign in."),
        "too_many" => Some(
            "Too many failed sign-ins for this account or from this address. Wait 15 minutes, then try again.",
        ),
        "no_role" => Some(
            "Your directory account has no role in Meterbook: none of your groups or app roles is \
             mapped to one. Ask a Meterbook administrator to map your group (meterbook identity rules).",
        ),
        "directory_refused" => Some(
            "The directory did not complete the sign-in. Try again; if it keeps failing, ask your administrator.",
        ),
        "directory_unreachable" => Some(
            "The directory cannot be reached right now. Try again shortly.",
        ),
        "directory_expired" => Some(
            "That sign-in took too long or was started elsewhere. Start again.",
        ),
        "unknown_issuer" => Some("That directory is not one this Meterbook signs in with."),
        "name_taken" => Some(
            "A local Meterbook account already has your name. Ask an administrator to rename or remove it.",
        ),
        "local_off" => Some(
            "Passwords are switched off here: sign in with your organization's directory.",
        ),
        "unavailable" => Some("Meterbook cannot reach its database right now; try again shortly."),
        _ => None,
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    let error = move || query.read().get("error").and_then(|c| reason_text(&c));
    let signed_out = move || query.read().get("signed_out").is_some();
    let options = crate::portal::portal()
        .map(|p| p.sign_in_options())
        .unwrap_or_default();
    let directories = options.directories.clone();
    view! {
        <section class="card sign-in" aria-labelledby="sign-in-title">
            <h1 id="sign-in-title">"Sign in"</h1>
            {move || signed_out().then(|| view! { <p class="ok" role="status">"You have signed out."</p> })}
            {move || error().map(|text| view! { <p class="error" role="alert">{text}</p> })}
            {directories
                .into_iter()
                .map(|(name, label)| view! {
                    <form method="get" action="/auth/oidc/start" class="directory-sign-in">
                        <input type="hidden" name="issuer" value=name/>
                        <input type="hidden" name="next" value=next/>
                        <button type="submit">{format!("Sign in with {label}")}</button>
                    </form>
                })
                .collect_view()}
            {options.local_accounts.then(|| view! {
                <form method="post" action="/auth/sign-in" class="stacked-form">
                    <input type="hidden" name="next" value=next/>
                    <label for="username">"Username"</label>
                    <input id="username" name="username" autocomplete="username" required autofocus/>
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required/>
                    <button type="submit">"Sign in"</button>
                </form>
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_the_handler_sends_has_a_sentence() {
        for code in [
            "missing",
            "invalid",
            "too_many",
            "no_role",
            "directory_refused",
            "directory_unreachable",
            "directory_expired",
            "unknown_issuer",
            "name_taken",
            "local_off",
            "unavailable",
        ] {
            assert!(reason_text(code).is_some(), "{code}");
        }
        assert!(reason_text("<script>").is_none());
    }
}
