package fs

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"statelite/internal/sys"
)

// Cred is the caller of an operation: new objects are owned by it.
type Cred struct {
	UID, GID uint32
}

// Root is the superuser credential.
var Root = Cred{}

// DirEntry is one name of a directory listing with its attributes.
type DirEntry struct {
	Name string
	Attr Attr
}

// SetAttr says which attributes Setattr changes (nil: unchanged).
type SetAttr struct {
	Mode  *uint32 // permission bits, including setuid/setgid/sticky
	UID   *uint32
	GID   *uint32
	Size  *uint64
	Atime *time.Time
	Mtime *time.Time
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOENT)
}

// Getattr returns the attributes of path p.
func (v *Pinned) Getattr(p string) (Attr, error) {
	p, err := cleanPath(p)
	if err != nil {
		return Attr{}, err
	}
	o, err := v.lookup(p)
	if err != nil {
		return Attr{}, err
	}
	return o.attr, nil
}

// Readlink returns the target of symbolic link p.
func (v *Pinned) Readlink(p string) (string, error) {
	p, err := cleanPath(p)
	if err != nil {
		return "", err
	}
	o, err := v.lookup(p)
	if err != nil {
		return "", err
	}
	if o.kind == kMtab {
		return mtabTarget, nil
	}
	if !o.attr.IsSymlink() {
		return "", errno("readlink", p, syscall.EINVAL)
	}
	r, err := os.OpenRoot(o.root)
	if err != nil {
		return "", err
	}
	defer r.Close()
	return r.Readlink(relName(o.rel))
}

// ReadDir lists directory p: merged, sorted by name, stable across calls. The slice may
// be shared with other calls and views: callers must not modify it.
func (v *Pinned) ReadDir(p string) ([]DirEntry, error) {
	p, err := cleanPath(p)
	if err != nil {
		return nil, err
	}
	return v.readDir(p)
}

func (v *Pinned) readDir(p string) ([]DirEntry, error) {
	o, err := v.lookup(p)
	if err != nil {
		return nil, err
	}
	if !o.attr.IsDir() {
		return nil, errno("readdir", p, syscall.ENOTDIR)
	}
	pl, err := v.Plan()
	if err != nil {
		return nil, err
	}
	// A directory of the image that no entry covers or lies below is the same for every
	// node: its listing is shared and kept for up to a second while the directory itself
	// (inode, mtime, ctime) is unchanged.
	imageOnly := o.kind == kLayer && o.entry == nil && o.root == pl.Root && len(pl.ChildNames(p)) == 0
	var key listKey
	if imageOnly {
		key = listKeyOf(o)
		if ents, ok := v.srv.lists.get(key, v.pc.changed); ok {
			return ents, nil
		}
	}
	names := map[string]bool{}
	add := func(full string) {
		ents, err := os.ReadDir(full)
		if err != nil {
			return
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), whPrefix) {
				names[e.Name()] = true
			}
		}
	}
	switch o.kind {
	case kLayer, kPersist:
		add(o.full())
	case kUpper:
		add(o.full())
		// The lower layer shows through unless the directory is opaque.
		if _, err := os.Lstat(path.Join(o.full(), opqMarker)); err != nil {
			if low, err := v.lowerOf(o); err == nil && low != "" {
				add(low)
			}
		}
	}
	for _, n := range pl.ChildNames(p) {
		names[n] = true
	}
	out := make([]DirEntry, 0, len(names))
	// The children of an image directory that no litefile entry covers are, unless an
	// entry is at or below them, that image's own files: stat them relative to the open
	// directory, one fstatat each, instead of a lookup from the view's root.
	dfd := -1
	raw := false
	var dw *dirWatch
	var gen uint64
	if o.kind == kLayer && o.entry == nil && o.root == pl.Root {
		if f, err := v.srv.layers.open(o.root, o.rel, syscall.O_RDONLY|syscall.O_DIRECTORY); err == nil {
			defer f.Close()
			dfd = int(f.Fd())
			raw = rawOK(dfd)
			if imageOnly {
				dw, gen = v.srv.lists.watch(dfd) // before anything is read
			}
		}
	}
	for n := range names {
		c := path.Join(p, n)
		if dfd >= 0 && c != "/etc/mtab" && pl.Lookup(c) == nil && !pl.Below(c) {
			si := &statInfo{name: n}
			if err := fstatat(dfd, n, &si.st, raw); err == nil {
				a := statAttr(si)
				a.FileID = layerID(pl.ImageLayer(c), si)
				if a.IsDir() && v.pc.changed.After(a.Ctime) {
					a.Ctime = v.pc.changed // as lookup does
				}
				out = append(out, DirEntry{Name: n, Attr: a})
				continue
			}
		}
		co, err := v.lookup(c)
		if err != nil {
			continue // whited out, or gone meanwhile
		}
		out = append(out, DirEntry{Name: n, Attr: co.attr})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if imageOnly {
		v.srv.lists.put(key, out, dw, gen)
	}
	return out, nil
}

