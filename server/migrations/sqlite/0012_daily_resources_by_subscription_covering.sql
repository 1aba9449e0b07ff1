-- A tenant's reads of the daily rollup (the explorer's daily and monthly views, the first
-- window of its ARM pages) find every column in the subscription's index: the index of a
-- WITHOUT ROWID table holds the key's columns, and now the sums too. Before, each of the
-- tenant's rows was looked up again in the table, whose key leads with the day and the meter,
-- so a tenant's read cost grew with the number of tenants (1.36x-1.57x a 10-tenant store's).
DROP INDEX usage_daily_resources_by_subscription;
CREATE INDEX usage_daily_resources_by_subscription
    ON usage_daily_resources (subscription, day_start, quantity, records);
