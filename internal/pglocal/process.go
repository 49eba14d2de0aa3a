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

// alive reports whether the process still exists.
func (p postmasterPID) alive() bool {
	err := syscall.Kill(p.pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
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
