package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// slackHook is a Slack incoming webhook on loopback that notes when each
// message arrived.
type slackHook struct {
	url string
	srv *http.Server

	mu       sync.Mutex
	messages []slackMessage
}

type slackMessage struct {
	at   time.Time
	text string
}

func startSlack() (*slackHook, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &slackHook{url: "http://" + ln.Addr().String() + "/hook"}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Text string }
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.messages = append(h.messages, slackMessage{at: time.Now(), text: m.Text})
		h.mu.Unlock()
		w.Write([]byte("ok"))
	})}
	go h.srv.Serve(ln)
	return h, nil
}

// firstSince returns, for each text, when the first message containing it
// arrived after t; texts not heard of yet are missing.
func (h *slackHook) firstSince(t time.Time, texts []string) map[string]time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]time.Time{}
	for _, m := range h.messages {
		if m.at.Before(t) {
			continue
		}
		for _, s := range texts {
			if _, ok := seen[s]; !ok && strings.Contains(m.text, s) {
				seen[s] = m.at
			}
		}
	}
	return seen
}

func (h *slackHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.messages)
}
