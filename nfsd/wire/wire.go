// Package wire is what goes over the wire between NFS clients and statelite: XDR (RFC
// 4506), ONC-RPC record marking and messages (RFC 5531), AUTH_SYS, and the numbers and
// types of NFSv3 and MOUNT v3 (RFC 1813). The server (nfsd), the benchmark and test
// client (bench/nfsclient) and nfsd's tests all use it.
package wire

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"time"
)

// ErrGarbage is XDR that cannot be decoded: too short, or a length beyond its limit.
var ErrGarbage = errors.New("garbage arguments")

// NoLimit is the limit of an opaque or string whose length only the data bounds.
const NoLimit = math.MaxInt32

// R decodes XDR from B; the first error sticks in Err (and what is read after it is
// zero). Slices it returns point into B.
type R struct {
	B   []byte
	Err error
}

// U32 reads an unsigned int.
func (r *R) U32() uint32 {
	if r.Err != nil || len(r.B) < 4 {
		r.Err = ErrGarbage
		return 0
	}
	v := binary.BigEndian.Uint32(r.B)
	r.B = r.B[4:]
	return v
}

// U64 reads an unsigned hyper.
func (r *R) U64() uint64 { return uint64(r.U32())<<32 | uint64(r.U32()) }

// Bool reads a bool.
func (r *R) Bool() bool { return r.U32() != 0 }

// Opaque reads variable-length opaque data of at most max bytes (not copied).
func (r *R) Opaque(max int) []byte {
	n := r.U32()
	if r.Err != nil {
		return nil
	}
	if int64(n) > int64(max) || int64(n) > int64(len(r.B)) {
		r.Err = ErrGarbage
		return nil
	}
	pad := (4 - n%4) % 4
	if int64(n+pad) > int64(len(r.B)) {
		r.Err = ErrGarbage
		return nil
	}
	v := r.B[:n]
	r.B = r.B[n+pad:]
	return v
}

// Fixed reads n bytes of fixed-length opaque data (not copied) and skips their padding.
func (r *R) Fixed(n int) []byte {
	pad := (4 - n%4) % 4
	if r.Err != nil || n < 0 || len(r.B) < n+pad {
		r.Err = ErrGarbage
		return nil
	}
	v := r.B[:n]
	r.B = r.B[n+pad:]
	return v
}

// Str reads a string of at most max bytes.
func (r *R) Str(max int) string { return string(r.Opaque(max)) }

// Time reads an nfstime3.
func (r *R) Time() time.Time {
	s, ns := r.U32(), r.U32()
	return time.Unix(int64(s), int64(ns))
}

// W encodes XDR, appending to B. Its methods return w, to chain them.
type W struct{ B []byte }

// U32 writes an unsigned int.
func (w *W) U32(v uint32) *W { w.B = binary.BigEndian.AppendUint32(w.B, v); return w }

// U64 writes an unsigned hyper.
func (w *W) U64(v uint64) *W { w.B = binary.BigEndian.AppendUint64(w.B, v); return w }

// Bool writes a bool.
func (w *W) Bool(v bool) *W {
	if v {
		return w.U32(1)
	}
	return w.U32(0)
}

// Fixed writes fixed-length opaque data and its padding.
func (w *W) Fixed(v []byte) *W {
	w.B = append(w.B, v...)
	for i := len(v) % 4; i%4 != 0; i++ {
		w.B = append(w.B, 0)
	}
	return w
}

// Opaque writes variable-length opaque data.
func (w *W) Opaque(v []byte) *W {
	if uint64(len(v)) > math.MaxUint32 {
		panic("xdr: opaque too long")
	}
	w.U32(uint32(len(v)))
	return w.Fixed(v)
}

// Str writes a string.
func (w *W) Str(s string) *W {
	w.U32(uint32(len(s)))
	w.B = append(w.B, s...)
	for i := len(s) % 4; i%4 != 0; i++ {
		w.B = append(w.B, 0)
	}
	return w
}

// Time writes an nfstime3.
func (w *W) Time(t time.Time) *W { return w.U32(uint32(t.Unix())).U32(uint32(t.Nanosecond())) }

