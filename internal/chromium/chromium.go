// Package chromium finds the Chromium that the dashboard's browser tests and
// the benchmark drive, and the options they start it with.
package chromium

import (
	"os/exec"

	"github.com/chromedp/chromedp"
)

// Path is the Chromium or Chrome on PATH, or "" if there is none.
func Path() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Options start the browser at path headless, without a sandbox (the tests
// may run as root) and without reaching for the network on its own.
func Options(path string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1200, 800),
	)
}
