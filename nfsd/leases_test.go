package nfsd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/fs"
	"statelite/internal/pgtest"
	"statelite/nfsd"
	"statelite/nfsd/wire"
	"statelite/tables"
)

// leasedServers starts two servers over tc's cluster sharing a PostgreSQL database (the
// handle secret and path table, and write leases of ttl), B with fs and nfsd state of
// its own.
func leasedServers(t *testing.T, tc *testCluster, url string, ttl time.Duration) (a, b *runningServer, la, lb *nfsd.PGLeases) {
	t.Helper()
	secret := bytes.Repeat([]byte{5}, 32)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	leases := func(me string) *nfsd.PGLeases {
		l, err := nfsd.NewPGLeases(context.Background(), openPG(t, url), me, ttl, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	paths := func() *nfsd.PGPaths {
		sp := nfsd.NewPGPaths(openPG(t, url), time.Hour)
		t.Cleanup(func() { sp.Close() })
		return sp
	}
	fsB, err := fs.New(fs.Config{State: filepath.Join(tc.cl.Dir, "stateB", "fs")}, tc.resolver(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fsB.Close)
	la, lb = leases("A"), leases("B")
	a = tc.serve(t, nfsd.Config{Secret: secret, SharedPaths: paths(), Leases: la})
	b = tc.serve(t, nfsd.Config{FS: fsB, State: filepath.Join(tc.cl.Dir, "stateB"), Secret: secret, SharedPaths: paths(), Leases: lb})
	return a, b, la, lb
}

// TestLeases: one server writes a node's files at a time. A takes n1's lease with its
// first write; B answers n1's writes JUKEBOX while A renews it, but serves reads, and
// other nodes' writes; once A stops renewing (it died), B takes the lease after the TTL
// and n1's writes go on through B, A's acknowledged writes all there.
func TestLeases(t *testing.T) {
	tc := newTestCluster(t)
	pg := pgtest.Start(t)
	a, b, la, lb := leasedServers(t, tc, pg.URL, time.Second)
	ca := newClient(t, a.addr, "", authSys(0, 0))
	cb := newClient(t, b.addr, "", authSys(0, 0))
	dirA := ca.walk(ca.mustMount("/nodes/n1"), "/root")
	f := ca.mustCreate(dirA, "leased", 0o644)
	if _, _, _, st := ca.write(f, 0, []byte("from A\n"), 2); st != wire.NFS3OK {
		t.Fatalf("write on A: %d", st)
	}
	if got := la.HeldNodes(); len(got) != 1 || got[0] != "n1" {
		t.Fatalf("A holds the leases of %v, want [n1]", got)
	}
	// B: reads yes, writes of n1 no (A keeps renewing while it writes).
	if got := cb.readAll(f); got != "from A\n" {
		t.Errorf("A's file read through B: %q", got)
	}
	for i := range 3 {
		if _, _, _, st := cb.write(f, 7, []byte("from B\n"), 2); st != wire.NFS3ErrJukebox {
			t.Fatalf("write of n1 on B while A holds the lease: status %d, want JUKEBOX", st)
		}
		if _, _, _, st := ca.write(f, uint64(7*(i+1)), []byte("from A\n"), 2); st != wire.NFS3OK {
			t.Fatalf("A's write %d: %d", i, st)
		}
		time.Sleep(400 * time.Millisecond)
	}
	n2 := cb.walk(cb.mustMount("/nodes/n2"), "/root")
	if _, _, st := cb.create(n2, "b", 0, wire.Sattr{Mode: u32p(0o644)}); st != wire.NFS3OK {
		t.Errorf("n2's create on B (n2's lease is free): %d", st)
	}
	// A dies: it stops renewing; B gets the lease once it lapsed.
	la.Close()
	start := time.Now()
	for {
		_, _, _, st := cb.write(f, 28, []byte("from B\n"), 2)
		if st == wire.NFS3OK {
			break
		}
		if st != wire.NFS3ErrJukebox || time.Since(start) > 10*time.Second {
			t.Fatalf("write of n1 on B after A stopped renewing: status %d after %v", st, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("B took n1's lease %v after A stopped renewing it", time.Since(start).Round(10*time.Millisecond))
	if lb.Moves() != 1 {
		t.Errorf("B's lease moves: %d, want 1", lb.Moves())
	}
	if got, want := cb.readAll(f), "from A\nfrom A\nfrom A\nfrom A\nfrom B\n"; got != want {
		t.Errorf("n1's file after the move: %q, want %q", got, want)
	}
}

// TestLeasesConcurrentWriters: clients of one node write through A and B at once, each
// to its own offsets; every write either succeeds or is answered JUKEBOX, and every
// acknowledged one is in the file at the end.
func TestLeasesConcurrentWriters(t *testing.T) {
	tc := newTestCluster(t)
	pg := pgtest.Start(t)
	a, b, _, _ := leasedServers(t, tc, pg.URL, 500*time.Millisecond)
	ca := newClient(t, a.addr, "", authSys(0, 0))
	f := ca.mustCreate(ca.walk(ca.mustMount("/nodes/n1"), "/root"), "both", 0o644)
	const n = 40
	var mu sync.Mutex
	acked := map[int]bool{}
	jukebox := map[string]int{}
	var wg sync.WaitGroup
	for si, addr := range []string{a.addr, b.addr} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, addr, "", authSys(0, 0))
			for i := si; i < n; i += 2 {
				_, _, _, st := c.write(f, uint64(8*i), []byte(fmt.Sprintf("w%06d\n", i)), 2)
				mu.Lock()
				switch st {
				case wire.NFS3OK:
					acked[i] = true
				case wire.NFS3ErrJukebox:
					jukebox[addr]++
				default:
					t.Errorf("write %d through %s: status %d", i, addr, st)
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if len(acked) == 0 || len(jukebox) == 0 {
		t.Fatalf("%d writes acknowledged, JUKEBOX answers %v: want both", len(acked), jukebox)
	}
	got := ca.readAll(f)
	for i := range acked {
		want := fmt.Sprintf("w%06d\n", i)
		if len(got) < 8*i+8 || got[8*i:8*i+8] != want {
			t.Errorf("acknowledged write %d is not in the file", i)
		}
	}
	t.Logf("%d of %d writes acknowledged, JUKEBOX %v", len(acked), n, jukebox)
}

// TestLeasesFollowServicenode: only the servers of a node's noderes.servicenode list
// take its lease over. n1's server is srvA; srvB answers n1's writes JUKEBOX even once
// A's lease lapsed; with srvB named a backup (srvA,srvB) it takes the lease over.
func TestLeasesFollowServicenode(t *testing.T) {
	tc := newTestCluster(t)
	pg := pgtest.Start(t)
	setServicenode := func(v string) {
		t.Helper()
		_, err := tc.store.Edit(context.Background(), func(*tables.Snapshot) (map[string]*tables.Table, error) {
			tab, err := tables.Parse("noderes", strings.NewReader("#node,servicenode,netboot,xcatmaster\n"+
				`"n1","`+v+`",,"127.0.0.1"`+"\n"+`"compute",,"pxe","127.0.0.1"`+"\n"))
			return map[string]*tables.Table{"noderes": tab}, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setServicenode("srvA")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	secret := bytes.Repeat([]byte{3}, 32)
	fsB, err := fs.New(fs.Config{State: filepath.Join(tc.cl.Dir, "stateB", "fs")}, tc.resolver(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fsB.Close)
	tc.fsrv.SetResolver(tc.resolver(t))
	var ls []*nfsd.PGLeases
	for _, me := range []string{"srvA", "srvB"} {
		l, err := nfsd.NewPGLeases(context.Background(), openPG(t, pg.URL), me, 500*time.Millisecond, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		ls = append(ls, l)
	}
	paths := func() *nfsd.PGPaths {
		sp := nfsd.NewPGPaths(openPG(t, pg.URL), time.Hour)
		t.Cleanup(func() { sp.Close() })
		return sp
	}
	a := tc.serve(t, nfsd.Config{Names: []string{"srvA"}, Secret: secret, SharedPaths: paths(), Leases: ls[0]})
	b := tc.serve(t, nfsd.Config{FS: fsB, State: filepath.Join(tc.cl.Dir, "stateB"), Names: []string{"srvB"}, Secret: secret, SharedPaths: paths(), Leases: ls[1]})
	ca := newClient(t, a.addr, "", authSys(0, 0))
	cb := newClient(t, b.addr, "", authSys(0, 0))
	f := ca.mustCreate(ca.walk(ca.mustMount("/nodes/n1"), "/root"), "sn", 0o644)
	ls[0].Close() // A dies: its lease lapses
	time.Sleep(700 * time.Millisecond)
	if _, _, _, st := cb.write(f, 0, []byte("B\n"), 2); st != wire.NFS3ErrJukebox {
		t.Fatalf("n1's write on srvB, which is not among n1's servers: status %d, want JUKEBOX", st)
	}
	setServicenode("srvA,srvB")
	fsB.SetResolver(tc.resolver(t))
	if _, _, _, st := cb.write(f, 0, []byte("B\n"), 2); st != wire.NFS3OK {
		t.Fatalf("n1's write on srvB, its backup, after srvA's lease lapsed: status %d\n%s", st, b.logs.String())
	}
	if ls[1].Moves() != 1 {
		t.Errorf("srvB's lease moves: %d, want 1 (from srvA)", ls[1].Moves())
	}
}
