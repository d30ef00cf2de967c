package fs

import (
	"encoding/binary"
	"hash/fnv"
	"io/fs"
	"path"
	"strings"
	"syscall"
	"time"

	"statelite/internal/sys"
	"statelite/resolver"
	"statelite/tables"
)

// Attr are the attributes of a view object.
type Attr struct {
	Mode   uint32 // file type (syscall.S_IF*) and all 12 permission bits
	Nlink  uint32
	UID    uint32
	GID    uint32
	Size   uint64
	Blocks uint64 // 512-byte blocks used
	Rdev   uint64
	Atime  time.Time
	Mtime  time.Time
	Ctime  time.Time
	FileID uint64
}

// IsDir reports whether the object is a directory.
func (a Attr) IsDir() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFDIR }

// IsRegular reports whether the object is a regular file.
func (a Attr) IsRegular() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFREG }

// IsSymlink reports whether the object is a symbolic link.
func (a Attr) IsSymlink() bool { return a.Mode&syscall.S_IFMT == syscall.S_IFLNK }

type objKind int

const (
	kLayer   objKind = iota // a read-only layer (image, default, litetree source)
	kUpper                  // the node's volatile layer
	kPersist                // the node's persistent root
	kSynthDir
	kSynthFile
	kCon  // concatenation of several layer files
	kMtab // /etc/mtab -> /proc/self/mounts
)

// storage is where writes to an object's path go.
type storage int

const (
	stReadOnly storage = iota
	stVolatile
	stPersistent
)

// object is what answers at a view path right now.
type object struct {
	path  string
	kind  objKind
	store storage
	entry *resolver.Entry
	root  string // layer root for kLayer/kUpper/kPersist
	rel   string // path inside root
	con   []resolver.Layer
	fi    fs.FileInfo
	attr  Attr
	// lowerVisible: for volatile objects, whether the lower layer still shows through.
	lower *resolver.Layer
}

func (o *object) full() string { return path.Join(o.root, o.rel) }

const (
	whPrefix  = ".wh."
	opqMarker = ".wh..opq"
	originX   = "user.statelite.origin"
)

func errno(op, p string, e syscall.Errno) error { return &fs.PathError{Op: op, Path: p, Err: e} }

// relName turns a view path into a name for os.Root ("." for the root).
func relName(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// cleanPath validates a view path: absolute, clean, no whiteout names.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", errno("lookup", p, syscall.EINVAL)
	}
	c := path.Clean(p)
	if c != p && c+"/" != p {
		return "", errno("lookup", p, syscall.EINVAL)
	}
	for _, comp := range strings.Split(c, "/") {
		if len(comp) > 255 {
			return "", errno("lookup", p, syscall.ENAMETOOLONG)
		}
		if strings.HasPrefix(comp, whPrefix) {
			return "", errno("lookup", p, syscall.ENOENT)
		}
	}
	return c, nil
}

func hashID(parts ...string) uint64 {
	h := fnv.New64a()
	for _, s := range parts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	id := h.Sum64()
	if id == 0 {
		id = 1
	}
	return id
}

func inoString(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], st.Ino)
		binary.LittleEndian.PutUint64(b[8:], st.Dev)
		return string(b[:])
	}
	return fi.Name()
}

// readOrigin returns the file id recorded on a copied-up or created object. It never
// follows a symlink (lgetxattr): a node's link must not lend it its target's id.
func readOrigin(full string) (uint64, bool) {
	var b [8]byte
	if n, err := sys.Lgetxattr(full, originX, b[:]); err != nil || n != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// writeOrigin records the file id an object had before it was copied up.
func writeOrigin(full string, id uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], id)
	syscall.Setxattr(full, originX, b[:], 0) // best effort: without xattrs ids change at copy-up
}

func statAttr(fi fs.FileInfo) Attr {
	st := fi.Sys().(*syscall.Stat_t)
	return Attr{
		Mode: st.Mode, Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid,
		Size: uint64(st.Size), Blocks: uint64(st.Blocks), Rdev: st.Rdev,
		Atime: time.Unix(st.Atim.Sec, st.Atim.Nsec), Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Ctime: time.Unix(st.Ctim.Sec, st.Ctim.Nsec),
	}
}

