// Package monitor is the service that checks sites, records every check in
// its own database, and announces when a site goes down or comes back.
package monitor

import "embed"

// Migrations is the monitor database's schema, applied at start-up.
//
//go:embed migrations/*.sql
var Migrations embed.FS
