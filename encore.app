{
	// The app's name, as in Encore's tutorial. This project builds with
	// plain `go build`; see README.md.
	"id": "uptime"
}
