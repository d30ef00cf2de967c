package nfsd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// TestOutOfOrderReplies: a GETATTR sent on the same connection right after a slow READ
// is answered first.
func TestOutOfOrderReplies(t *testing.T) {
	tc := newTestCluster(t)
	const readDelay = 600 * time.Millisecond
	srv := tc.serve(t, nfsd.Config{Delay: func(proc uint32) {
		if proc == wire.ProcRead {
			time.Sleep(readDelay)
		}
	}})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	passwd := c.walk(root, "/etc/passwd")

	for round := 0; round < 2; round++ {
		start := time.Now()
		xr := c.rc.send(wire.ProgNFS, 3, wire.ProcRead, c.cred, new(wire.W).Opaque(passwd).U64(0).U32(4096).B)
		xg := c.rc.send(wire.ProgNFS, 3, wire.ProcGetattr, c.cred, new(wire.W).Opaque(root).B)
		first := c.rc.recv()
		second := c.rc.recv()
		t.Logf("round %d: first xid=%d after %v, second xid=%d after %v", round, first.xid, first.at.Sub(start), second.xid, second.at.Sub(start))
		if first.xid != xg || second.xid != xr {
			t.Fatalf("reply order: got xids %d then %d; want GETATTR (%d) before READ (%d)", first.xid, second.xid, xg, xr)
		}
		if d := first.at.Sub(start); d > 300*time.Millisecond {
			t.Errorf("GETATTR answered after %v (READ is delayed %v)", d, readDelay)
		}
		if d := second.at.Sub(start); d < readDelay-50*time.Millisecond {
			t.Errorf("READ answered after %v, before its delay", d)
		}
		for _, rp := range []reply{first, second} {
			if rp.denied || rp.acceptStat != wire.AcceptSuccess || rp.body.U32() != wire.NFS3OK {
				t.Errorf("reply %d failed: %+v", rp.xid, rp)
			}
		}
	}

	// Other connections are not held up by a slow READ either.
	c.rc.send(wire.ProgNFS, 3, wire.ProcRead, c.cred, new(wire.W).Opaque(passwd).U64(0).U32(4096).B)
	c2 := newClient(t, srv.addr, "", authSys(0, 0))
	start := time.Now()
	if _, st := c2.getattr(root); st != wire.NFS3OK || time.Since(start) > 300*time.Millisecond {
		t.Errorf("GETATTR on another connection: %d after %v", st, time.Since(start))
	}
	// A stop while the READ is in flight returns once it is done.
	start = time.Now()
	srv.stop(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop with a request in flight took %v", d)
	}
}

// TestPanicRecovery: a panic inside a procedure answers SYSTEM_ERR; the server goes on.
func TestPanicRecovery(t *testing.T) {
	tc := newTestCluster(t)
	var panics atomic.Int32
	srv := tc.serve(t, nfsd.Config{Delay: func(proc uint32) {
		if proc == wire.ProcPathconf {
			panics.Add(1)
			panic("injected panic in PATHCONF")
		}
	}})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	for i := 0; i < 3; i++ {
		rp := c.rc.call(wire.ProgNFS, 3, wire.ProcPathconf, c.cred, new(wire.W).Opaque(root).B)
		if rp.denied || rp.acceptStat != wire.AcceptSystemErr {
			t.Errorf("PATHCONF with a panic: denied=%v accept_stat=%d, want SYSTEM_ERR", rp.denied, rp.acceptStat)
		}
		if len(rp.body.B) != 0 {
			t.Errorf("SYSTEM_ERR reply carries %d bytes of result", len(rp.body.B))
		}
		// The same connection still works.
		if _, st := c.getattr(root); st != wire.NFS3OK {
			t.Errorf("GETATTR after the panic: %d", st)
		}
	}
	if panics.Load() != 3 {
		t.Errorf("%d panics, want 3", panics.Load())
	}
	// And new connections too.
	c2 := newClient(t, srv.addr, "", authSys(0, 0))
	if a := c2.mustGetattr(c2.mustMount("/nodes/n1")); a.Type != wire.NF3Dir {
		t.Errorf("root type %d", a.Type)
	}
	if !strings.Contains(srv.logs.String(), "injected panic in PATHCONF") {
		t.Error("the panic was not logged")
	}
}

