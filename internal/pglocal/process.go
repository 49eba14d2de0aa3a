package pglocal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// postmasterPID is what postmaster.pid says about a running server.
type postmasterPID struct {
	pid  int
	port int
}

// PostmasterPID returns the process id of the server running in dataDir,
// as its postmaster.pid says.
func PostmasterPID(dataDir string) (int, error) {
	p, err := readPostmasterPID(dataDir)
	return p.pid, err
}

func readPostmasterPID(dataDir string) (postmasterPID, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return postmasterPID{}, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return postmasterPID{}, errors.New("postmaster.pid is incomplete")
	}
	var p postmasterPID
	p.pid, err = strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil {
		return p, fmt.Errorf("postmaster.pid: %w", err)
	}
	p.port, err = strconv.Atoi(strings.TrimSpace(lines[3]))
	return p, err
}

// alive reports whether the process still exists, and is not a zombie
// waiting to be reaped.
func (p postmasterPID) alive() bool {
	err := syscall.Kill(p.pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return true // no /proc: trust kill
	}
	// The state follows the command name, which is in parentheses.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// tailFile returns the last n lines of a file, or "" if it cannot be read.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
