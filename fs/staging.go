package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"statelite/internal/sys"
)

// Copy-up staging. A persistent copy-up (ensurePersist) is built in a staging directory
// in the node's own directory PR, then renamed into place. The staging directory is
// named after the host and process that made it,
//
//	PR/.wh..statelite-stage.<host>.<pid>.<random>
//
// and holds a file "lock" whose flock(2) the copy-up holds for its life (the lock dies
// with the process, kill -9 included). A copy-up cut short leaves its staging behind:
// the node's next copy-up removes the stagings whose lock nobody holds. The lock, not
// the name, decides: a statemnt shared by several servers (NFS or shared storage) may
// hold the live copy-up of another host, whose PID means nothing here. Nothing walks
// the nodes' directories at start.

const (
	stagePrefix = whPrefix + ".statelite-stage."
	stageLock   = "lock"
	// stageGrace: a staging without a lock file (its maker stopped between making the
	// directory and its lock file) is removed once older than this; younger, its maker
	// may be about to make the lock.
	stageGrace = 10 * time.Minute
)

// staging is a copy-up's staging directory, its lock held.
type staging struct {
	dir  string
	lock *os.File
}

var hostName = func() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return strings.ReplaceAll(h, "/", "_")
}()

// newStaging removes the dead stagings of pr and makes a new one, locked.
func newStaging(pr string) (*staging, error) {
	cleanStagings(pr)
	dir, err := os.MkdirTemp(pr, stagePrefix+hostName+"."+strconv.Itoa(os.Getpid())+".")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path.Join(dir, stageLock), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err == nil {
		if err = sys.TryLock(f); err == nil {
			fmt.Fprintf(f, "%s %d %s\n", hostName, os.Getpid(), time.Now().UTC().Format(time.RFC3339))
		} else {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("copy-up staging %s: %w", dir, err)
	}
	return &staging{dir: dir, lock: f}, nil
}

// remove deletes the staging directory, then lets its lock go.
func (s *staging) remove() {
	os.RemoveAll(s.dir)
	s.lock.Close()
}

// cleanStagings removes the stagings in pr whose owner is gone.
func cleanStagings(pr string) {
	d, err := os.Open(pr)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if !strings.HasPrefix(n, stagePrefix) {
			continue
		}
		dir := path.Join(pr, n)
		if removeDeadStaging(dir) {
			slog.Info("removed the staging of a copy-up cut short", "dir", dir)
		}
	}
}

// removeDeadStaging removes staging directory dir when nobody holds its lock, and says
// whether it did.
func removeDeadStaging(dir string) bool {
	// O_RDWR: on NFS, flock is a POSIX lock, and an exclusive one needs a file opened
	// for writing.
	f, err := os.OpenFile(path.Join(dir, stageLock), os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < stageGrace {
			return false
		}
		return os.RemoveAll(dir) == nil
	}
	if err != nil {
		return false
	}
	defer f.Close()
	if sys.TryLock(f) != nil {
		return false // a live copy-up (of this server or another sharing the statemnt)
	}
	// Ours now: removed under the lock, so no other cleaner acts on it meanwhile.
	return os.RemoveAll(dir) == nil
}
