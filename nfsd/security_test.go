package nfsd_test

import (
	"bytes"
	"strings"
	"testing"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// TestNodeBinding: with only 127.0.0.1 as admin, n1 (127.0.0.11) and n2 (127.0.0.12)
// each see only their own view, and a handle of n1 is refused from n2's address.
func TestNodeBinding(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{AdminAllow: allowOnly("127.0.0.1/32")})
	n1 := newClient(t, srv.addr, "127.0.0.11", authSys(0, 0))
	n2 := newClient(t, srv.addr, "127.0.0.12", authSys(0, 0))
	stranger := newClient(t, srv.addr, "127.0.0.99", authSys(0, 0))

	r1 := n1.mustMount("/nodes/n1")
	motd := n1.walk(r1, "/etc/motd")
	if got := n1.readAll(motd); got != n1Motd {
		t.Errorf("n1 motd = %q", got)
	}
	if _, st := n1.mount("/nodes/n2"); st != wire.MNT3ErrAcces {
		t.Errorf("n1 mounting /nodes/n2: %d, want MNT3ERR_ACCES", st)
	}
	if _, st := n2.mount("/nodes/n1"); st != wire.MNT3ErrAcces {
		t.Errorf("n2 mounting /nodes/n1: %d, want MNT3ERR_ACCES", st)
	}
	if _, st := n2.mount("/nodes/n1/etc"); st != wire.MNT3ErrAcces {
		t.Errorf("n2 mounting /nodes/n1/etc: %d, want MNT3ERR_ACCES", st)
	}
	if _, st := stranger.mount("/nodes/n1"); st != wire.MNT3ErrAcces {
		t.Errorf("127.0.0.99 mounting /nodes/n1: %d, want MNT3ERR_ACCES", st)
	}
	if !strings.Contains(srv.logs.String(), "mount refused") {
		t.Error("refused mount not logged")
	}
	r2 := n2.mustMount("/nodes/n2")
	if bytes.Equal(r1, r2) {
		t.Error("n1 and n2 have the same root handle")
	}

	// n1's handles from n2's address (and from a stranger): refused, whatever the call.
	for _, fh := range [][]byte{r1, motd} {
		if _, st := n2.getattr(fh); st == wire.NFS3OK {
			t.Error("n2 used a handle of n1 (GETATTR)")
		}
		if _, _, st := n2.read(fh, 0, 100); st == wire.NFS3OK {
			t.Error("n2 used a handle of n1 (READ)")
		}
		if _, st := stranger.getattr(fh); st == wire.NFS3OK {
			t.Error("127.0.0.99 used a handle of n1")
		}
	}
	if _, _, st := n2.create(r1, "x", 0, wire.Sattr{}); st == wire.NFS3OK {
		t.Error("n2 created a file in n1's view")
	}
	// Cross-node operations mixing two views' handles are refused even for an admin.
	admin := newClient(t, srv.addr, "127.0.0.1", authSys(0, 0))
	a1 := admin.mustMount("/nodes/n1")
	a2 := admin.mustMount("/nodes/n2")
	f := admin.mustCreate(admin.walk(a1, "tmp"), "f", 0o644)
	if st := admin.rename(admin.walk(a1, "tmp"), "f", admin.walk(a2, "tmp"), "f"); st != wire.NFS3ErrXDev {
		t.Errorf("rename across views: %d, want XDEV", st)
	}
	if _, st := admin.link(f, admin.walk(a2, "tmp"), "f"); st != wire.NFS3ErrXDev {
		t.Errorf("link across views: %d, want XDEV", st)
	}
	// n1's handle works for n1 and the admin.
	if _, st := n1.getattr(f); st != wire.NFS3OK {
		t.Errorf("n1 GETATTR of its own handle: %d", st)
	}
	if _, st := admin.getattr(motd); st != wire.NFS3OK {
		t.Errorf("admin GETATTR of n1 handle: %d", st)
	}
	// The handle carries the node: n1's /etc/passwd and n2's are different handles
	// for the same image file.
	if bytes.Equal(admin.walk(a1, "etc/passwd"), admin.walk(a2, "etc/passwd")) {
		t.Error("the same handle for both nodes' /etc/passwd")
	}
}

