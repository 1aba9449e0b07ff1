-- Meterbook on PostgreSQL: the same tables as the SQLite store (times as Unix seconds, names
-- numbered once), plus what scale needs: usage partitioned by month of usage time, and daily
-- rollups kept current by ingest so long ranges never scan hourly rows.

CREATE TABLE subscriptions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id TEXT NOT NULL UNIQUE
);
CREATE TABLE meters (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id TEXT NOT NULL UNIQUE
);
CREATE TABLE resources (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource_uri TEXT NOT NULL UNIQUE
);

-- One row per (usage start, subscription, meter, resource), the dedup key. Partitions are one
-- calendar month (UTC) of usage start each, created by ingest when a month first appears; the
-- key leads with usage_start, so pages in usage-time order walk one partition's index at a time.
CREATE TABLE usage_records (
    usage_start     BIGINT           NOT NULL,
    subscription    BIGINT           NOT NULL,
    meter           BIGINT           NOT NULL,
    resource        BIGINT           NOT NULL,
    usage_end       BIGINT           NOT NULL,
    reported_time   BIGINT           NOT NULL,
    quantity        DOUBLE PRECISION NOT NULL CHECK (quantity >= 0),
    location        TEXT             NOT NULL DEFAULT '',
    -- JSON object text, or NULL when the provider sent none.
    tags            TEXT,
    additional_info TEXT,
    PRIMARY KEY (usage_start, subscription, meter, resource)
) PARTITION BY RANGE (usage_start);

-- Per UTC day of usage, subscription and meter: the sum and count of the usage rows. Ingest adds
-- each batch's difference in the same transaction, so it always equals the rows it summarizes.
CREATE TABLE usage_daily (
    day          BIGINT           NOT NULL,
    subscription BIGINT           NOT NULL,
    meter        BIGINT           NOT NULL,
    quantity     DOUBLE PRECISION NOT NULL,
    records      BIGINT           NOT NULL,
    PRIMARY KEY (day, subscription, meter)
);

-- For each hour of reported time, the first and last usage start of the records reported in it
-- (see the SQLite schema: it stands in for an index on reported time).
CREATE TABLE reported_spans (
    reported_hour BIGINT PRIMARY KEY,
    first_usage   BIGINT NOT NULL,
    last_usage    BIGINT NOT NULL
);

-- Settings every process sharing the store must agree on (the token-signing secret).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- People. Names are unique in any letter case.
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT   NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('operator', 'tenant')),
    password_hash TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);
CREATE UNIQUE INDEX users_by_name ON users (lower(username));

CREATE TABLE user_subscriptions (
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subscription_id TEXT   NOT NULL,
    PRIMARY KEY (user_id, subscription_id)
);

-- Portal sessions, by SHA-256 of the cookie's ID.
CREATE TABLE sessions (
    id_hash      TEXT   PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Failed sign-ins, kept for the rate-limit window.
CREATE TABLE sign_in_failures (
    id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT   NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, at);

-- API tokens, by SHA-256.
CREATE TABLE api_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT   NOT NULL,
    role       TEXT   NOT NULL CHECK (role IN ('operator', 'tenant', 'provider')),
    token_hash TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    created_by BIGINT REFERENCES users (id)
);

CREATE TABLE api_token_subscriptions (
    token_id        BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    subscription_id TEXT   NOT NULL,
    PRIMARY KEY (token_id, subscription_id)
);

CREATE TABLE audit_log (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT   NOT NULL,
    action  TEXT   NOT NULL,
    target  TEXT   NOT NULL DEFAULT '',
    address TEXT   NOT NULL DEFAULT '',
    detail  TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_action ON audit_log (action, id);

-- Widget tokens, by SHA-256.
CREATE TABLE widget_tokens (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT   NOT NULL,
    token_hash      TEXT   NOT NULL UNIQUE,
    subscription_id TEXT   NOT NULL,
    -- Meter categories shown, as a JSON array of names; empty for every category.
    categories      TEXT   NOT NULL DEFAULT '[]',
    created_by      BIGINT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX widget_tokens_by_creator ON widget_tokens (created_by);
