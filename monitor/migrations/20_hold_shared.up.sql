-- Recording no longer locks the schedule's rows of its sites, which wrote
-- a lock into each row (and the write-ahead log) for every check. Every
-- transaction that records checks or decides a state takes one lock in
-- shared mode, an advisory lock kept in memory, then reads which of its
-- sites are still scheduled; forgetting sites takes it exclusively while
-- it takes them off the schedule, in a short transaction of its own. So a
-- check of a site being deleted either commits first and is deleted with
-- the rest, or finds the site gone and records nothing. Each statement of
-- the function sees what committed before it began: the read after the
-- lock sees a forgetting the lock waited for.
CREATE OR REPLACE FUNCTION hold_scheduled(ids BIGINT[]) RETURNS SETOF BIGINT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1970298739); -- "up_s"
    RETURN QUERY SELECT site_id FROM monitored WHERE site_id = ANY(ids);
END
$$;

-- The sites taken off the schedule whose history is still to be deleted:
-- reconciliation finishes what a process stopped meanwhile left.
CREATE TABLE forgetting (site_id BIGINT PRIMARY KEY);
