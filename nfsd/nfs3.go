package nfsd

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	sfs "statelite/fs"
	"statelite/internal/sys"
	"statelite/nfsd/wire"
)

// req is the context of one NFS request after its handle was resolved.
type req struct {
	node string
	v    *sfs.Pinned // the node's view, pinned to one table snapshot for the request
	path string
	attr sfs.Attr
	fsid uint64
	cred Cred // after root squash
}

func (s *Server) cred(c *call) Cred {
	cr := c.cred
	if s.cfg.RootSquash && cr.UID == 0 {
		cr.UID, cr.GID = 65534, 65534
	}
	return cr
}

// resolveFH checks a handle (format, MAC, node binding, client address) and finds the
// object's current path.
func (s *Server) resolveFH(c *call, fh []byte) (*req, uint32) {
	ph, err := s.handles.parse(fh)
	if err != nil {
		return nil, wire.NFS3ErrBadHandle
	}
	fileid := ph.fileid
	node, ok, forged := s.handles.node(s.index(), fh, ph)
	if !ok {
		return nil, wire.NFS3ErrStale
	}
	if forged {
		addr := remoteAddr(c.remote)
		s.logLimited("forged|"+addr.String(), "forged or foreign file handle refused", "node", node, "remote", addr.String())
		return nil, wire.NFS3ErrBadHandle
	}
	if !s.mayAccess(remoteAddr(c.remote), node) {
		addr := remoteAddr(c.remote)
		s.logLimited("foreign|"+addr.String(), "handle of another node refused", "node", node, "remote", addr.String())
		return nil, wire.NFS3ErrAcces
	}
	view, err := s.cfg.FS.View(node)
	if err != nil {
		return nil, wire.NFS3ErrStale
	}
	v := view.Pin()
	p, ok := s.paths.path(node, fileid)
	var a sfs.Attr
	if ok {
		a, err = v.Getattr(p)
	}
	if !ok || err != nil || a.FileID != fileid {
		if ip, used, iok := s.paths.intentPath(node, fileid); iok {
			// The server died between a rename and its record: the rename's intent,
			// logged before it was made, leads to the file. It becomes the record.
			if ia, ierr := v.Getattr(ip); ierr == nil && ia.FileID == fileid {
				for id, r := range used {
					s.paths.put(node, id, r.parent, r.name)
				}
				return &req{node: node, v: v, path: ip, attr: ia, fsid: nodeID(node), cred: s.cred(c)}, wire.NFS3OK
			}
		}
		// Unknown here, or moved by another server: ask the shared table.
		if p, ok = s.paths.remotePath(node, fileid, ok); !ok {
			return nil, wire.NFS3ErrStale
		}
		if a, err = v.Getattr(p); err != nil || a.FileID != fileid {
			return nil, wire.NFS3ErrStale
		}
	}
	return &req{node: node, v: v, path: p, attr: a, fsid: nodeID(node), cred: s.cred(c)}, wire.NFS3OK
}

// noObj writes the reply of a procedure whose handle failed: the status and no attributes.
func noObj(w *writer, st uint32) (string, uint32) {
	w.U32(st)
	postOp(w, nil, 0)
	return "", st
}

// noWcc writes the reply of a modifying procedure whose handle failed: no wcc data.
func noWcc(w *writer, st uint32) (string, uint32) {
	w.U32(st)
	wcc(w, nil, nil, 0)
	return "", st
}

func (s *Server) fh(c *call, r *wire.R) (*req, uint32) {
	fh := r.Opaque(64)
	if r.Err != nil {
		return nil, wire.NFS3ErrBadHandle
	}
	q, st := s.resolveFH(c, fh)
	if st == wire.NFS3OK && s.cfg.Leases != nil && writes(c.proc) && (!s.Serves(q.node) || !s.cfg.Leases.Hold(q.node)) {
		// Another server writes this node's files now (its lease has not lapsed), or
		// this one is not among the node's servers (noderes.servicenode: the primary,
		// then its backups): the client retries, and is served once the lease moves
		// here, or by a server of its own.
		s.leaseWaits.Add(1)
		return nil, wire.NFS3ErrJukebox
	}
	return q, st
}

// writes reports whether an NFS procedure may change a node's files (it needs the
// node's lease when there are several servers).
func writes(proc uint32) bool {
	switch proc {
	case wire.ProcSetattr, wire.ProcWrite, wire.ProcCreate, wire.ProcMkdir, wire.ProcSymlink, wire.ProcMknod,
		wire.ProcRemove, wire.ProcRmdir, wire.ProcRename, wire.ProcLink, wire.ProcCommit:
		return true
	}
	return false
}

// Permission bits.
const (
	permR = 4
	permW = 2
	permX = 1
)

func inGroup(cr Cred, gid uint32) bool {
	if cr.GID == gid {
		return true
	}
	for _, g := range cr.GIDs {
		if g == gid {
			return true
		}
	}
	return false
}

