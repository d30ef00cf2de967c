// Package nfsclient is a small ONC-RPC/NFSv3/MOUNT v3 client over TCP for benchmarks:
// one connection, one call at a time, AUTH_SYS, an optional local address (so a client
// can act as a node's address 127.x.y.z). It encodes and decodes only what the bench
// harness needs.
package nfsclient

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Program and procedure numbers (RFC 1813).
const (
	ProgNFS   = 100003
	ProgMount = 100005

	ProcNull        = 0
	ProcGetattr     = 1
	ProcSetattr     = 2
	ProcLookup      = 3
	ProcAccess      = 4
	ProcReadlink    = 5
	ProcRead        = 6
	ProcWrite       = 7
	ProcCreate      = 8
	ProcMkdir       = 9
	ProcSymlink     = 10
	ProcMknod       = 11
	ProcRemove      = 12
	ProcRmdir       = 13
	ProcRename      = 14
	ProcLink        = 15
	ProcReaddir     = 16
	ProcReaddirplus = 17
	ProcFsstat      = 18
	ProcFsinfo      = 19
	ProcPathconf    = 20
	ProcCommit      = 21

	MntMnt  = 1
	MntUmnt = 3

	OK        = 0
	ErrNoEnt  = 2
	ErrStale  = 70
	ErrBadFH  = 10001
	StatusRPC = 10000 // 10000 + accept_stat: the call was not accepted with SUCCESS
)

// RPCError is a call that was denied or not accepted with SUCCESS.
type RPCError struct {
	Denied bool
	Stat   uint32 // accept_stat, or reject_stat when Denied
}

func (e *RPCError) Error() string {
	if e.Denied {
		return fmt.Sprintf("rpc denied (reject_stat %d)", e.Stat)
	}
	return fmt.Sprintf("rpc accept_stat %d", e.Stat)
}

// Conn is one client connection.
type Conn struct {
	c       net.Conn
	br      *bufio.Reader
	xid     uint32
	cred    []byte
	machine string
	Timeout time.Duration // per call (default 30 s)
	wbuf    []byte
	rbuf    []byte
}

// Dial connects to addr (host:port), from local (an IP address) when not empty, with the
// AUTH_SYS identity uid/gid and machine name.
func Dial(addr, local, machine string, uid, gid uint32) (*Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		ip := net.ParseIP(local)
		if ip == nil {
			return nil, fmt.Errorf("bad local address %q", local)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cn := &Conn{c: c, br: bufio.NewReaderSize(c, 64<<10), xid: uint32(time.Now().UnixNano()), machine: machine, Timeout: 30 * time.Second}
	cn.SetCred(uid, gid)
	return cn, nil
}

// SetCred sets the AUTH_SYS uid and gid of the next calls.
func (c *Conn) SetCred(uid, gid uint32) {
	w := &W{}
	w.U32(uint32(time.Now().Unix())).Str(c.machine).U32(uid).U32(gid).U32(0)
	c.cred = w.B
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// LocalAddr is the connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.c.LocalAddr() }

// Call sends one call and returns the result body of its reply (valid until the next
// call). A reply other than accepted SUCCESS is an *RPCError.
func (c *Conn) Call(prog, vers, proc uint32, args []byte) ([]byte, error) {
	c.xid++
	xid := c.xid
	w := W{B: c.wbuf[:0]}
	w.U32(0) // record mark
	w.U32(xid).U32(0).U32(2).U32(prog).U32(vers).U32(proc)
	w.U32(1).Opaque(c.cred)
	w.U32(0).U32(0)
	w.B = append(w.B, args...)
	binary.BigEndian.PutUint32(w.B, uint32(len(w.B)-4)|0x80000000)
	c.wbuf = w.B
	deadline := time.Now().Add(c.Timeout)
	c.c.SetDeadline(deadline)
	if _, err := c.c.Write(w.B); err != nil {
		return nil, err
	}
	for {
		rec, err := c.readRecord()
		if err != nil {
			return nil, err
		}
		r := R{B: rec}
		if r.U32() != xid {
			continue // a late reply to an earlier call
		}
		if r.U32() != 1 {
			return nil, errors.New("not a reply")
		}
		if r.U32() != 0 { // MSG_DENIED
			return nil, &RPCError{Denied: true, Stat: r.U32()}
		}
		r.U32()       // verifier flavor
		r.Opaque()    // verifier body
		st := r.U32() // accept_stat
		if r.Err != nil {
			return nil, r.Err
		}
		if st != 0 {
			return nil, &RPCError{Stat: st}
		}
		return r.B, nil
	}
}

func (c *Conn) readRecord() ([]byte, error) {
	buf := c.rbuf[:0]
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h & 0x7fffffff)
		if len(buf)+n > 8<<20 {
			return nil, errors.New("record too long")
		}
		start := len(buf)
		if cap(buf) < start+n {
			nb := make([]byte, start, start+n)
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:start+n]
		if _, err := io.ReadFull(c.br, buf[start:]); err != nil {
			return nil, err
		}
		if h&0x80000000 != 0 {
			c.rbuf = buf
			return buf, nil
		}
	}
}

