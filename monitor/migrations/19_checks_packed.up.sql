-- checks_packed holds the checks of the closed days, one row per site,
-- day and location (empty for checks made before locations were
-- recorded), packed as monitor/history/packed writes them. checks, first_at
-- and last_at let a count over whole days skip the unpacking.
CREATE TABLE checks_packed (
    site_id BIGINT NOT NULL,
    day DATE NOT NULL,
    location TEXT NOT NULL,
    checks INTEGER NOT NULL,
    first_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_at TIMESTAMP WITH TIME ZONE NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (site_id, day, location)
);
-- Compressed whatever its size (the default waits for 2 kB rows), with lz4
-- where the server has it.
ALTER TABLE checks_packed SET (toast_tuple_target = 128);
DO $$
BEGIN
    ALTER TABLE checks_packed ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR undefined_object THEN
    NULL;
END $$;
-- Retention deletes the oldest days: their rows are found by a block
-- range index, as they are written a day at a time.
CREATE INDEX checks_packed_day ON checks_packed USING brin (day);
