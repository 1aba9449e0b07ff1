-- Billing systems that receive statements: each is POSTed every statement pushed (on period
-- close, or on demand), signed with its own secret. A removed webhook is kept (deleted_at) so its
-- delivery log still reads.
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    deleted_at INTEGER
);

-- One statement to one webhook, and how delivering it went. A delivery is 'pending' until a 2xx
-- answer ('delivered') or its last attempt ('failed'). A server claims a due delivery by moving
-- next_attempt_at past the time its attempt can take, so two servers never send it at once and a
-- server that dies mid-attempt leaves it to be retried.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id),
    event           TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
