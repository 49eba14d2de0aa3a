// Package version names the build: `make build` and `make image` stamp it
// from git (git describe), so a running instance says what it runs.
package version

// Version is set at link time with
// -ldflags "-X uptime/internal/version.Version=...". Defaults to "dev".
var Version = "dev"
