DROP TABLE heartbeat_signal;
DROP TABLE heartbeat_run;
ALTER TABLE heartbeat DROP COLUMN cron, DROP COLUMN timezone, DROP COLUMN expected_at, DROP COLUMN signals;
