-- People who sign in to the portal. Operators see every subscription; tenant users only the
-- subscriptions granted to them. Usernames compare case-insensitively so "Alice" cannot be
-- registered next to "alice". Passwords are argon2id PHC strings; a disabled user keeps the row
-- (the audit log refers to it) but cannot sign in, and loses its sessions and tokens.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'tenant')),
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
);

CREATE TABLE user_subscriptions (
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subscription_id TEXT    NOT NULL,
    PRIMARY KEY (user_id, subscription_id)
);

-- Portal sessions. The cookie holds a random ID; only its SHA-256 is stored, so a copy of the
-- database does not hand out live sessions. Every server sharing the store sees every session.
CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Failed sign-ins, kept for the rate-limit window. Keys are 'account:<name>' (whether or not the
-- account exists, so the limit reveals nothing) and 'address:<ip>'.
CREATE TABLE sign_in_failures (
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, at);

-- Who did what: sign-ins (and failures), sign-outs, token and user changes, exports.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL DEFAULT '',
    address TEXT    NOT NULL DEFAULT '',
    detail  TEXT    NOT NULL DEFAULT ''
);

-- Tokens a person created from the portal are theirs: disabling the person revokes them, and a
-- tenant's token reads only what its creator may still read.
ALTER TABLE api_tokens ADD COLUMN created_by INTEGER REFERENCES users (id);
