//! Portal sessions: a random ID in an HttpOnly, SameSite=Lax cookie, stored server-side as a
//! hash with an idle and an absolute expiry, and a CSRF token for state-changing requests.

use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};

use super::tokens::{hash_secret, random_secret};
use crate::state::SessionPolicy;
use crate::store::{Changes, NewSession, SessionInfo, Store, StoreError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "mb_session";
/// The cookie's name over https: with the `__Host-` prefix a browser takes it only when it is
/// Secure, for this very host and `Path=/`, so neither a sibling subdomain nor a plain-http page
/// can set or shadow it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-mb_session";

/// Activity is recorded at most this often per session, so reads do not each cost a write.
const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// A session just started: the cookie value to send, and its CSRF token.
pub struct StartedSession {
    pub id: String,
    pub csrf_token: String,
}

impl SessionPolicy {
    /// The `Set-Cookie` value that hands `id` to the browser.
    pub fn cookie(&self, id: &str) -> String {
        let lifetime = i64::try_from(self.absolute.as_secs()).unwrap_or(i64::MAX);
        self.session_cookie(id.to_owned(), lifetime)
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn clearing_cookie(&self) -> String {
        self.session_cookie(String::new(), 0)
    }

    /// The session cookie with `value`, kept for `max_age_seconds`: host-only, for every path,
    /// out of scripts' reach, sent on top-level navigations from other sites but not on their
    /// requests, and Secure over https.
    fn session_cookie(&self, value: String, max_age_seconds: i64) -> String {
        Cookie::build((self.cookie_name(), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(max_age_seconds))
            .secure(self.secure_cookie)
            .build()
            .to_string()
    }

    /// The session cookie's name: `__Host-` prefixed whenever it is Secure.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookie {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// Starts a session for `user_id`. Always a new ID: signing in never reuses an earlier one.
    pub async fn start(
        &self,
        changes: &mut Changes,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<StartedSession, StoreError> {
        let id = random_secret().map_err(|e| StoreError::Random(e.to_string()))?;
        let csrf_token = random_secret().map_err(|e| StoreError::Random(e.to_string()))?;
        let absolute =
            chrono::Duration::from_std(self.absolute).unwrap_or(chrono::Duration::hours(12));
        changes
            .create_session(&NewSession {
                id_hash: &hash_secret(&id),
                user_id,
                csrf_token: &csrf_token,
                now,
                expires_at: now + absolute,
            })
            .await?;
        Ok(StartedSession { id, csrf_token })
    }

    /// The live session a request's cookie names, if any; records activity, and ends a session
    /// that was idle too long.
    pub async fn resolve(
        &self,
        store: &dyn Store,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, SessionInfo)>, StoreError> {
        let Some(id) = session_cookie(headers, self.cookie_name()) else {
            return Ok(None);
        };
        let id_hash = hash_secret(&id);
        let Some(session) = store.session_by_hash(&id_hash, now).await? else {
            return Ok(None);
        };
        let idle = chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::hours(2));
        if now - session.last_seen_at > idle {
            let mut changes = store.begin().await?;
            changes.delete_session(&id_hash).await?;
            changes.commit().await?;
            return Ok(None);
        }
        if (now - session.last_seen_at).num_seconds() >= TOUCH_INTERVAL_SECONDS {
            store.touch_session(&id_hash, now).await?;
        }
        Ok(Some((id_hash, session)))
    }
}

/// The session ID from the `Cookie` headers. Anything malformed reads as "no session": a broken
/// cookie must never break a request, and only a value shaped like the IDs this server hands out
/// (URL-safe base64, at most 128 characters) is looked up.
pub fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie_value(headers, name).filter(|value| {
        !value.is_empty()
            && value.len() <= 128
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Cookie `name`'s value from the `Cookie` headers, unchecked (callers check its shape); a
/// header that does not parse reads as no cookie.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value_trimmed().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn session_cookie_of(headers: &HeaderMap) -> Option<String> {
        session_cookie(headers, SESSION_COOKIE)
    }

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(COOKIE, HeaderValue::from_str(c).unwrap());
        }
        map
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_malformed_ones_are_ignored() {
        assert_eq!(
            session_cookie_of(&headers(&["a=1; mb_session=abc_DEF-1; b=2"])),
            Some("abc_DEF-1".into())
        );
        assert_eq!(
            session_cookie_of(&headers(&["x=1", "mb_session=zz"])),
            Some("zz".into())
        );
        assert_eq!(session_cookie_of(&headers(&["mb_session="])), None);
        assert_eq!(session_cookie_of(&headers(&["mb_session=a b;c"])), None);
        assert_eq!(session_cookie_of(&headers(&["mb_session=<script>"])), None);
        assert_eq!(session_cookie_of(&headers(&["garbage"])), None);
        assert_eq!(
            session_cookie_of(&headers(&[&format!("mb_session={}", "a".repeat(500))])),
            None
        );
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let mut policy = SessionPolicy::default();
        let plain = policy.cookie("id");
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(!plain.contains("Secure"));
        policy.secure_cookie = true;
        assert!(policy.cookie("id").contains("; Secure"));
        assert!(policy.cookie("id").starts_with("__Host-mb_session=id;"));
        assert!(policy.cookie("id").contains("; Path=/"));
        assert!(policy.clearing_cookie().starts_with("__Host-mb_session=;"));
        assert!(policy.clearing_cookie().contains("Max-Age=0"));
        // What a browser reads back from the header is what was meant.
        let sent = Cookie::parse(policy.cookie("id")).unwrap();
        assert_eq!(sent.max_age(), Some(cookie::time::Duration::hours(12)));
        assert_eq!(sent.same_site(), Some(SameSite::Lax));
        assert_eq!((sent.http_only(), sent.secure()), (Some(true), Some(true)));
    }
}