// TestRPCLayer checks the ONC-RPC replies for calls the server cannot serve.
func TestRPCLayer(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	sys := authSys(0, 0)

	accepted := func(what string, rp reply, want uint32) {
		t.Helper()
		if rp.denied || rp.acceptStat != want {
			t.Errorf("%s: denied=%v accept_stat=%d reject_stat=%d, want accept_stat %d", what, rp.denied, rp.acceptStat, rp.rejectStat, want)
		}
	}

	rp := c.rc.call(100099, 1, 0, sys, nil)
	accepted("unknown program", rp, wire.AcceptProgUnavail)
	rp = c.rc.call(100227, 3, 0, sys, nil) // NFSACL
	accepted("NFSACL", rp, wire.AcceptProgUnavail)

	for _, v := range []struct {
		prog, vers uint32
	}{{wire.ProgNFS, 4}, {wire.ProgNFS, 2}, {wire.ProgMount, 1}, {wire.ProgMount, 2}} {
		rp := c.rc.call(v.prog, v.vers, 0, sys, nil)
		accepted("version mismatch", rp, wire.AcceptProgMismatch)
		if lo, hi := rp.body.U32(), rp.body.U32(); rp.body.Err != nil || lo != 3 || hi != 3 {
			t.Errorf("prog %d vers %d: mismatch info %d..%d (%v), want 3..3", v.prog, v.vers, lo, hi, rp.body.Err)
		}
	}
	// A v4 COMPOUND is not answered as a v3 GETATTR.
	rp = c.rc.call(wire.ProgNFS, 4, 1, sys, new(wire.W).Str("tag").U32(0).U32(0).B)
	accepted("NFSv4 COMPOUND", rp, wire.AcceptProgMismatch)

	for _, v := range []struct{ prog, proc uint32 }{{wire.ProgNFS, 99}, {wire.ProgNFS, 22}, {wire.ProgMount, 6}, {wire.ProgMount, 99}} {
		accepted("unknown procedure", c.rc.call(v.prog, 3, v.proc, sys, nil), wire.AcceptProcUnavail)
	}

	// Truncated or undecodable arguments.
	fh := new(wire.W).Opaque(root).B
	for name, v := range map[string]struct {
		proc uint32
		args []byte
	}{
		"GETATTR without a handle":      {wire.ProcGetattr, nil},
		"GETATTR with a cut handle":     {wire.ProcGetattr, fh[:10]},
		"LOOKUP without a name":         {wire.ProcLookup, fh},
		"READ without a count":          {wire.ProcRead, new(wire.W).Opaque(root).U64(0).B},
		"WRITE with missing data":       {wire.ProcWrite, new(wire.W).Opaque(root).U64(0).U32(100).U32(2).U32(100).U32(7).B},
		"SETATTR without a guard":       {wire.ProcSetattr, new(wire.W).Opaque(root).Sattr(wire.Sattr{}).B},
		"CREATE with a bad mode":        {wire.ProcCreate, new(wire.W).Opaque(root).Str("x").U32(7).B},
		"READDIRPLUS without maxcount":  {wire.ProcReaddirplus, new(wire.W).Opaque(root).U64(0).U64(0).U32(100).B},
		"RENAME without a target":       {wire.ProcRename, new(wire.W).Opaque(root).Str("a").B},
		"handle longer than 64 bytes":   {wire.ProcGetattr, new(wire.W).Opaque(make([]byte, 65)).B},
		"MNT path too long":             {0, nil},
		"MKNOD chr without device spec": {wire.ProcMknod, new(wire.W).Opaque(root).Str("x").U32(wire.NF3Chr).Sattr(wire.Sattr{}).B},
	} {
		if name == "MNT path too long" {
			rp := c.rc.call(wire.ProgMount, 3, wire.MntMnt, sys, new(wire.W).Str(strings.Repeat("a", 2000)).B)
			accepted(name, rp, wire.AcceptGarbageArgs)
			continue
		}
		accepted(name, c.rc.call(wire.ProgNFS, 3, v.proc, sys, v.args), wire.AcceptGarbageArgs)
	}

	// RPC version 3: MSG_DENIED / RPC_MISMATCH 2..2.
	c.rc.xid++
	if err := c.rc.writeFrags(callMsg(c.rc.xid, 3, wire.ProgNFS, 3, 0, sys, nil)); err != nil {
		t.Fatal(err)
	}
	rp = c.rc.recv()
	if !rp.denied || rp.rejectStat != 0 || rp.xid != c.rc.xid {
		t.Errorf("RPC version 3: %+v, want MSG_DENIED RPC_MISMATCH", rp)
	} else if lo, hi := rp.body.U32(), rp.body.U32(); lo != 2 || hi != 2 {
		t.Errorf("RPC_MISMATCH %d..%d, want 2..2", lo, hi)
	}

	// Unknown auth flavor (6 = RPCSEC_GSS) and a malformed AUTH_SYS body: AUTH_ERROR.
	for name, cred := range map[string]auth{
		"flavor 6":            {flavor: 6, body: []byte{0, 0, 0, 1}},
		"AUTH_SYS, 17 gids":   authSys(0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17),
		"AUTH_SYS, truncated": {flavor: 1, body: []byte{0, 0, 0, 1, 0, 0, 0, 9}},
	} {
		rp := c.rc.call(wire.ProgNFS, 3, wire.ProcGetattr, cred, fh)
		if !rp.denied || rp.rejectStat != 1 {
			t.Errorf("%s: %+v, want MSG_DENIED AUTH_ERROR", name, rp)
			continue
		}
		if st := rp.body.U32(); st == 0 {
			t.Errorf("%s: auth_stat AUTH_OK", name)
		} else {
			t.Logf("%s: auth_stat %d", name, st)
		}
	}
	// AUTH_SYS with 16 gids is fine.
	if _, st := c.as(authSys(0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)).getattr(root); st != wire.NFS3OK {
		t.Errorf("AUTH_SYS with 16 gids: %d", st)
	}

	// A record in several fragments is reassembled.
	c.rc.xid++
	msg := callMsg(c.rc.xid, 2, wire.ProgNFS, 3, wire.ProcGetattr, sys, fh)
	if err := c.rc.writeFrags(msg[:5], msg[5:40], nil, msg[40:]); err != nil {
		t.Fatal(err)
	}
	rp = c.rc.recv()
	if rp.xid != c.rc.xid || rp.denied || rp.acceptStat != wire.AcceptSuccess || rp.body.U32() != wire.NFS3OK {
		t.Errorf("multi-fragment GETATTR: %+v", rp)
	}

	// The connection survived all of the above.
	if _, st := c.getattr(root); st != wire.NFS3OK {
		t.Errorf("GETATTR at the end: %d", st)
	}
}

