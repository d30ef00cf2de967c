package nfsd_test

import (
	"strings"
	"testing"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// Names over 255 bytes are NAMETOOLONG (not GARBAGE_ARGS), whatever their length;
// stable_how values above FILE_SYNC are GARBAGE_ARGS.
func TestLongNamesAndBadStableHow(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	tmp := c.walk(root, "/tmp")
	for _, n := range []int{256, 10000} {
		name := strings.Repeat("x", n)
		if _, _, st := c.lookup(tmp, name); st != 63 {
			t.Errorf("LOOKUP of a %d-byte name: status %d, want NAMETOOLONG (63)", n, st)
		}
		if _, _, st := c.create(tmp, name, 0, wire.Sattr{}); st != 63 {
			t.Errorf("CREATE of a %d-byte name: status %d, want NAMETOOLONG (63)", n, st)
		}
	}
	fh := c.mustCreate(tmp, "s", 0o644)
	for _, how := range []uint32{3, 7, 0xffffffff} {
		rp := c.rc.call(wire.ProgNFS, 3, wire.ProcWrite, c.cred, new(wire.W).Opaque(fh).U64(0).U32(1).U32(how).Opaque([]byte("x")).B)
		if rp.acceptStat != 4 {
			t.Errorf("WRITE with stable_how %d: accept_stat %d, want GARBAGE_ARGS (4)", how, rp.acceptStat)
		}
	}
}

// Forged handles and refused mounts from one address log one line a minute, not one a
// request.
func TestClientWarningsAreRateLimited(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{AdminAllow: allowOnly("127.0.0.1/32")})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	forged := append([]byte(nil), root...)
	forged[len(forged)-1] ^= 0xff
	hostile := newClient(t, srv.addr, "127.0.0.77", authSys(0, 0))
	for i := 0; i < 50; i++ {
		if _, st := c.getattr(forged); st != 10001 {
			t.Fatalf("forged handle: status %d, want BADHANDLE", st)
		}
		if _, st := hostile.mount("/nodes/n1"); st == 0 {
			t.Fatal("a mount from a foreign address was accepted")
		}
	}
	logs := srv.logs.String()
	if n := strings.Count(logs, "forged or foreign file handle refused"); n != 1 {
		t.Errorf("50 forged handles from one address logged %d lines, want 1", n)
	}
	if n := strings.Count(logs, "mount refused"); n != 1 {
		t.Errorf("50 refused mounts from one address logged %d lines, want 1", n)
	}
}

// Truncated arguments are GARBAGE_ARGS and change nothing: the procedure reads all its
// arguments before it acts (a retried MKDIR would otherwise meet EXIST).
func TestTruncatedArgumentsChangeNothing(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	tmp := c.walk(c.mustMount("/nodes/n1"), "/tmp")
	f := c.mustCreate(tmp, "f", 0o644)
	for _, tt := range []struct {
		name string
		proc uint32
		args []byte
	}{
		{"MKDIR", wire.ProcMkdir, new(wire.W).Opaque(tmp).Str("d").B},                                      // no sattr3
		{"SYMLINK", wire.ProcSymlink, new(wire.W).Opaque(tmp).Str("l").Sattr(wire.Sattr{}).B},              // no target
		{"MKNOD", wire.ProcMknod, new(wire.W).Opaque(tmp).Str("p").U32(7).B},                               // FIFO without sattr3
		{"SETATTR", wire.ProcSetattr, new(wire.W).Opaque(f).Sattr(wire.Sattr{Mode: u32p(0o600)}).U32(1).B}, // guard without its time
		{"WRITE", wire.ProcWrite, new(wire.W).Opaque(f).U64(0).U32(5).U32(2).U32(5).Fixed([]byte("ab")).B}, // data cut short
		{"RENAME", wire.ProcRename, new(wire.W).Opaque(tmp).Str("f").Opaque(tmp).B},                        // no target name
	} {
		rp := c.rc.call(wire.ProgNFS, 3, tt.proc, c.cred, tt.args)
		if rp.acceptStat != 4 {
			t.Errorf("%s with truncated arguments: accept_stat %d, want GARBAGE_ARGS", tt.name, rp.acceptStat)
		}
	}
	for _, name := range []string{"d", "l", "p"} {
		if _, _, st := c.lookup(tmp, name); st != wire.NFS3ErrNoEnt {
			t.Errorf("%s exists after a call with truncated arguments (status %d)", name, st)
		}
	}
	if a := c.mustGetattr(f); a.Mode&0o777 != 0o644 || a.Size != 0 {
		t.Errorf("f changed by calls with truncated arguments: mode %o size %d", a.Mode&0o777, a.Size)
	}
	if _, _, st := c.lookup(tmp, "f"); st != wire.NFS3OK {
		t.Errorf("f renamed by a RENAME with truncated arguments: status %d", st)
	}
}