// TestPermissions: AUTH_SYS identities are enforced; setuid shows; owners are callers.
func TestPermissions(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	root := newClient(t, srv.addr, "", authSys(0, 0))
	user := root.as(authSys(1000, 1000))
	other := root.as(authSys(1001, 1001))
	nobody := root.as(authNone)
	fh := root.mustMount("/nodes/n1")
	shadow := root.walk(fh, "/etc/shadow")
	tmp := root.walk(fh, "/tmp")

	if got := root.readAll(shadow); got != shadowTxt {
		t.Errorf("root reads shadow: %q", got)
	}
	for name, c := range map[string]*nfsClient{"uid 1000": user, "AUTH_NONE": nobody} {
		if _, _, st := c.read(shadow, 0, 100); st != wire.NFS3ErrAcces {
			t.Errorf("%s READ shadow: %d, want ACCES", name, st)
		}
		if got, st := c.access(shadow, 0x3f); st != wire.NFS3OK || got != 0 {
			t.Errorf("%s ACCESS shadow: %#x %d", name, got, st)
		}
	}
	// A group member reads a 0640 file of group 1000 through its supplementary gids.
	g := root.mustCreate(tmp, "grp", 0o640)
	root.setattr(g, wire.Sattr{GID: u32p(1000)})
	if _, _, st := root.as(authSys(1002, 1002, 5, 1000)).read(g, 0, 1); st != wire.NFS3OK {
		t.Errorf("supplementary group read: %d", st)
	}
	if _, _, st := other.read(g, 0, 1); st != wire.NFS3ErrAcces {
		t.Errorf("non-member read: %d", st)
	}

	if a := root.mustGetattr(root.walk(fh, "/usr/bin/passwd")); a.Mode != 0o4755 || a.UID != 0 {
		t.Errorf("passwd: mode %o uid %d", a.Mode, a.UID)
	}

	// New objects belong to the caller.
	_, a, st := user.create(tmp, "mine", 1, wire.Sattr{Mode: u32p(0o600)})
	if st != wire.NFS3OK || a.UID != 1000 || a.GID != 1000 || a.Mode != 0o600 {
		t.Errorf("uid 1000 create: %+v %d", a, st)
	}
	d, a, st := user.mkdir(tmp, "mydir", 0o755)
	if st != wire.NFS3OK || a.UID != 1000 || a.GID != 1000 {
		t.Errorf("uid 1000 mkdir: %+v %d", a, st)
	}
	_, a, st = user.symlink(d, "l", "x")
	if st != wire.NFS3OK || a.UID != 1000 {
		t.Errorf("uid 1000 symlink: %+v %d", a, st)
	}
	// A non-root caller cannot give a file away at creation time.
	_, a, st = user.create(tmp, "give", 1, wire.Sattr{Mode: u32p(0o644), UID: u32p(0)})
	if st != wire.NFS3OK || a.UID != 1000 {
		t.Errorf("uid 1000 create with uid 0: %+v %d", a, st)
	}
	// Sticky /tmp: another user cannot remove or rename it away; the owner can.
	if st := other.remove(tmp, "mine"); st != wire.NFS3ErrAcces {
		t.Errorf("uid 1001 removes uid 1000's file in sticky /tmp: %d, want ACCES", st)
	}
	if st := other.rename(tmp, "mine", tmp, "stolen"); st != wire.NFS3ErrAcces {
		t.Errorf("uid 1001 renames uid 1000's file in sticky /tmp: %d, want ACCES", st)
	}
	if _, _, _, st := other.write(root.walk(tmp, "mine"), 0, []byte("x"), 2); st != wire.NFS3ErrAcces {
		t.Errorf("uid 1001 writes a 0600 file of uid 1000: %d", st)
	}
	if st := user.remove(tmp, "mine"); st != wire.NFS3OK {
		t.Errorf("owner removes: %d", st)
	}
	// Non-root cannot write in /etc (root's 0755 directory) nor chown.
	if _, _, st := user.create(root.walk(fh, "/etc"), "x", 0, wire.Sattr{}); st != wire.NFS3ErrAcces {
		t.Errorf("uid 1000 create in /etc: %d", st)
	}
	if _, st := user.setattr(root.walk(tmp, "give"), wire.Sattr{UID: u32p(1001)}); st != wire.NFS3ErrPerm {
		t.Errorf("uid 1000 chown to 1001: %d, want PERM", st)
	}
	// setuid can be set by the owner, and is kept.
	if a, st := user.setattr(root.walk(tmp, "give"), wire.Sattr{Mode: u32p(0o4755)}); st != wire.NFS3OK || a.Mode != 0o4755 {
		t.Errorf("owner chmod 04755: %+v %d", a, st)
	}
}

// TestRootSquash: uid 0 is mapped to 65534.
func TestRootSquash(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{RootSquash: true})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	fh := c.mustMount("/nodes/n1")
	tmp := c.walk(fh, "/tmp")
	_, a, st := c.create(tmp, "squashed", 1, wire.Sattr{Mode: u32p(0o644)})
	if st != wire.NFS3OK || a.UID != 65534 || a.GID != 65534 {
		t.Errorf("squashed root create: %+v %d, want owner 65534", a, st)
	}
	if _, _, st := c.read(c.walk(fh, "/etc/shadow"), 0, 10); st != wire.NFS3ErrAcces {
		t.Errorf("squashed root READ shadow: %d, want ACCES", st)
	}
	if _, _, st := c.mknod(tmp, "dev", wire.NF3Chr, 0o600, 1, 3); st != wire.NFS3ErrPerm {
		t.Errorf("squashed root MKNOD chr: %d, want PERM", st)
	}
	// Other users are unchanged.
	_, a, st = c.as(authSys(1000, 1000)).create(tmp, "user", 1, wire.Sattr{Mode: u32p(0o644)})
	if st != wire.NFS3OK || a.UID != 1000 {
		t.Errorf("uid 1000 under root squash: %+v %d", a, st)
	}
}
