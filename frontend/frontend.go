// Package frontend serves the dashboard at /frontend/: plain HTML, CSS and
// JavaScript modules embedded in the binary, with no build step.
package frontend

import (
	"embed"
	"io/fs"
	"net/http"

	"uptime/internal/api"
)

//go:embed static
var static embed.FS

// policy lets the page load only its own files and call only its own API,
// so that even text that slipped into the page as HTML could run nothing.
const policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Register serves the dashboard under /frontend/ and redirects / to it.
func Register(srv *api.Server) {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	fileServer := http.StripPrefix("/frontend/", http.FileServerFS(files))
	srv.HandleHTTP("GET /frontend/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", policy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	}), api.Doc{Summary: "The dashboard", ContentType: "text/html", Role: api.Public})
	redirect := http.RedirectHandler("/frontend/", http.StatusFound)
	toDashboard := api.Doc{Summary: "Redirects to the dashboard", ContentType: "text/html", Role: api.Public}
	srv.HandleHTTP("GET /{$}", redirect, toDashboard)
	srv.HandleHTTP("GET /frontend", redirect, toDashboard)
}
