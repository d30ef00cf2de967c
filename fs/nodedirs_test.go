package fs_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"statelite/fs"
)

func wantPerm(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky); got != want {
		t.Errorf("%s: mode %v, want %v", p, got, want)
	}
}

// TestNodeDirsPrivate: a node's own directories on the server (persistent root and
// volatile directory) are 0700: made so, and tightened when the server first uses them
// when an earlier version left them wider. Inside, the node's files keep their modes,
// and the view shows its directories with their own modes (never the 0700).
func TestNodeDirsPrivate(t *testing.T) {
	e := newEnv(t, "/srv/pd/ persistent", "/tmp/ tmpfs")
	put(t, e.R, "srv/pd/keep=k\n")
	os.Chmod(filepath.Join(e.R, "srv"), 0o751)
	os.Chmod(filepath.Join(e.R, "srv", "pd"), 0o775)
	// n1: directories of an earlier version, open to all.
	put(t, e.PR("n1"), "srv/pd/old=old\n")
	os.Chmod(e.PR("n1"), 0o755)
	vol1 := filepath.Join(e.State, "volatile", "n1")
	os.MkdirAll(vol1, 0o755)
	os.Chmod(vol1, 0o755)
	e.start() // a restart on them

	v1 := e.view("n1")
	wantContent(t, v1, "/srv/pd/old", "old\n") // the first use
	wantPerm(t, e.PR("n1"), 0o700)
	wantPerm(t, vol1, 0o700)

	// n2: nothing yet; its directories are made private.
	v2 := e.view("n2")
	wantPerm(t, filepath.Join(e.State, "volatile", "n2"), 0o700)
	mustWrite(t, v2, "/srv/pd/new", "new\n") // copy-up of /srv/pd, PR made
	mustWrite(t, v2, "/tmp/x", "x\n")
	wantPerm(t, e.PR("n2"), 0o700)

	// The node's view: the image's modes, its own files' modes.
	for _, v := range []*fs.View{v1, v2} {
		if a := mustAttr(t, v, "/srv"); a.Mode&0o7777 != 0o751 {
			t.Errorf("%s: /srv mode %04o, want 0751", v.Node(), a.Mode&0o7777)
		}
		if a := mustAttr(t, v, "/srv/pd"); v == v2 && a.Mode&0o7777 != 0o775 {
			t.Errorf("%s: /srv/pd mode %04o, want 0775 (the image's)", v.Node(), a.Mode&0o7777)
		}
	}
	if _, err := v2.Setattr("/srv/pd/new", fs.SetAttr{Mode: u32(0o4755)}); err != nil {
		t.Fatal(err)
	}
	if a := mustAttr(t, v2, "/srv/pd/new"); a.Mode&0o7777 != 0o4755 {
		t.Errorf("/srv/pd/new: mode %04o, want 04755", a.Mode&0o7777)
	}
	wantPerm(t, filepath.Join(e.PR("n2"), "srv", "pd", "new"), os.ModeSetuid|0o755)
	wantPerm(t, filepath.Join(e.PR("n2"), "srv", "pd"), 0o775)
}

// stagingDir makes a copy-up staging directory in pr as another server's copy-up would
// (named for its host and PID, with its lock file) and returns it and its lock file.
func stagingDir(t *testing.T, pr, name string) (string, string) {
	t.Helper()
	dir := filepath.Join(pr, ".wh..statelite-stage."+name)
	if err := os.MkdirAll(filepath.Join(dir, "c", "half"), 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "lock")
	if err := os.WriteFile(lock, []byte(name+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, lock
}

// TestStagingLeftovers: the staging of a copy-up whose owner is gone (its lock free:
// the process was killed) is removed by the node's next copy-up; one whose lock is held
// (a live copy-up, maybe of another server sharing the statemnt, whatever its PID) is
// left alone.
func TestStagingLeftovers(t *testing.T) {
	e := newEnv(t, "/srv/pd/ persistent", "/srv/pf persistent", "/srv/pg persistent")
	put(t, e.R, "srv/pd/a=a\n", "srv/pf=f\n", "srv/pg=g\n")
	v := e.view("n1")
	mustWrite(t, v, "/srv/pd/a", "a1\n") // PR made
	pr := e.PR("n1")

	// Dead: a process that held the lock was killed with -9.
	dead, deadLock := stagingDir(t, pr, "otherhost.4242.1")
	holder := exec.Command("sh", "-c", `exec 9<>"$1" && flock 9 && exec sleep 60`, "sh", deadLock)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	waitLocked(t, deadLock)
	holder.Process.Kill()
	holder.Wait()
	// Live: another server's copy-up holds its lock (here, another open file
	// description of this process), with a PID that is dead here.
	live, liveLock := stagingDir(t, pr, "otherhost.999999999.2")
	lf, err := os.OpenFile(liveLock, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	// Without a lock file: young (its maker may be about to make it) and old.
	young, youngLock := stagingDir(t, pr, "otherhost.7.3")
	os.Remove(youngLock)
	old, oldLock := stagingDir(t, pr, "otherhost.8.4")
	os.Remove(oldLock)
	hourAgo := time.Now().Add(-time.Hour)
	os.Chtimes(old, hourAgo, hourAgo)

	mustWrite(t, v, "/srv/pf", "f1\n") // the next copy-up
	if _, err := os.Lstat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead owner's staging %s is still there (%v)", dead, err)
	}
	if _, err := os.Lstat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old lockless staging %s is still there (%v)", old, err)
	}
	for _, d := range []string{live, young} {
		if _, err := os.Lstat(filepath.Join(d, "c", "half")); err != nil {
			t.Errorf("staging %s was touched: %v", d, err)
		}
	}
	// Once the live one's owner is gone, the next copy-up removes it too.
	lf.Close()
	mustWrite(t, v, "/srv/pg", "g1\n")
	if _, err := os.Lstat(live); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging %s is still there after its owner let its lock go (%v)", live, err)
	}
	// Our own copy-ups leave nothing, and the view never shows stagings.
	ents, _ := os.ReadDir(pr)
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), ".wh.") && filepath.Join(pr, en.Name()) != young {
			t.Errorf("left in %s: %s", pr, en.Name())
		}
	}
	wantContent(t, v, "/srv/pd/a", "a1\n")
	wantContent(t, v, "/srv/pf", "f1\n")
	wantContent(t, v, "/srv/pg", "g1\n")
}

// waitLocked waits until another process holds p's lock.
func waitLocked(t *testing.T, p string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never locked (%v)", p, err)
		}
	}
}