// TestRecordCap: a record over the size cap closes that connection, not the server.
func TestRecordCap(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})

	expectClosed := func(c *rconn, what string) {
		t.Helper()
		_, err := c.readRecord(10 * time.Second)
		var ne net.Error
		switch {
		case err == nil:
			t.Errorf("%s: got a reply, want the connection closed", what)
		case errors.As(err, &ne) && ne.Timeout():
			t.Errorf("%s: connection still open after 10s", what)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset"):
		default:
			t.Errorf("%s: %v", what, err)
		}
	}

	// One fragment header announcing 64 MiB.
	c := dialRPC(t, srv.addr, "")
	var hdr [4]byte
	copy(hdr[:], []byte{0x84, 0, 0, 0})
	c.c.Write(hdr[:])
	expectClosed(c, "64 MiB fragment")

	// Fragments adding up to more than the cap (3 MiB + 3 MiB).
	c = dialRPC(t, srv.addr, "")
	frag := make([]byte, 4+3<<20)
	frag[0], frag[1] = 0x00, 0x30 // 3 MiB, not last
	go func() {
		c.c.Write(frag)
		frag2 := append([]byte(nil), frag...)
		frag2[0] = 0x80
		c.c.Write(frag2)
	}()
	expectClosed(c, "3+3 MiB fragments")

	// The server serves on.
	n := newClient(t, srv.addr, "", authSys(0, 0))
	if _, st := n.getattr(n.mustMount("/nodes/n1")); st != wire.NFS3OK {
		t.Errorf("GETATTR after the oversized records: %d", st)
	}
	// A large but allowed record (a 1 MiB WRITE) is fine.
	root := n.mustMount("/nodes/n1")
	f := n.mustCreate(n.walk(root, "tmp"), "big", 0o644)
	data := bytes.Repeat([]byte{7}, 1<<20)
	if cnt, _, _, st := n.write(f, 0, data, 2); st != wire.NFS3OK || cnt != 1<<20 {
		t.Errorf("1 MiB WRITE: %d %d", cnt, st)
	}
	if got, _, st := n.read(f, 0, 2<<20); st != wire.NFS3OK || !bytes.Equal(got, data) {
		t.Errorf("1 MiB READ: %d bytes, st %d", len(got), st)
	}
}

