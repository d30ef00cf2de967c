package fs

import (
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"syscall"

	"statelite/resolver"
	"statelite/tables"
)

// FileMode converts a unix mode (file type and all 12 permission bits) to an os.FileMode.
func FileMode(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	switch m & syscall.S_IFMT {
	case syscall.S_IFDIR:
		fm |= os.ModeDir
	case syscall.S_IFLNK:
		fm |= os.ModeSymlink
	case syscall.S_IFIFO:
		fm |= os.ModeNamedPipe
	case syscall.S_IFSOCK:
		fm |= os.ModeSocket
	case syscall.S_IFCHR:
		fm |= os.ModeDevice | os.ModeCharDevice
	case syscall.S_IFBLK:
		fm |= os.ModeDevice
	}
	if m&syscall.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&syscall.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&syscall.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// applyMeta sets owner, mode and times on a fresh object (not following a final symlink)
// and records its origin file id.
func applyMeta(full string, a Attr, origin uint64) error {
	if err := os.Lchown(full, int(a.UID), int(a.GID)); err != nil {
		return err
	}
	if a.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		if err := syscall.Chmod(full, a.Mode&0o7777); err != nil {
			return err
		}
		if err := os.Chtimes(full, a.Atime, a.Mtime); err != nil {
			return err
		}
		if origin != 0 {
			writeOrigin(full, origin)
		}
	}
	return nil
}

// ensureUpperDir makes sure directory p exists in the volatile layer (copying up the
// directories on the way with their attributes and ids).
func (v *Pinned) ensureUpperDir(udir, p string) error {
	if p == "/" {
		return nil
	}
	if fi, err := os.Lstat(path.Join(udir, p)); err == nil {
		if !fi.IsDir() {
			return errno("mkdir", p, syscall.ENOTDIR)
		}
		return nil
	}
	if err := v.ensureUpperDir(udir, path.Dir(p)); err != nil {
		return err
	}
	o, err := v.lookup(p)
	if err != nil {
		return err
	}
	if !o.attr.IsDir() {
		return errno("mkdir", p, syscall.ENOTDIR)
	}
	full := path.Join(udir, p)
	if err := os.Mkdir(full, 0o700); err != nil {
		return err
	}
	os.Remove(path.Join(udir, whiteoutOf(p)))
	return applyMeta(full, o.attr, o.attr.FileID)
}