// allowed reports whether cr has all of want (permR|permW|permX) on an object.
func allowed(cr Cred, a sfs.Attr, want uint32) bool {
	if cr.UID == 0 {
		if want&permX != 0 && !a.IsDir() && a.Mode&0o111 == 0 {
			return false
		}
		return true
	}
	var bits uint32
	switch {
	case cr.UID == a.UID:
		bits = (a.Mode >> 6) & 7
	case inGroup(cr, a.GID):
		bits = (a.Mode >> 3) & 7
	default:
		bits = a.Mode & 7
	}
	return bits&want == want
}

// mayDelete applies the sticky-directory rule on top of w+x on the directory.
func mayDelete(cr Cred, dir, victim sfs.Attr) bool {
	if !allowed(cr, dir, permW|permX) {
		return false
	}
	if dir.Mode&syscall.S_ISVTX != 0 && cr.UID != 0 && cr.UID != dir.UID && cr.UID != victim.UID {
		return false
	}
	return true
}

func (r *req) fsCred() sfs.Cred { return sfs.Cred{UID: r.cred.UID, GID: r.cred.GID} }

func validName(name string) uint32 {
	switch {
	case name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.ContainsRune(name, 0):
		return wire.NFS3ErrInval
	case len(name) > 255:
		return wire.NFS3ErrNameTooLong
	}
	return wire.NFS3OK
}

func (s *Server) nfsProcs() []procFunc {
	return []procFunc{
		func(context.Context, *call, *wire.R, *writer) error { return nil }, // NULL
		s.wrap(s.getattr), s.wrap(s.setattr), s.wrap(s.lookup), s.wrap(s.access), s.wrap(s.readlink),
		s.wrap(s.read), s.wrap(s.write), s.wrap(s.create), s.wrap(s.mkdir), s.wrap(s.symlink),
		s.wrap(s.mknod), s.wrap(s.remove), s.wrap(s.rmdir), s.wrap(s.rename), s.wrap(s.link),
		s.wrap(s.readdir), s.wrap(s.readdirplus), s.wrap(s.fsstat), s.wrap(s.fsinfo), s.wrap(s.pathconf),
		s.wrap(s.commit),
	}
}

// nfsFunc serves one NFS procedure and returns its status (for metrics and logs).
type nfsFunc func(c *call, r *wire.R, w *writer) (node string, status uint32)

func (s *Server) wrap(f nfsFunc) procFunc {
	return func(ctx context.Context, c *call, r *wire.R, w *writer) error {
		if s.cfg.Delay != nil {
			s.cfg.Delay(c.proc)
		}
		node, st := f(c, r, w)
		if r.Err != nil {
			return r.Err
		}
		s.Metrics.nfsStatus(node, c.proc, st)
		return nil
	}
}

func (s *Server) getattr(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	w.U32(st)
	if st != wire.NFS3OK {
		return "", st
	}
	fattr3(w, q.attr, q.fsid)
	return q.node, wire.NFS3OK
}

func (s *Server) setattr(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	sa := readSattr(r)
	var guard *time.Time
	if r.Bool() {
		t := readTime(r)
		guard = &t
	}
	if st == wire.NFS3OK && r.Err != nil {
		st = wire.NFS3ErrInval // truncated arguments: nothing is done (the reply is GARBAGE_ARGS)
	}
	if st != wire.NFS3OK {
		return noWcc(w, st)
	}
	before := q.attr
	fail := func(st uint32) (string, uint32) {
		w.U32(st)
		wcc(w, &before, &before, q.fsid)
		return q.node, st
	}
	if guard != nil && !guard.Equal(time.Unix(before.Ctime.Unix(), int64(before.Ctime.Nanosecond()))) {
		return fail(10002) // NFS3ERR_NOT_SYNC
	}
	cr := q.cred
	owner := cr.UID == 0 || cr.UID == before.UID
	if sa.Mode != nil && !owner {
		return fail(wire.NFS3ErrPerm)
	}
	if sa.Mode != nil && cr.UID != 0 && *sa.Mode&syscall.S_ISGID != 0 && !inGroup(cr, before.GID) {
		m := *sa.Mode &^ syscall.S_ISGID
		sa.Mode = &m
	}
	if sa.UID != nil && *sa.UID != before.UID && cr.UID != 0 {
		return fail(wire.NFS3ErrPerm)
	}
	if sa.GID != nil && *sa.GID != before.GID && cr.UID != 0 && !(cr.UID == before.UID && inGroup(cr, *sa.GID)) {
		return fail(wire.NFS3ErrPerm)
	}
	if sa.Size != nil && !owner && !allowed(cr, before, permW) {
		return fail(wire.NFS3ErrAcces)
	}
	if (sa.Atime != nil || sa.Mtime != nil) && !owner {
		if sa.atimeServer || sa.mtimeServer {
			if !allowed(cr, before, permW) {
				return fail(wire.NFS3ErrAcces)
			}
		} else {
			return fail(wire.NFS3ErrPerm)
		}
	}
	if sa.empty() {
		w.U32(wire.NFS3OK)
		wcc(w, &before, &before, q.fsid)
		return q.node, wire.NFS3OK
	}
	// A chown by a non-root caller clears setuid/setgid, as Linux does.
	if (sa.UID != nil || sa.GID != nil) && sa.Mode == nil && before.Mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 && !before.IsDir() {
		m := before.Mode & 0o7777 &^ (syscall.S_ISUID | syscall.S_ISGID)
		sa.Mode = &m
	}
	after, err := q.v.Setattr(q.path, sa.SetAttr)
	if err != nil {
		return fail(statusOf(err))
	}
	w.U32(wire.NFS3OK)
	wcc(w, &before, &after, q.fsid)
	return q.node, wire.NFS3OK
}

