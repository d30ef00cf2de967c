package fusefs

import (
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"slices"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	sfs "statelite/fs"
)

// node is one inode of the mount: the view path it answers for is its place in the
// kernel's tree (recomputed on each call, so a rename moves it and its subtree).
type node struct {
	gofs.Inode
	st *mountState
	// unref: Invalidate found the node unreferenced by the kernel (guarded by st.mu).
	unref bool
}

var (
	_ gofs.NodeLookuper    = (*node)(nil)
	_ gofs.NodeGetattrer   = (*node)(nil)
	_ gofs.NodeSetattrer   = (*node)(nil)
	_ gofs.NodeReaddirer   = (*node)(nil)
	_ gofs.NodeOpener      = (*node)(nil)
	_ gofs.NodeCreater     = (*node)(nil)
	_ gofs.NodeMkdirer     = (*node)(nil)
	_ gofs.NodeMknoder     = (*node)(nil)
	_ gofs.NodeSymlinker   = (*node)(nil)
	_ gofs.NodeLinker      = (*node)(nil)
	_ gofs.NodeReadlinker  = (*node)(nil)
	_ gofs.NodeUnlinker    = (*node)(nil)
	_ gofs.NodeRmdirer     = (*node)(nil)
	_ gofs.NodeRenamer     = (*node)(nil)
	_ gofs.NodeStatfser    = (*node)(nil)
	_ gofs.NodeOnForgetter = (*node)(nil)
)

// Rename flags of renameat2(2) (not in package syscall).
const (
	renameNoreplace = 1 << 0
	renameExchange  = 1 << 1
)

// path returns the view path of n; false when n is no longer in the tree (deleted, or
// replaced while still in use).
func (n *node) path() (string, bool) {
	root := n.st.root.EmbeddedInode()
	var segs []string
	for cur := n.EmbeddedInode(); cur != root; {
		name, p := cur.Parent()
		if p == nil {
			return "", false
		}
		segs = append(segs, name)
		cur = p
	}
	slices.Reverse(segs)
	return "/" + path.Join(segs...), true
}

// childPath returns the view path of name in directory n.
func (n *node) childPath(name string) (string, syscall.Errno) {
	dp, ok := n.path()
	if !ok {
		return "", syscall.ENOENT
	}
	return path.Join(dp, name), 0
}

// ino turns a file id into an inode number go-fuse accepts (1 and ^0 are reserved).
func ino(id uint64) uint64 {
	if id == 1 || id == ^uint64(0) {
		return id ^ 0x5a5a5a5a5a5a5a5a
	}
	return id
}

func fillAttr(out *fuse.Attr, a sfs.Attr) {
	out.Ino = ino(a.FileID)
	out.Size = a.Size
	out.Blocks = a.Blocks
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	if out.Nlink == 0 {
		out.Nlink = 1
	}
	out.Uid, out.Gid = a.UID, a.GID
	out.Rdev = uint32(a.Rdev)
	out.Blksize = 4096
	out.SetTimes(&a.Atime, &a.Mtime, &a.Ctime)
}

func fillEntry(out *fuse.EntryOut, a sfs.Attr) {
	fillAttr(&out.Attr, a)
}

// errno maps an engine error to the errno the kernel gets.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, iofs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, iofs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, iofs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, iofs.ErrClosed):
		return syscall.EBADF
	}
	return syscall.EIO
}

// fail maps err and logs what becomes EIO, which tells the user nothing.
func (st *mountState) fail(op, p string, err error) syscall.Errno {
	e := errno(err)
	if e == syscall.EIO {
		st.log.Warn("fuse: I/O error", "op", op, "path", p, "err", err)
	}
	return e
}

// cred returns the owner of an object made by the caller in directory dir: the caller,
// with the directory's group when it is setgid (and whether it is).
func (st *mountState) cred(ctx context.Context, dir string) (sfs.Cred, bool) {
	c := sfs.Root
	if caller, ok := fuse.FromContext(ctx); ok {
		c = sfs.Cred{UID: caller.Uid, GID: caller.Gid}
	}
	if a, err := st.view.Getattr(dir); err == nil && a.Mode&syscall.S_ISGID != 0 {
		c.GID = a.GID
		return c, true
	}
	return c, false
}

// Lookup finds name in directory n.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	a, err := n.st.view.Getattr(p)
	if err != nil {
		return nil, n.st.fail("lookup", p, err)
	}
	fillEntry(out, a)
	return n.st.register(ctx, n, a), 0
}

