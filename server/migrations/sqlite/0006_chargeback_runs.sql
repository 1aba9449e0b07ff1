-- Chargeback statements as computed, every grouping of a period (all subscriptions): each run is
-- kept, so the next run of the same statement can say what changed (late usage, corrections,
-- new prices), and a closed period's statements are its last runs.
CREATE TABLE chargeback_runs (
    id          INTEGER PRIMARY KEY,
    period      TEXT    NOT NULL,
    time_zone   TEXT    NOT NULL,
    group_by    TEXT    NOT NULL,
    statement   TEXT    NOT NULL,
    computed_at INTEGER NOT NULL,
    computed_by TEXT    NOT NULL
);
CREATE INDEX chargeback_runs_by_statement ON chargeback_runs (period, time_zone, group_by, id);

-- Periods whose statements are frozen: chargeback answers their last runs and runs no more.
CREATE TABLE closed_periods (
    period    TEXT    NOT NULL,
    time_zone TEXT    NOT NULL,
    closed_at INTEGER NOT NULL,
    closed_by TEXT    NOT NULL,
    PRIMARY KEY (period, time_zone)
);