// Record marking (RFC 5531 §11): each fragment is preceded by a 4-byte header, its length
// with the top bit set on the last fragment of a record.
const LastFragment = 0x80000000

// MarkRecord writes the header of a one-fragment record into b[0:4], the record being
// b[4:] (a writer reserves the 4 bytes first: w.U32(0)).
func MarkRecord(b []byte) { binary.BigEndian.PutUint32(b, uint32(len(b)-4)|LastFragment) }

// ReadRecord reads one whole record (every fragment) from r, appending it to buf[:0]; a
// record longer than max bytes is an error.
func ReadRecord(r io.Reader, buf []byte, max int) ([]byte, error) {
	buf = buf[:0]
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h &^ LastFragment)
		if len(buf)+n > max {
			return nil, errors.New("rpc record too long")
		}
		start := len(buf)
		buf = append(buf, make([]byte, n)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return nil, err
		}
		if h&LastFragment != 0 {
			return buf, nil
		}
	}
}

// ONC-RPC (RFC 5531).
const (
	RPCVersion = 2

	MsgCall  = 0
	MsgReply = 1

	ReplyAccepted = 0
	ReplyDenied   = 1

	AcceptSuccess      = 0
	AcceptProgUnavail  = 1
	AcceptProgMismatch = 2
	AcceptProcUnavail  = 3
	AcceptGarbageArgs  = 4
	AcceptSystemErr    = 5

	RejectRPCMismatch = 0
	RejectAuthError   = 1

	AuthOK       = 0
	AuthBadCred  = 1
	AuthRejected = 2
	AuthTooWeak  = 5

	FlavorNone = 0
	FlavorSys  = 1
)

// Call writes an RPC call header (after which come the procedure's arguments) with the
// credential flavor and body and an AUTH_NONE verifier.
func (w *W) Call(xid, prog, vers, proc, flavor uint32, cred []byte) *W {
	w.U32(xid).U32(MsgCall).U32(RPCVersion).U32(prog).U32(vers).U32(proc)
	return w.U32(flavor).Opaque(cred).U32(FlavorNone).Opaque(nil)
}

// AuthSys is the body of an AUTH_SYS credential.
func AuthSys(stamp uint32, machine string, uid, gid uint32, gids ...uint32) []byte {
	w := new(W).U32(stamp).Str(machine).U32(uid).U32(gid).U32(uint32(len(gids)))
	for _, g := range gids {
		w.U32(g)
	}
	return w.B
}

// Reply is the header of an RPC reply.
type Reply struct {
	XID    uint32
	Denied bool   // MSG_DENIED
	Stat   uint32 // accept_stat, or reject_stat when Denied
}

// Reply reads an RPC reply header, up to the accept_stat or reject_stat; what follows
// is the result (or the mismatch or auth details).
func (r *R) Reply() Reply {
	var rp Reply
	rp.XID = r.U32()
	if r.U32() != MsgReply && r.Err == nil {
		r.Err = errors.New("rpc: not a reply")
		return rp
	}
	switch r.U32() {
	case ReplyAccepted:
		r.U32()           // verifier flavor
		r.Opaque(400)     // verifier body
		rp.Stat = r.U32() // accept_stat
	case ReplyDenied:
		rp.Denied = true
		rp.Stat = r.U32()
	default:
		if r.Err == nil {
			r.Err = errors.New("rpc: bad reply_stat")
		}
	}
	return rp
}

// Programs and versions.
const (
	ProgPortmap = 100000
	ProgNFS     = 100003
	ProgMount   = 100005

	NFSVersion   = 3
	MountVersion = 3
)

// NFSv3 procedures.
const (
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
)

// MOUNT v3 procedures.
const (
	MntNull    = 0
	MntMnt     = 1
	MntDump    = 2
	MntUmnt    = 3
	MntUmntAll = 4
	MntExport  = 5
)

