-- The per-resource daily rollup keyed by day and meter first: a WITHOUT ROWID table is stored in
-- its key's order, so the explorer's totals (each day's and meter's sum and rows) group the
-- period in the order it is read instead of sorting it (0.15 s against 0.37 s for a 1,000-tenant
-- month). The same rows and columns; only the order of the key changes.
CREATE TABLE usage_daily_resources_by_meter (
    day_start    INTEGER NOT NULL,
    subscription INTEGER NOT NULL,
    meter        INTEGER NOT NULL,
    resource     INTEGER NOT NULL,
    location     TEXT    NOT NULL,
    tags         TEXT    NOT NULL,
    quantity     REAL    NOT NULL,
    records      INTEGER NOT NULL,
    PRIMARY KEY (day_start, meter, subscription, resource, location, tags)
) WITHOUT ROWID;
INSERT INTO usage_daily_resources_by_meter
    (day_start, subscription, meter, resource, location, tags, quantity, records)
SELECT day_start, subscription, meter, resource, location, tags, quantity, records
FROM usage_daily_resources;
DROP TABLE usage_daily_resources;
ALTER TABLE usage_daily_resources_by_meter RENAME TO usage_daily_resources;
CREATE INDEX usage_daily_resources_by_subscription ON usage_daily_resources (subscription, day_start);

-- Per UTC month of usage, subscription, meter, resource, location and tags: the count of usage
-- rows. Ingest adds each batch's difference in the same transaction as the daily rollup's. The
-- explorer's filter options count a period's records from whole months here, adding or taking
-- away the days the period shares with a month from the daily rollup: about 30 times fewer rows
-- than the daily rollup alone. A tenant's months are found by the key (month, subscription).
CREATE TABLE usage_monthly_resources (
    month_start  INTEGER NOT NULL,
    subscription INTEGER NOT NULL,
    meter        INTEGER NOT NULL,
    resource     INTEGER NOT NULL,
    location     TEXT    NOT NULL,
    tags         TEXT    NOT NULL,
    records      INTEGER NOT NULL,
    PRIMARY KEY (month_start, subscription, meter, resource, location, tags)
) WITHOUT ROWID;

INSERT INTO usage_monthly_resources
    (month_start, subscription, meter, resource, location, tags, records)
SELECT unixepoch(day_start, 'unixepoch', 'start of month'), subscription, meter, resource,
       location, tags, SUM(records)
FROM usage_daily_resources
WHERE records > 0
GROUP BY 1, 2, 3, 4, 5, 6;