func (s *Server) lookup(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	name := r.Str(maxRecord) // any length: over 255 bytes is NAMETOOLONG (validName)
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
	if !dir.IsDir() {
		return fail(wire.NFS3ErrNotDir)
	}
	if !allowed(q.cred, dir, permX) {
		return fail(wire.NFS3ErrAcces)
	}
	var p string
	switch name {
	case ".":
		p = q.path
	case "..":
		p = path.Dir(q.path)
	default:
		if st := validName(name); st != wire.NFS3OK {
			return fail(st)
		}
		p = path.Join(q.path, name)
	}
	a, err := q.v.Getattr(p)
	if err != nil {
		return fail(statusOf(err))
	}
	if st := s.record(q, p, a); st != wire.NFS3OK {
		return fail(st)
	}
	w.U32(wire.NFS3OK)
	w.Opaque(s.handles.make(q.node, a.FileID))
	postOp(w, &a, q.fsid)
	postOp(w, &dir, q.fsid)
	return q.node, wire.NFS3OK
}

// record remembers where an object is, so its handle resolves later, and returns once
// that is on stable storage (a reply then carries the handle): NFS3ERR_JUKEBOX or
// NFS3ERR_NOSPC when the record could not be stored.
func (s *Server) record(q *req, p string, a sfs.Attr) uint32 {
	if p == "/" {
		return s.durable(q.node, s.paths.setRoot(q.node, a.FileID))
	}
	parent := q.attr.FileID // p is mostly a name in the request's directory
	if dir := path.Dir(p); dir != q.path {
		par, err := q.v.Getattr(dir)
		if err != nil {
			return statusOf(err)
		}
		parent = par.FileID
	}
	return s.durable(q.node, s.paths.put(q.node, a.FileID, parent, path.Base(p)))
}

// durable waits until the handle records up to seq are on stable storage (paths.wait)
// and says what the client is told when they cannot be: NOSPC when the disk is full,
// otherwise JUKEBOX (the client retries the call later). A handle is never sent that a
// restart could not resolve.
func (s *Server) durable(node string, seq uint64) uint32 {
	err := s.paths.wait(seq)
	if err == nil {
		return wire.NFS3OK
	}
	s.logLimited("handlelog", "handle records could not be stored: the reply asks the client to retry", "node", node, "err", err)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return wire.NFS3ErrNoSpc
	}
	return wire.NFS3ErrJukebox
}

// ACCESS3 bits.
const (
	accRead    = 0x01
	accLookup  = 0x02
	accModify  = 0x04
	accExtend  = 0x08
	accDelete  = 0x10
	accExecute = 0x20
)

func (s *Server) access(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	want := r.U32()
	if st != wire.NFS3OK {
		w.U32(st)
		postOp(w, nil, 0)
		return "", st
	}
	a := q.attr
	var got uint32
	if allowed(q.cred, a, permR) {
		got |= accRead
	}
	if allowed(q.cred, a, permW) {
		got |= accModify | accExtend
		if a.IsDir() {
			got |= accDelete
		}
	}
	if allowed(q.cred, a, permX) {
		if a.IsDir() {
			got |= accLookup
		} else {
			got |= accExecute
		}
	}
	w.U32(wire.NFS3OK)
	postOp(w, &a, q.fsid)
	w.U32(got & want)
	return q.node, wire.NFS3OK
}

func (s *Server) readlink(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	if st != wire.NFS3OK {
		return noObj(w, st)
	}
	t, err := q.v.Readlink(q.path)
	if err != nil {
		w.U32(statusOf(err))
		postOp(w, &q.attr, q.fsid)
		return q.node, statusOf(err)
	}
	w.U32(wire.NFS3OK)
	postOp(w, &q.attr, q.fsid)
	w.Str(t)
	return q.node, wire.NFS3OK
}

const maxIO = 1 << 20

