package nfsd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"statelite/fs"
	"statelite/internal/pgtest"
	"statelite/nfsd"
	"statelite/nfsd/wire"
	"statelite/tables"
)

// TestSharedPathsFailover: two servers (own fs and nfsd state, shared image and
// persistent trees, one handle secret) share their handle path tables through one
// PostgreSQL database. Handles a client got from A (a deep image file, a file in a
// persistent directory) work on B at once, without any lookup on B and with no batch
// interval to wait for (A's flusher never ticks: every record is stored before the
// reply that needs it); after a rename on A (of the file, then of its directory) they
// still work on B at once.
func TestSharedPathsFailover(t *testing.T) {
	tc := newTestCluster(t)
	pg := pgtest.Start(t)
	deep := filepath.Join(tc.cl.Root, "usr", "share", "doc", "demo", "deep")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	const deepText = "deep in the image\n"
	if err := os.WriteFile(filepath.Join(deep, "README"), []byte(deepText), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := sharedServers(t, tc, pg.URL, time.Hour) // A's flusher never ticks
	ca := newClient(t, a.addr, "", authSys(0, 0))
	cb := newClient(t, b.addr, "", authSys(0, 0))

	root := ca.mustMount("/nodes/n1")
	readme := ca.walk(root, "/usr/share/doc/demo/deep/README")
	dir, _, st := ca.mkdir(ca.walk(root, "/root"), "d", 0o755)
	if st != wire.NFS3OK {
		t.Fatalf("mkdir /root/d on A: %d", st)
	}
	f := ca.mustCreate(dir, "f", 0o644)
	if _, _, _, st := ca.write(f, 0, []byte("persistent\n"), 2); st != wire.NFS3OK {
		t.Fatalf("write /root/d/f on A: %d", st)
	}
	f = ca.walk(root, "/root/d/f")

	// B has seen nothing of n1: it resolves A's handles through the shared table.
	_, st1 := cb.getattr(readme)
	_, st2 := cb.getattr(f)
	if st1 != wire.NFS3OK || st2 != wire.NFS3OK {
		t.Fatalf("A's handles on B at once: GETATTR %d (image file), %d (persistent file)", st1, st2)
	}
	if got := cb.readAll(readme); got != deepText {
		t.Errorf("A's handle of the deep image file read through B: %q", got)
	}
	if got := cb.readAll(f); got != "persistent\n" {
		t.Errorf("A's handle of /root/d/f read through B: %q", got)
	}

	// Renames on A: B follows at once.
	for _, rn := range []struct {
		dir      []byte
		from, to string
	}{{dir, "f", "g"}, {ca.walk(root, "/root"), "d", "e"}} {
		if st := ca.rename(rn.dir, rn.from, rn.dir, rn.to); st != wire.NFS3OK {
			t.Fatalf("rename %s to %s on A: %d", rn.from, rn.to, st)
		}
		if _, st := cb.getattr(f); st != wire.NFS3OK {
			t.Fatalf("after renaming %s to %s on A, its handle on B at once: %d", rn.from, rn.to, st)
		}
		if got := cb.readAll(f); got != "persistent\n" {
			t.Errorf("after renaming %s to %s on A, read through B: %q", rn.from, rn.to, got)
		}
	}
	if _, st := cb.getattr(readme); st != wire.NFS3OK {
		t.Errorf("the image file's handle on B at the end: %d", st)
	}
}

// A new handle's record is in the shared table before the reply carries it: B resolves a
// handle A has just given out, with no batch interval to wait for (A's flusher never
// ticks here). While the database is down, a reply that would carry a new handle asks
// the client to retry (JUKEBOX) rather than give out a handle B could not resolve; once
// the database is back, the retried call succeeds and B resolves it.
func TestSharedPathsBeforeReply(t *testing.T) {
	tc := newTestCluster(t)
	pg := pgtest.Start(t)
	a, b := sharedServers(t, tc, pg.URL, time.Hour) // A's flusher never ticks
	ca := newClient(t, a.addr, "", authSys(0, 0))
	cb := newClient(t, b.addr, "", authSys(0, 0))
	dir := ca.walk(ca.mustMount("/nodes/n1"), "/root")
	f := ca.mustCreate(dir, "now", 0o644)
	if _, st := cb.getattr(f); st != wire.NFS3OK {
		t.Fatalf("a handle A has just given out, on B at once: status %d", st)
	}

	pg.Stop()
	if _, _, st := ca.create(dir, "down", 0, wire.Sattr{Mode: u32p(0o644)}); st != 10008 {
		t.Fatalf("CREATE on A with the database down: status %d, want JUKEBOX (10008)", st)
	}
	pg.StartAgain()
	var g []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		fh, _, st := ca.create(dir, "down", 0, wire.Sattr{Mode: u32p(0o644)})
		if st == wire.NFS3OK {
			g = fh
			break
		}
		if st != 10008 || time.Now().After(deadline) {
			t.Fatalf("CREATE on A once the database is back: status %d", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, st := cb.getattr(g); st != wire.NFS3OK {
		t.Fatalf("the retried CREATE's handle on B: status %d", st)
	}
}

// TestSharedPathsAfterKill: server A, a process of its own on the shared handle table,
// gives a client handles (an image file, a new persistent file written FILE_SYNC, a
// volatile one, a renamed one) and is killed with SIGKILL right after its last reply;
// B, which has seen nothing of the node and shares A's volatile layers
// (site.volatiledir), resolves every one of them at once and reads the acknowledged
// bytes.
func TestSharedPathsAfterKill(t *testing.T) {
	tc := newTestCluster(t)
	pg := pgtest.Start(t)
	secret := bytes.Repeat([]byte{7}, 32)
	addr := freeAddr(t)
	logs := &lockedBuffer{}
	child := startChild(t, childConfig{Tables: tc.cl.Tables, Mnt: tc.mnt, FSState: tc.fsState, NFSState: tc.nfState,
		Addr: addr, PGURL: pg.URL, Secret: secret}, logs)
	ca := newClient(t, addr, "", authSys(0, 0))
	root := ca.mustMount("/nodes/n1")
	motd := ca.walk(root, "/etc/motd")
	rootDir := ca.walk(root, "/root")
	f := ca.mustCreate(rootDir, "acked", 0o644)
	if _, _, _, st := ca.write(f, 0, []byte("acknowledged\n"), 2); st != wire.NFS3OK {
		t.Fatalf("FILE_SYNC write on A: %d", st)
	}
	vol := ca.mustCreate(ca.walk(root, "/tmp"), "vol", 0o644)
	if _, _, _, st := ca.write(vol, 0, []byte("volatile\n"), 2); st != wire.NFS3OK {
		t.Fatalf("FILE_SYNC write of /tmp/vol on A: %d", st)
	}
	g := ca.mustCreate(rootDir, "moved", 0o644)
	if st := ca.rename(rootDir, "moved", rootDir, "there"); st != wire.NFS3OK {
		t.Fatalf("rename on A: %d", st)
	}
	last := ca.mustCreate(rootDir, "last", 0o644)
	child.kill() // right after the last reply

	fsB, err := fs.New(fs.Config{State: filepath.Join(tc.cl.Dir, "stateB", "fs"), Volatile: filepath.Join(tc.fsState, "volatile")}, tc.resolver(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fsB.Close)
	spB := nfsd.NewPGPaths(openPG(t, pg.URL), time.Hour)
	t.Cleanup(func() { spB.Close() })
	b := tc.serve(t, nfsd.Config{FS: fsB, State: filepath.Join(tc.cl.Dir, "stateB"), Secret: secret, SharedPaths: spB})
	cb := newClient(t, b.addr, "", authSys(0, 0))
	for name, h := range map[string][]byte{"/etc/motd (image)": motd, "/root/acked": f, "/tmp/vol (volatile)": vol, "/root/there (renamed)": g, "/root/last": last} {
		if _, st := cb.getattr(h); st != wire.NFS3OK {
			t.Errorf("A's handle of %s on B, A killed: status %d\n%s", name, st, logs.String())
		}
	}
	if got := cb.readAll(f); got != "acknowledged\n" {
		t.Errorf("the acknowledged write read through B: %q", got)
	}
	if got := cb.readAll(vol); got != "volatile\n" {
		t.Errorf("the acknowledged volatile write read through B: %q", got)
	}
}

func openPG(t *testing.T, url string) *tables.PGStore {
	t.Helper()
	st, err := tables.OpenPostgres(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sharedServers starts two servers over tc's cluster, B with fs and nfsd state of its
// own, sharing a handle secret and their path tables through the PostgreSQL database at
// url (each store's flusher ticking every every).
func sharedServers(t *testing.T, tc *testCluster, url string, every time.Duration) (a, b *runningServer) {
	t.Helper()
	open := func() *nfsd.PGPaths {
		st, err := tables.OpenPostgres(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sp := nfsd.NewPGPaths(st, every)
		t.Cleanup(func() { sp.Close() })
		return sp
	}
	secret := bytes.Repeat([]byte{9}, 32)
	fsB, err := fs.New(fs.Config{State: filepath.Join(tc.cl.Dir, "stateB", "fs")}, tc.resolver(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fsB.Close)
	a = tc.serve(t, nfsd.Config{Secret: secret, SharedPaths: open()})
	b = tc.serve(t, nfsd.Config{FS: fsB, State: filepath.Join(tc.cl.Dir, "stateB"), Secret: secret, SharedPaths: open()})
	return a, b
}
