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
// not added yet) is to depend on exist and that, with the dependencies
// of the others and those of changed (by site, replacing what the
// database holds), no site depends on itself through them. For a site
// that is there, tx holds dependsLock until it ends.
func (s *Service) checkDependencies(ctx context.Context, tx *gorm.DB, id int64, deps []int64, changed map[int64][]int64) error {
	if len(deps) == 0 {
		return nil
	}
	if slices.Contains(deps, id) {
		return errs.Errorf(errs.InvalidArgument, "depends_on: a site cannot depend on itself (%d)", id)
	}
	var found []int64
	if err := tx.WithContext(ctx).Raw(`SELECT id FROM sites WHERE id IN ?`, deps).Scan(&found).Error; err != nil {
		return fmt.Errorf("find the sites depended on: %w", err)
	}
	var missing []string
	for _, d := range deps {
		if !slices.Contains(found, d) {
			missing = append(missing, fmt.Sprint(d))
		}
	}
	if len(missing) > 0 {
		return errs.Errorf(errs.InvalidArgument, "depends_on: no site has the id %s", strings.Join(missing, ", "))
	}
	if id == 0 {
		return nil // no site depends on one not added yet
	}
	graph, err := lockedGraph(ctx, tx)
	if err != nil {
		return err
	}
	for k, v := range changed {
		graph[k] = v
	}
	graph[id] = deps
	return noCycle(graph, id)
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
	path := cycleThrough(graph, id)
	if path == nil {
		return nil
	}
	names := make([]string, len(path))
	for i, p := range path {
		names[i] = fmt.Sprint(p)
	}
	return errs.Errorf(errs.InvalidArgument, "depends_on: a cycle: site %s", strings.Join(names, " depends on "))
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
	named = slices.Compact(named)
	var found []int64
	if err := tx.WithContext(ctx).Raw(`SELECT id FROM sites WHERE id IN ?`, named).Scan(&found).Error; err != nil {
		return fmt.Errorf("find the sites depended on: %w", err)
	}
	for _, id := range ids {
		for _, d := range graph[id] {
			if !slices.Contains(found, d) {
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
