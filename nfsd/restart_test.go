package nfsd_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"statelite/nfsd"
	"statelite/nfsd/wire"
	"statelite/tables"
)

// TestRestartKeepsHandles: handles from one server work on a new server over the same
// state and tables, also for a file renamed before the restart; a table reload keeps
// them valid too.
func TestRestartKeepsHandles(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	tmp := c.walk(root, "tmp")
	f := c.mustCreate(tmp, "before.txt", 0o644)
	if _, _, _, st := c.write(f, 0, []byte("written before the restart\n"), 2); st != wire.NFS3OK {
		t.Fatal(st)
	}
	img := c.walk(root, "/etc/passwd")
	d, _, st := c.mkdir(tmp, "dir", 0o755)
	if st != wire.NFS3OK {
		t.Fatal(st)
	}
	inner := c.mustCreate(d, "inner", 0o644)
	deep := c.walk(root, "/usr/bin/passwd") // looked up, never read
	// Rename the file and the directory (with a child) before the restart.
	if st := c.rename(tmp, "before.txt", tmp, "renamed.txt"); st != wire.NFS3OK {
		t.Fatal(st)
	}
	if st := c.rename(tmp, "dir", tmp, "dir2"); st != wire.NFS3OK {
		t.Fatal(st)
	}
	rootAttr, fAttr := c.mustGetattr(root), c.mustGetattr(f)

	// Stop: cancel the context, wait for Serve, Close (done by stop).
	srv.stop(t)
	if conn, err := net.DialTimeout("tcp", srv.addr, 2*time.Second); err == nil {
		conn.Close()
		t.Error("the old server still accepts connections")
	}

	// A new server, a new fs server, the same state directories and tables.
	tc.fsrv = tc.newFS(t)
	srv2 := tc.serve(t, nfsd.Config{})
	c2 := newClient(t, srv2.addr, "", authSys(0, 0))
	check := func(c *nfsClient, label string) {
		t.Helper()
		if a, st := c.getattr(root); st != wire.NFS3OK || a.FileID != rootAttr.FileID {
			t.Errorf("%s: root handle: %+v %d", label, a, st)
		}
		if a, st := c.getattr(f); st != wire.NFS3OK || a.FileID != fAttr.FileID {
			t.Errorf("%s: renamed /tmp file: %+v %d", label, a, st)
		} else if got := c.readAll(f); got != "written before the restart\n" {
			t.Errorf("%s: renamed /tmp file reads %q", label, got)
		}
		if got := c.readAll(img); got != demoPass {
			t.Errorf("%s: image file reads %q", label, got)
		}
		if _, st := c.getattr(inner); st != wire.NFS3OK {
			t.Errorf("%s: file in a renamed directory: %d", label, st)
		}
		if a, st := c.getattr(deep); st != wire.NFS3OK || a.Mode != 0o4755 {
			t.Errorf("%s: /usr/bin/passwd: %+v %d", label, a, st)
		}
		// The handles still lead to the right names.
		if fh, _, st := c.lookup(tmp, "renamed.txt"); st != wire.NFS3OK || !bytes.Equal(fh, f) {
			t.Errorf("%s: lookup renamed.txt: %x %d", label, fh, st)
		}
		if _, _, st := c.lookup(tmp, "before.txt"); st != wire.NFS3ErrNoEnt {
			t.Errorf("%s: the old name: %d", label, st)
		}
	}
	check(c2, "after restart")
	// The handle table written by the second server is read by a third one too.
	srv2.stop(t)
	tc.fsrv = tc.newFS(t)
	srv3 := tc.serve(t, nfsd.Config{})
	c3 := newClient(t, srv3.addr, "", authSys(0, 0))
	check(c3, "after a second restart")

	// A table reload (a new resolver over a freshly loaded snapshot).
	tc.fsrv.SetResolver(tc.resolver(t))
	check(c3, "after a table reload")
	// A new file after the reload gets a handle, and a reload after it keeps it.
	g := c3.mustCreate(tmp, "after-reload", 0o644)
	tc.fsrv.SetResolver(tc.resolver(t))
	if _, st := c3.getattr(g); st != wire.NFS3OK {
		t.Errorf("new file after a second reload: %d", st)
	}
}

// TestNodeRemoved: after a table change drops a node, its handles are stale and its
// export is gone; the other node's handles keep working.
func TestNodeRemoved(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	r1, r2 := c.mustMount("/nodes/n1"), c.mustMount("/nodes/n2")
	p1, p2 := c.walk(r1, "etc/passwd"), c.walk(r2, "etc/passwd")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := tc.store.Edit(ctx, func(*tables.Snapshot) (map[string]*tables.Table, error) {
		tab, err := tables.Parse("nodelist", strings.NewReader(
			"#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n"+
				`"n1","compute,all",,,,,,,,,,,`+"\n"))
		return map[string]*tables.Table{"nodelist": tab}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.fsrv.SetResolver(tc.resolver(t))

	for _, fh := range [][]byte{r2, p2} {
		if _, st := c.getattr(fh); st != wire.NFS3ErrStale {
			t.Errorf("handle of the removed node: %d, want STALE", st)
		}
	}
	if _, st := c.mount("/nodes/n2"); st != wire.MNT3ErrNoEnt {
		t.Errorf("MNT /nodes/n2 after removal: %d, want NOENT", st)
	}
	if ex := c.exports(); len(ex) != 1 || ex["/nodes/n1"] == nil {
		t.Errorf("EXPORT after removal: %v", ex)
	}
	for _, fh := range [][]byte{r1, p1} {
		if _, st := c.getattr(fh); st != wire.NFS3OK {
			t.Errorf("n1 handle after n2's removal: %d", st)
		}
	}
}
