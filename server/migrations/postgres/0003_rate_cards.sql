-- Rate cards, one row per saved revision; the newest is in effect (see the SQLite schema).
CREATE TABLE rate_cards (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    card     TEXT   NOT NULL,
    saved_at BIGINT NOT NULL,
    saved_by TEXT   NOT NULL
);