func (s *Server) read(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	off, count := r.U64(), r.U32()
	if st != wire.NFS3OK {
		w.U32(st)
		postOp(w, nil, 0)
		return "", st
	}
	a := q.attr
	fail := func(st uint32) (string, uint32) {
		w.U32(st)
		postOp(w, &a, q.fsid)
		return q.node, st
	}
	if a.IsDir() {
		return fail(wire.NFS3ErrIsDir)
	}
	if !a.IsRegular() {
		return fail(wire.NFS3ErrInval)
	}
	if !allowed(q.cred, a, permR) && !allowed(q.cred, a, permX) && q.cred.UID != a.UID {
		return fail(wire.NFS3ErrAcces)
	}
	count = min(count, maxIO)
	h, err := q.v.Open(q.path, os.O_RDONLY)
	if err != nil {
		return fail(statusOf(err))
	}
	keep := false
	defer func() {
		if !keep {
			h.Close()
		}
	}()
	fd := h.Fd()
	// The data is read straight into the reply: count, eof and the opaque's length
	// are filled in once the read says how much there was.
	start := len(w.B)
	w.U32(wire.NFS3OK)
	postOp(w, &a, q.fsid)
	hdr := len(w.B)
	w.U32(0) // count
	w.U32(0) // eof
	w.U32(0) // data length
	want := int(count)
	var size int64 = -1
	if fd >= 0 && want > lateChunk {
		// A large READ is sent while it is read (lateData): its length must be known
		// before the first byte leaves, so it is taken from the open file's size.
		if size = fdSize(fd); size >= 0 {
			want = int(max(0, min(int64(want), size-int64(off))))
		}
	}
	if len(w.B)+want+3 > smallBuf && !w.bigTurn {
		s.rpc.acquireBig()
		w.bigTurn = true
	}
	w.grow(want + 3)
	data := w.B[len(w.B) : len(w.B)+want]
	var n int
	if size >= 0 && want > lateChunk {
		n, err = readAtFd(fd, data[:lateChunk], int64(off))
		if err == nil && n == lateChunk {
			w.late = &lateData{h: h, fd: fd, off: int64(off) + int64(lateChunk), at: len(w.B) + lateChunk, b: data[lateChunk:]}
			keep = true
			n = want
		}
	} else if fd >= 0 {
		n, err = readAtFd(fd, data, int64(off))
	} else {
		n, err = h.ReadAt(data, int64(off))
	}
	if err != nil && err != io.EOF {
		w.B = w.B[:start]
		return fail(statusOf(err))
	}
	eof := n < int(count) || off+uint64(n) >= a.Size // a short read ends at the end of the file
	if size >= 0 {
		eof = n < int(count) || int64(off)+int64(n) >= size
	}
	binary.BigEndian.PutUint32(w.B[hdr:], uint32(n))
	if eof {
		binary.BigEndian.PutUint32(w.B[hdr+4:], 1)
	}
	binary.BigEndian.PutUint32(w.B[hdr+8:], uint32(n))
	w.B = w.B[:len(w.B)+n]
	for i := n; i%4 != 0; i++ {
		w.B = append(w.B, 0)
	}
	s.Metrics.bytes(q.node, "read", n)
	return q.node, wire.NFS3OK
}

// stable_how values.
const (
	unstable = 0
	dataSync = 1
	fileSync = 2
)

func (s *Server) write(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	off, count, stable := r.U64(), r.U32(), r.U32()
	if stable > 2 { // not a stable_how (UNSTABLE, DATA_SYNC, FILE_SYNC)
		r.Err = wire.ErrGarbage
	}
	data := r.Opaque(maxIO)
	if st == wire.NFS3OK && r.Err != nil {
		st = wire.NFS3ErrInval // truncated arguments: nothing is written (the reply is GARBAGE_ARGS)
	}
	if st != wire.NFS3OK {
		return noWcc(w, st)
	}
	before := q.attr
	fail := func(st uint32) (string, uint32) {
		w.U32(st)
		wcc(w, &before, &before, q.fsid)
		return q.node, st
	}
	if int(count) > len(data) {
		return fail(wire.NFS3ErrInval)
	}
	data = data[:count]
	if before.IsDir() {
		return fail(wire.NFS3ErrIsDir)
	}
	if !before.IsRegular() {
		return fail(wire.NFS3ErrInval)
	}
	if !allowed(q.cred, before, permW) && q.cred.UID != before.UID {
		return fail(wire.NFS3ErrAcces)
	}
	h, err := q.v.Open(q.path, os.O_RDWR)
	if err != nil {
		return fail(statusOf(err))
	}
	behind := false
	defer func() {
		if !behind {
			h.Close()
		}
	}()
	n, err := h.WriteAt(data, int64(off))
	if err != nil {
		return fail(statusOf(err))
	}
	committed := uint32(unstable)
	if stable != unstable {
		if err := h.Sync(); err != nil {
			return fail(statusOf(err))
		}
		committed = fileSync
	}
	after, err := writtenAttr(h, before)
	if err != nil {
		if after, err = q.v.Getattr(q.path); err != nil {
			return fail(statusOf(err))
		}
	}
	w.U32(wire.NFS3OK)
	wcc(w, &before, &after, q.fsid)
	w.U32(uint32(n))
	w.U32(committed)
	w.Fixed(s.verf[:])
	s.Metrics.bytes(q.node, "write", n)
	if committed == unstable && n >= writeBehindMin {
		behind = s.writeBehind(h, int64(off), int64(n))
	}
	return q.node, wire.NFS3OK
}

// Write-behind: the data of a large UNSTABLE WRITE (a client copying a big file) is
// sent on to the disk at once, in the background, so that the COMMIT that follows the
// copy finds most of it written instead of starting all of it. Small writes (logs,
// boot-time files) are left to the kernel's own writeback. At most writeBehindMax run at
// once; a WRITE beyond that leaves its data to the COMMIT, as without write-behind.
const (
	writeBehindMin = 256 << 10
	writeBehindMax = 8
)

