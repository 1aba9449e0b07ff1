-- Per UTC day of usage, subscription, meter, resource, location and tags: the sum and count of
-- the usage rows (see the SQLite schema). Ingest adds each batch's difference in the same
-- transaction; the explorer's daily and monthly views of usage time read it instead of the
-- hourly rows. `day_start` is the day's first second; `tags` is the stored text, '' for none.
CREATE TABLE usage_daily_resources (
    day_start    BIGINT           NOT NULL,
    subscription BIGINT           NOT NULL,
    meter        BIGINT           NOT NULL,
    resource     BIGINT           NOT NULL,
    location     TEXT             NOT NULL,
    tags         TEXT             NOT NULL,
    quantity     DOUBLE PRECISION NOT NULL,
    records      BIGINT           NOT NULL,
    PRIMARY KEY (day_start, subscription, meter, resource, location, tags)
);
CREATE INDEX usage_daily_resources_by_subscription ON usage_daily_resources (subscription, day_start);

INSERT INTO usage_daily_resources
    (day_start, subscription, meter, resource, location, tags, quantity, records)
SELECT usage_start - usage_start % 86400, subscription, meter, resource, location,
       COALESCE(tags, ''), SUM(quantity), COUNT(*)
FROM usage_records
GROUP BY 1, 2, 3, 4, 5, 6;
