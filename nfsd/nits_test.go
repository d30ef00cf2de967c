package nfsd_test

import (
	"strings"
	"testing"

	"statelite/nfsd"
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
		if _, _, st := c.create(tmp, name, 0, sattr{}); st != 63 {
			t.Errorf("CREATE of a %d-byte name: status %d, want NAMETOOLONG (63)", n, st)
		}
	}
	fh := c.mustCreate(tmp, "s", 0o644)
	for _, how := range []uint32{3, 7, 0xffffffff} {
		rp := c.rc.call(progNFS, 3, procWrite, c.cred, new(xw).opaque(fh).u64(0).u32(1).u32(how).opaque([]byte("x")).b)
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
