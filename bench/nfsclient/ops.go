package nfsclient

import (
	"errors"
	"fmt"
	"strings"

	"statelite/nfsd/wire"
)

// StatusError is an NFS or MOUNT call answered with a status other than wire.NFS3OK.
type StatusError struct {
	Op     string
	Status uint32
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s: status %d", e.Op, e.Status) }

// Status returns the NFS status of err (wire.NFS3OK for nil, StatusRPC+stat for an RPC error,
// 0xffffffff for a transport error).
func Status(err error) uint32 {
	var se *StatusError
	var re *RPCError
	switch {
	case err == nil:
		return wire.NFS3OK
	case errors.As(err, &se):
		return se.Status
	case errors.As(err, &re):
		return StatusRPC + re.Stat
	}
	return 0xffffffff
}

// nfs calls an NFS procedure and returns the result after its status.
func (c *Conn) nfs(op string, proc uint32, args []byte) (*wire.R, error) {
	body, err := c.Call(wire.ProgNFS, 3, proc, args)
	if err != nil {
		return nil, err
	}
	r := &wire.R{B: body}
	st := r.U32()
	if r.Err != nil {
		return nil, r.Err
	}
	if st != wire.NFS3OK {
		return r, &StatusError{Op: op, Status: st}
	}
	return r, nil
}

// Mount mounts dirpath and returns its root handle.
func (c *Conn) Mount(dirpath string) ([]byte, error) {
	body, err := c.Call(wire.ProgMount, 3, wire.MntMnt, new(wire.W).Str(dirpath).B)
	if err != nil {
		return nil, err
	}
	r := &wire.R{B: body}
	if st := r.U32(); st != wire.NFS3OK {
		return nil, &StatusError{Op: "MNT " + dirpath, Status: st}
	}
	fh := append([]byte(nil), r.Opaque(wire.NoLimit)...)
	return fh, r.Err
}

// Getattr returns the attributes of fh.
func (c *Conn) Getattr(fh []byte) (wire.Attr, error) {
	r, err := c.nfs("GETATTR", wire.ProcGetattr, new(wire.W).Opaque(fh).B)
	if err != nil {
		return wire.Attr{}, err
	}
	a := r.Fattr()
	return a, r.Err
}

// Lookup looks name up in dir.
func (c *Conn) Lookup(dir []byte, name string) ([]byte, wire.Attr, error) {
	r, err := c.nfs("LOOKUP "+name, wire.ProcLookup, new(wire.W).Opaque(dir).Str(name).B)
	if err != nil {
		return nil, wire.Attr{}, err
	}
	fh := append([]byte(nil), r.Opaque(wire.NoLimit)...)
	var a wire.Attr
	if p := r.PostOp(); p != nil {
		a = *p
	}
	return fh, a, r.Err
}

// Walk looks a slash-separated path up below dir.
func (c *Conn) Walk(dir []byte, p string) ([]byte, error) {
	fh := dir
	for _, comp := range strings.Split(p, "/") {
		if comp == "" {
			continue
		}
		var err error
		if fh, _, err = c.Lookup(fh, comp); err != nil {
			return nil, err
		}
	}
	return fh, nil
}

// Read reads up to count bytes at off; the data is valid until the next call.
func (c *Conn) Read(fh []byte, off uint64, count uint32) (data []byte, eof bool, err error) {
	r, err := c.nfs("READ", wire.ProcRead, new(wire.W).Opaque(fh).U64(off).U32(count).B)
	if err != nil {
		return nil, false, err
	}
	r.PostOp()
	r.U32() // count
	eof = r.Bool()
	data = r.Opaque(wire.NoLimit)
	return data, eof, r.Err
}

// Write writes data at off (stable: 0 UNSTABLE, 1 DATA_SYNC, 2 FILE_SYNC).
func (c *Conn) Write(fh []byte, off uint64, data []byte, stable uint32) (uint32, error) {
	w := new(wire.W).Opaque(fh).U64(off).U32(uint32(len(data))).U32(stable).Opaque(data)
	r, err := c.nfs("WRITE", wire.ProcWrite, w.B)
	if err != nil {
		return 0, err
	}
	r.Wcc()
	n := r.U32()
	return n, r.Err
}

// Commit commits fh's unstable writes.
func (c *Conn) Commit(fh []byte) error {
	_, err := c.nfs("COMMIT", wire.ProcCommit, new(wire.W).Opaque(fh).U64(0).U32(0).B)
	return err
}

// Create creates name in dir (UNCHECKED, mode) and returns its handle.
func (c *Conn) Create(dir []byte, name string, mode uint32) ([]byte, error) {
	w := new(wire.W).Opaque(dir).Str(name).U32(0) // UNCHECKED
	w.U32(1).U32(mode).U32(0).U32(0).U32(0).U32(0).U32(0)
	r, err := c.nfs("CREATE "+name, wire.ProcCreate, w.B)
	if err != nil {
		return nil, err
	}
	fh := append([]byte(nil), r.PostOpFH()...)
	return fh, r.Err
}

// Remove removes name from dir.
func (c *Conn) Remove(dir []byte, name string) error {
	_, err := c.nfs("REMOVE "+name, wire.ProcRemove, new(wire.W).Opaque(dir).Str(name).B)
	return err
}

// Entry is one READDIRPLUS entry.
type Entry struct {
	FileID uint64
	Name   string
	Cookie uint64
	Attr   wire.Attr
	HasAtt bool
	FH     []byte
}

// ReaddirplusPage reads one page of dir's entries.
func (c *Conn) ReaddirplusPage(dir []byte, cookie uint64, verf []byte, dircount, maxcount uint32) (ents []Entry, nverf []byte, eof bool, err error) {
	if verf == nil {
		verf = make([]byte, 8)
	}
	r, err := c.nfs("READDIRPLUS", wire.ProcReaddirplus, new(wire.W).Opaque(dir).U64(cookie).Fixed(verf).U32(dircount).U32(maxcount).B)
	if err != nil {
		return nil, nil, false, err
	}
	ents, nverf, eof = ParseReaddirplus(r)
	return ents, nverf, eof, r.Err
}

// ParseReaddirplus decodes a READDIRPLUS result after its status.
func ParseReaddirplus(r *wire.R) (ents []Entry, verf []byte, eof bool) {
	r.PostOp()
	verf = append([]byte(nil), r.Fixed(8)...)
	for r.Bool() && r.Err == nil {
		var e Entry
		e.FileID = r.U64()
		e.Name = r.Str(wire.NoLimit)
		e.Cookie = r.U64()
		if a := r.PostOp(); a != nil {
			e.Attr, e.HasAtt = *a, true
		}
		e.FH = append([]byte(nil), r.PostOpFH()...)
		ents = append(ents, e)
	}
	eof = r.Bool()
	return ents, verf, eof
}

// Readdirplus lists all of dir.
func (c *Conn) Readdirplus(dir []byte) ([]Entry, error) {
	var all []Entry
	var cookie uint64
	var verf []byte
	for {
		ents, nv, eof, err := c.ReaddirplusPage(dir, cookie, verf, 16384, 65536)
		if err != nil {
			return all, err
		}
		all = append(all, ents...)
		if eof || len(ents) == 0 {
			return all, nil
		}
		cookie, verf = ents[len(ents)-1].Cookie, nv
	}
}