// Getattr reports n's attributes; an open file no longer reachable by its path (deleted,
// or replaced by a table change) answers from its open handle.
func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	sa := n.StableAttr()
	p, ok := n.path()
	var err error = syscall.ENOENT
	if ok {
		var a sfs.Attr
		a, err = n.st.view.Getattr(p)
		if err == nil && ino(a.FileID) == sa.Ino {
			fillAttr(&out.Attr, a)
			return 0
		}
		if err == nil {
			// Another object answers at this path now.
			if h, hok := f.(*handle); hok && h.fstat(&out.Attr) {
				out.Ino = sa.Ino
				return 0
			}
			if a.Mode&syscall.S_IFMT != sa.Mode {
				return syscall.ENOENT
			}
			fillAttr(&out.Attr, a)
			out.Ino = sa.Ino
			return 0
		}
	}
	if h, hok := f.(*handle); hok && errno(err) == syscall.ENOENT && h.fstat(&out.Attr) {
		out.Ino = sa.Ino
		return 0
	}
	return n.st.fail("getattr", p, err)
}

// Setattr changes mode, owner, size or times (chmod, chown, truncate, utimes).
func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var sa sfs.SetAttr
	if m, ok := in.GetMode(); ok {
		sa.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		sa.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		sa.GID = &g
	}
	if s, ok := in.GetSize(); ok {
		sa.Size = &s
	}
	if t, ok := in.GetATime(); ok {
		sa.Atime = &t
	}
	if t, ok := in.GetMTime(); ok {
		sa.Mtime = &t
	}
	p, ok := n.path()
	if !ok {
		// Deleted while open: change the open file itself.
		if h, hok := f.(*handle); hok {
			if err := h.setattr(sa); err != nil {
				return n.st.fail("setattr", "(deleted)", err)
			}
			if h.fstat(&out.Attr) {
				out.Ino = n.StableAttr().Ino
				return 0
			}
		}
		return syscall.ENOENT
	}
	a, err := n.st.view.Setattr(p, sa)
	if err != nil {
		return n.st.fail("setattr", p, err)
	}
	fillAttr(&out.Attr, a)
	return 0
}

// Readdir lists directory n.
func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	ents, err := n.st.view.ReadDir(p)
	if err != nil {
		return nil, n.st.fail("readdir", p, err)
	}
	self := n.StableAttr().Ino
	parent := self
	if _, pi := n.Parent(); pi != nil {
		parent = pi.StableAttr().Ino
	}
	list := make([]fuse.DirEntry, 0, len(ents)+2)
	list = append(list,
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: self},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parent})
	for _, e := range ents {
		list = append(list, fuse.DirEntry{Name: e.Name, Mode: e.Attr.Mode & syscall.S_IFMT, Ino: ino(e.Attr.FileID)})
	}
	return gofs.NewListDirStream(list), 0
}

// open opens view path p for the FUSE open flags (writers get a read-write handle).
func (st *mountState) open(p string, flags uint32) (*handle, error) {
	f := os.O_RDONLY
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if write || flags&syscall.O_TRUNC != 0 {
		f = os.O_RDWR | int(flags&syscall.O_TRUNC)
	}
	h, err := st.view.Open(p, f)
	if err != nil {
		return nil, err
	}
	return &handle{h: h}, nil
}

// Open opens file n.
func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	h, err := n.st.open(p, flags)
	if err != nil {
		return nil, 0, n.st.fail("open", p, err)
	}
	return h, 0, 0
}

// Create makes and opens a regular file owned by the caller.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, nil, 0, e
	}
	cred, _ := n.st.cred(ctx, path.Dir(p))
	var fh *handle
	h, a, err := n.st.view.Create(p, mode&0o7777, cred)
	if err == nil {
		fh = &handle{h: h}
	} else if errno(err) == syscall.EEXIST && flags&syscall.O_EXCL == 0 {
		// Made meanwhile by someone else: open(2) without O_EXCL opens it.
		if a, err = n.st.view.Getattr(p); err == nil {
			fh, err = n.st.open(p, flags)
		}
	}
	if err != nil {
		return nil, nil, 0, n.st.fail("create", p, err)
	}
	fillEntry(out, a)
	return n.st.register(ctx, n, a), fh, 0, 0
}

// Mkdir makes a directory owned by the caller.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	cred, sgid := n.st.cred(ctx, path.Dir(p))
	mode &= 0o7777
	if sgid {
		mode |= syscall.S_ISGID
	}
	a, err := n.st.view.Mkdir(p, mode, cred)
	if err != nil {
		return nil, n.st.fail("mkdir", p, err)
	}
	fillEntry(out, a)
	return n.st.register(ctx, n, a), 0
}

// Mknod makes a fifo, socket or device node owned by the caller.
func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	cred, _ := n.st.cred(ctx, path.Dir(p))
	a, err := n.st.view.Mknod(p, mode, uint64(dev), cred)
	if err != nil {
		return nil, n.st.fail("mknod", p, err)
	}
	fillEntry(out, a)
	return n.st.register(ctx, n, a), 0
}

// Symlink makes a symbolic link owned by the caller.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	cred, _ := n.st.cred(ctx, path.Dir(p))
	a, err := n.st.view.Symlink(target, p, cred)
	if err != nil {
		return nil, n.st.fail("symlink", p, err)
	}
	fillEntry(out, a)
	return n.st.register(ctx, n, a), 0
}

