package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"uptime/monitor/check"
	"uptime/site"
)

// bareResult is what one run of the bare loop measured.
type bareResult struct {
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Checks     int     `json:"checks"`
	Up         int64   `json:"up"`
}

// bareMain is the bare limit: the sites in a file, one spec in JSON per
// line, checked once each by the checker Uptime uses, as many at once as
// Uptime checks, with no database. It prints a bareResult as JSON.
func bareMain(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	file := fs.String("sites", "", "file of sites, one spec in JSON per line")
	concurrency := fs.Int("concurrency", 100, "checks at once")
	timeout := fs.Duration("timeout", 10*time.Second, "time limit of one check")
	rate := fs.Float64("rate", 0, "checks started per second, evenly spaced; 0: as fast as the concurrency allows")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	var sites []spec
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s spec
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", *file, err)
		}
		sites = append(sites, s)
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return err
	}

	res := checkAll(sites, *concurrency, *timeout, *rate)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// checkAll checks each site once with the checker Uptime uses, with the
// settings of its kind, concurrency at once, and measures the time and this process's CPU time it took. With
// a rate, the checks start evenly spaced at that rate, as a steady
// schedule starts them, instead of as fast as they can.
func checkAll(sites []spec, concurrency int, timeout time.Duration, rate float64) bareResult {
	checker := check.NewChecker(timeout, nil, nil)
	ctx := context.Background()
	cpu0 := selfCPU()
	start := time.Now()
	var (
		up    atomic.Int64
		wg    sync.WaitGroup
		slots = make(chan struct{}, concurrency)
	)
	for i, s := range sites {
		c := check.New(s.URL, site.Config{DNSServer: s.DNSServer})
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			if checker.Run(ctx, c).Up {
				up.Add(1)
			}
		})
	}
	wg.Wait()
	return bareResult{
		Seconds:    time.Since(start).Seconds(),
		CPUSeconds: selfCPU() - cpu0,
		Checks:     len(sites),
		Up:         up.Load(),
	}
}

// selfCPU is the CPU time this process has used, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(fmt.Sprintf("getrusage: %v", err))
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
