package monitor

import "context"

// CheckKey makes sure this instance's key opens the credentials the
// monitor's database holds; before any was sealed, any key will do.
func (s *Service) CheckKey(ctx context.Context) error { return s.copy.CheckKey(ctx) }

// SealOlder seals the credentials of the copies written by versions
// before they were sealed, and hides them in the URL each site's state
// keeps. It is run at start-up.
func (s *Service) SealOlder(ctx context.Context) error { return s.copy.SealOlder(ctx, writeShownURLs) }
