package wire

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestRoundTrip: what W writes, R reads back, with XDR's padding; a short or oversized
// opaque is ErrGarbage and the error sticks.
func TestRoundTrip(t *testing.T) {
	at := time.Unix(1700000000, 123)
	mode, size := uint32(0o644), uint64(1<<40)
	w := new(W).U32(7).U64(1<<33 + 5).Bool(true).Opaque([]byte("abcde")).Str("xy").Fixed([]byte{1, 2, 3}).Time(at).
		Sattr(Sattr{Mode: &mode, Size: &size, ServerTimes: true})
	if len(w.B)%4 != 0 {
		t.Fatalf("%d bytes: not a multiple of 4", len(w.B))
	}
	r := &R{B: w.B}
	if r.U32() != 7 || r.U64() != 1<<33+5 || !r.Bool() || string(r.Opaque(5)) != "abcde" || r.Str(NoLimit) != "xy" ||
		!bytes.Equal(r.Fixed(3), []byte{1, 2, 3}) || !r.Time().Equal(at) {
		t.Fatalf("read back wrong (err %v)", r.Err)
	}
	// sattr3: mode set, uid and gid not, size set, both times to the server's.
	want := []uint32{1, 0o644, 0, 0, 1}
	for i, v := range want {
		if got := r.U32(); got != v {
			t.Fatalf("sattr word %d = %d, want %d", i, got, v)
		}
	}
	if r.U64() != size || r.U32() != 1 || r.U32() != 1 || len(r.B) != 0 || r.Err != nil {
		t.Fatalf("sattr tail: %d bytes left, err %v", len(r.B), r.Err)
	}

	long := &R{B: new(W).Opaque([]byte("toolong")).B}
	if long.Opaque(4) != nil || !errors.Is(long.Err, ErrGarbage) || long.U32() != 0 {
		t.Errorf("an opaque over its limit: err %v", long.Err)
	}
	short := &R{B: []byte{0, 0, 0, 9, 'a'}}
	if short.Opaque(NoLimit) != nil || !errors.Is(short.Err, ErrGarbage) {
		t.Errorf("an opaque longer than the data: err %v", short.Err)
	}
}

// TestRecord: a call marked as one record is read back whole, also when sent in
// fragments; a record over the limit is refused.
func TestRecord(t *testing.T) {
	w := new(W).U32(0).Call(42, ProgNFS, NFSVersion, ProcGetattr, FlavorSys, AuthSys(1, "host", 0, 0, 10, 11))
	MarkRecord(w.B)
	rec, err := ReadRecord(bytes.NewReader(w.B), nil, 1<<20)
	if err != nil || !bytes.Equal(rec, w.B[4:]) {
		t.Fatalf("one fragment: %v", err)
	}
	body := w.B[4:]
	var all []byte
	for i := 0; i < len(body); i += 8 {
		end := min(i+8, len(body))
		h := uint32(end - i)
		if end == len(body) {
			h |= LastFragment
		}
		all = append(all, new(W).U32(h).B...)
		all = append(all, body[i:end]...)
	}
	rec, err = ReadRecord(bytes.NewReader(all), nil, 1<<20)
	if err != nil || !bytes.Equal(rec, body) {
		t.Fatalf("fragments: %v", err)
	}
	if _, err := ReadRecord(bytes.NewReader(all), nil, 16); err == nil {
		t.Errorf("a record over the limit was read")
	}
	r := &R{B: rec}
	if r.U32() != 42 || r.U32() != MsgCall || r.U32() != RPCVersion || r.U32() != ProgNFS {
		t.Errorf("call header read back wrong")
	}
}

// TestReply: accepted and denied reply headers.
func TestReply(t *testing.T) {
	ok := &R{B: new(W).U32(9).U32(MsgReply).U32(ReplyAccepted).U32(FlavorNone).Opaque(nil).U32(AcceptSuccess).U32(NFS3OK).B}
	if h := ok.Reply(); ok.Err != nil || h.XID != 9 || h.Denied || h.Stat != AcceptSuccess || ok.U32() != NFS3OK {
		t.Errorf("accepted: %+v %v", h, ok.Err)
	}
	den := &R{B: new(W).U32(3).U32(MsgReply).U32(ReplyDenied).U32(RejectAuthError).B}
	if h := den.Reply(); den.Err != nil || !h.Denied || h.Stat != RejectAuthError {
		t.Errorf("denied: %+v %v", h, den.Err)
	}
	call := &R{B: new(W).U32(3).U32(MsgCall).B}
	if call.Reply(); call.Err == nil {
		t.Errorf("a call read as a reply")
	}
}
