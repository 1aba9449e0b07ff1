-- Failed sign-ins get an explicit ID, so "forget the latest failure" reads the same in SQLite and
-- PostgreSQL. Rows are copied with their implicit rowid.
CREATE TABLE sign_in_failures_new (
    id  INTEGER PRIMARY KEY,
    key TEXT    NOT NULL,
    at  INTEGER NOT NULL
);
INSERT INTO sign_in_failures_new (id, key, at) SELECT rowid, key, at FROM sign_in_failures;
DROP TABLE sign_in_failures;
ALTER TABLE sign_in_failures_new RENAME TO sign_in_failures;
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, at);
