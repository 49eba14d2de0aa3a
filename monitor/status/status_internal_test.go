package status

import (
	"encoding/json"
	"testing"
	"time"
)

// The status response is written by hand; it must read exactly as
// encoding/json would write it.
func TestAppendSiteStatusMatchesEncodingJSON(t *testing.T) {
	cert := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	local := time.FixedZone("X", 5*3600+1800)
	cases := []SiteStatus{
		{Up: true, CheckedAt: time.Date(2026, 11, 21, 6, 58, 13, 973588000, time.UTC), Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			StatusCode: 200, LatencyMS: 4.653, CertExpiresAt: &cert,
			Locations: json.RawMessage(`{"eu":{"up":true,"checked_at":"2026-11-21T06:58:13.973588Z","status_code":200,"latency_ms":4.653,"reason":"","streak":0},` +
				`"us":{"up":false,"checked_at":"2026-11-21T06:58:14Z","status_code":0,"latency_ms":0,"reason":"timeout after 10s","streak":1}}`)},
		{Up: false, CheckedAt: time.Date(2026, 11, 21, 6, 58, 13, 1, local), Since: time.Unix(0, 0).UTC(),
			LatencyMS: 10000, Reason: "timeout after 10s"},
		{Reason: `HTTP 503 "quoted" \ <b>&amp; ünïcode` + "\n\t\x01", LatencyMS: 1e-7},
		{LatencyMS: 123456789012345678901234.0, Reason: "certificate is not valid for a.example"},
		{LatencyMS: 0.001},
	}
	for _, st := range cases {
		want, err := json.Marshal(map[string]SiteStatus{"7": st})
		if err != nil {
			t.Fatal(err)
		}
		got := append([]byte{'{'}, appendSiteStatus(nil, 7, &st)...)
		got = append(got, '}')
		if string(got) != string(want) {
			t.Errorf("appendSiteStatus:\n got %s\nwant %s", got, want)
		}
	}
}

// The locations' views are written as the top level is, whatever form the
// JSONB they are kept in comes out in.
func TestLocationsAreWrittenAsTheTopLevel(t *testing.T) {
	raw := json.RawMessage(`{"us": {"up": false, "reason": "HTTP 503", "streak": 0, "latency_ms": 4.1, "checked_at": "2026-11-21T06:58:13.5+00:00", "status_code": 503}, ` +
		`"eu": {"up": true, "reason": "", "streak": 2, "latency_ms": 0.25, "checked_at": "2026-11-21T07:58:13.973588+01:00", "status_code": null}}`)
	got := string(appendLocations(nil, raw))
	want := `{"eu":{"up":true,"checked_at":"2026-11-21T06:58:13.973588Z","status_code":0,"latency_ms":0.25,"reason":"","streak":2},` +
		`"us":{"up":false,"checked_at":"2026-11-21T06:58:13.5Z","status_code":503,"latency_ms":4.1,"reason":"HTTP 503","streak":0}}`
	if got != want {
		t.Errorf("appendLocations:\n got %s\nwant %s", got, want)
	}
}
