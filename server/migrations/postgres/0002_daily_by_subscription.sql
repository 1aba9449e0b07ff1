-- A tenant's summary reads its own days of the rollup, not every tenant's days of the range.
CREATE INDEX usage_daily_by_subscription ON usage_daily (subscription, day);
