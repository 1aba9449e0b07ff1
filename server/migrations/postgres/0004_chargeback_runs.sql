-- Chargeback statements as computed, and closed periods (see the SQLite schema).
CREATE TABLE chargeback_runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period      TEXT   NOT NULL,
    time_zone   TEXT   NOT NULL,
    group_by    TEXT   NOT NULL,
    statement   TEXT   NOT NULL,
    computed_at BIGINT NOT NULL,
    computed_by TEXT   NOT NULL
);
CREATE INDEX chargeback_runs_by_statement ON chargeback_runs (period, time_zone, group_by, id);

CREATE TABLE closed_periods (
    period    TEXT   NOT NULL,
    time_zone TEXT   NOT NULL,
    closed_at BIGINT NOT NULL,
    closed_by TEXT   NOT NULL,
    PRIMARY KEY (period, time_zone)
);
