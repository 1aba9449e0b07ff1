-- Rate cards, one row per saved revision; the newest is in effect. A card is read, checked and
-- written whole, so it is kept whole (its JSON), and earlier revisions show what prices were.
CREATE TABLE rate_cards (
    id       INTEGER PRIMARY KEY,
    card     TEXT    NOT NULL,
    saved_at INTEGER NOT NULL,
    saved_by TEXT    NOT NULL
);
