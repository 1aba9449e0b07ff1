//! The sign-in form as a browser posts it (`application/x-www-form-urlencoded`), parsed into what
//! the server may act on: a username some account could have, a password of bounded length, and
//! a place on this site to go next.

use serde::Deserialize;

/// Longest password read from the form; longer input is refused, not hashed.
pub const MAX_PASSWORD_LEN: usize = 1_024;
/// Longest `next` path followed after signing in.
const MAX_NEXT_LEN: usize = 2_048;

/// Usernames: 1 to 64 letters, digits, and `.`, `_`, `-`, `@`.
pub fn check_username(username: &str) -> Result<(), String> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "usernames are 1 to 64 letters, digits, '.', '_', '-' or '@'; got '{username}'"
        ))
    }
}

/// Where to go after signing in: a path on this site, never another site (`//host`, `/\host`),
/// never back into sign-in or sign-out.
pub fn safe_next(next: Option<&str>) -> String {
    match next.map(str::trim) {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.starts_with("/auth/")
                && !path.starts_with("/sign-in")
                && path.len() <= MAX_NEXT_LEN
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A sign-in attempt worth checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInForm {
    pub username: String,
    pub password: String,
    /// Always a safe local path ([`safe_next`]).
    pub next: String,
}

/// Why a form is not worth checking; the page explains each (`error=missing|invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A field is empty (or the body is not a form at all).
    Missing,
    /// No account can have this name, or the password is too long to be anyone's.
    Invalid,
}

impl Refused {
    /// The reason as the sign-in page's `error` parameter names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Invalid => "invalid",
        }
    }
}

#[derive(Default, Deserialize)]
struct Raw {
    username: Option<String>,
    password: Option<String>,
    next: Option<String>,
}

impl SignInForm {
    /// Parses a posted form. The `next` path comes back even when the form is refused, so the
    /// page can keep it.
    pub fn parse(body: &[u8]) -> (String, Result<Self, Refused>) {
        let raw: Raw = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let next = safe_next(raw.next.as_deref());
        let username = raw.username.unwrap_or_default().trim().to_owned();
        let password = raw.password.unwrap_or_default();
        let form = if username.is_empty() || password.is_empty() {
            Err(Refused::Missing)
        } else if check_username(&username).is_err() || password.len() > MAX_PASSWORD_LEN {
            Err(Refused::Invalid)
        } else {
            Ok(Self {
                username,
                password,
                next: next.clone(),
            })
        };
        (next, form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/tokens?x=1")), "/tokens?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/auth/sign-out")), "/");
        assert_eq!(safe_next(Some("/a\nb")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn a_form_is_checked_only_when_some_account_could_match_it() {
        let (next, form) = SignInForm::parse(b"username=+olivia+&password=pw&next=%2Fusage");
        assert_eq!(next, "/usage");
        assert_eq!(
            form,
            Ok(SignInForm {
                username: "olivia".into(),
                password: "pw".into(),
                next: "/usage".into()
            })
        );
        let long = format!("username={}&password=pw", "x".repeat(65));
        assert_eq!(SignInForm::parse(long.as_bytes()).1, Err(Refused::Invalid));
        let long = format!("username=o&password={}", "x".repeat(MAX_PASSWORD_LEN + 1));
        assert_eq!(SignInForm::parse(long.as_bytes()).1, Err(Refused::Invalid));
        assert_eq!(
            SignInForm::parse(b"username=o%00&password=pw").1,
            Err(Refused::Invalid)
        );
        assert_eq!(SignInForm::parse(b"username=o").1, Err(Refused::Missing));
        assert_eq!(SignInForm::parse(b"\xff\xfe=%%%").1, Err(Refused::Missing));
    }
}