// lowerOf returns the full path of the lower directory under a volatile upper directory.
func (v *Pinned) lowerOf(o *object) (string, error) {
	pl, err := v.Plan()
	if err != nil {
		return "", err
	}
	res := pl.Resolve(v.srv.layers, o.path)
	if len(res.Base) == 0 || res.Base[0].Kind == "synthetic" || res.Base[0].Kind == "symlink" {
		return "", nil
	}
	return res.Base[0].Full(), nil
}

// Open opens file p with os.O_* flags (O_WRONLY, O_RDWR, O_TRUNC copy it up first).
func (v *Pinned) Open(p string, flag int) (*Handle, error) {
	p, err := cleanPath(p)
	if err != nil {
		return nil, err
	}
	o, err := v.lookup(p)
	if err != nil {
		return nil, err
	}
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_TRUNC|os.O_APPEND) == 0 {
		return v.openRead(o)
	}
	if o.attr.IsDir() {
		return nil, errno("open", p, syscall.EISDIR)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	// Look again under the lock: another request may have copied it up meanwhile.
	if o, err = v.lookup(p); err != nil {
		return nil, err
	}
	if o, err = v.writable(o, "open"); err != nil {
		return nil, err
	}
	return openWrite(o, flag)
}

func openWrite(o *object, flag int) (*Handle, error) {
	if !o.attr.IsRegular() {
		return nil, errno("open", o.path, syscall.EINVAL)
	}
	r, err := os.OpenRoot(o.root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// Handles write at explicit offsets, so O_APPEND is the caller's business.
	f, err := r.OpenFile(relName(o.rel), (flag&(os.O_TRUNC|os.O_SYNC))|os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	return &Handle{f: f, write: true}, nil
}

// prepareCreate checks that a new object may be made at p and returns the directory of
// its storage where it must be created; the caller holds v.mu.
func (v *Pinned) prepareCreate(p string) (string, storage, error) {
	if p == "/" {
		return "", 0, errno("create", p, syscall.EEXIST)
	}
	par, err := v.lookup(path.Dir(p))
	if err != nil {
		return "", 0, err
	}
	if !par.attr.IsDir() {
		return "", 0, errno("create", p, syscall.ENOTDIR)
	}
	if _, err := v.lookup(p); err == nil {
		return "", 0, errno("create", p, syscall.EEXIST)
	} else if !isNotExist(err) {
		return "", 0, err
	}
	st, e, err := v.storageOf(p)
	if err != nil {
		return "", 0, err
	}
	switch st {
	case stVolatile:
		udir := v.upper.Load().dir
		if err := v.ensureUpperDir(udir, path.Dir(p)); err != nil {
			return "", 0, err
		}
		return udir, st, nil
	case stPersistent:
		if err := v.ensurePersist(&object{path: p, entry: e}); err != nil {
			return "", 0, err
		}
		pl, _ := v.Plan()
		// The entry's copy may lack the parents of a deep path: make them.
		if err := v.srv.layers.mkdirBeneath(pl.PR, path.Dir(p)); err != nil {
			return "", 0, err
		}
		return pl.PR, st, nil
	}
	return "", 0, errno("create", p, syscall.EROFS)
}

// created finishes a new object: owner from cred, whiteout removed, opaque when a
// directory replaces a deleted lower one.
func (v *Pinned) created(dir string, st storage, p string, cred Cred, isDir bool) (Attr, error) {
	full := path.Join(dir, p)
	if err := os.Lchown(full, int(cred.UID), int(cred.GID)); err != nil {
		os.Remove(full)
		return Attr{}, err
	}
	// A fresh file id, so a new object never takes the id of a deleted one whose inode
	// the file system reuses (symlinks cannot carry user xattrs: they keep inode ids).
	if fi, err := os.Lstat(full); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		writeOrigin(full, hashID("N", v.node, p, inoString(fi), strconv.FormatInt(time.Now().UnixNano(), 10)))
	}
	if st == stVolatile {
		if err := os.Remove(path.Join(dir, whiteoutOf(p))); err == nil && isDir {
			markOpaque(full)
		}
	}
	o, err := v.lookup(p)
	if err != nil {
		return Attr{}, err
	}
	return o.attr, nil
}

// Create makes regular file p with permission bits mode, owned by cred, and opens it for
// writing. An existing p gives EEXIST.
func (v *Pinned) Create(p string, mode uint32, cred Cred) (*Handle, Attr, error) {
	p, err := cleanPath(p)
	if err != nil {
		return nil, Attr{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	dir, st, err := v.prepareCreate(p)
	if err != nil {
		return nil, Attr{}, err
	}
	full := path.Join(dir, p)
	f, err := os.OpenFile(full, os.O_CREATE|os.O_EXCL|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, Attr{}, err
	}
	if err := f.Chmod(FileMode(mode & 0o7777)); err != nil {
		f.Close()
		return nil, Attr{}, err
	}
	a, err := v.created(dir, st, p, cred, false)
	if err != nil {
		f.Close()
		return nil, Attr{}, err
	}
	return &Handle{f: f, write: true}, a, nil
}

// Mkdir makes directory p.
func (v *Pinned) Mkdir(p string, mode uint32, cred Cred) (Attr, error) {
	p, err := cleanPath(p)
	if err != nil {
		return Attr{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	dir, st, err := v.prepareCreate(p)
	if err != nil {
		return Attr{}, err
	}
	full := path.Join(dir, p)
	if err := os.Mkdir(full, 0o700); err != nil {
		return Attr{}, err
	}
	if err := syscall.Chmod(full, mode&0o7777); err != nil {
		return Attr{}, err
	}
	return v.created(dir, st, p, cred, true)
}

// Symlink makes symbolic link p pointing at target (stored verbatim, never followed).
func (v *Pinned) Symlink(target, p string, cred Cred) (Attr, error) {
	p, err := cleanPath(p)
	if err != nil {
		return Attr{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	dir, st, err := v.prepareCreate(p)
	if err != nil {
		return Attr{}, err
	}
	if err := os.Symlink(target, path.Join(dir, p)); err != nil {
		return Attr{}, err
	}
	return v.created(dir, st, p, cred, false)
}

// Mknod makes a fifo, socket, or character or block device p; mode holds the type bits.
func (v *Pinned) Mknod(p string, mode uint32, rdev uint64, cred Cred) (Attr, error) {
	p, err := cleanPath(p)
	if err != nil {
		return Attr{}, err
	}
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO, syscall.S_IFSOCK, syscall.S_IFCHR, syscall.S_IFBLK:
	default:
		return Attr{}, errno("mknod", p, syscall.EINVAL)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	dir, st, err := v.prepareCreate(p)
	if err != nil {
		return Attr{}, err
	}
	full := path.Join(dir, p)
	if err := syscall.Mknod(full, mode&(syscall.S_IFMT|0o777), int(rdev)); err != nil {
		return Attr{}, errno("mknod", p, err.(syscall.Errno))
	}
	syscall.Chmod(full, mode&0o7777)
	return v.created(dir, st, p, cred, false)
}

// Setattr changes mode, owner, size or times of p (copying it up first).
func (v *Pinned) Setattr(p string, sa SetAttr) (Attr, error) {
	p, err := cleanPath(p)
	if err != nil {
		return Attr{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	o, err := v.lookup(p)
	if err != nil {
		return Attr{}, err
	}
	if sa.Size != nil && !o.attr.IsRegular() {
		if o.attr.IsDir() {
			return Attr{}, errno("truncate", p, syscall.EISDIR)
		}
		return Attr{}, errno("truncate", p, syscall.EINVAL)
	}
	if o, err = v.writable(o, "setattr"); err != nil {
		return Attr{}, err
	}
	full := o.full()
	if sa.UID != nil || sa.GID != nil {
		uid, gid := -1, -1
		if sa.UID != nil {
			uid = int(*sa.UID)
		}
		if sa.GID != nil {
			gid = int(*sa.GID)
		}
		if err := os.Lchown(full, uid, gid); err != nil {
			return Attr{}, err
		}
	}
	symlink := o.attr.IsSymlink()
	if sa.Mode != nil && !symlink {
		if err := syscall.Chmod(full, *sa.Mode&0o7777); err != nil {
			return Attr{}, err
		}
	}
	if sa.Size != nil {
		if err := os.Truncate(full, int64(*sa.Size)); err != nil {
			return Attr{}, err
		}
	}
	if (sa.Atime != nil || sa.Mtime != nil) && !symlink {
		cur, err := os.Lstat(full)
		if err != nil {
			return Attr{}, err
		}
		a := statAttr(cur)
		at, mt := a.Atime, a.Mtime
		if sa.Atime != nil {
			at = *sa.Atime
		}
		if sa.Mtime != nil {
			mt = *sa.Mtime
		}
		if err := os.Chtimes(full, at, mt); err != nil {
			return Attr{}, err
		}
	}
	o, err = v.lookup(p)
	if err != nil {
		return Attr{}, err
	}
	return o.attr, nil
}

// removeCheck returns the object at p for removal, refusing read-only paths and the
// path of a persistent entry itself (a mount point on xCAT nodes: EBUSY).
func (v *Pinned) removeCheck(p, op string) (*object, error) {
	if p == "/" {
		return nil, errno(op, p, syscall.EBUSY)
	}
	o, err := v.lookup(p)
	if err != nil {
		return nil, err
	}
	if o.store == stReadOnly {
		return nil, errno(op, p, syscall.EROFS)
	}
	if o.store == stPersistent && o.entry != nil && o.entry.Path == p {
		return nil, errno(op, p, syscall.EBUSY)
	}
	pl, err := v.Plan()
	if err != nil {
		return nil, err
	}
	if pl.Below(p) {
		return nil, errno(op, p, syscall.EBUSY) // holds other entries
	}
	return o, nil
}

// drop removes the object's own copy and, in the volatile layer, leaves a whiteout when
// something below would show through again.
func (v *Pinned) drop(o *object) error {
	switch o.kind {
	case kUpper, kPersist:
		if err := os.RemoveAll(o.full()); err != nil {
			return err
		}
	}
	if o.store != stVolatile {
		return nil
	}
	if _, err := v.lookup(o.path); err != nil {
		return nil
	}
	udir := v.upper.Load().dir
	if err := v.ensureUpperDir(udir, path.Dir(o.path)); err != nil {
		return err
	}
	return touch(path.Join(udir, whiteoutOf(o.path)))
}

// Remove deletes non-directory p.
func (v *Pinned) Remove(p string) error {
	p, err := cleanPath(p)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	o, err := v.removeCheck(p, "remove")
	if err != nil {
		return err
	}
	if o.attr.IsDir() {
		return errno("remove", p, syscall.EISDIR)
	}
	return v.dropAt(o, p)
}

// dropAt removes the object at p, first copying its persistent entry to PR when the
// node has no copy yet (a removal is a write).
func (v *Pinned) dropAt(o *object, p string) error {
	if o.store == stPersistent && o.kind != kPersist {
		if err := v.ensurePersist(o); err != nil {
			return err
		}
		var err error
		if o, err = v.lookup(p); err != nil {
			return err
		}
	}
	return v.drop(o)
}

// Rmdir deletes empty directory p (ENOTEMPTY otherwise).
func (v *Pinned) Rmdir(p string) error {
	p, err := cleanPath(p)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	o, err := v.removeCheck(p, "rmdir")
	if err != nil {
		return err
	}
	if !o.attr.IsDir() {
		return errno("rmdir", p, syscall.ENOTDIR)
	}
	ents, err := v.readDir(p)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return errno("rmdir", p, syscall.ENOTEMPTY)
	}
	return v.dropAt(o, p)
}

// Rename moves a to b within one writable storage (EXDEV across storages).
func (v *Pinned) Rename(a, b string) error {
	a, err := cleanPath(a)
	if err != nil {
		return err
	}
	if b, err = cleanPath(b); err != nil {
		return err
	}
	if a == b {
		return nil
	}
	if strings.HasPrefix(b, a+"/") {
		return errno("rename", b, syscall.EINVAL)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	oa, err := v.removeCheck(a, "rename")
	if err != nil {
		return err
	}
	stb, eb, err := v.storageOf(b)
	if err != nil {
		return err
	}
	if stb == stReadOnly {
		return errno("rename", b, syscall.EROFS)
	}
	if stb != oa.store {
		return errno("rename", b, syscall.EXDEV)
	}
	pl, _ := v.Plan()
	// Nothing replaces a directory entry or a persistent entry's path (mount points on
	// xCAT nodes), and no directory moves onto a file entry's path: below a file entry
	// the image governs, so the moved tree's content would vanish from the view.
	if pl.Below(b) || (eb != nil && eb.Path == b && (eb.IsDir() || stb == stPersistent || oa.attr.IsDir())) {
		return errno("rename", b, syscall.EBUSY)
	}
	par, err := v.lookup(path.Dir(b))
	if err != nil {
		return err
	}
	if !par.attr.IsDir() {
		return errno("rename", b, syscall.ENOTDIR)
	}
	ob, err := v.lookup(b)
	if err == nil {
		switch {
		case oa.attr.IsDir() && !ob.attr.IsDir():
			return errno("rename", b, syscall.ENOTDIR)
		case !oa.attr.IsDir() && ob.attr.IsDir():
			return errno("rename", b, syscall.EISDIR)
		case ob.attr.IsDir():
			if ents, err := v.readDir(b); err != nil || len(ents) > 0 {
				return errno("rename", b, syscall.ENOTEMPTY)
			}
		}
	} else if !isNotExist(err) {
		return err
	} else {
		ob = nil
	}
	if oa.store == stPersistent {
		if err := v.ensurePersist(oa); err != nil {
			return err
		}
		if err := v.ensurePersist(&object{path: b, entry: eb}); err != nil {
			return err
		}
		if err := v.srv.layers.mkdirBeneath(pl.PR, path.Dir(b)); err != nil {
			return err
		}
		if ob != nil && ob.attr.IsDir() {
			os.Remove(path.Join(pl.PR, b))
		}
		return os.Rename(path.Join(pl.PR, a), path.Join(pl.PR, b))
	}
	if oa, err = v.copyUpDeep(oa); err != nil {
		return err
	}
	udir := v.upper.Load().dir
	if err := v.ensureUpperDir(udir, path.Dir(b)); err != nil {
		return err
	}
	if ob != nil && ob.kind == kUpper {
		if err := os.RemoveAll(ob.full()); err != nil {
			return err
		}
	}
	if err := os.Rename(path.Join(udir, a), path.Join(udir, b)); err != nil {
		return err
	}
	os.Remove(path.Join(udir, whiteoutOf(b)))
	if ob != nil && oa.attr.IsDir() {
		markOpaque(path.Join(udir, b))
	}
	// Whatever still shows at a (a lower object) must be hidden.
	if _, err := v.lookup(a); err == nil {
		if err := touch(path.Join(udir, whiteoutOf(a))); err != nil {
			return err
		}
	}
	return nil
}

// Link makes newp a hard link to oldp within one writable layer.
func (v *Pinned) Link(oldp, newp string) (Attr, error) {
	oldp, err := cleanPath(oldp)
	if err != nil {
		return Attr{}, err
	}
	if newp, err = cleanPath(newp); err != nil {
		return Attr{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	o, err := v.lookup(oldp)
	if err != nil {
		return Attr{}, err
	}
	if o.attr.IsDir() {
		return Attr{}, errno("link", oldp, syscall.EPERM)
	}
	dir, st, err := v.prepareCreate(newp)
	if err != nil {
		return Attr{}, err
	}
	if st != o.store {
		return Attr{}, errno("link", newp, syscall.EXDEV)
	}
	if o, err = v.writable(o, "link"); err != nil {
		return Attr{}, err
	}
	if err := os.Link(o.full(), path.Join(dir, newp)); err != nil {
		return Attr{}, err
	}
	if st == stVolatile {
		os.Remove(path.Join(dir, whiteoutOf(newp)))
	}
	no, err := v.lookup(newp)
	if err != nil {
		return Attr{}, err
	}
	return no.attr, nil
}

// Statfs describes the space behind the node's writable layer.
func (v *Pinned) Statfs() (syscall.Statfs_t, error) {
	var st syscall.Statfs_t
	err := syscall.Statfs(v.upper.Load().dir, &st)
	return st, err
}

// fstatat describes name in directory dirfd without following a symlink; raw: as a raw
// system call (see layers.openRO).
func fstatat(dirfd int, name string, st *syscall.Stat_t, raw bool) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if e := sys.LstatAt(dirfd, p, st, raw); e != 0 {
		return e
	}
	return nil
}
