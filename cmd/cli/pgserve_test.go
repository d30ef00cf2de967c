package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/cmd/cli"
	"statelite/internal/demo"
	"statelite/internal/pgtest"
)

// pgServer is `statelite serve --store postgres://…` running in-process.
type pgServer struct {
	name, state string
	stderr      *syncBuffer
	stop        func()
}

func startPGServe(t *testing.T, url, mnt, name, state string) *pgServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &pgServer{name: name, state: state, stderr: &syncBuffer{}}
	done := make(chan error, 1)
	go func() {
		root := cli.NewRoot(strings.NewReader(""), &syncBuffer{}, s.stderr)
		root.SetArgs([]string{"--mnt", mnt, "serve", "--store", url, "--name", name, "--state", state, "--nfs", "127.0.0.1:0"})
		done <- root.ExecuteContext(ctx)
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(s.stderr.String(), "msg=serving"); {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server %s did not start:\n%s", name, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("serve %s did not stop", name)
			}
		})
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server %s log:\n%s", name, s.stderr.String())
		}
	})
	return s
}

// waitLog waits until every server's log holds want, for at most d.
func waitLog(t *testing.T, d time.Duration, want string, servers ...*pgServer) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, s := range servers {
		for !strings.Contains(s.stderr.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("server %s: no %q within %v", s.name, want, d)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestPostgresMigrateServeLiveAndDBLoss: the demo tables migrate to PostgreSQL and back
// unchanged; two servers over the one database switch to an edit (made through either
// store handle) within a second; when the database goes away both keep serving the last
// tables and say so (log, status), and they catch up once it is back.
func TestPostgresMigrateServeLiveAndDBLoss(t *testing.T) {
	pg := pgtest.Start(t)
	cl, err := demo.Build(context.Background(), filepath.Join(t.TempDir(), "demo"))
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(cl.Dir, "mnt")
	run := func(tabs string, args ...string) result {
		t.Helper()
		r := cliRunMnt(t, tabs, mnt, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r
	}
	run(cl.Tables, "tabmigrate", "--from", cl.Tables, "--to", pg.URL)
	back := filepath.Join(t.TempDir(), "back")
	run(cl.Tables, "tabmigrate", "--from", pg.URL, "--to", back)
	for _, tab := range []string{"nodelist", "hosts", "noderes", "litefile", "litetree", "statelite", "osimage"} {
		a, b, c := run(cl.Tables, "tabdump", tab).stdout, run(pg.URL, "tabdump", tab).stdout, run(back, "tabdump", tab).stdout
		if a != b || a != c {
			t.Errorf("%s after migrating there and back:\ndir:\n%spostgres:\n%sback:\n%s", tab, a, b, c)
		}
	}

	sa := startPGServe(t, pg.URL, mnt, "srvA", filepath.Join(cl.Dir, "stateA"))
	sb := startPGServe(t, pg.URL, mnt, "srvB", filepath.Join(cl.Dir, "stateB"))

	// An edit through the CLI (its own store handle) is live on both within a second.
	start := time.Now()
	run(pg.URL, "chtab", "node=n1", "noderes.servicenode=srvA")
	waitLog(t, time.Second, "msg=\"tables switched\"", sa, sb)
	t.Logf("edit live on both servers after %v", time.Since(start))
	for _, s := range []*pgServer{sa, sb} {
		if r := run(pg.URL, "status", "--state", s.state); !strings.Contains(r.stdout, "name:        "+s.name) {
			t.Errorf("status of %s:\n%s", s.name, r.stdout)
		}
	}

	// Loss of the database: both keep the last tables and report it.
	pg.Stop()
	waitLog(t, 5*time.Second, "table database unreachable", sa, sb)
	for _, s := range []*pgServer{sa, sb} {
		r := cliRunMnt(t, cl.Tables, mnt, "", "status", "--state", s.state)
		if !strings.Contains(r.stdout, "STORE DOWN:") {
			t.Errorf("status of %s does not report the lost database:\n%s", s.name, r.stdout)
		}
	}
	pg.StartAgain()
	waitLog(t, 5*time.Second, "table database reachable again", sa, sb)
	run(pg.URL, "chtab", "node=n2", "noderes.servicenode=srvB")
	waitLog(t, 2*time.Second, "generation=3", sa, sb)
	for _, s := range []*pgServer{sa, sb} {
		if r := run(pg.URL, "status", "--state", s.state); strings.Contains(r.stdout, "STORE DOWN:") {
			t.Errorf("status of %s still reports the database lost:\n%s", s.name, r.stdout)
		}
	}
}
