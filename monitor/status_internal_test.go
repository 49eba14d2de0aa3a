package monitor

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
			Locations: json.RawMessage(`{"eu":{"up":true,"checked_at":"2026-11-21T06:58:13.973588+00:00","reason":""}}`)},
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
