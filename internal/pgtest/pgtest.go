// Package pgtest starts throw-away PostgreSQL clusters for tests and benchmarks: initdb
// into a temporary directory (as the postgres user when running as root: initdb refuses
// root), pg_ctl start with only a unix socket in that directory, stopped and removed at
// the end. Tests (Start) skip when the PostgreSQL binaries are missing, unless CI=true
// (then they fail); tools use New.
package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"statelite/internal/need"
)

// Cluster is a running (or stopped) throw-away PostgreSQL cluster.
type Cluster struct {
	t       testing.TB // nil for a tool's cluster (New)
	bin     string     // directory of initdb, pg_ctl
	Dir     string     // temporary directory: data/ and the socket
	asUser  string     // run the binaries as this user ("" = ourselves)
	durable bool
	URL     string
	running bool
}

// Options say how a cluster runs.
type Options struct {
	// Durable keeps PostgreSQL's own defaults (fsync, synchronous_commit and
	// full_page_writes on), as a site runs it; tests turn them off for speed.
	Durable bool
}

// ErrNoPostgres says that initdb and pg_ctl were not found.
var ErrNoPostgres = errors.New("PostgreSQL binaries (initdb, pg_ctl) not found; Debian's postgresql package has them")

// binDir finds the directory holding initdb and pg_ctl.
func binDir() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
	}
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(ms) > 0 {
		return filepath.Dir(ms[len(ms)-1])
	}
	return ""
}

// Start starts a new cluster for a test and returns it; its URL connects over the unix
// socket. It is stopped and removed at the test's end.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if binDir() == "" {
		need.Skip(t, "%v", ErrNoPostgres)
	}
	c, err := newCluster(t, Options{})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// New starts a new cluster for a tool; Close stops and removes it.
func New(o Options) (*Cluster, error) {
	c, err := newCluster(nil, o)
	if err != nil && c != nil {
		c.Close()
		return nil, err
	}
	return c, err
}

func newCluster(t testing.TB, o Options) (*Cluster, error) {
	bin := binDir()
	if bin == "" {
		return nil, ErrNoPostgres
	}
	dir, err := os.MkdirTemp("", "slpg")
	if err != nil {
		return nil, err
	}
	c := &Cluster{t: t, bin: bin, Dir: dir, durable: o.Durable}
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		u, err := user.Lookup("postgres")
		if err != nil {
			return c, fmt.Errorf("running as root and there is no postgres user to run initdb as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			return c, err
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return c, err
		}
	}
	data := filepath.Join(dir, "data")
	if err := c.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--locale=C"); err != nil {
		return c, err
	}
	c.URL = fmt.Sprintf("postgres:///postgres?host=%s&user=postgres&sslmode=disable", dir)
	return c, c.start()
}

func (c *Cluster) run(prog string, args ...string) error {
	p := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", p}, args...)...)
	} else {
		cmd = exec.Command(p, args...)
	}
	cmd.Dir = c.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %v: %v\n%s", prog, args, err, out)
	}
	return nil
}

func (c *Cluster) start() error {
	opts := fmt.Sprintf("-c listen_addresses='' -k %s", c.Dir)
	if !c.durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	if err := c.run("pg_ctl", "start", "-w", "-s", "-D", filepath.Join(c.Dir, "data"), "-l", filepath.Join(c.Dir, "log"), "-o", opts); err != nil {
		return err
	}
	c.running = true
	return nil
}

func (c *Cluster) stop() error {
	if !c.running {
		return nil
	}
	c.running = false
	return c.run("pg_ctl", "stop", "-w", "-s", "-m", "fast", "-D", filepath.Join(c.Dir, "data"))
}

// StartAgain starts the (stopped) cluster of a test.
func (c *Cluster) StartAgain() {
	c.t.Helper()
	if err := c.start(); err != nil {
		c.t.Fatal(err)
	}
}

// Stop stops the cluster of a test (fast shutdown: clients are disconnected).
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.stop(); err != nil {
		c.t.Fatal(err)
	}
}

// Close stops the cluster and removes its directory.
func (c *Cluster) Close() error {
	err := c.stop()
	if rerr := os.RemoveAll(c.Dir); err == nil {
		err = rerr
	}
	return err
}