// NFSv3 status codes (nfsstat3).
const (
	NFS3OK             = 0
	NFS3ErrPerm        = 1
	NFS3ErrNoEnt       = 2
	NFS3ErrIO          = 5
	NFS3ErrNXIO        = 6
	NFS3ErrAcces       = 13
	NFS3ErrExist       = 17
	NFS3ErrXDev        = 18
	NFS3ErrNoDev       = 19
	NFS3ErrNotDir      = 20
	NFS3ErrIsDir       = 21
	NFS3ErrInval       = 22
	NFS3ErrFBig        = 27
	NFS3ErrNoSpc       = 28
	NFS3ErrROFS        = 30
	NFS3ErrMLink       = 31
	NFS3ErrNameTooLong = 63
	NFS3ErrNotEmpty    = 66
	NFS3ErrDQuot       = 69
	NFS3ErrStale       = 70
	NFS3ErrBadHandle   = 10001
	NFS3ErrBadCookie   = 10003
	NFS3ErrNotSupp     = 10004
	NFS3ErrTooSmall    = 10005
	NFS3ErrServerFault = 10006
	NFS3ErrBadType     = 10007
	NFS3ErrJukebox     = 10008
)

// MOUNT v3 status codes (mountstat3).
const (
	MNT3OK          = 0
	MNT3ErrPerm     = 1
	MNT3ErrNoEnt    = 2
	MNT3ErrIO       = 5
	MNT3ErrAcces    = 13
	MNT3ErrNotDir   = 20
	MNT3ErrInval    = 22
	MNT3ErrNameLong = 63
)

// File types (ftype3).
const (
	NF3Reg  = 1
	NF3Dir  = 2
	NF3Blk  = 3
	NF3Chr  = 4
	NF3Lnk  = 5
	NF3Sock = 6
	NF3Fifo = 7
)

// Attr is a decoded fattr3.
type Attr struct {
	Type, Mode, Nlink, UID, GID uint32
	Size, Used                  uint64
	Major, Minor                uint32 // rdev
	FSID, FileID                uint64
	Atime, Mtime, Ctime         time.Time
}

// Fattr reads a fattr3.
func (r *R) Fattr() Attr {
	var a Attr
	a.Type, a.Mode, a.Nlink, a.UID, a.GID = r.U32(), r.U32(), r.U32(), r.U32(), r.U32()
	a.Size, a.Used = r.U64(), r.U64()
	a.Major, a.Minor = r.U32(), r.U32()
	a.FSID, a.FileID = r.U64(), r.U64()
	a.Atime, a.Mtime, a.Ctime = r.Time(), r.Time(), r.Time()
	return a
}

// PostOp reads a post_op_attr (nil: no attributes).
func (r *R) PostOp() *Attr {
	if !r.Bool() {
		return nil
	}
	a := r.Fattr()
	return &a
}

// Wcc reads a wcc_data: whether it had pre-operation attributes, and the post-operation
// ones.
func (r *R) Wcc() (before bool, after *Attr) {
	if before = r.Bool(); before {
		r.U64()  // size
		r.Time() // mtime
		r.Time() // ctime
	}
	return before, r.PostOp()
}

// PostOpFH reads a post_op_fh3 (nil: no handle).
func (r *R) PostOpFH() []byte {
	if !r.Bool() {
		return nil
	}
	return r.Opaque(64)
}

// Sattr is a sattr3 to write: nil fields are not set.
type Sattr struct {
	Mode, UID, GID *uint32
	Size           *uint64
	Atime, Mtime   *time.Time
	ServerTimes    bool // SET_TO_SERVER_TIME for both times
}

// Sattr writes a sattr3.
func (w *W) Sattr(s Sattr) *W {
	for _, p := range []*uint32{s.Mode, s.UID, s.GID} {
		w.Bool(p != nil)
		if p != nil {
			w.U32(*p)
		}
	}
	w.Bool(s.Size != nil)
	if s.Size != nil {
		w.U64(*s.Size)
	}
	for _, tp := range []*time.Time{s.Atime, s.Mtime} {
		switch {
		case s.ServerTimes:
			w.U32(1)
		case tp != nil:
			w.U32(2).Time(*tp)
		default:
			w.U32(0)
		}
	}
	return w
}