// TestPortmap: GETPORT answers NFS v3 and MOUNT v3 over TCP with the NFS port.
func TestPortmap(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nfsd.ServePortmap(ctx, l, "20049", slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServePortmap: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ServePortmap did not return")
		}
	}()
	c := dialRPC(t, l.Addr().String(), "")
	getport := func(prog, vers, prot uint32) uint32 {
		t.Helper()
		rp := c.call(wire.ProgPortmap, 2, 3, authNone, new(wire.W).U32(prog).U32(vers).U32(prot).U32(0).B)
		if rp.denied || rp.acceptStat != wire.AcceptSuccess {
			t.Fatalf("GETPORT: %+v", rp)
		}
		return rp.body.U32()
	}
	for _, v := range []struct{ prog, vers, prot, want uint32 }{
		{wire.ProgNFS, 3, 6, 20049},
		{wire.ProgMount, 3, 6, 20049},
		{wire.ProgNFS, 3, 17, 0}, // UDP
		{wire.ProgNFS, 4, 6, 0},
		{wire.ProgNFS, 2, 6, 0},
		{wire.ProgMount, 1, 6, 0},
		{100021, 4, 6, 0}, // NLM
		{100227, 3, 6, 0}, // NFSACL
	} {
		if got := getport(v.prog, v.vers, v.prot); got != v.want {
			t.Errorf("GETPORT %d/%d/%d = %d, want %d", v.prog, v.vers, v.prot, got, v.want)
		}
	}
	if rp := c.call(wire.ProgPortmap, 2, 0, authNone, nil); rp.denied || rp.acceptStat != wire.AcceptSuccess {
		t.Errorf("NULL: %+v", rp)
	}
	if rp := c.call(wire.ProgPortmap, 2, 1, authNone, new(wire.W).U32(1).U32(1).U32(6).U32(1).B); rp.denied || rp.acceptStat != wire.AcceptProcUnavail {
		t.Errorf("SET: %+v, want PROC_UNAVAIL", rp)
	}
	if rp := c.call(wire.ProgPortmap, 4, 3, authNone, nil); rp.denied || rp.acceptStat != wire.AcceptProgMismatch {
		t.Errorf("rpcbind v4: %+v, want PROG_MISMATCH", rp)
	} else if lo, hi := rp.body.U32(), rp.body.U32(); lo != 2 || hi != 2 {
		t.Errorf("rpcbind v4: mismatch %d..%d", lo, hi)
	}
	if rp := c.call(wire.ProgNFS, 3, 0, authNone, nil); rp.denied || rp.acceptStat != wire.AcceptProgUnavail {
		t.Errorf("NFS on the portmapper: %+v, want PROG_UNAVAIL", rp)
	}
	if err := nfsd.ServePortmap(ctx, l, "notaport", nil); err == nil {
		t.Error("ServePortmap with a bad port: no error")
	}
}
