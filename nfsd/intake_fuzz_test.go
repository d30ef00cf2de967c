package nfsd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// FuzzRecordReader feeds any byte stream to the RPC record reader (record marking,
// fragments, the intake's memory accounting): it never panics, never returns a record
// over maxRecord or larger than the bytes sent, returns exactly the records the stream
// holds, and gives every byte of intake memory back.
func FuzzRecordReader(f *testing.F) {
	rec := func(last bool, body []byte) []byte {
		h := uint32(len(body))
		if last {
			h |= 0x80000000
		}
		return append(binary.BigEndian.AppendUint32(nil, h), body...)
	}
	f.Add(rec(true, []byte("a call")))
	f.Add(append(rec(false, []byte("frag1")), rec(true, []byte("frag2"))...))
	f.Add(append(rec(true, nil), rec(true, bytes.Repeat([]byte{1}, 9000))...))
	f.Add(binary.BigEndian.AppendUint32(nil, 0xffffffff))        // 2 GiB announced
	f.Add(binary.BigEndian.AppendUint32(nil, 0x80000000|64<<10)) // a header, no body
	f.Add(append(rec(false, bytes.Repeat([]byte{2}, 16)), 0x80, 0, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		want := splitRecords(in)
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			b.Write(in)
			b.Close()
		}()
		s := &rpcServer{budget: newIntakeBudget(8<<20, 4<<20), stall: time.Minute}
		c := &rpcConn{s: s, conn: a, br: newConnReader(a), addr: netip.MustParseAddr("127.0.0.1")}
		a.SetDeadline(time.Now().Add(10 * time.Second))
		var got [][]byte
		for {
			r, held, err := c.readRecord()
			if err != nil {
				if errors.Is(err, errStalled) {
					t.Fatalf("stalled on an input that was all sent: %v", err)
				}
				break
			}
			if len(r) > maxRecord || len(r) > len(in) {
				t.Fatalf("record of %d bytes from %d bytes of input", len(r), len(in))
			}
			if held < 0 || (held > 0 && held < int64(len(r))) {
				t.Fatalf("record of %d bytes holds %d bytes of intake", len(r), held)
			}
			got = append(got, append([]byte(nil), r...))
			putBuf(r)
			s.budget.release(c.addr, held)
		}
		if total, _ := s.budget.usage(c.addr); total != 0 {
			t.Fatalf("%d bytes of intake not given back", total)
		}
		if len(got) != len(want) {
			t.Fatalf("read %d records, the stream holds %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}

// splitRecords is the reference reader: the whole records in b.
func splitRecords(b []byte) [][]byte {
	var out [][]byte
	var cur []byte
	for {
		if len(b) < 4 {
			return out
		}
		h := binary.BigEndian.Uint32(b)
		n := int(h & 0x7fffffff)
		if len(cur)+n > maxRecord || len(b)-4 < n {
			return out
		}
		cur = append(cur, b[4:4+n]...)
		b = b[4+n:]
		if h&0x80000000 != 0 {
			out = append(out, cur)
			if cur == nil {
				out[len(out)-1] = []byte{}
			}
			cur = nil
		}
	}
}
