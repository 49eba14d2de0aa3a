-- Every transaction that records checks or decides a state first holds
-- the schedule's rows of its sites, in the order of their ids, and goes on
-- only with the sites still there; forgetting sites takes the same rows
-- exclusively before it deletes anything. So a check of a site being
-- deleted either commits first and is deleted with the rest, or finds the
-- site gone and records nothing, and the two never deadlock. A function
-- that runs as the schema's owner, so that a probe's role can hold the
-- rows without the right to change them.
CREATE FUNCTION hold_scheduled(ids BIGINT[]) RETURNS SETOF BIGINT
    LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT site_id FROM monitored WHERE site_id = ANY(ids) ORDER BY site_id FOR KEY SHARE
$$;
REVOKE ALL ON FUNCTION hold_scheduled(BIGINT[]) FROM PUBLIC;
