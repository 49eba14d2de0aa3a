package pgtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"uptime/internal/wait"
)

func TestMain(m *testing.M) { Main(m) }

// A test binary that dies without reaching the end of Main (killed, or
// panicking past its time limit) leaves no PostgreSQL server behind.
func TestAKilledTestBinaryLeavesNoServer(t *testing.T) {
	if os.Getenv("PGTEST_DIE") != "" {
		c := Cluster(t)
		os.Stdout.WriteString("data " + c.DataDir() + "\n")
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAKilledTestBinaryLeavesNoServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGTEST_DIE=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dataDir string
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if d, ok := strings.CutPrefix(sc.Text(), "data "); ok {
			dataDir = d
		}
	}
	cmd.Wait()
	if dataDir == "" {
		t.Fatal("the test binary did not start its cluster")
	}
	pidfile := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidfile)
	if err != nil {
		if os.IsNotExist(err) {
			return // stopped already
		}
		t.Fatal(err)
	}
	pid := strings.SplitN(string(b), "\n", 2)[0]
	wait.For(t, 90*time.Second, func() error {
		if _, err := os.Stat(filepath.Dir(dataDir)); os.IsNotExist(err) {
			if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
				return nil
			}
		}
		return fmt.Errorf("90 s after its test binary was killed, the server %s of %s still runs or its directory is left", pid, dataDir)
	})
}
