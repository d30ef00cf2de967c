package nfsd_test

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// TestConcurrentClients runs several clients at once (each on its own connection, with
// calls pipelined on one of them) while the tables are reloaded and metrics read: under
// -race this checks the server's shared state; every reply must be right.
func TestConcurrentClients(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	setup := newClient(t, srv.addr, "", authSys(0, 0))
	root := setup.mustMount("/nodes/n1")
	tmp := setup.walk(root, "tmp")
	shared, _, st := setup.mkdir(tmp, "shared", 0o777)
	if st != wire.NFS3OK {
		t.Fatal(st)
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	report := func(format string, a ...any) {
		select {
		case errs <- fmt.Errorf(format, a...):
		default:
		}
	}
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := newClient(t, srv.addr, "", authSys(uint32(1000+w), 1000))
			for i := 0; time.Now().Before(deadline); i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				fh, _, st := c.create(shared, name, 1, wire.Sattr{Mode: u32p(0o644)})
				if st != wire.NFS3OK {
					report("%s: CREATE %d", name, st)
					return
				}
				data := []byte(name)
				if _, _, _, st := c.write(fh, 0, data, uint32(i%3)); st != wire.NFS3OK {
					report("%s: WRITE %d", name, st)
					return
				}
				if got, _, st := c.read(fh, 0, 100); st != wire.NFS3OK || string(got) != name {
					report("%s: READ %q %d", name, got, st)
					return
				}
				if st := c.rename(shared, name, shared, name+".r"); st != wire.NFS3OK {
					report("%s: RENAME %d", name, st)
					return
				}
				if a, st := c.getattr(fh); st != wire.NFS3OK || a.Size != uint64(len(data)) || a.UID != uint32(1000+w) {
					report("%s: GETATTR after rename %+v %d", name, a, st)
					return
				}
				if i%2 == 0 {
					if st := c.remove(shared, name+".r"); st != wire.NFS3OK {
						report("%s: REMOVE %d", name, st)
						return
					}
				}
			}
		}(w)
	}
	// Listings of the changing directory.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := newClient(t, srv.addr, "", authSys(0, 0))
		for time.Now().Before(deadline) {
			var cookie uint64
			var verf []byte
			for pages := 0; pages < 10000; pages++ {
				ents, nv, eof, st := c.readdirPage(shared, pages%2 == 0, cookie, verf, 1024, 4096)
				if st != wire.NFS3OK {
					report("READDIR: %d", st)
					return
				}
				if eof || len(ents) == 0 {
					break
				}
				cookie, verf = ents[len(ents)-1].cookie, nv
			}
		}
	}()
	// Pipelined GETATTRs on one connection.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := newClient(t, srv.addr, "", authSys(0, 0))
		for time.Now().Before(deadline) {
			xids := map[uint32]bool{}
			for i := 0; i < 40; i++ {
				xids[c.rc.send(wire.ProgNFS, 3, wire.ProcGetattr, c.cred, new(wire.W).Opaque(root).B)] = true
			}
			for range 40 {
				rp := c.rc.recv()
				if !xids[rp.xid] || rp.denied || rp.acceptStat != wire.AcceptSuccess || rp.body.U32() != wire.NFS3OK {
					report("pipelined GETATTR: %+v", rp)
					return
				}
				delete(xids, rp.xid)
			}
		}
	}()
	// Table reloads and metrics scrapes meanwhile.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			tc.fsrv.SetResolver(tc.resolver(t))
			srv.Metrics.WriteTo(io.Discard)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every surviving file is listed once.
	ents, _ := setup.readdirAll(shared, true, 4096, 32768)
	seen := map[string]bool{}
	for _, e := range ents {
		if seen[e.name] {
			t.Errorf("%s listed twice", e.name)
		}
		seen[e.name] = true
	}
	t.Logf("%d files in the shared directory", len(ents)-2)
}
