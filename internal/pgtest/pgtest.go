// Package pgtest starts throw-away PostgreSQL clusters for tests: initdb into a temporary
// directory (as the postgres user when running as root: initdb refuses root), pg_ctl start
// with only a unix socket in that directory, stopped and removed at the test's end.
// Tests skip when the PostgreSQL binaries are missing, unless CI=true (then they fail).
package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// Cluster is a running (or stopped) throw-away PostgreSQL cluster.
type Cluster struct {
	t       testing.TB
	bin     string // directory of initdb, pg_ctl
	Dir     string // temporary directory: data/ and the socket
	asUser  string // run the binaries as this user ("" = ourselves)
	URL     string
	running bool
}

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

// Start starts a new cluster and returns it; its URL connects over the unix socket.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := binDir()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL binaries (initdb, pg_ctl) not found; CI installs the postgresql package")
		}
		t.Skip("PostgreSQL binaries (initdb, pg_ctl) not found")
	}
	dir, err := os.MkdirTemp("", "slpg")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, Dir: dir}
	t.Cleanup(func() {
		c.Stop()
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and there is no postgres user to run initdb as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	c.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--locale=C")
	c.URL = fmt.Sprintf("postgres:///postgres?host=%s&user=postgres&sslmode=disable", dir)
	c.StartAgain()
	return c
}

func (c *Cluster) run(prog string, args ...string) {
	c.t.Helper()
	p := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", p}, args...)...)
	} else {
		cmd = exec.Command(p, args...)
	}
	cmd.Dir = c.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
	}
}

// StartAgain starts the (stopped) cluster.
func (c *Cluster) StartAgain() {
	c.t.Helper()
	c.run("pg_ctl", "start", "-w", "-s", "-D", filepath.Join(c.Dir, "data"), "-l", filepath.Join(c.Dir, "log"),
		"-o", fmt.Sprintf("-c listen_addresses='' -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off", c.Dir))
	c.running = true
}

// Stop stops the cluster (fast shutdown: clients are disconnected).
func (c *Cluster) Stop() {
	if !c.running {
		return
	}
	c.running = false
	c.run("pg_ctl", "stop", "-w", "-s", "-m", "fast", "-D", filepath.Join(c.Dir, "data"))
}