// Link makes name in n a hard link to target.
func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	op, ok := t.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	a, err := n.st.view.Link(op, p)
	if err != nil {
		return nil, n.st.fail("link", p, err)
	}
	fillEntry(out, a)
	return n.st.register(ctx, n, a), 0
}

// Readlink returns a symbolic link's target.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	p, ok := n.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	t, err := n.st.view.Readlink(p)
	if err != nil {
		return nil, n.st.fail("readlink", p, err)
	}
	return []byte(t), 0
}

// Unlink removes non-directory name from n.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	p, e := n.childPath(name)
	if e != 0 {
		return e
	}
	if err := n.st.view.Remove(p); err != nil {
		return n.st.fail("unlink", p, err)
	}
	return 0
}

// Rmdir removes empty directory name from n.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	p, e := n.childPath(name)
	if e != 0 {
		return e
	}
	if err := n.st.view.Rmdir(p); err != nil {
		return n.st.fail("rmdir", p, err)
	}
	return 0
}

// Rename moves name of n to newName of newParent. RENAME_NOREPLACE is honoured by
// checking first (not atomic against a concurrent creator); RENAME_EXCHANGE and
// RENAME_WHITEOUT are refused with EINVAL.
func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^renameNoreplace != 0 {
		return syscall.EINVAL
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	a, e := n.childPath(name)
	if e != 0 {
		return e
	}
	b, e := np.childPath(newName)
	if e != 0 {
		return e
	}
	if flags&renameNoreplace != 0 {
		if _, err := n.st.view.Getattr(b); err == nil {
			return syscall.EEXIST
		} else if errno(err) != syscall.ENOENT {
			return n.st.fail("rename", b, err)
		}
	}
	if err := n.st.view.Rename(a, b); err != nil {
		return n.st.fail("rename", a, err)
	}
	return 0
}

// Statfs describes the space behind the node's writable layer.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	st, err := n.st.view.Statfs()
	if err != nil {
		return n.st.fail("statfs", "/", err)
	}
	out.FromStatfsT(&st)
	return 0
}

// OnForget drops n from the file id map once the kernel forgot it.
func (n *node) OnForget() { n.st.forget(n) }

// handle is an open file.
type handle struct {
	h *sfs.Handle
}

var (
	_ gofs.FileReader   = (*handle)(nil)
	_ gofs.FileWriter   = (*handle)(nil)
	_ gofs.FileFsyncer  = (*handle)(nil)
	_ gofs.FileFlusher  = (*handle)(nil)
	_ gofs.FileReleaser = (*handle)(nil)
)

// Read reads len(dest) bytes at off (fewer at the end of the file).
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.h.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write writes data at off.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.h.WriteAt(data, off)
	if err != nil {
		return uint32(n), errno(err)
	}
	return uint32(n), 0
}

// Fsync flushes the file to stable storage.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return errno(h.h.Sync())
}

// Flush is called at each close(2) of a descriptor; writes are not buffered here.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

// Release closes the file once the kernel dropped its last reference.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	return errno(h.h.Close())
}

// fstat fills out from the open file (false for con and synthetic files).
func (h *handle) fstat(out *fuse.Attr) bool {
	fd := h.h.Fd()
	if fd < 0 {
		return false
	}
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return false
	}
	out.FromStat(&st)
	return true
}

// setattr changes the open file itself (it has no path any more).
func (h *handle) setattr(sa sfs.SetAttr) error {
	fd := h.h.Fd()
	if fd < 0 {
		return syscall.ENOENT
	}
	if sa.UID != nil || sa.GID != nil {
		uid, gid := -1, -1
		if sa.UID != nil {
			uid = int(*sa.UID)
		}
		if sa.GID != nil {
			gid = int(*sa.GID)
		}
		if err := syscall.Fchown(fd, uid, gid); err != nil {
			return err
		}
	}
	if sa.Mode != nil {
		if err := syscall.Fchmod(fd, *sa.Mode&0o7777); err != nil {
			return err
		}
	}
	if sa.Size != nil {
		if err := h.h.Truncate(int64(*sa.Size)); err != nil {
			return err
		}
	}
	if sa.Atime != nil || sa.Mtime != nil {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return err
		}
		at, mt := time.Unix(st.Atim.Unix()), time.Unix(st.Mtim.Unix())
		if sa.Atime != nil {
			at = *sa.Atime
		}
		if sa.Mtime != nil {
			mt = *sa.Mtime
		}
		tv := []syscall.Timeval{syscall.NsecToTimeval(at.UnixNano()), syscall.NsecToTimeval(mt.UnixNano())}
		if err := syscall.Futimes(fd, tv); err != nil {
			return err
		}
	}
	return nil
}
