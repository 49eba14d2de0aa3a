DROP TABLE forgetting;
CREATE OR REPLACE FUNCTION hold_scheduled(ids BIGINT[]) RETURNS SETOF BIGINT
    LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    SELECT site_id FROM monitored WHERE site_id = ANY(ids) ORDER BY site_id FOR KEY SHARE
$$;
