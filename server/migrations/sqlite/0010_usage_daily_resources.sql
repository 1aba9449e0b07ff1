-- Per UTC day of usage, subscription, meter, resource, location and tags: the sum and count of
-- the usage rows. Ingest adds each batch's difference in the same transaction, so it always
-- equals the rows it summarizes. The explorer's daily and monthly views of usage time, and their
-- filter options, read it instead of the hourly rows: about 24 times fewer rows to group.
-- `day_start` is the day's first second (Unix seconds, UTC); `tags` is the stored tags' text,
-- '' for none, so it can be part of the key.
CREATE TABLE usage_daily_resources (
    day_start    INTEGER NOT NULL,
    subscription INTEGER NOT NULL,
    meter        INTEGER NOT NULL,
    resource     INTEGER NOT NULL,
    location     TEXT    NOT NULL,
    tags         TEXT    NOT NULL,
    quantity     REAL    NOT NULL,
    records      INTEGER NOT NULL,
    PRIMARY KEY (day_start, subscription, meter, resource, location, tags)
) WITHOUT ROWID;
-- A tenant's views read its own days.
CREATE INDEX usage_daily_resources_by_subscription ON usage_daily_resources (subscription, day_start);

INSERT INTO usage_daily_resources
    (day_start, subscription, meter, resource, location, tags, quantity, records)
SELECT usage_start - usage_start % 86400, subscription, meter, resource, location,
       COALESCE(tags, ''), SUM(quantity), COUNT(*)
FROM usage_records
GROUP BY 1, 2, 3, 4, 5, 6;
