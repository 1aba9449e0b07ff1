-- Widget tokens: read-only links to one subscription's usage summary, for embedding in other
-- sites. Like API tokens only a SHA-256 is kept. A widget stops working when it expires, is
-- revoked, or its creator loses access to the subscription (checked when it is shown).
CREATE TABLE widget_tokens (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    token_hash      TEXT    NOT NULL UNIQUE,
    subscription_id TEXT    NOT NULL,
    -- Meter categories shown, as a JSON array of names; empty for every category.
    categories      TEXT    NOT NULL DEFAULT '[]',
    created_by      INTEGER NOT NULL REFERENCES users (id),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);
CREATE INDEX widget_tokens_by_creator ON widget_tokens (created_by);
