package nfsd_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"statelite/nfsd"
	"statelite/nfsd/wire"
)

// holdHeaders opens n connections from local that each send only a record header
// announcing size bytes (the body never comes); they stay open until the test ends.
func holdHeaders(t *testing.T, addr, local string, n, size int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for i := 0; i < n; i++ {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		var h [4]byte
		binary.BigEndian.PutUint32(h[:], uint32(size)|0x80000000)
		if _, err := c.Write(h[:]); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}

// Forty connections from any address holding a record header that announces 64 KiB (a
// body that never comes) take nothing a READ needs: a 64 KiB READ and a 64 KiB WRITE
// of a node are answered while they hold on. (Before the intake was rebuilt, each held
// a turn of big work while it waited, and every READ and WRITE over 8 KiB stalled.)
func TestSilentHeadersDoNotStallReads(t *testing.T) {
	tc := newTestCluster(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	if err := os.WriteFile(filepath.Join(tc.cl.Root, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := tc.serve(t, nfsd.Config{})
	holdHeaders(t, srv.addr, "127.0.0.9", 40, 64<<10)
	holdHeaders(t, srv.addr, "127.0.0.10", nfsd.BigTurnsMax(srv.Server)+8, 1<<20)
	time.Sleep(200 * time.Millisecond) // the headers are read

	c := newClient(t, srv.addr, "", authSys(0, 0))
	root := c.mustMount("/nodes/n1")
	done := make(chan string, 1)
	go func() {
		got, _, st := c.read(c.walk(root, "/big.bin"), 0, 64<<10)
		if st != wire.NFS3OK || !bytes.Equal(got, data[:64<<10]) {
			done <- "READ: bad reply"
			return
		}
		fh := c.mustCreate(c.walk(root, "/tmp"), "w.bin", 0o644)
		if n, _, _, st := c.write(fh, 0, data[:64<<10], 2); st != wire.NFS3OK || n != 64<<10 {
			done <- "WRITE: bad reply"
			return
		}
		done <- ""
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("a 64 KiB READ and WRITE were not answered in 20 s while silent connections held record headers")
	}
}

// A 4 MiB record in 16-byte fragments (262,144 of them) is gathered in O(record size):
// it costs the server well under a second of CPU (it cost minutes when the buffer was
// regrown and copied for every fragment).
func TestFragmentedRecordIsLinear(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{})
	// A NULL call whose record is padded to 4 MiB (the server ignores NULL's arguments).
	call := callMsg(7, 2, wire.ProgNFS, 3, wire.ProcNull, authSys(0, 0), nil)
	rec := make([]byte, 4<<20)
	copy(rec, call)
	var wire bytes.Buffer
	for off := 0; off < len(rec); off += 16 {
		h := uint32(16)
		if off+16 >= len(rec) {
			h |= 0x80000000
		}
		binary.Write(&wire, binary.BigEndian, h)
		wire.Write(rec[off : off+16])
	}
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := cpuTime(t)
	go conn.Write(wire.Bytes())
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	var hdr [8]byte
	if _, err := br.Read(hdr[:]); err != nil {
		t.Fatalf("no reply to the fragmented record: %v", err)
	}
	if xid := binary.BigEndian.Uint32(hdr[4:]); xid != 7 {
		t.Fatalf("reply xid %d, want 7", xid)
	}
	used := cpuTime(t) - before
	t.Logf("4 MiB in 16-byte fragments: %v of CPU (server and this client)", used)
	if used > time.Second {
		t.Fatalf("gathering 262,144 fragments took %v of CPU: not linear", used)
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A record that makes no progress for the stall time closes its connection (with a log
// line); an idle connection between records stays open.
func TestStalledRecordClosesConnection(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{RecordStall: time.Second})
	idle := dialRPC(t, srv.addr, "")
	idle.call(wire.ProgNFS, 3, wire.ProcNull, authSys(0, 0), nil) // then nothing: idle
	stalled := holdHeaders(t, srv.addr, "127.0.0.11", 1, 64<<10)[0]
	half := holdHeaders(t, srv.addr, "127.0.0.11", 1, 64<<10)[0]
	half.Write(make([]byte, 1000)) // part of the body, then nothing
	for _, c := range []net.Conn{stalled, half} {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
			t.Fatalf("a stalled record's connection was not closed within 10 s (1 s stall time): %v", err)
		}
	}
	if !strings.Contains(srv.logs.String(), "a call record stalled") {
		t.Errorf("no log line for the stalled record:\n%s", srv.logs.String())
	}
	time.Sleep(1500 * time.Millisecond)
	if r := idle.call(wire.ProgNFS, 3, wire.ProcNull, authSys(0, 0), nil); r.acceptStat != 0 {
		t.Fatalf("the idle connection was not served after the stall time: %+v", r)
	}
}

// The intake's memory is capped per client address: a client whose records fill its
// share is no longer read (TCP pushes back on it alone), and a 1 MiB WRITE of another
// client is still served. Its share frees as its records are served.
func TestIntakeCapPerAddress(t *testing.T) {
	tc := newTestCluster(t)
	srv := tc.serve(t, nfsd.Config{IntakeMax: 8 << 20, IntakeAddrMax: 2 << 20})
	// The hog: connections that send 1 MiB of a 1.5 MiB record, then stop (each holds
	// its record's buffer: 2 of them fill the address's 2 MiB share... and more wait).
	var hogs []net.Conn
	for i := 0; i < 4; i++ {
		c := holdHeaders(t, srv.addr, "127.0.0.12", 1, 1536<<10)[0]
		hogs = append(hogs, c)
		go c.Write(make([]byte, 1<<20))
	}
	time.Sleep(300 * time.Millisecond)
	total, byAddr := nfsd.IntakeUsage(srv.Server, "127.0.0.12")
	if byAddr > 2<<20 {
		t.Fatalf("one address holds %d bytes of intake, over its 2 MiB share", byAddr)
	}
	if byAddr == 0 || total < byAddr {
		t.Fatalf("intake usage: total %d, the hog's %d: its partial records are not counted", total, byAddr)
	}
	data := bytes.Repeat([]byte{0xa5}, 1<<20)
	c := newClient(t, srv.addr, "", authSys(0, 0))
	fh := c.mustCreate(c.walk(c.mustMount("/nodes/n1"), "/tmp"), "cap.bin", 0o644)
	var wg sync.WaitGroup
	wg.Add(1)
	ok := make(chan bool, 1)
	go func() {
		defer wg.Done()
		n, _, _, st := c.write(fh, 0, data, 0)
		ok <- st == wire.NFS3OK && int(n) == len(data)
	}()
	select {
	case good := <-ok:
		if !good {
			t.Fatal("the other client's 1 MiB WRITE failed")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("another client's 1 MiB WRITE was not served while one address filled its intake share")
	}
	wg.Wait()
	for _, h := range hogs {
		h.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, byAddr := nfsd.IntakeUsage(srv.Server, "127.0.0.12"); byAddr == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the closed connections' intake memory was not given back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
