-- Names of subscriptions, meters and resources are stored once; usage rows refer to them by
-- small integers. That keeps the dedup index narrow, and maintaining it is what bounds ingest
-- speed (about 3x faster than the same index over the text names). No REFERENCES clauses: the
-- store writes both sides in one transaction, and per-row foreign-key checks would cost as much.
CREATE TABLE subscriptions (
    id              INTEGER PRIMARY KEY,
    subscription_id TEXT NOT NULL UNIQUE
);
CREATE TABLE meters (
    id       INTEGER PRIMARY KEY,
    meter_id TEXT NOT NULL UNIQUE
);
CREATE TABLE resources (
    id           INTEGER PRIMARY KEY,
    resource_uri TEXT NOT NULL UNIQUE
);

-- Usage records, one row per (usage start, subscription, meter, resource): the dedup key Azure
-- Stack Hub implies. Times are Unix seconds (UTC) so bucketing is integer arithmetic.
CREATE TABLE usage_records (
    id              INTEGER PRIMARY KEY,
    usage_start     INTEGER NOT NULL,
    subscription    INTEGER NOT NULL,
    meter           INTEGER NOT NULL,
    resource        INTEGER NOT NULL,
    usage_end       INTEGER NOT NULL,
    reported_time   INTEGER NOT NULL,
    quantity        REAL    NOT NULL CHECK (quantity >= 0),
    location        TEXT    NOT NULL DEFAULT '',
    -- JSON object text, or NULL when the provider sent none.
    tags            TEXT,
    additional_info TEXT
);

-- The dedup key, led by usage time: pages of aggregates are served in usage-time order, so a page
-- scans one narrow window of this index, and the portal's usage-time ranges use it too.
CREATE UNIQUE INDEX usage_records_key ON usage_records (usage_start, subscription, meter, resource);
-- For each hour of reported time, the first and last usage start of the records reported in it.
-- The ARM API filters by reported time: a query's first page reads its usage-time span here, then
-- pages walk the key index and test reported time row by row. This small table replaces an index
-- on reported time, which cost a quarter of ingest speed. Spans only ever widen (a correction
-- moves a record to a later reported hour without shrinking the earlier one): a wider span costs
-- a page some scanning, never a missed record.
CREATE TABLE reported_spans (
    reported_hour INTEGER PRIMARY KEY,
    first_usage   INTEGER NOT NULL,
    last_usage    INTEGER NOT NULL
);

-- Settings that must be the same for every process sharing the store (the token-signing secret).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- API tokens. Only a SHA-256 of the token is kept: a token is shown once, when created.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('operator', 'tenant', 'provider')),
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE api_token_subscriptions (
    token_id        INTEGER NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    subscription_id TEXT    NOT NULL,
    PRIMARY KEY (token_id, subscription_id)
);
