package nfsd

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readAtFd reads what there is (page cache first, then pread), stopping at the end of
// the file with io.EOF.
func TestReadAtFd(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640,000 bytes
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		off, size, want int
		eof             bool
	}{{0, 1 << 20, len(data), true}, {100, 1000, 1000, false}, {len(data) - 5, 64, 5, true}, {len(data), 64, 0, true}} {
		b := make([]byte, c.size)
		n, err := readAtFd(int(f.Fd()), b, int64(c.off))
		if n != c.want || (err == io.EOF) != c.eof || (err != nil && err != io.EOF) {
			t.Errorf("readAtFd(off %d, %d bytes) = %d, %v; want %d (eof %v)", c.off, c.size, n, err, c.want, c.eof)
			continue
		}
		if !bytes.Equal(b[:n], data[c.off:c.off+n]) {
			t.Errorf("readAtFd(off %d): other bytes", c.off)
		}
	}
}

// writeBuffers sends everything, in order, through partial writes (a reader slower than
// the socket buffer) and more buffers than one writev takes.
func TestWriteBuffers(t *testing.T) {
	c, got := loopbackSink(t, 200*time.Millisecond) // let the sender fill the socket buffers
	var bufs [][]byte
	var want []byte
	for i := 0; i < 3000; i++ {
		b := bytes.Repeat([]byte{byte(i)}, 1+i%700)
		if i%1000 == 0 {
			b = bytes.Repeat([]byte{byte(i)}, 3<<20) // larger than a socket buffer
		}
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	bufs = append(bufs, nil) // an empty one on the way
	if err := writeBuffers(c, bufs); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			t.Fatalf("received %d bytes, want %d (equal prefix: %v)", len(b), len(want), bytes.HasPrefix(want, b))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the reader did not finish")
	}
}

// lateData sends the rest of a READ after reading it; a file that shrank in between is
// an error (the count was sent already), not a reply with other bytes.
func TestLateData(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("late data "), 1000)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	conn, got := loopbackSink(t, 0)
	open := func() *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := open()
	ld := &lateData{h: f, fd: int(f.Fd()), off: 100, b: make([]byte, 5000)}
	if err := ld.send(conn, []byte("tail")); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := os.Truncate(p, 4000); err != nil {
		t.Fatal(err)
	}
	f = open()
	ld = &lateData{h: f, fd: int(f.Fd()), off: 100, b: make([]byte, 5000)}
	if err := ld.send(conn, []byte("tail")); err != errLateShort {
		t.Errorf("send from a shrunk file: %v, want %v", err, errLateShort)
	}
	conn.Close()
	want := append(append([]byte{}, data[100:5100]...), "tail"...)
	if b := <-got; !bytes.Equal(b, want) {
		t.Errorf("received %d bytes, want %d", len(b), len(want))
	}
}

// loopbackSink returns a connection to a loopback listener that, after delay, reads
// everything sent until the connection is closed and then delivers it on got.
func loopbackSink(t *testing.T, delay time.Duration) (net.Conn, <-chan []byte) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		time.Sleep(delay)
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return c, got
}
