package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"uptime/internal/pglocal"
)

// clockTick is the unit of the CPU times in /proc: USER_HZ, 100 on Linux.
const clockTick = 100

// procStat returns a process's parent, its CPU time and its waited-for
// children's CPU time, in seconds, from /proc/<pid>/stat.
func procStat(pid int) (ppid int, own, children float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	// f[0] is field 3 (state); utime is field 14, so f[11].
	num := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v }
	ppid, _ = strconv.Atoi(f[1])
	return ppid, (num(11) + num(12)) / clockTick, (num(13) + num(14)) / clockTick, nil
}

// processCPU is the CPU time of one process, in seconds.
func processCPU(pid int) float64 {
	_, own, _, err := procStat(pid)
	if err != nil {
		return 0
	}
	return own
}

// postgresCPU is the CPU time of a PostgreSQL server: the postmaster, the
// processes it has reaped, and the ones still running.
func postgresCPU(dataDir string) (float64, error) {
	p, err := postgresProcesses(dataDir)
	total := p.reaped
	for _, r := range p.running {
		total += r.cpu
	}
	return total, err
}

// peakRSS is a process's peak resident memory, in bytes.
func peakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// uptimeProc is a running `uptime run`.
type uptimeProc struct {
	cmd     *exec.Cmd
	url     string
	started time.Time
	exited  chan struct{}
}

// startUptime runs the program with the environment added to this one's,
// logging in JSON to logFile, and waits until it answers.
func startUptime(bin, addr, logFile string, env []string) (*uptimeProc, error) {
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "UPTIME_ADDR="+addr, "UPTIME_LOG_FORMAT=json")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &uptimeProc{cmd: cmd, url: "http://" + addr, exited: make(chan struct{})}
	go io.Copy(lf, pr)
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	go func() {
		cmd.Wait()
		pw.Close()
		lf.Close()
		close(p.exited)
	}()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(p.url + "/site?limit=1")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("uptime exited while starting; see %s", logFile)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("uptime did not answer within 3 minutes; see %s", logFile)
		}
	}
}

func (p *uptimeProc) pid() int { return p.cmd.Process.Pid }

// stop asks the program to stop and waits for it, killing it after a minute.
func (p *uptimeProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// pgProcesses is what a PostgreSQL server's processes have cost so far:
// each running one's CPU time by its pid, with its kind, and the CPU time
// of those the postmaster has reaped.
type pgProcesses struct {
	running map[int]pgProcess
	reaped  float64
}

type pgProcess struct {
	kind string
	cpu  float64
}

// postgresProcesses reads the CPU time of a PostgreSQL server's processes.
func postgresProcesses(dataDir string) (pgProcesses, error) {
	pm, err := pglocal.PostmasterPID(dataDir)
	if err != nil {
		return pgProcesses{}, err
	}
	_, own, reaped, err := procStat(pm)
	if err != nil {
		return pgProcesses{}, err
	}
	p := pgProcesses{running: map[int]pgProcess{pm: {kind: "postmaster", cpu: own}}, reaped: reaped}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, own, _, err := procStat(pid); err == nil && ppid == pm {
			p.running[pid] = pgProcess{kind: pgKind(pid), cpu: own}
		}
	}
	return p, nil
}

// pgKind names what a server process is by the title it shows: a
// background process by its own name, any other a connection.
func pgKind(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	title := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	for _, kind := range []string{"autovacuum worker", "autovacuum launcher", "walwriter", "checkpointer",
		"background writer", "logical replication launcher", "archiver", "stats collector", "walsender"} {
		if strings.HasPrefix(title, "postgres: "+kind) {
			return kind
		}
	}
	return "connections"
}

// since returns the CPU time each kind of process spent from then to p,
// in seconds; "ended" is the time of the processes that ended between
// them, less what they had spent by then (autovacuum's workers, mostly: a
// connection pool keeps its connections).
func (p pgProcesses) since(then pgProcesses) map[string]float64 {
	out := map[string]float64{"ended": p.reaped - then.reaped}
	for pid, now := range p.running {
		was, ok := then.running[pid]
		if ok && was.kind == now.kind {
			out[now.kind] += now.cpu - was.cpu
		} else {
			out[now.kind] += now.cpu
		}
	}
	for pid, was := range then.running {
		if _, ok := p.running[pid]; !ok {
			out["ended"] -= was.cpu
		}
	}
	return out
}
