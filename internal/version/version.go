// Package version names the build: `make build` and `make image` stamp it
// from git (git describe), so a running instance says what it runs.
package version

// Version is set at link time with
// -ldflags "-X uptime/internal/version.Version=...". Defaults to "dev".
var Version = "dev"

// UserAgent is sent with every request the program makes, so that site
// owners and the receivers of its webhooks can tell who calls.
const UserAgent = "Uptime/1.0 (uptime monitor; +https://github.com/encoredev/examples/tree/main/uptime)"
