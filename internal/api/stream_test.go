package api_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"uptime/internal/api"
)

func TestStreamIsCutOffWhenItFails(t *testing.T) {
	srv := api.NewServer(slog.New(slog.DiscardHandler), "")
	srv.Handle("GET /whole", func(r *http.Request) (any, error) {
		return api.Stream(func(w io.Writer) error {
			_, err := io.WriteString(w, `{"a":`+strings.Repeat(" ", 200<<10)+`1}`)
			return err
		}), nil
	})
	srv.Handle("GET /broken", func(r *http.Request) (any, error) {
		return api.Stream(func(w io.Writer) error {
			io.WriteString(w, `{"a":`+strings.Repeat(" ", 200<<10))
			return errors.New("the database went away")
		}), nil
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/whole")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Header.Get("Content-Type") != "application/json" || !strings.HasSuffix(string(body), "1}") {
		t.Fatalf("whole stream: %v, %q, %d bytes", err, resp.Header.Get("Content-Type"), len(body))
	}

	resp, err = http.Get(ts.URL + "/broken")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("a stream that failed half-way read as a whole body")
	}
}
