package site

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"uptime/internal/errs"
)

// dependsLock is the advisory lock a change of the sites' dependencies
// holds, so that two changes made at once cannot close a cycle that each
// alone does not.
const dependsLock = 0x75705f64 // "up_d"

// checkDependencies checks, in tx, that the sites site id (0 for a site
// not added yet) is to depend on exist and that, with the dependencies of
// the others, no site depends on itself through them. For a site that is
// there, tx holds dependsLock until it ends.
func checkDependencies(ctx context.Context, tx *gorm.DB, id int64, deps []int64) error {
	if len(deps) == 0 {
		return nil
	}
	if slices.Contains(deps, id) {
		return errs.Errorf(errs.InvalidArgument, "depends_on: a site cannot depend on itself (%d)", id)
	}
	missing, err := missingSites(ctx, tx, deps)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return errs.Errorf(errs.InvalidArgument, "depends_on: no site has the id %s", joinIDs(missing))
	}
	if id == 0 {
		return nil // no site depends on one not added yet
	}
	graph, err := lockedGraph(ctx, tx)
	if err != nil {
		return err
	}
	graph[id] = deps
	return noCycle(graph, id)
}

// missingSites returns those of the ids that no site has, in order.
func missingSites(ctx context.Context, tx *gorm.DB, ids []int64) ([]int64, error) {
	var found []int64
	if err := tx.WithContext(ctx).Raw(`SELECT id FROM sites WHERE id IN ?`, ids).Scan(&found).Error; err != nil {
		return nil, fmt.Errorf("find the sites depended on: %w", err)
	}
	var missing []int64
	for _, id := range ids {
		if !slices.Contains(found, id) {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// joinIDs is a list of ids for a message: "3, 9".
func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ", ")
}

// lockedGraph takes dependsLock in tx and reads every site's
// dependencies, by site.
func lockedGraph(ctx context.Context, tx *gorm.DB) (map[int64][]int64, error) {
	if err := tx.WithContext(ctx).Exec(`SELECT pg_advisory_xact_lock(?)`, dependsLock).Error; err != nil {
		return nil, fmt.Errorf("lock the dependencies: %w", err)
	}
	var edges []struct {
		ID        int64
		DependsOn string
	}
	if err := tx.WithContext(ctx).Raw(`SELECT id, settings->>'depends_on' AS depends_on FROM sites WHERE settings ? 'depends_on'`).
		Scan(&edges).Error; err != nil {
		return nil, fmt.Errorf("read the dependencies: %w", err)
	}
	graph := make(map[int64][]int64, len(edges)+1)
	for _, e := range edges {
		var ids []int64
		if err := json.Unmarshal([]byte(e.DependsOn), &ids); err != nil {
			return nil, fmt.Errorf("read the dependencies of site %d: %w", e.ID, err)
		}
		graph[e.ID] = ids
	}
	return graph, nil
}

// noCycle refuses a cycle through site id.
func noCycle(graph map[int64][]int64, id int64) error {
	if path := cycleThrough(graph, id); path != nil {
		return errs.Errorf(errs.InvalidArgument, "depends_on: a cycle: site %s", strings.ReplaceAll(joinIDs(path), ", ", " depends on "))
	}
	return nil
}

// checkImported checks, in tx, the dependencies of the sites an import
// wrote (as tx holds them): that the sites they name exist and that none
// makes a cycle.
func checkImported(ctx context.Context, tx *gorm.DB, written []*row) error {
	var ids []int64
	for _, r := range written {
		if strings.Contains(r.Settings, `"depends_on"`) {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	graph, err := lockedGraph(ctx, tx)
	if err != nil {
		return err
	}
	var named []int64
	for _, id := range ids {
		named = append(named, graph[id]...)
	}
	slices.Sort(named)
	missing, err := missingSites(ctx, tx, slices.Compact(named))
	if err != nil {
		return err
	}
	for _, id := range ids {
		for _, d := range graph[id] {
			if slices.Contains(missing, d) {
				return errs.Errorf(errs.InvalidArgument, "depends_on of site %d: no site has the id %d", id, d)
			}
			if d == id {
				return errs.Errorf(errs.InvalidArgument, "depends_on: a site cannot depend on itself (%d)", id)
			}
		}
		if err := noCycle(graph, id); err != nil {
			return err
		}
	}
	return nil
}

// cycleThrough returns a path of dependencies from id back to id, as
// ids, or nil when there is none.
func cycleThrough(graph map[int64][]int64, id int64) []int64 {
	seen := map[int64]bool{}
	var walk func(at int64, path []int64) []int64
	walk = func(at int64, path []int64) []int64 {
		for _, next := range graph[at] {
			if next == id {
				return append(path, id)
			}
			if seen[next] {
				continue
			}
			seen[next] = true
			if found := walk(next, append(path, next)); found != nil {
				return found
			}
		}
		return nil
	}
	return walk(id, []int64{id})
}

// dropDependencies takes the sites deleted, by id, out of the depends_on
// of the others, in tx, and returns the rows it changed and, by site,
// their settings before: a site deleted leaves no id behind that an
// export of the others would carry and an import refuse.
func dropDependencies(ctx context.Context, tx *gorm.DB, deleted []int64) ([]*row, map[int64]string, error) {
	if len(deleted) == 0 {
		return nil, nil, nil
	}
	var changed []struct {
		ID       int64
		URL      string
		Settings string
		Sealed   []byte
		Version  int64
		Before   string
	}
	err := tx.WithContext(ctx).Raw(`WITH gone AS (SELECT jsonb_array_elements_text(?::jsonb)::bigint AS id),
		kept AS (
			SELECT s.id, s.settings AS before, COALESCE((SELECT jsonb_agg(d ORDER BY d::bigint)
				FROM jsonb_array_elements(s.settings->'depends_on') d WHERE d::bigint NOT IN (SELECT id FROM gone)), '[]'::jsonb) AS deps
			FROM sites s WHERE s.settings ? 'depends_on' AND EXISTS (
				SELECT 1 FROM jsonb_array_elements(s.settings->'depends_on') d WHERE d::bigint IN (SELECT id FROM gone))
			ORDER BY s.id FOR UPDATE)
		UPDATE sites s SET version = s.version + 1, settings = CASE WHEN jsonb_array_length(k.deps) = 0
			THEN s.settings - 'depends_on' ELSE jsonb_set(s.settings, '{depends_on}', k.deps) END
		FROM kept k WHERE s.id = k.id
		RETURNING s.id, s.url, s.settings, s.sealed, s.version, k.before`, jsonText(deleted)).Scan(&changed).Error
	if err != nil {
		return nil, nil, fmt.Errorf("take the sites deleted out of the others' depends_on: %w", err)
	}
	rows := make([]*row, len(changed))
	before := make(map[int64]string, len(changed))
	for i, c := range changed {
		rows[i] = &row{ID: c.ID, URL: c.URL, Settings: c.Settings, Sealed: c.Sealed, Version: c.Version}
		before[c.ID] = c.Before
	}
	return rows, before, nil
}
