-- Per UTC month of usage, subscription, meter, resource, location and tags: the count of usage
-- rows (see the SQLite schema). Ingest adds each batch's difference in the same transaction as
-- the daily rollup's; the explorer's filter options count whole months here and the days a
-- period shares with a month from the daily rollup.
CREATE TABLE usage_monthly_resources (
    month_start  BIGINT NOT NULL,
    subscription BIGINT NOT NULL,
    meter        BIGINT NOT NULL,
    resource     BIGINT NOT NULL,
    location     TEXT   NOT NULL,
    tags         TEXT   NOT NULL,
    records      BIGINT NOT NULL,
    PRIMARY KEY (month_start, subscription, meter, resource, location, tags)
);

INSERT INTO usage_monthly_resources
    (month_start, subscription, meter, resource, location, tags, records)
SELECT CAST(EXTRACT(EPOCH FROM date_trunc('month', to_timestamp(day_start) AT TIME ZONE 'UTC'))
            AS BIGINT),
       subscription, meter, resource, location, tags, SUM(records)
FROM usage_daily_resources
WHERE records > 0
GROUP BY 1, 2, 3, 4, 5, 6;
