package site_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// GET /site and GET /site/export are streamed row by row, and answer
// exactly what encoding the whole list at once answered.
func TestListsAreStreamedAsTheyWereEncoded(t *testing.T) {
	e := setup(t, "")
	for _, body := range []string{
		`{"url": "https://a.example/"}`,
		`{"url": "https://u:pw@b.example/x?token=t", "name": "B <b>", "headers": {"X-Api-Key": "k"}, "method": "POST", "body": "{\"a\":1}"}`,
		`{"url": "https://c.example/", "tags": ["x", "y"], "interval": "30s", "paused": true, "max_latency": "2s"}`,
		`{"url": "https://ghp_t0ken@d.example/?sig=s&page=2", "headers": {"Authorization": "Bearer t", "X-Other": "o"}}`,
		`{"url": "https://e.example/", "method": "POST", "body": "only a body"}`,
	} {
		e.Call(t, "POST", "/site", body, nil)
	}
	for i := range 1200 { // more than one chunk of the stream
		e.Call(t, "POST", "/site", fmt.Sprintf(`{"url": "https://many.example/%d", "name": "site %d"}`, i, i), nil)
	}
	list, err := e.svc.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range list.Sites {
		p := s.Public()
		list.Sites[i] = &p
	}
	want, _ := json.Marshal(list)
	if _, got := e.Do(t, "GET", "/site", ""); got != string(want)+"\n" {
		t.Errorf("GET /site streamed %d bytes unlike the %d of the list encoded whole; first 300:\n%.300s\n%.300s", len(got), len(want)+1, got, want)
	}
	export, err := e.svc.Export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, _ = json.Marshal(export)
	if _, got := e.Do(t, "GET", "/site/export", ""); got != string(want)+"\n" {
		t.Errorf("GET /site/export streamed unlike the export encoded whole:\n%.300s\n%.300s", got, want)
	}
}
