package nfsd_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// Large READs are sent while they are read (the first 512 KiB, then the rest): the
// bytes, counts and eof flags must be those of a plain read at every offset, through the
// image and through a node's writable layer.
func TestLargeReads(t *testing.T) {
	tc := newTestCluster(t)
	data := make([]byte, 2<<20+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(tc.cl.Root, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := tc.serve(t, nfsd.Config{})
	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")

	// The same file in node n1's volatile /tmp, written through NFS as clients copy a
	// file: UNSTABLE WRITEs of 1 MiB (their data goes on to the disk in the background,
	// write-behind), then COMMIT.
	tmp := c.mustCreate(c.walk(root, "/tmp"), "big.bin", 0o644)
	for off := 0; off < len(data); off += 1 << 20 {
		end := min(off+1<<20, len(data))
		if n, committed, _, st := c.write(tmp, uint64(off), data[off:end], 0); st != wire.NFS3OK || int(n) != end-off || committed != 0 {
			t.Fatalf("WRITE at %d: n=%d committed=%d st=%d", off, n, committed, st)
		}
	}
	if _, st := c.commit(tmp); st != wire.NFS3OK {
		t.Fatalf("COMMIT: %d", st)
	}
	for name, fh := range map[string][]byte{"image": c.walk(root, "/big.bin"), "volatile": tmp} {
		size := len(data)
		for _, r := range []struct{ off, count int }{
			{0, 1 << 20},              // two halves
			{1, 1 << 20},              // unaligned
			{100, 512<<10 + 1},        // one byte after the first half
			{0, 512 << 10},            // exactly the first half: read at once
			{size - 600<<10, 1 << 20}, // the second half shorter, eof
			{size - 512<<10, 1 << 20}, // what is left fits the first half, eof
			{size - 3, 1 << 20},       // a few bytes, eof
			{size, 1 << 20},           // at the end
			{size + 4096, 1 << 20},    // past the end
			{1 << 20, 3 << 20},        // more than rtmax: 1 MiB
		} {
			got, eof, st := c.read(fh, uint64(r.off), uint32(r.count))
			if st != wire.NFS3OK {
				t.Errorf("%s: READ(%d, %d): status %d", name, r.off, r.count, st)
				continue
			}
			lo := min(r.off, size)
			hi := min(r.off+min(r.count, 1<<20), size)
			if !bytes.Equal(got, data[lo:hi]) {
				t.Errorf("%s: READ(%d, %d): %d bytes, want %d (equal prefix %d)", name, r.off, r.count, len(got), hi-lo, commonPrefix(got, data[lo:hi]))
			}
			if wantEOF := hi == size; eof != wantEOF {
				t.Errorf("%s: READ(%d, %d): eof %v, want %v", name, r.off, r.count, eof, wantEOF)
			}
		}
	}
	// A whole-file copy in 1 MiB READs, as clients do.
	var out []byte
	for {
		got, eof, st := c.read(tmp, uint64(len(out)), 1<<20)
		if st != wire.NFS3OK {
			t.Fatalf("READ at %d: %d", len(out), st)
		}
		out = append(out, got...)
		if eof {
			break
		}
	}
	if !bytes.Equal(out, data) {
		t.Errorf("copy: %d bytes, want %d (equal prefix %d)", len(out), len(data), commonPrefix(out, data))
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// More clients than there are turns of big work write and read 1 MiB at once: every call
// is answered (waiting for a turn never deadlocks) and every turn is given back.
func TestBigWorkTurns(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	n := nfsd.BigTurnsMax(srv.Server) + 8
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	setup := newClient(t, srv.addr, "", authSys(0, 0))
	tmp := setup.walk(setup.mustMount("/nodes/n1"), "/tmp")
	fhs := make([][]byte, n)
	for i := range fhs {
		fhs[i] = setup.mustCreate(tmp, fmt.Sprintf("big%d", i), 0o644)
	}
	errs := make(chan string, n*30)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c := newClient(t, srv.addr, "", authSys(0, 0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := 0; off < 2<<20; off += 1 << 20 {
				if k, _, _, st := c.write(fhs[i], uint64(off), data, 0); st != wire.NFS3OK || int(k) != len(data) {
					errs <- fmt.Sprintf("client %d: WRITE at %d: %d bytes, status %d", i, off, k, st)
					return
				}
			}
			got, _, st := c.read(fhs[i], 1<<20, 1<<20)
			if st != wire.NFS3OK || !bytes.Equal(got, data) {
				errs <- fmt.Sprintf("client %d: READ: status %d, %d bytes", i, st, len(got))
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%d clients writing 1 MiB at once did not finish in 60 s (turns in use: %d)", n, nfsd.BigTurnsInUse(srv.Server))
	}
	// Clients that send many calls without waiting, large WRITEs and READs mixed, as the
	// kernel does: readers holding a turn while calls waiting for one hold the
	// connections' worker slots would deadlock.
	pipes := make([]*nfsClient, n)
	for i := range pipes {
		pipes[i] = newClient(t, srv.addr, "", authSys(0, 0))
	}
	const depth = 24
	var wg2 sync.WaitGroup
	for i, c := range pipes {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for k := 0; k < depth; k++ {
				if k%2 == 0 {
					c.rc.send(wire.ProgNFS, 3, wire.ProcWrite, c.cred, new(wire.W).Opaque(fhs[i]).U64(0).U32(uint32(len(data))).U32(0).Opaque(data).B)
				} else {
					c.rc.send(wire.ProgNFS, 3, wire.ProcRead, c.cred, new(wire.W).Opaque(fhs[i]).U64(0).U32(1<<20).B)
				}
			}
			for k := 0; k < depth; k++ {
				if rp := c.rc.recv(); rp.denied || rp.acceptStat != wire.AcceptSuccess || rp.body.U32() != wire.NFS3OK {
					errs <- fmt.Sprintf("pipelining client %d: reply %d failed", i, rp.xid)
				}
			}
		}()
	}
	done2 := make(chan struct{})
	go func() { wg2.Wait(); close(done2) }()
	select {
	case <-done2:
	case <-time.After(60 * time.Second):
		t.Fatalf("%d clients with %d calls in flight each did not finish in 60 s (turns in use: %d)", n, depth, nfsd.BigTurnsInUse(srv.Server))
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if u := nfsd.BigTurnsInUse(srv.Server); u != 0 {
		t.Errorf("%d turns of big work still taken after every call was answered", u)
	}
}
