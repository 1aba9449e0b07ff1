-- Hourly pages group by usage start itself, streaming the key index, while every stored record
-- starts on the hour (as Azure Stack Hub's do). Ingest sets this flag the first time a record
-- starts off the hour; a store that already holds such records gets it here.
INSERT INTO settings (name, value)
SELECT 'usage_off_hour', ''::bytea
WHERE EXISTS (SELECT 1 FROM usage_records WHERE usage_start % 3600 <> 0)
ON CONFLICT DO NOTHING;
