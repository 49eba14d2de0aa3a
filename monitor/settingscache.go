package monitor

import (
	"sync"
	"time"
)

// settingsCache keeps the rows of the monitor's copy that this process
// read, by site and version: a round whose job names the version its
// site had when it was claimed reads the site's settings from here, not
// from the database, unless the site has changed since it was cached. A
// row is the same for as long as its version is.
type settingsCache struct {
	mu    sync.Mutex
	rows  map[int64]*cachedRow
	swept time.Time
}

// cachedRow is a row of the copy, as scheduledTargets reads it.
type cachedRow struct {
	version, used   int64 // used: when it was last asked for, in Unix seconds
	shown, settings string
	sealed          []byte
}

// cacheIdle is how long a row no round asks for is kept.
const cacheIdle = time.Hour

// get returns the row of the site at the version, if it holds it.
func (c *settingsCache) get(id, version int64, now time.Time) (*cachedRow, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rows[id]
	if !ok || r.version != version {
		return nil, false
	}
	r.used = now.Unix()
	return r, true
}

// put keeps the row of the site, unless it holds a newer one, and lets
// go of the rows not asked for in cacheIdle.
func (c *settingsCache) put(id int64, r *cachedRow, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil {
		c.rows = make(map[int64]*cachedRow)
	}
	if old, ok := c.rows[id]; ok && old.version > r.version {
		return
	}
	r.used = now.Unix()
	c.rows[id] = r
	if now.Sub(c.swept) < cacheIdle/4 {
		return
	}
	c.swept = now
	for id, r := range c.rows {
		if now.Unix()-r.used > int64(cacheIdle/time.Second) {
			delete(c.rows, id)
		}
	}
}
