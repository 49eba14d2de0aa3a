package monitor

import (
	"sync"
	"time"

	"uptime/monitor/decide"
)

// stateCache keeps the states this process wrote on the bulk path, each
// with the version its row had once written: while this instance is the
// only live one of its location, a site's next round is decided from it,
// not from a read before checking. Nothing is trusted blindly: the state
// is written only where its row is still at that version, so a row
// written meanwhile (by another location, or the per-site path) is found
// then, read and decided again. A site found so is contended: its rows
// are read before its rounds for the next contendedFor, as a copy of it
// would be out of date as often as not.
type stateCache struct {
	mu     sync.Mutex
	states map[int64]*cachedState
	swept  time.Time
	// shared is set while another instance checks from this location:
	// nothing is kept then, as what it checks would not be in it.
	shared bool
}

// cachedState is a state kept: its locations' views are kept in a slice
// rather than a map of their own, as a map even of one costs hundreds of
// bytes, and a hundred thousand sites are kept.
type cachedState struct {
	seen           seenState // version 0: none held; its Locations nil
	locations      []namedLocation
	used           int64 // when it was last asked for or written, in Unix seconds
	contendedUntil int64 // in Unix seconds
}

type namedLocation struct {
	name string
	decide.Location
}

func (e *cachedState) keep(seen seenState) {
	e.seen, e.locations = seen, make([]namedLocation, 0, len(seen.state.Locations))
	for name, l := range seen.state.Locations {
		e.locations = append(e.locations, namedLocation{name, l})
	}
	e.seen.state.Locations = nil
}

// copy returns the state kept, a map of its own for the locations.
func (e *cachedState) copy() *seenState {
	seen := e.seen
	seen.state.Locations = make(map[string]decide.Location, len(e.locations))
	for _, l := range e.locations {
		seen.state.Locations[l.name] = l.Location
	}
	return &seen
}

// contendedFor is how long the state of a site whose row was found written
// by another is read rather than kept.
const contendedFor = time.Hour

// share says whether another instance checks from this location. Once one
// does, what is kept is let go, and nothing is kept until none does.
func (c *stateCache) share(shared bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if shared && !c.shared {
		c.states = nil
	}
	c.shared = shared
}

// get returns, for the ids, the states it holds, and the ids it holds none
// for.
func (c *stateCache) get(ids []int64, now time.Time) (held map[int64]*seenState, missing []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	held = make(map[int64]*seenState, len(ids))
	for _, id := range ids {
		e, ok := c.states[id]
		if !ok || e.seen.version == 0 {
			missing = append(missing, id)
			continue
		}
		e.used = now.Unix()
		held[id] = e.copy()
	}
	return held, missing
}

// put keeps the states written, each as its row holds it now, unless
// its site is contended, and lets go of those not asked for in cacheIdle.
func (c *stateCache) put(written map[int64]seenState, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared {
		return
	}
	if c.states == nil {
		c.states = make(map[int64]*cachedState)
	}
	unix := now.Unix()
	for id, seen := range written {
		e, ok := c.states[id]
		if !ok {
			e = new(cachedState)
			c.states[id] = e
		}
		if e.contendedUntil < unix {
			e.keep(seen)
			e.used = unix
		}
	}
	if now.Sub(c.swept) < cacheIdle/4 {
		return
	}
	c.swept = now
	for id, e := range c.states {
		if unix-e.used > int64(cacheIdle/time.Second) && e.contendedUntil < unix {
			delete(c.states, id)
		}
	}
}

// contended lets go of the states of the sites, whose rows were found
// written by another, and keeps none of them for contendedFor.
func (c *stateCache) contended(ids []int64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.states == nil {
		c.states = make(map[int64]*cachedState)
	}
	until := now.Add(contendedFor).Unix()
	for _, id := range ids {
		c.states[id] = &cachedState{used: now.Unix(), contendedUntil: until}
	}
}

// drop lets go of the states of the sites, written or deleted by this
// process on another path.
func (c *stateCache) drop(ids ...int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.states, id)
	}
}
