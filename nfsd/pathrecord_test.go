package nfsd_test

import (
	"os"
	"path/filepath"
	"testing"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// TestListedHandleAfterImageChange: an image file renamed (or an image built anew, whose
// files reuse old inode numbers) behind the server's back keeps its file id under
// another name; a READDIRPLUS that shows the new name corrects the handle's path record,
// so the handles it hands out resolve (the record of the old name led nowhere: STALE).
func TestListedHandleAfterImageChange(t *testing.T) {
	tc := newTestCluster(t)
	dir := filepath.Join(tc.cl.Root, "srv", "re")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := tc.serve(t, nfsd.Config{})
	c := newClient(t, rs.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/" + tc.cl.Nodes[0])
	dh := c.walk(root, "srv/re")
	byName := func() map[string]dirEntry {
		ents, _ := c.readdirAll(dh, true, 8192, 32768)
		m := map[string]dirEntry{}
		for _, e := range ents {
			m[e.name] = e
		}
		return m
	}
	a, ok := byName()["a"]
	if !ok || a.fh == nil {
		t.Fatalf("no handle for a: %+v", a)
	}
	if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	b, ok := byName()["b"]
	if !ok || b.fh == nil || b.fileid != a.fileid {
		t.Fatalf("after the rename: %+v (a was %+v)", b, a)
	}
	if at, st := c.getattr(b.fh); st != wire.NFS3OK || at.Size != 4 {
		t.Fatalf("GETATTR of b's listed handle: status %d, %+v", st, at)
	}
}