// W encodes XDR.
type W struct{ B []byte }

func (w *W) U32(v uint32) *W { w.B = binary.BigEndian.AppendUint32(w.B, v); return w }
func (w *W) U64(v uint64) *W { w.B = binary.BigEndian.AppendUint64(w.B, v); return w }
func (w *W) Fixed(v []byte) *W {
	w.B = append(w.B, v...)
	for len(w.B)%4 != 0 {
		w.B = append(w.B, 0)
	}
	return w
}
func (w *W) Opaque(v []byte) *W { w.U32(uint32(len(v))); return w.Fixed(v) }
func (w *W) Str(s string) *W    { return w.Opaque([]byte(s)) }

// R decodes XDR; the first error sticks.
type R struct {
	B   []byte
	Err error
}

func (r *R) U32() uint32 {
	if r.Err != nil {
		return 0
	}
	if len(r.B) < 4 {
		r.Err = io.ErrUnexpectedEOF
		return 0
	}
	v := binary.BigEndian.Uint32(r.B)
	r.B = r.B[4:]
	return v
}
func (r *R) U64() uint64 { return uint64(r.U32())<<32 | uint64(r.U32()) }
func (r *R) Bool() bool  { return r.U32() != 0 }

// Fixed returns n bytes (not copied) and skips their padding.
func (r *R) Fixed(n int) []byte {
	if r.Err != nil {
		return nil
	}
	pad := (4 - n%4) % 4
	if n < 0 || len(r.B) < n+pad {
		r.Err = io.ErrUnexpectedEOF
		return nil
	}
	v := r.B[:n]
	r.B = r.B[n+pad:]
	return v
}
func (r *R) Opaque() []byte { return r.Fixed(int(r.U32())) }
func (r *R) Str() string    { return string(r.Opaque()) }

// Attr is a decoded fattr3.
type Attr struct {
	Type, Mode, Nlink, UID, GID uint32
	Size, Used                  uint64
	FSID, FileID                uint64
	Mtime, Ctime                time.Time
}

// Fattr decodes a fattr3.
func (r *R) Fattr() Attr {
	var a Attr
	a.Type, a.Mode, a.Nlink, a.UID, a.GID = r.U32(), r.U32(), r.U32(), r.U32(), r.U32()
	a.Size, a.Used = r.U64(), r.U64()
	r.U64() // rdev
	a.FSID, a.FileID = r.U64(), r.U64()
	r.U64() // atime
	a.Mtime = time.Unix(int64(r.U32()), int64(r.U32()))
	a.Ctime = time.Unix(int64(r.U32()), int64(r.U32()))
	return a
}

// PostOp decodes post_op_attr.
func (r *R) PostOp() (Attr, bool) {
	if !r.Bool() {
		return Attr{}, false
	}
	return r.Fattr(), true
}

// Wcc skips wcc_data.
func (r *R) Wcc() {
	if r.Bool() {
		r.Fixed(24)
	}
	r.PostOp()
}

// PostOpFH decodes post_op_fh3.
func (r *R) PostOpFH() []byte {
	if !r.Bool() {
		return nil
	}
	return r.Opaque()
}
