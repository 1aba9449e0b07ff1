-- The daily rollup keyed by day and meter first, as SQLite's is since its migration 0011, with
-- the sums carried in the key's index: the explorer groups a period's days and meters in the
-- index's order from the index alone, where it sorted every row of the period before (for a
-- month of a 1,000-tenant cloud: 0.24 s against 1.2 s, which spilled 42 MB of sort to disk).
ALTER TABLE usage_daily_resources
    DROP CONSTRAINT usage_daily_resources_pkey,
    ADD PRIMARY KEY (day_start, meter, subscription, resource, location, tags)
        INCLUDE (quantity, records);
