-- Reads of one tenant (its ARM pages, explorer, chargeback, widget) walk that tenant's rows in
-- usage-time order instead of every tenant's rows of the period: the key order with the
-- subscription first (one index per monthly partition).
CREATE INDEX usage_records_by_subscription ON usage_records (subscription, usage_start, meter, resource);