// copyObject copies one object (not a directory's contents) to dst, keeping attributes
// and recording its file id as the origin.
func (v *Pinned) copyObject(o *object, dst string) error {
	a := o.attr
	switch {
	case o.kind == kSynthDir || a.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
	case o.kind == kSynthFile:
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	case o.kind == kMtab || a.IsSymlink():
		target := mtabTarget
		if o.kind != kMtab {
			t, err := os.Readlink(o.full())
			if err != nil {
				return err
			}
			target = t
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case o.kind == kCon || a.IsRegular():
		if err := v.copyContent(o, dst); err != nil {
			return err
		}
	default: // fifo, socket, device
		if err := syscall.Mknod(dst, a.Mode, int(a.Rdev)); err != nil {
			return err
		}
	}
	origin := a.FileID
	if !a.IsDir() && a.Nlink > 1 && o.kind == kLayer {
		// A hard-linked lower file: its other names keep showing the lower object, so
		// the copy is a different object and gets its own id.
		origin = 0
	}
	return applyMeta(dst, a, origin)
}

// copyContent writes the bytes of a regular or con object to a new file dst.
func (v *Pinned) copyContent(o *object, dst string) error {
	h, err := v.openRead(o)
	if err != nil {
		return err
	}
	defer h.Close()
	tmp := dst + ".statelite-copy"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, io.NewSectionReader(h, 0, int64(o.attr.Size)))
	if err == nil {
		err = f.Close()
	} else {
		f.Close()
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// copyUp makes the object at p exist in the volatile layer; the caller holds v.mu.
func (v *Pinned) copyUpVolatile(o *object) (*object, error) {
	if o.kind == kUpper {
		return o, nil
	}
	udir := v.upper.Load().dir
	if err := v.ensureUpperDir(udir, path.Dir(o.path)); err != nil {
		return nil, err
	}
	dst := path.Join(udir, o.path)
	if err := v.copyObject(o, dst); err != nil {
		return nil, err
	}
	os.Remove(path.Join(udir, whiteoutOf(o.path)))
	return v.lookup(o.path)
}

// copyUpDeep copies a directory with its whole merged content into the volatile layer
// and marks it opaque (used before renaming a directory).
func (v *Pinned) copyUpDeep(o *object) (*object, error) {
	o, err := v.copyUpVolatile(o)
	if err != nil || !o.attr.IsDir() {
		return o, err
	}
	ents, err := v.readDir(o.path)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		c, err := v.lookup(path.Join(o.path, e.Name))
		if err != nil {
			return nil, err
		}
		if c.store != stVolatile {
			return nil, errno("rename", c.path, syscall.EXDEV)
		}
		if _, err := v.copyUpDeep(c); err != nil {
			return nil, err
		}
	}
	markOpaque(path.Join(o.root, o.rel))
	return o, nil
}

func markOpaque(full string) { touch(path.Join(full, opqMarker)) }

// touch creates an empty marker file (a whiteout or an opaque-directory marker).
func touch(full string) error {
	f, err := os.OpenFile(full, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// ensurePersist copies the persistent entry governing o into PR at its first write: a
// directory is copied whole (docs/behaviour.md#persistent-files), a file alone. The
// caller holds v.mu.
func (v *Pinned) ensurePersist(o *object) error {
	pl, err := v.Plan()
	if err != nil {
		return err
	}
	e := o.entry
	dst := path.Join(pl.PR, e.Path)
	// The statemnt directory must be there (an admin's mount): never write persistent
	// data to whatever lies beneath an unmounted export (xCAT issue 1873).
	if fi, err := os.Stat(path.Dir(pl.PR)); err != nil || !fi.IsDir() {
		slog.Error("persistent write refused: statemnt directory missing", "node", v.node, "path", o.path, "statemnt", path.Dir(pl.PR))
		return errno("write", o.path, syscall.EIO)
	}
	if err := v.srv.layers.mkdirBeneath(pl.PR, path.Dir(e.Path)); err != nil {
		return errno("write", o.path, syscall.ENOTDIR)
	}
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	src, err := v.lookup(e.Path)
	if err != nil {
		return err
	}
	// Copy into a staging directory in the node's own directory, under a name no view
	// shows (whiteout prefix), then rename: readers never see a half-copied directory.
	st, err := newStaging(pl.PR)
	if err != nil {
		return err
	}
	defer st.remove()
	if err := v.copyTree(src, path.Join(st.dir, "c")); err != nil {
		return err
	}
	return os.Rename(path.Join(st.dir, "c"), dst)
}

// mkdirBeneath makes directory rel (and its parents) inside root, never going through a
// symlink: a link copied into PR from a source (a whole persistent directory) must not
// lead the server out of PR.
//
// A root made anew here (an admin removed a node's persistent directory while it ran)
// replaces the one the layers keep open, at once.
func (c *layers) mkdirBeneath(root, rel string) error {
	if _, err := os.Lstat(root); err != nil {
		// The node's own directory: private (see privateDir).
		if err := os.MkdirAll(root, 0o700); err != nil {
			return err
		}
		c.forget(root)
	}
	cur := root
	for _, comp := range strings.Split(strings.Trim(rel, "/"), "/") {
		if comp == "" {
			continue
		}
		cur = path.Join(cur, comp)
		fi, err := os.Lstat(cur)
		if err == nil {
			if !fi.IsDir() {
				return errno("mkdir", cur, syscall.ENOTDIR)
			}
			continue
		}
		if err := os.Mkdir(cur, 0o755); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return nil
}

// copyTree copies a layer object and, for a directory, everything below it.
func (v *Pinned) copyTree(o *object, dst string) error {
	if err := v.copyObject(o, dst); err != nil {
		return err
	}
	if o.kind != kLayer || !o.attr.IsDir() {
		return nil
	}
	ents, err := os.ReadDir(o.full())
	if err != nil {
		return err
	}
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil {
			continue
		}
		l := resolver.Layer{Kind: o.lower.Kind, Root: o.root, Rel: path.Join(o.rel, de.Name()), ID: o.lower.ID}
		c := &object{path: path.Join(o.path, de.Name()), kind: kLayer, root: o.root, rel: l.Rel, fi: fi, lower: &l}
		c.attr = statAttr(fi)
		c.attr.FileID = layerID(l, fi)
		if err := v.copyTree(c, path.Join(dst, de.Name())); err != nil {
			return err
		}
	}
	// Restore the directory's times after its children were written.
	return os.Chtimes(dst, o.attr.Atime, o.attr.Mtime)
}

// writable returns o made writable in its storage (copied up), or EROFS.
func (v *Pinned) writable(o *object, op string) (*object, error) {
	switch o.store {
	case stVolatile:
		return v.copyUpVolatile(o)
	case stPersistent:
		if o.kind == kPersist {
			return o, nil
		}
		if err := v.ensurePersist(o); err != nil {
			return nil, err
		}
		return v.lookup(o.path)
	}
	return nil, errno(op, o.path, syscall.EROFS)
}

// storageOf says where writes to a (possibly missing) path p would go, and the entry.
func (v *Pinned) storageOf(p string) (storage, *resolver.Entry, error) {
	pl, err := v.Plan()
	if err != nil {
		return stReadOnly, nil, errno("lookup", p, syscall.EIO)
	}
	e := pl.Lookup(p)
	if e == nil || p == "/etc/mtab" {
		return stReadOnly, e, nil
	}
	switch e.Opt.Class {
	case tables.ReadOnly, tables.LocalDisk:
		return stReadOnly, e, nil
	case tables.Persistent:
		if pl.PR != "" {
			return stPersistent, e, nil
		}
	}
	return stVolatile, e, nil
}
