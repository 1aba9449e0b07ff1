-- The tenant directory: what a person reads instead of a subscription's GUID. Offers and plans
-- are named things that subscriptions refer to; usage of a subscription the directory does not
-- know is kept all the same. `source` says who last wrote an entry: 'hub' (the upstream's admin
-- API, whose names win) or 'local' (the command line, an import, the admin API).
CREATE TABLE offers (
    name         TEXT PRIMARY KEY,
    display_name TEXT NOT NULL
);

CREATE TABLE plans (
    name         TEXT PRIMARY KEY,
    display_name TEXT NOT NULL
);

CREATE TABLE directory_subscriptions (
    subscription_id    TEXT    PRIMARY KEY,
    display_name       TEXT    NOT NULL,
    owner              TEXT    NOT NULL,
    state              TEXT    NOT NULL
        CHECK (state IN ('Enabled', 'Warned', 'PastDue', 'Disabled', 'Deleted')),
    offer              TEXT    REFERENCES offers (name),
    tenant_id          TEXT,
    delegated_provider TEXT,
    -- A JSON object of text values.
    tags               TEXT    NOT NULL,
    source             TEXT    NOT NULL CHECK (source IN ('local', 'hub')),
    updated_at         INTEGER NOT NULL
);

CREATE TABLE directory_plans (
    subscription_id TEXT NOT NULL
        REFERENCES directory_subscriptions (subscription_id) ON DELETE CASCADE,
    plan            TEXT NOT NULL REFERENCES plans (name),
    PRIMARY KEY (subscription_id, plan)
);
