package nfsd_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// exports decodes a MOUNT EXPORT reply into directory -> groups.
func (c *nfsClient) exports() map[string][]string {
	c.t.Helper()
	r := c.rpc(wire.ProgMount, wire.MntExport, nil)
	out := map[string][]string{}
	for r.Bool() {
		dir := r.Str(wire.NoLimit)
		out[dir] = []string{}
		for r.Bool() {
			out[dir] = append(out[dir], r.Str(wire.NoLimit))
		}
		if r.Err != nil {
			break
		}
	}
	c.check(r, "EXPORT")
	return out
}

// dump decodes a MOUNT DUMP reply into "host dir" strings.
func (c *nfsClient) dump() []string {
	c.t.Helper()
	r := c.rpc(wire.ProgMount, wire.MntDump, nil)
	var out []string
	for r.Bool() {
		host := r.Str(wire.NoLimit)
		out = append(out, host+" "+r.Str(wire.NoLimit))
		if r.Err != nil {
			break
		}
	}
	c.check(r, "DUMP")
	sort.Strings(out)
	return out
}

func TestMountProcedures(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{AdminAllow: allowOnly("127.0.0.1/32")})
	admin := newClient(t, srv.addr, "127.0.0.1", authSys(0, 0))
	n1 := newClient(t, srv.addr, "127.0.0.11", authSys(0, 0))

	// EXPORT: an admin sees every node, a node only itself.
	ex := admin.exports()
	if len(ex) != 2 || ex["/nodes/n1"] == nil || ex["/nodes/n2"] == nil {
		t.Errorf("admin EXPORT = %v", ex)
	}
	if ex := n1.exports(); len(ex) != 1 || ex["/nodes/n1"] == nil {
		t.Errorf("n1 EXPORT = %v", ex)
	}

	// MNT, DUMP, UMNT, UMNTALL.
	if d := admin.dump(); len(d) != 0 {
		t.Errorf("DUMP before any mount = %v", d)
	}
	root := admin.mustMount("/nodes/n1")
	admin.mustMount("/nodes/n2")
	n1.mustMount("/nodes/n1")
	want := []string{"127.0.0.1 /nodes/n1", "127.0.0.1 /nodes/n2", "127.0.0.11 /nodes/n1"}
	if d := admin.dump(); !equalStrings(d, want) {
		t.Errorf("DUMP = %v, want %v", d, want)
	}
	admin.rpc(wire.ProgMount, wire.MntUmnt, new(wire.W).Str("/nodes/n2").B)
	if d := admin.dump(); !equalStrings(d, []string{"127.0.0.1 /nodes/n1", "127.0.0.11 /nodes/n1"}) {
		t.Errorf("DUMP after UMNT = %v", d)
	}
	admin.mustMount("/nodes/n2")
	admin.rpc(wire.ProgMount, wire.MntUmntAll, nil)
	if d := admin.dump(); !equalStrings(d, []string{"127.0.0.11 /nodes/n1"}) {
		t.Errorf("DUMP after UMNTALL = %v", d)
	}
	// UMNT does not invalidate handles (NFSv3 is stateless).
	if _, st := admin.getattr(root); st != wire.NFS3OK {
		t.Errorf("GETATTR after UMNTALL: %d", st)
	}

	// MNT of a subdirectory returns that directory's handle.
	etc := admin.mustMount("/nodes/n1/etc")
	if want := admin.walk(root, "etc"); !bytes.Equal(etc, want) {
		t.Errorf("MNT /nodes/n1/etc = %x, LOOKUP gives %x", etc, want)
	}
	if got := admin.readAll(admin.walk(etc, "motd")); got != n1Motd {
		t.Errorf("motd via the /etc mount: %q", got)
	}
	if fh := admin.mustMount("/nodes/n1/"); !bytes.Equal(fh, root) {
		t.Error("MNT /nodes/n1/ is not the root")
	}
	if fh := admin.mustMount("//nodes/./n1/etc/../"); !bytes.Equal(fh, root) {
		t.Error("MNT of an unclean path is not the root")
	}

	// Errors.
	for path, want := range map[string]uint32{
		"/nodes/nosuch":         wire.MNT3ErrNoEnt,
		"/nodes/n1/nosuch":      wire.MNT3ErrNoEnt,
		"/nodes/n1/etc/passwd":  wire.MNT3ErrNotDir,
		"/nodes":                wire.MNT3ErrNoEnt,
		"/":                     wire.MNT3ErrNoEnt,
		"/etc":                  wire.MNT3ErrNoEnt,
		"/nodes/n1/../../../..": wire.MNT3ErrNoEnt,
	} {
		if _, st := admin.mount(path); st != want {
			t.Errorf("MNT %s: %d, want %d", path, st, want)
		}
	}
}