// lookup resolves view path p (clean, absolute) to the object that answers there, under
// the pinned plan. After a switch that changed the node's plan, directories and made-up
// objects report a ctime no older than the switch, so clients revalidate what they
// cached of them (listings, negative lookups); objects now served from elsewhere carry
// another file id anyway.
func (v *Pinned) lookup(p string) (*object, error) {
	o, err := v.lookup0(p)
	if err == nil && p == "/" {
		// The view's root keeps its id whatever image answers there: a node's NFS root
		// handle must survive a switch to another image root.
		o.attr.FileID = hashID("R", v.node)
	}
	if err == nil && v.pc.changed.After(o.attr.Ctime) {
		switch o.kind {
		case kSynthDir, kSynthFile, kMtab, kCon:
			o.attr.Ctime = v.pc.changed
		default:
			if o.attr.IsDir() {
				o.attr.Ctime = v.pc.changed
			}
		}
	}
	return o, err
}

func (v *Pinned) lookup0(p string) (*object, error) {
	pc := v.pc
	if pc.err != nil {
		return nil, errno("lookup", p, syscall.EIO)
	}
	pl := pc.plan
	res := pl.Resolve(v.srv.layers, p)
	o := &object{path: p, entry: res.Entry}
	if len(res.Base) > 0 && res.Base[0].Kind == "symlink" {
		o.kind = kMtab
		o.attr = Attr{Mode: syscall.S_IFLNK | 0o777, Nlink: 1, Size: uint64(len(mtabTarget)), Mtime: pc.synth, Atime: pc.synth, Ctime: pc.synth, FileID: hashID("mtab")}
		return o, nil
	}
	if res.Entry == nil {
		return v.layerObject(pc, o, res.Base[0], stReadOnly)
	}
	e := res.Entry
	switch {
	case e.Opt.Class == tables.ReadOnly || e.Opt.Class == tables.LocalDisk:
		return v.layerObject(pc, o, res.Base[0], stReadOnly)
	case res.Persistent:
		o.store = stPersistent
		if res.PRExists {
			fi, err := v.srv.layers.lstatNoLinks(pl.PR, p)
			if err != nil {
				if pl.Below(p) {
					return v.synthDir(pc, o), nil
				}
				return nil, errno("lookup", p, syscall.ENOENT)
			}
			o.kind, o.root, o.rel, o.fi = kPersist, pl.PR, p, fi
			o.attr = statAttr(fi)
			o.attr.FileID = v.ownID("P", path.Join(pl.PR, p), fi)
			return o, nil
		}
		return v.layerObject(pc, o, res.Base[0], stPersistent)
	}
	// Volatile (tmpfs family, con, persistent without a usable statelite row).
	o.store = stVolatile
	up := v.upper.Load()
	ufi, lowerVisible, err := walkUpper(v.srv.layers, up.dir, e.Path, p)
	if err != nil {
		return nil, err
	}
	if ufi != nil {
		o.kind, o.root, o.rel, o.fi = kUpper, up.dir, p, ufi
		o.attr = statAttr(ufi)
		o.attr.FileID = v.ownID("U", path.Join(up.dir, p), ufi)
		return o, nil
	}
	if !lowerVisible {
		return nil, errno("lookup", p, syscall.ENOENT)
	}
	if e.Opt.Class == tables.Con && p == e.Path && len(res.Base) > 0 && res.Base[0].Kind != "synthetic" {
		if len(res.Base) > 1 {
			return v.conObject(pc, o, res.Base)
		}
	}
	return v.layerObject(pc, o, res.Base[0], stVolatile)
}

const mtabTarget = "/proc/self/mounts"

// ownID is the file id of an object of the node's own layers: the origin recorded at
// copy-up, else its own inode.
func (v *View) ownID(tag, full string, fi fs.FileInfo) uint64 {
	if id, ok := readOrigin(full); ok {
		return id
	}
	return hashID(tag, v.node, inoString(fi))
}

// layerID is the file id of a read-only layer's object: its inode under the layer's
// name. A generation's image layers are named after the working copy (Layer.ID), and their
// directories, which every generation makes anew, by path: a node rebooting into a new
// generation keeps the ids of what the generations share (docs/images.md#generations).
func layerID(l resolver.Layer, fi fs.FileInfo) uint64 {
	if l.ID != "" {
		if fi.IsDir() {
			return hashID("L", l.ID, "dir", l.Rel)
		}
		return hashID("L", l.ID, inoString(fi))
	}
	return hashID("L", l.Root, inoString(fi))
}

