package nfsd

import (
	"encoding/binary"
	"errors"
	"math"
)

// errGarbage marks undecodable arguments (GARBAGE_ARGS).
var errGarbage = errors.New("garbage arguments")

// reader decodes XDR (RFC 4506) from a byte slice; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errGarbage
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 { return uint64(r.u32())<<32 | uint64(r.u32()) }

func (r *reader) boolean() bool { return r.u32() != 0 }

// opaque reads variable-length opaque data of at most max bytes (no copy).
func (r *reader) opaque(max int) []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if int64(n) > int64(max) || int64(n) > int64(len(r.b)) {
		r.err = errGarbage
		return nil
	}
	pad := (4 - n%4) % 4
	if int64(n+pad) > int64(len(r.b)) {
		r.err = errGarbage
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n+pad:]
	return v
}

func (r *reader) fixed(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errGarbage
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n+(4-n%4)%4:]
	return v
}

func (r *reader) str(max int) string { return string(r.opaque(max)) }

// writer encodes XDR into a growing buffer.
type writer struct {
	b    []byte
	late *lateData // part of b still to be read while the reply is sent (READ)
	// bigTurn: the reply took a turn of big work (acquireBig), released once it is made
	bigTurn bool
}

func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) boolean(v bool) {
	if v {
		w.u32(1)
	} else {
		w.u32(0)
	}
}

func (w *writer) opaque(v []byte) {
	if len(v) > math.MaxUint32 {
		panic("xdr: opaque too long")
	}
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
	for i := len(v) % 4; i%4 != 0; i++ {
		w.b = append(w.b, 0)
	}
}

func (w *writer) fixed(v []byte) {
	w.b = append(w.b, v...)
	for i := len(v) % 4; i%4 != 0; i++ {
		w.b = append(w.b, 0)
	}
}

func (w *writer) str(s string) { w.opaque([]byte(s)) }