// writeBehind starts the write-out of [off, off+n) of h's file and closes h when that
// has been submitted; false (h stays the caller's) when it did not start.
func (s *Server) writeBehind(h *sfs.Handle, off, n int64) bool {
	fd := h.Fd()
	if fd < 0 {
		return false
	}
	select {
	case s.behind <- struct{}{}:
	default:
		return false
	}
	go func() {
		defer func() { <-s.behind }()
		defer h.Close()
		// SYNC_FILE_RANGE_WRITE: start writing the dirty pages of the range, without
		// waiting for them (it may wait for room in the device's queue). x/sys/unix
		// picks the call of the architecture (sync_file_range2 on ppc64le).
		sys.StartWriteback(fd, off, n)
	}()
	return true
}

// writtenAttr returns the attributes of a file just written through h: those of its open
// file, with the view's file id, which a write does not change. It saves a second lookup
// of the path per WRITE.
func writtenAttr(h *sfs.Handle, before sfs.Attr) (sfs.Attr, error) {
	fd := h.Fd()
	if fd < 0 {
		return sfs.Attr{}, syscall.EBADF
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return sfs.Attr{}, err
	}
	return sfs.Attr{
		Mode: st.Mode, Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid,
		Size: uint64(st.Size), Blocks: uint64(st.Blocks), Rdev: st.Rdev,
		Atime: time.Unix(st.Atim.Sec, st.Atim.Nsec), Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Ctime: time.Unix(st.Ctim.Sec, st.Ctim.Nsec), FileID: before.FileID,
	}, nil
}

// dirop resolves a (directory handle, name) argument and checks w+x on the directory.
func (s *Server) dirop(c *call, r *wire.R) (*req, string, uint32) {
	q, st := s.fh(c, r)
	name := r.Str(maxRecord) // any length: over 255 bytes is NAMETOOLONG (validName)
	if st != wire.NFS3OK {
		return nil, "", st
	}
	if !q.attr.IsDir() {
		return q, "", wire.NFS3ErrNotDir
	}
	if st := validName(name); st != wire.NFS3OK {
		return q, "", st
	}
	return q, path.Join(q.path, name), wire.NFS3OK
}

// newObjReply writes the reply of CREATE, MKDIR, SYMLINK and MKNOD.
func (s *Server) newObjReply(w *writer, q *req, before sfs.Attr, p string, a *sfs.Attr, st uint32) (string, uint32) {
	w.U32(st)
	if st == wire.NFS3OK {
		w.Bool(true)
		w.Opaque(s.handles.make(q.node, a.FileID))
		postOp(w, a, q.fsid)
	}
	dirWcc(w, q, before)
	return q.node, st
}

// dirWcc writes wcc_data for the request's directory: before, and as it is now.
func dirWcc(w *writer, q *req, before sfs.Attr) {
	after, err := q.v.Getattr(q.path)
	if err != nil {
		wcc(w, &before, nil, q.fsid)
	} else {
		wcc(w, &before, &after, q.fsid)
	}
}

func (s *Server) failDirop(w *writer, q *req, st uint32) (string, uint32) {
	w.U32(st)
	if q == nil {
		wcc(w, nil, nil, 0)
		return "", st
	}
	wcc(w, &q.attr, &q.attr, q.fsid)
	return q.node, st
}

// owner returns the credential new objects get: the caller, with the directory's group
// when it has setgid.
func ownerFor(q *req) sfs.Cred {
	cr := q.fsCred()
	if q.attr.Mode&syscall.S_ISGID != 0 {
		cr.GID = q.attr.GID
	}
	return cr
}

// applyCreateAttrs applies the sattr3 a client sent with a create (mode already used).
func (s *Server) applyCreateAttrs(q *req, p string, sa sattr3) (sfs.Attr, error) {
	sa.Mode = nil
	if q.cred.UID != 0 {
		sa.UID, sa.GID = nil, nil
	}
	if sa.empty() {
		return q.v.Getattr(p)
	}
	return q.v.Setattr(p, sa.SetAttr)
}

