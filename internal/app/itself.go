package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"uptime/internal/seal"
	"uptime/monitor"
	"uptime/site"
)

// selfName is the name of the push site an instance watching itself
// reports to.
const selfName = "Uptime itself"

// watchItself makes sure the push site "Uptime itself" is there (added
// once, then left as people keep it: renamed, paused, given channels), and
// has the monitor report to it while its checking is healthy. Its token
// and URL are keyed hashes under the secret key, so every instance of one
// deployment reports to the one site, and nobody without the key can.
func watchItself(ctx context.Context, box *seal.Box, sites *site.Service, mon *monitor.Service, checkEvery time.Duration) error {
	token := box.Digest([]byte("uptime watches itself: token"))
	key := box.Digest([]byte("uptime watches itself: site"))[:16]
	every := min(max(checkEvery, site.MinPushInterval), site.MaxPushInterval)
	row, err := json.Marshal(map[string]any{
		"url": "push://" + key, "name": selfName, "interval": site.Duration(every).String(), "grace": site.Duration(every).String(),
		"token_hash": site.HashToken(token),
	})
	if err != nil {
		return err
	}
	resp, err := sites.Import(ctx, site.ImportRequest{Sites: []json.RawMessage{row}}, site.ImportOptions{AddOnly: true})
	if err != nil {
		return fmt.Errorf("add the push site %q: %w", selfName, err)
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("add the push site %q: %s", selfName, resp.Errors[0].Message)
	}
	mon.WatchItself(token, every/2)
	return nil
}
