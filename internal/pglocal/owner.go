package pglocal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// owner is the user the PostgreSQL processes run as. It is nil unless this
// process runs as root, since initdb and postgres refuse to run as root.
type owner struct {
	uid, gid int
}

// lookupOwner returns the postgres user when running as root, else nil.
func lookupOwner() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user, which does not exist "+
			"(install Debian's postgresql package, which creates it, or run as another user): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &owner{uid: uid, gid: gid}, nil
}

// command returns cmd set up to run as the owner, in its own process group
// so that a Ctrl-C meant for this program does not reach PostgreSQL first.
// Cancelling ctx kills it.
func (o *owner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if o != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.gid)}
		cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
	}
	return cmd
}

// chown gives path to the owner; without one it does nothing.
func (o *owner) chown(path string) error {
	if o == nil {
		return nil
	}
	return os.Chown(path, o.uid, o.gid)
}

// canReach reports whether the owner can search every directory above dir,
// which PostgreSQL needs to reach its data directory.
func (o *owner) canReach(dir string) bool {
	if o == nil {
		return true
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return false
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		var ok bool
		switch {
		case int(st.Uid) == o.uid:
			ok = mode&0o100 != 0
		case int(st.Gid) == o.gid:
			ok = mode&0o010 != 0
		default:
			ok = mode&0o001 != 0
		}
		if !ok {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// home is the directory that holds the cluster of dir: dir itself, or the
// fallback when the owner cannot reach it.
func home(o *owner, dir string) string {
	if o.canReach(dir) {
		return dir
	}
	return fallbackDataDir(dir)
}

// fallbackDataDir is where the data directory goes when the owner cannot
// reach the state directory (a clone under /root, say): a directory of its
// own under /var/lib/uptime, named after the state directory so each state
// directory keeps its own cluster.
func fallbackDataDir(stateDir string) string {
	sum := sha256.Sum256([]byte(stateDir))
	return filepath.Join("/var/lib/uptime/clusters", hex.EncodeToString(sum[:6]))
}