// TestImageExport: the image root path is the view of the node the client address
// belongs to, and refused from other addresses.
func TestImageExport(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{AdminAllow: allowOnly("127.0.0.1/32")})
	n1 := newClient(t, srv.addr, "127.0.0.11", authSys(0, 0))
	n2 := newClient(t, srv.addr, "127.0.0.12", authSys(0, 0))
	admin := newClient(t, srv.addr, "127.0.0.1", authSys(0, 0))
	stranger := newClient(t, srv.addr, "127.0.0.77", authSys(0, 0))

	img := tc.cl.Root
	r1 := n1.mustMount(img)
	if want := n1.mustMount("/nodes/n1"); !bytes.Equal(r1, want) {
		t.Errorf("image export from n1 = %x, /nodes/n1 = %x", r1, want)
	}
	if got := n1.readAll(n1.walk(r1, "/etc/motd")); got != n1Motd {
		t.Errorf("n1 motd via the image export: %q", got)
	}
	r2 := n2.mustMount(img)
	if want := n2.mustMount("/nodes/n2"); !bytes.Equal(r2, want) {
		t.Error("image export from n2 is not n2's view")
	}
	if got := n2.readAll(n2.walk(r2, "/etc/motd")); got == n1Motd {
		t.Error("n2 sees n1's motd")
	}
	// A subdirectory of the image path.
	e1 := n1.mustMount(filepath.Join(img, "etc"))
	if !bytes.Equal(e1, n1.walk(r1, "etc")) {
		t.Error("image export subdirectory")
	}
	// Addresses of no node are refused (even an admin's: it is no node).
	for name, c := range map[string]*nfsClient{"admin": admin, "stranger": stranger} {
		if _, st := c.mount(img); st != wire.MNT3ErrAcces {
			t.Errorf("%s mounting the image path: %d, want ACCES", name, st)
		}
	}
	// A path beside the image root is not an export.
	if _, st := n1.mount(img + "x"); st != wire.MNT3ErrNoEnt {
		t.Errorf("MNT %sx: %d", img, st)
	}
}

// TestBootToken: a new boot token resets the node's volatile layer once.
func TestBootToken(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))

	write := func(root []byte, name string) {
		t.Helper()
		f := c.mustCreate(c.walk(root, "tmp"), name, 0o644)
		c.write(f, 0, []byte(name), 2)
		h := c.mustCreate(c.walk(root, "root"), name, 0o644) // persistent
		c.write(h, 0, []byte(name), 2)
	}
	exists := func(root []byte, dir, name string) bool {
		t.Helper()
		_, _, st := c.lookup(c.walk(root, dir), name)
		return st == wire.NFS3OK
	}

	r := c.mustMount("/nodes/n1/@tok1")
	if want := c.mustMount("/nodes/n1"); !bytes.Equal(r, want) {
		t.Error("MNT with a token is not the node's root")
	}
	write(r, "a")
	r = c.mustMount("/nodes/n1/@tok1") // the same token: a re-mount, no reset
	if !exists(r, "tmp", "a") {
		t.Error("/tmp/a gone after a re-mount with the same token")
	}
	n2 := c.mustMount("/nodes/n2")
	f2 := c.mustCreate(c.walk(n2, "tmp"), "n2file", 0o644)
	r = c.mustMount("/nodes/n1/@tok2") // a new token: boot
	if exists(r, "tmp", "a") {
		t.Error("/tmp/a survived a boot with a new token")
	}
	if !exists(r, "root", "a") {
		t.Error("persistent /root/a lost at boot")
	}
	if _, st := c.getattr(f2); st != wire.NFS3OK {
		t.Error("n1's boot reset n2's volatile layer")
	}
	write(r, "b")
	c.mustMount("/nodes/n1/@tok2")
	c.mustMount("/nodes/n1")     // no token: never a reset
	c.mustMount("/nodes/n1/etc") // idem
	c.mustMount("/nodes/n1/@tok2/etc")
	if !exists(r, "tmp", "b") {
		t.Error("/tmp/b gone after re-mounts")
	}
	// The token is remembered across a server restart.
	srv.stop(t)
	tc.fsrv = tc.newFS(t)
	srv2 := tc.serve(t, nfsd.Config{})
	c = newClient(t, srv2.addr, "", authSys(0, 0))
	r = c.mustMount("/nodes/n1/@tok2")
	if !exists(r, "tmp", "b") {
		t.Error("/tmp/b gone after a restart and a mount with the same token")
	}
	// A token path with a subdirectory.
	etc := c.mustMount("/nodes/n1/@tok3/etc")
	if !bytes.Equal(etc, c.walk(r, "etc")) {
		t.Error("MNT /nodes/n1/@tok3/etc is not /etc")
	}
	if exists(r, "tmp", "b") {
		t.Error("/tmp/b survived a boot with token 3")
	}
	// An explicit reset (statelite reset) drops the volatile layer too.
	write(r, "c")
	if err := srv2.Reset("n1"); err != nil {
		t.Fatal(err)
	}
	if exists(r, "tmp", "c") || !exists(r, "root", "c") {
		t.Error("Reset: /tmp/c kept or /root/c lost")
	}
	if err := srv2.Reset("nosuch"); err == nil {
		t.Error("Reset of an unknown node: no error")
	}

	// A server of before boots were kept with the layer: its own record of the node's
	// last token stands for the layer's boot once (an upgrade resets no running node).
	c.mustMount("/nodes/n1/@tok4")
	write(r, "d")
	srv2.stop(t)
	if err := os.Remove(filepath.Join(tc.fsState, "volatile", "n1", "boot")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tc.nfState, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tc.nfState, "tokens", "n1"), []byte("tok4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tc.fsrv = tc.newFS(t)
	srv3 := tc.serve(t, nfsd.Config{})
	c = newClient(t, srv3.addr, "", authSys(0, 0))
	r = c.mustMount("/nodes/n1/@tok4")
	if !exists(r, "tmp", "d") {
		t.Error("/tmp/d gone: the token recorded by the server of before was not taken as the node's boot")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