// layerObject makes the object for a read-only layer file, or a synthetic one where
// the layer lacks it (the entry path itself, or a directory on the way to an entry).
func (v *Pinned) layerObject(pc *planCache, o *object, l resolver.Layer, st storage) (*object, error) {
	o.store = st
	if l.Kind == "synthetic" {
		// Found nowhere: the entry path itself is made up, and the directories leading to
		// other entries; nothing else below it exists.
		if o.entry != nil && o.path == o.entry.Path || pc.plan.Below(o.path) {
			return v.synthEntry(pc, o), nil
		}
		return nil, errno("lookup", o.path, syscall.ENOENT)
	}
	fi, err := v.srv.layers.lstatRO(l.Root, l.Rel)
	if err != nil {
		if pc.plan.Below(o.path) {
			return v.synthDir(pc, o), nil
		}
		if o.entry != nil && o.path == o.entry.Path {
			return v.synthEntry(pc, o), nil
		}
		return nil, errno("lookup", o.path, syscall.ENOENT)
	}
	if fi.Mode()&(fs.ModeDir|fs.ModeSymlink) == 0 && pc.plan.Below(o.path) {
		// A file of the layer where entries below need a directory: the directory wins,
		// or the entries could not be reached. (A symlink stays: the node follows it,
		// as an xCAT node's mounts did.)
		return v.synthDir(pc, o), nil
	}
	lc := l
	o.kind, o.root, o.rel, o.fi, o.lower = kLayer, l.Root, l.Rel, fi, &lc
	o.attr = statAttr(fi)
	o.attr.FileID = layerID(l, fi)
	return o, nil
}

func (v *Pinned) synthEntry(pc *planCache, o *object) *object {
	if o.entry != nil && o.entry.IsDir() || pc.plan.Below(o.path) {
		return v.synthDir(pc, o)
	}
	o.kind = kSynthFile
	o.attr = Attr{Mode: syscall.S_IFREG | 0o644, Nlink: 1, Atime: pc.synth, Mtime: pc.synth, Ctime: pc.synth, FileID: hashID("S", v.node, o.path)}
	return o
}

func (v *Pinned) synthDir(pc *planCache, o *object) *object {
	o.kind = kSynthDir
	o.attr = Attr{Mode: syscall.S_IFDIR | 0o755, Nlink: 2, Atime: pc.synth, Mtime: pc.synth, Ctime: pc.synth, FileID: hashID("S", v.node, o.path)}
	return o
}

// conObject presents the concatenation of several layer files (a con entry).
func (v *Pinned) conObject(pc *planCache, o *object, ls []resolver.Layer) (*object, error) {
	o.kind, o.con = kCon, ls
	o.attr = Attr{Mode: syscall.S_IFREG | 0o644, Nlink: 1, FileID: hashID("C", v.node, o.path)}
	for _, l := range ls {
		fi, err := v.srv.layers.lstatRO(l.Root, l.Rel)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		a := statAttr(fi)
		o.attr.Size += a.Size
		o.attr.Blocks += a.Blocks
		for _, t := range []struct {
			dst *time.Time
			src time.Time
		}{{&o.attr.Mtime, a.Mtime}, {&o.attr.Ctime, a.Ctime}, {&o.attr.Atime, a.Atime}} {
			if t.src.After(*t.dst) {
				*t.dst = t.src
			}
		}
	}
	return o, nil
}

// walkUpper walks the volatile layer from entry path ep down to p. It returns p's upper
// object if there is one, and whether the lower layers still show through at p (no
// whiteout on the way, no opaque directory above).
func walkUpper(c *layers, udir, ep, p string) (fs.FileInfo, bool, error) {
	lower := true
	q := ep
	rest := strings.TrimPrefix(strings.TrimPrefix(p, ep), "/")
	for {
		fi, err := c.lstat(udir, q)
		if err != nil {
			if _, werr := c.lstat(udir, whiteoutOf(q)); werr == nil {
				return nil, false, nil
			}
			return nil, lower, nil
		}
		if q == p {
			return fi, lower, nil
		}
		if !fi.IsDir() {
			return nil, false, errno("lookup", p, syscall.ENOTDIR)
		}
		if _, oerr := c.lstat(udir, path.Join(q, opqMarker)); oerr == nil {
			lower = false
		}
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		q = path.Join(q, comp)
	}
}

func whiteoutOf(p string) string { return path.Join(path.Dir(p), whPrefix+path.Base(p)) }