func (s *Server) create(c *call, r *wire.R, w *writer) (string, uint32) {
	q, p, st := s.dirop(c, r)
	how := r.U32()
	var sa sattr3
	var verf []byte
	switch how {
	case 0, 1:
		sa = readSattr(r)
	case 2:
		verf = r.Fixed(8)
	default:
		r.Err = wire.ErrGarbage
	}
	if r.Err != nil {
		return "", wire.NFS3ErrInval // truncated arguments: GARBAGE_ARGS (wrap), nothing created
	}
	if st != wire.NFS3OK {
		return s.failDirop(w, q, st)
	}
	before := q.attr
	if !allowed(q.cred, before, permW|permX) {
		return s.failDirop(w, q, wire.NFS3ErrAcces)
	}
	mode := uint32(0o644)
	if sa.Mode != nil {
		mode = *sa.Mode
	}
	if how == 2 {
		// EXCLUSIVE: the verifier is kept in atime/mtime, so a retransmitted create succeeds.
		vt := time.Unix(int64(be32(verf[:4])), int64(be32(verf[4:])%1e9))
		if a, err := q.v.Getattr(p); err == nil {
			if a.IsRegular() && a.Mtime.Equal(vt) {
				return s.newObjReply(w, q, before, p, &a, wire.NFS3OK)
			}
			return s.newObjReply(w, q, before, p, nil, wire.NFS3ErrExist)
		}
		h, _, err := q.v.Create(p, 0o600, ownerFor(q))
		if err != nil {
			return s.newObjReply(w, q, before, p, nil, statusOf(err))
		}
		h.Close()
		m := mode
		a, err := q.v.Setattr(p, sfs.SetAttr{Mode: &m, Atime: &vt, Mtime: &vt})
		if err != nil {
			return s.newObjReply(w, q, before, p, nil, statusOf(err))
		}
		if st := s.record(q, p, a); st != wire.NFS3OK {
			return s.newObjReply(w, q, before, p, nil, st)
		}
		return s.newObjReply(w, q, before, p, &a, wire.NFS3OK)
	}
	if a, err := q.v.Getattr(p); err == nil {
		if how == 1 {
			return s.newObjReply(w, q, before, p, nil, wire.NFS3ErrExist)
		}
		// UNCHECKED on an existing file: apply the attributes (e.g. truncate).
		if a.IsDir() {
			return s.newObjReply(w, q, before, p, nil, wire.NFS3ErrIsDir)
		}
		if !a.IsRegular() { // a symlink, fifo or device is not the file asked for
			return s.newObjReply(w, q, before, p, nil, wire.NFS3ErrExist)
		}
		if !allowed(q.cred, a, permW) && q.cred.UID != a.UID {
			return s.newObjReply(w, q, before, p, nil, wire.NFS3ErrAcces)
		}
		sa.Mode = nil
		if !sa.empty() {
			if a, err = q.v.Setattr(p, sa.SetAttr); err != nil {
				return s.newObjReply(w, q, before, p, nil, statusOf(err))
			}
		}
		if st := s.record(q, p, a); st != wire.NFS3OK {
			return s.newObjReply(w, q, before, p, nil, st)
		}
		return s.newObjReply(w, q, before, p, &a, wire.NFS3OK)
	}
	h, _, err := q.v.Create(p, mode&0o7777, ownerFor(q))
	if err != nil {
		return s.newObjReply(w, q, before, p, nil, statusOf(err))
	}
	h.Close()
	a, err := s.applyCreateAttrs(q, p, sa)
	if err != nil {
		return s.newObjReply(w, q, before, p, nil, statusOf(err))
	}
	if st := s.record(q, p, a); st != wire.NFS3OK {
		return s.newObjReply(w, q, before, p, nil, st)
	}
	return s.newObjReply(w, q, before, p, &a, wire.NFS3OK)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (s *Server) mkdir(c *call, r *wire.R, w *writer) (string, uint32) {
	q, p, st := s.dirop(c, r)
	sa := readSattr(r)
	if st == wire.NFS3OK && r.Err != nil {
		st = wire.NFS3ErrInval // truncated arguments: nothing is made (the reply is GARBAGE_ARGS)
	}
	if st != wire.NFS3OK {
		return s.failDirop(w, q, st)
	}
	before := q.attr
	if !allowed(q.cred, before, permW|permX) {
		return s.failDirop(w, q, wire.NFS3ErrAcces)
	}
	mode := uint32(0o755)
	if sa.Mode != nil {
		mode = *sa.Mode
	}
	if before.Mode&syscall.S_ISGID != 0 {
		mode |= syscall.S_ISGID
	}
	if _, err := q.v.Mkdir(p, mode&0o7777, ownerFor(q)); err != nil {
		return s.newObjReply(w, q, before, p, nil, statusOf(err))
	}
	a, err := s.applyCreateAttrs(q, p, sa)
	if err != nil {
		return s.newObjReply(w, q, before, p, nil, statusOf(err))
	}
	if st := s.record(q, p, a); st != wire.NFS3OK {
		return s.newObjReply(w, q, before, p, nil, st)
	}
	return s.newObjReply(w, q, before, p, &a, wire.NFS3OK)
}

func (s *Server) symlink(c *call, r *wire.R, w *writer) (string, uint32) {
	q, p, st := s.dirop(c, r)
	sa := readSattr(r)
	target := r.Str(4096)
	if st == wire.NFS3OK && r.Err != nil {
		st = wire.NFS3ErrInval // truncated arguments: nothing is made (the reply is GARBAGE_ARGS)
	}
	if st != wire.NFS3OK {
		return s.failDirop(w, q, st)
	}
	before := q.attr
	if !allowed(q.cred, before, permW|permX) {
		return s.failDirop(w, q, wire.NFS3ErrAcces)
	}
	if _, err := q.v.Symlink(target, p, ownerFor(q)); err != nil {
		return s.newObjReply(w, q, before, p, nil, statusOf(err))
	}
	sa.Mode, sa.Size = nil, nil
	a, err := s.applyCreateAttrs(q, p, sa)
	if err != nil {
		return s.newObjReply(w, q, before, p, nil, statusOf(err))
	}
	if st := s.record(q, p, a); st != wire.NFS3OK {
		return s.newObjReply(w, q, before, p, nil, st)
	}
	return s.newObjReply(w, q, before, p, &a, wire.NFS3OK)
}

func (s *Server) mknod(c *call, r *wire.R, w *writer) (string, uint32) {
	q, p, st := s.dirop(c, r)
	typ := r.U32()
	var sa sattr3
	var rdev uint64
	var ifmt uint32
	switch typ {
	case wire.NF3Chr, wire.NF3Blk:
		sa = readSattr(r)
		maj, min := r.U32(), r.U32()
		rdev = mkdev(maj, min)
		ifmt = syscall.S_IFCHR
		if typ == wire.NF3Blk {
			ifmt = syscall.S_IFBLK
		}
	case wire.NF3Sock:
		sa = readSattr(r)
		ifmt = syscall.S_IFSOCK
	case wire.NF3Fifo:
		sa = readSattr(r)
		ifmt = syscall.S_IFIFO
	default:
		if st == wire.NFS3OK {
			st = wire.NFS3ErrBadType
		}
	}
	if st == wire.NFS3OK && r.Err != nil {
		st = wire.NFS3ErrInval // truncated arguments: nothing is made (the reply is GARBAGE_ARGS)
	}
	if st != wire.NFS3OK {
		return s.failDirop(w, q, st)
	}
	before := q.attr
	if !allowed(q.cred, before, permW|permX) {
		return s.failDirop(w, q, wire.NFS3ErrAcces)
	}
	if (ifmt == syscall.S_IFCHR || ifmt == syscall.S_IFBLK) && q.cred.UID != 0 {
		return s.failDirop(w, q, wire.NFS3ErrPerm)
	}
	mode := uint32(0o644)
	if sa.Mode != nil {
		mode = *sa.Mode
	}
	if _, err := q.v.Mknod(p, ifmt|mode&0o7777, rdev, ownerFor(q)); err != nil {
		return s.newObjReply(w, q, before, p, nil, statusOf(err))
	}
	a, err := s.applyCreateAttrs(q, p, sa)
	if err != nil {
		return s.newObjReply(w, q, before, p, nil, statusOf(err))
	}
	if st := s.record(q, p, a); st != wire.NFS3OK {
		return s.newObjReply(w, q, before, p, nil, st)
	}
	return s.newObjReply(w, q, before, p, &a, wire.NFS3OK)
}

func (s *Server) removeCommon(c *call, r *wire.R, w *writer, dir bool) (string, uint32) {
	q, p, st := s.dirop(c, r)
	if st != wire.NFS3OK {
		return s.failDirop(w, q, st)
	}
	before := q.attr
	victim, err := q.v.Getattr(p)
	if err != nil {
		return s.failDirop(w, q, statusOf(err))
	}
	if !mayDelete(q.cred, before, victim) {
		return s.failDirop(w, q, wire.NFS3ErrAcces)
	}
	if dir {
		err = q.v.Rmdir(p)
	} else {
		err = q.v.Remove(p)
	}
	st = statusOf(err)
	w.U32(st)
	dirWcc(w, q, before)
	return q.node, st
}

func (s *Server) remove(c *call, r *wire.R, w *writer) (string, uint32) {
	return s.removeCommon(c, r, w, false)
}

func (s *Server) rmdir(c *call, r *wire.R, w *writer) (string, uint32) {
	return s.removeCommon(c, r, w, true)
}

func (s *Server) rename(c *call, r *wire.R, w *writer) (string, uint32) {
	qa, pa, sta := s.dirop(c, r)
	qb, pb, stb := s.dirop(c, r)
	fail := func(st uint32) (string, uint32) {
		w.U32(st)
		for _, q := range []*req{qa, qb} {
			if q == nil {
				wcc(w, nil, nil, 0)
			} else {
				wcc(w, &q.attr, &q.attr, q.fsid)
			}
		}
		if qa != nil {
			return qa.node, st
		}
		return "", st
	}
	if sta != wire.NFS3OK {
		return fail(sta)
	}
	if stb != wire.NFS3OK {
		return fail(stb)
	}
	if r.Err != nil {
		return fail(wire.NFS3ErrInval) // truncated arguments: nothing is renamed (GARBAGE_ARGS)
	}
	if qa.node != qb.node {
		return fail(wire.NFS3ErrXDev)
	}
	qb.v = qa.v // one snapshot for the whole request
	victim, err := qa.v.Getattr(pa)
	if err != nil {
		return fail(statusOf(err))
	}
	if !mayDelete(qa.cred, qa.attr, victim) || !allowed(qb.cred, qb.attr, permW|permX) {
		return fail(wire.NFS3ErrAcces)
	}
	if old, err := qb.v.Getattr(pb); err == nil && !mayDelete(qb.cred, qb.attr, old) {
		return fail(wire.NFS3ErrAcces)
	}
	// The intent first: should the server die after the rename and before its record,
	// the handles of the object and of everything under it still resolve.
	if st := s.durable(qa.node, s.paths.putIntent(qa.node, victim.FileID, qb.attr.FileID, path.Base(pb))); st != wire.NFS3OK {
		return fail(st)
	}
	if err := qa.v.Rename(pa, pb); err != nil {
		s.paths.cancelIntent(qa.node, victim.FileID)
		return fail(statusOf(err))
	}
	// The object keeps its id: re-point its handle to the new name.
	if a, err := qa.v.Getattr(pb); err == nil {
		if st := s.durable(qa.node, s.paths.put(qa.node, a.FileID, qb.attr.FileID, path.Base(pb))); st != wire.NFS3OK {
			return fail(st)
		}
	}
	w.U32(wire.NFS3OK)
	dirWcc(w, qa, qa.attr)
	dirWcc(w, qb, qb.attr)
	return qa.node, wire.NFS3OK
}

func (s *Server) link(c *call, r *wire.R, w *writer) (string, uint32) {
	qf, stf := s.fh(c, r)
	qd, p, std := s.dirop(c, r)
	fail := func(st uint32) (string, uint32) {
		w.U32(st)
		if qf != nil {
			postOp(w, &qf.attr, qf.fsid)
		} else {
			postOp(w, nil, 0)
		}
		if qd != nil {
			wcc(w, &qd.attr, &qd.attr, qd.fsid)
			return qd.node, st
		}
		wcc(w, nil, nil, 0)
		return "", st
	}
	if stf != wire.NFS3OK {
		return fail(stf)
	}
	if std != wire.NFS3OK {
		return fail(std)
	}
	if qf.node != qd.node {
		return fail(wire.NFS3ErrXDev)
	}
	if !allowed(qd.cred, qd.attr, permW|permX) {
		return fail(wire.NFS3ErrAcces)
	}
	a, err := qd.v.Link(qf.path, p)
	if err != nil {
		return fail(statusOf(err))
	}
	w.U32(wire.NFS3OK)
	postOp(w, &a, qd.fsid)
	dirWcc(w, qd, qd.attr)
	return qd.node, wire.NFS3OK
}

func (s *Server) fsstat(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	if st != wire.NFS3OK {
		return noObj(w, st)
	}
	sf, err := q.v.Statfs()
	if err != nil {
		w.U32(statusOf(err))
		postOp(w, &q.attr, q.fsid)
		return q.node, statusOf(err)
	}
	w.U32(wire.NFS3OK)
	postOp(w, &q.attr, q.fsid)
	bs := uint64(sf.Bsize)
	w.U64(sf.Blocks * bs)
	w.U64(sf.Bfree * bs)
	w.U64(sf.Bavail * bs)
	w.U64(sf.Files)
	w.U64(sf.Ffree)
	w.U64(sf.Ffree)
	w.U32(0) // invarsec: the view changes live
	return q.node, wire.NFS3OK
}

func (s *Server) fsinfo(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	if st != wire.NFS3OK {
		return noObj(w, st)
	}
	w.U32(wire.NFS3OK)
	postOp(w, &q.attr, q.fsid)
	w.U32(maxIO)    // rtmax
	w.U32(maxIO)    // rtpref
	w.U32(4096)     // rtmult
	w.U32(maxIO)    // wtmax
	w.U32(maxIO)    // wtpref
	w.U32(4096)     // wtmult
	w.U32(64 << 10) // dtpref
	w.U64(1<<63 - 1)
	w.U32(0) // time_delta: 1 ns
	w.U32(1)
	w.U32(0x1 | 0x2 | 0x8 | 0x10) // LINK, SYMLINK, HOMOGENEOUS, CANSETTIME
	return q.node, wire.NFS3OK
}

func (s *Server) pathconf(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	if st != wire.NFS3OK {
		return noObj(w, st)
	}
	w.U32(wire.NFS3OK)
	postOp(w, &q.attr, q.fsid)
	w.U32(65000)  // linkmax
	w.U32(255)    // name_max
	w.Bool(true)  // no_trunc
	w.Bool(true)  // chown_restricted
	w.Bool(false) // case_insensitive
	w.Bool(true)  // case_preserving
	return q.node, wire.NFS3OK
}

func (s *Server) commit(c *call, r *wire.R, w *writer) (string, uint32) {
	q, st := s.fh(c, r)
	r.U64()
	r.U32()
	if st != wire.NFS3OK {
		return noWcc(w, st)
	}
	a := q.attr
	if a.IsRegular() {
		// Flush what earlier WRITEs left in the page cache through a read-only open:
		// opening for writing would copy an unmodified file up into the node's own layer
		// (clients send COMMIT on close even after mere reads).
		h, err := q.v.Open(q.path, os.O_RDONLY)
		if err == nil {
			if fd := h.Fd(); fd >= 0 {
				if err = syscall.Fsync(fd); err == syscall.EINVAL || err == syscall.EROFS {
					err = nil
				}
			}
			h.Close()
		}
		if err != nil {
			w.U32(statusOf(err))
			wcc(w, &a, &a, q.fsid)
			return q.node, statusOf(err)
		}
	}
	w.U32(wire.NFS3OK)
	wcc(w, &a, &a, q.fsid)
	w.Fixed(s.verf[:])
	return q.node, wire.NFS3OK
}
