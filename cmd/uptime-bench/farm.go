package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The farm's mix of sites, by index: one in 2,000 hangs until the check
// times out, one in 200 refuses connections, one in 100 answers 503, one
// in 50 answers after 100 to 300 ms, and the rest answer at once.
const (
	hang   = "hanging"
	refuse = "refusing"
	fail   = "failing"
	slow   = "slow"
	fast   = "fast"
)

func kind(i int) string {
	switch {
	case i%2000 == 7:
		return hang
	case i%200 == 3:
		return refuse
	case i%100 == 5:
		return fail
	case i%50 == 1:
		return slow
	}
	return fast
}

// refusedAddr is where nothing listens: a privileged port on loopback, so
// that no test server can take it.
const refusedAddr = "127.0.0.1:1"

// farm serves n fake sites on one loopback listener, one per path. It
// closes every connection after its response, so each check opens a new
// one, and any site can be made to fail with 503 while a run goes on.
type farm struct {
	n    int
	addr string
	down []atomic.Bool
	srv  *http.Server
}

func startFarm(n int) (*farm, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &farm{n: n, addr: ln.Addr().String(), down: make([]atomic.Bool, n)}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second}
	f.srv.SetKeepAlivesEnabled(false)
	go f.srv.Serve(ln)
	return f, nil
}

func (f *farm) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f.srv.Shutdown(ctx)
	f.srv.Close()
}

// url is the address of site i.
func (f *farm) url(i int) string {
	if kind(i) == refuse {
		return fmt.Sprintf("http://%s/s/%d", refusedAddr, i)
	}
	return fmt.Sprintf("http://%s/s/%d", f.addr, i)
}

func (f *farm) urls(n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = f.url(i)
	}
	return urls
}

// setDown makes the sites fail, or answer again as their kind does.
func (f *farm) setDown(down bool, sites ...int) {
	for _, i := range sites {
		f.down[i].Store(down)
	}
}

func (f *farm) serve(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/s/"))
	if err != nil || i < 0 || i >= f.n {
		http.NotFound(w, r)
		return
	}
	if f.down[i].Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	switch kind(i) {
	case hang:
		<-r.Context().Done()
		return
	case fail:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case slow:
		time.Sleep(time.Duration(100+(i*37)%201) * time.Millisecond)
	}
	w.Write([]byte("ok\n"))
}

// mix counts the kinds of the first n sites.
func mix(n int) map[string]int {
	m := map[string]int{}
	for i := range n {
		m[kind(i)]++
	}
	return m
}
