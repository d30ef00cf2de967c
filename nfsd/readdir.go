package nfsd

import (
	"encoding/binary"
	"path"
	"sync"

	sfs "statelite/fs"
	"statelite/nfsd/wire"
)

// dirCache keeps recent directory listings by cookie verifier, so every page of a
// READDIR/READDIRPLUS costs O(page), not a new listing.
type dirCache struct {
	mu    sync.Mutex
	next  uint64
	m     map[uint64]*listing
	order []uint64
}

type listing struct {
	node    string
	dirID   uint64
	entries []sfs.DirEntry
}

const dirCacheSize = 1024

func (d *dirCache) init() { d.m = map[uint64]*listing{}; d.next = 1 }

func (d *dirCache) get(verf uint64, node string, dirID uint64) *listing {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.m[verf]
	if l == nil || l.node != node || l.dirID != dirID {
		return nil
	}
	return l
}

func (d *dirCache) put(l *listing) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.next
	d.next++
	d.m[v] = l
	d.order = append(d.order, v)
	if len(d.order) > dirCacheSize {
		delete(d.m, d.order[0])
		d.order = d.order[1:]
	}
	return v
}

// listDir returns the listing a READDIR page continues: the cached one for the client's
// verifier, or a fresh one (cookie 0, or a verifier this server no longer knows; v is 0
// then: the listing is kept, and gets a verifier, only if it needs another page).
func (s *Server) listDir(q *req, cookie uint64, verf []byte) (l *listing, v uint64, err error) {
	v = binary.BigEndian.Uint64(verf)
	if l := s.dirs.get(v, q.node, q.attr.FileID); l != nil && cookie != 0 {
		return l, v, nil
	}
	ents, err := q.v.ReadDir(q.path)
	if err != nil {
		return nil, 0, err
	}
	return &listing{node: q.node, dirID: q.attr.FileID, entries: ents}, 0, nil
}

func xdrStrLen(s string) int { return 4 + (len(s)+3)&^3 }

func (s *Server) readdirCommon(c *call, r *wire.R, w *writer, plus bool) (string, uint32) {
	start := len(w.B) // w already holds the RPC reply header
	q, st := s.fh(c, r)
	cookie := r.U64()
	verf := r.Fixed(8)
	dircount := r.U32()
	maxcount := dircount
	if plus {
		maxcount = r.U32()
	}
	if st != wire.NFS3OK {
		w.U32(st)
		postOp(w, nil, 0)
		return "", st
	}
	dir := q.attr
	fail := func(st uint32) (string, uint32) {
		w.U32(st)
		postOp(w, &dir, q.fsid)
		return q.node, st
	}
	if r.Err != nil {
		return fail(wire.NFS3ErrInval)
	}
	if !dir.IsDir() {
		return fail(wire.NFS3ErrNotDir)
	}
	if !allowed(q.cred, dir, permR) {
		return fail(wire.NFS3ErrAcces)
	}
	l, v, err := s.listDir(q, cookie, verf)
	if err != nil {
		return fail(statusOf(err))
	}
	// Positions 0 and 1 are "." and ".." (clients such as go-nfs-client wait for "."),
	// then the listing; the cookie of position k is k+1.
	total := len(l.entries) + 2
	if cookie > uint64(total) {
		return fail(wire.NFS3ErrBadCookie)
	}
	w.U32(wire.NFS3OK)
	postOp(w, &dir, q.fsid)
	// The cookie verifier: set below when the listing is kept for a next page.
	verfAt := len(w.B)
	w.U64(v)
	size := len(w.B) - start + 8 // the result so far (maxcount does not count the RPC header), + list end and eof
	dsize := 0
	i := int(cookie)
	n := 0
	var seq uint64 // the last handle record of the page
	for ; i < total; i++ {
		var name string
		var a sfs.Attr
		switch i {
		case 0:
			name, a = ".", dir
		case 1:
			name, a = "..", dir
			if q.path != "/" {
				if pa, err := q.v.Getattr(path.Dir(q.path)); err == nil {
					a = pa
				}
			}
		default:
			name, a = l.entries[i-2].Name, l.entries[i-2].Attr
		}
		de := 4 + 8 + xdrStrLen(name) + 8
		esz := de
		if plus {
			esz += 4 + 84 + 4 + 4 + handleLen
		}
		if size+esz > int(maxcount) || (plus && dsize+de > int(dircount)) {
			break
		}
		size += esz
		dsize += de
		w.Bool(true)
		w.U64(a.FileID)
		w.Str(name)
		w.U64(uint64(i + 1))
		if plus {
			postOp(w, &a, q.fsid)
			w.Bool(true)
			w.U32(handleLen)
			w.B = s.handles.appendHandle(w.B, q.node, q.fsid, a.FileID) // fsid: the node id
		}
		if i >= 2 {
			id := a.FileID
			seq = max(seq, s.paths.putListed(q.node, id, dir.FileID, name, func(p string) bool {
				pa, err := q.v.Getattr(p)
				return err == nil && pa.FileID == id
			}))
		}
		n++
	}
	if n == 0 && i < total {
		w.B = w.B[:start]
		return fail(wire.NFS3ErrTooSmall)
	}
	if plus {
		// The page carries handles: their records must be durable first.
		if st := s.durable(q.node, seq); st != wire.NFS3OK {
			w.B = w.B[:start]
			return fail(st)
		}
	}
	w.Bool(false)
	w.Bool(i >= total)
	if i < total && v == 0 {
		binary.BigEndian.PutUint64(w.B[verfAt:], s.dirs.put(l))
	}
	return q.node, wire.NFS3OK
}

func (s *Server) readdir(c *call, r *wire.R, w *writer) (string, uint32) {
	return s.readdirCommon(c, r, w, false)
}

func (s *Server) readdirplus(c *call, r *wire.R, w *writer) (string, uint32) {
	return s.readdirCommon(c, r, w, true)
}
