package nfsd_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// A handle record that cannot be stored is never sent as a handle: the reply is
// NFS3ERR_JUKEBOX (the client retries later) or NFS3ERR_NOSPC for a full disk, and once
// the disk is back the retried call gives a handle that a restarted server resolves.
func TestHandleRecordFailureIsNotAHandle(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	dir := c.walk(root, "/root") // persistent
	for _, tt := range []struct {
		err  error
		want uint32
	}{{syscall.EIO, 10008}, {syscall.ENOSPC, 28}} {
		nfsd.SetHandleLogSync(srv.Server, func(*os.File) error { return tt.err })
		if fh, _, st := c.create(dir, "f", 0, wire.Sattr{Mode: u32p(0o644)}); st != tt.want || fh != nil {
			t.Fatalf("CREATE with the handle log failing (%v): status %d, handle %x; want %d and no handle", tt.err, st, fh, tt.want)
		}
		if _, _, st := c.mkdir(dir, fmt.Sprintf("d%d", tt.want), 0o755); st != tt.want {
			t.Fatalf("MKDIR with the handle log failing (%v): status %d, want %d", tt.err, st, tt.want)
		}
		if _, _, st := c.lookup(dir, "f"); st != tt.want {
			t.Fatalf("LOOKUP of a file whose record is not stored (%v): status %d, want %d", tt.err, st, tt.want)
		}
	}
	nfsd.SetHandleLogSync(srv.Server, func(f *os.File) error { return f.Sync() })
	fh, _, st := c.create(dir, "f", 0, wire.Sattr{Mode: u32p(0o644)})
	if st != wire.NFS3OK {
		t.Fatalf("CREATE retried once the disk is back: status %d", st)
	}
	if _, _, _, st := c.write(fh, 0, []byte("kept\n"), 2); st != wire.NFS3OK {
		t.Fatal(st)
	}
	srv.stop(t)
	tc.fsrv = tc.newFS(t)
	srv2 := tc.serve(t, nfsd.Config{})
	c2 := newClient(t, srv2.addr, "", authSys(0, 0))
	if a, st := c2.getattr(fh); st != wire.NFS3OK || a.Size != 5 {
		t.Fatalf("the handle after a restart: status %d, size %d", st, a.Size)
	}
}
