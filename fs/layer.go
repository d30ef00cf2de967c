package fs

import (
	"container/list"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"statelite/internal/sys"
)

// layers gives fast, escape-proof access to layer directories: one open directory per
// layer root (re-checked every second, so a replaced layer directory is picked up), and
// lookups through openat2 with RESOLVE_BENEATH — one syscall per path, where os.Root
// walks every component. Without openat2 it falls back to os.Root.
type layers struct {
	// The open layer roots, in shards by root (layerShard): a boot storm of 10,000 nodes
	// looks up their 20,000 roots from every request at once, and one lock for them all
	// was 4 % of the server's CPU.
	shards []layerShard
	max    int // open layer directories at most (see maxLayerDirs), over all shards
	noOA2  atomic.Bool
	// owned is the directory of the roots this server makes and removes itself (the
	// volatile epochs, "<state>/volatile/"): nobody else replaces them, so they are not
	// re-checked every second (a node's reset forgets its old one).
	owned string
	// ownedDir is owned's open directory, through which lstat looks up the volatile
	// layers' files (ownedFD): one descriptor for every node's layer.
	ownedOnce  sync.Once
	ownedDir   *os.File
	ownedLocal bool

	// Directories inside read-only layers (image roots, litetree sources), opened with
	// O_PATH through openat2 and kept for up to a second, so that describing a file there
	// is one fstatat on its directory instead of openat2, fstat and close.
	roMu      sync.RWMutex
	roDirs    map[string]roDir // root + "\x00" + directory
	roRetired []roDir
}

// layerShard holds the open roots whose name hashes to it, with its share of the bound.
type layerShard struct {
	mu   sync.Mutex
	dirs map[string]*layerDir
	lru  list.List // of *layerDir, most recently used first
	max  int
	_    [64]byte // its own cache line: shards are taken by different processors at once
}

// layerShards is the number of shards at most (fewer when the bound is smaller).
const layerShards = 32

type roDir struct {
	fd       int
	opened   time.Time // when it was opened or last found unchanged
	local    bool      // on a local file system (rawOK)
	dev, ino uint64
}

const roDirsMax = 1024 // open directories at most (and as many retired ones for a minute)

// layerDir is the open directory of a layer root. A caller of layers.layerDir holds a
// reference until it calls release: a directory that leaves the cache (evicted, replaced
// or forgotten) is closed when its last user is done, never under a system call that
// uses it (its number could otherwise be reused by another open).
type layerDir struct {
	f       *os.File
	root    string
	local   bool // on a local file system (rawOK)
	dev     uint64
	ino     uint64
	checked time.Time
	elem    *list.Element
	refs    atomic.Int32
	gone    atomic.Bool
	once    sync.Once
}

// release gives back a reference taken by layers.layerDir.
func (d *layerDir) release() {
	if d.refs.Add(-1) == 0 && d.gone.Load() {
		d.close()
	}
}

func (d *layerDir) close() { d.once.Do(func() { d.f.Close() }) }

// maxLayerDirs bounds the open layer directories: each node has two roots (its volatile
// epoch and its persistent directory), and a server of 10,000 nodes must keep
// descriptors for their connections within the open-file limit (a hard limit of 20,000
// is common where it cannot be raised). A quarter of the limit, between 256 and 65,536:
// 5,000 under a limit of 20,000, 65,536 under systemd's usual 524,288.
func maxLayerDirs() int {
	cur, err := sys.NofileLimit()
	if err != nil {
		return 4096
	}
	return int(min(max(cur/4, 256), 1<<16))
}

func newLayers() *layers { return newLayersMax(maxLayerDirs()) }

// newLayersMax is newLayers with at most bound open layer directories (tests).
func newLayersMax(bound int) *layers {
	bound = max(bound, 1)
	n := min(layerShards, bound)
	c := &layers{shards: make([]layerShard, n), max: bound, roDirs: map[string]roDir{}}
	for i := range c.shards {
		c.shards[i].dirs = map[string]*layerDir{}
		c.shards[i].max = bound / n
		if i < bound%n {
			c.shards[i].max++
		}
	}
	return c
}

// shard is the shard of root (FNV-1a of its name).
func (c *layers) shard(root string) *layerShard {
	h := uint32(2166136261)
	for i := 0; i < len(root); i++ {
		h = (h ^ uint32(root[i])) * 16777619
	}
	return &c.shards[h%uint32(len(c.shards))]
}

const (
	resolveNoMagic    = sys.ResolveNoMagiclinks
	resolveNoSymlinks = sys.ResolveNoSymlinks
	resolveBeneath    = sys.ResolveBeneath
	layerRecheckAfter = time.Second
	oPath             = 0x200000 // O_PATH
)

func openat2(dirfd int, name string, flags int) (int, error) {
	return openat2Resolve(dirfd, name, flags, resolveBeneath|resolveNoMagic)
}

func openat2Resolve(dirfd int, name string, flags int, resolve uint64) (int, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, e := sys.Openat2(dirfd, p, flags, resolve, false)
	if e != 0 {
		return -1, e
	}
	return fd, nil
}

// rawOK says whether system calls on a layer's files may be raw ones (openRO): only on
// local file systems. On NFS, FUSE and the like (litetree sources and statemnt
// directories are often NFS mounts, docs/behaviour.md#locations) a call may wait for a
// network or another process, or hang with a server that is down; made the usual way, the
// runtime then gives its processor to another thread meanwhile.
func rawOK(dirfd int) bool { return !remoteFS(dirfd) }

// layerDir returns the open directory of a layer root, checked at most once a second,
// with a reference the caller gives back with release. The least recently used
// directories beyond the bound are closed once their users are done. The check and the
// open are made outside the shard's lock.
func (c *layers) layerDir(root string) (*layerDir, error) {
	s := c.shard(root)
	now := time.Now()
	s.mu.Lock()
	if d := s.dirs[root]; d != nil && (now.Sub(d.checked) < layerRecheckAfter || c.owned != "" && strings.HasPrefix(root, c.owned)) {
		s.use(d)
		s.mu.Unlock()
		return d, nil
	}
	s.mu.Unlock()
	var st syscall.Stat_t
	if err := syscall.Stat(root, &st); err != nil {
		return nil, &iofs.PathError{Op: "open", Path: root, Err: err}
	}
	s.mu.Lock()
	if d := s.dirs[root]; d != nil && d.dev == st.Dev && d.ino == st.Ino {
		if now.After(d.checked) {
			d.checked = now
		}
		s.use(d)
		s.mu.Unlock()
		return d, nil
	}
	s.mu.Unlock()
	f, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	nd := &layerDir{f: f, root: root, local: rawOK(int(f.Fd())), dev: st.Dev, ino: st.Ino, checked: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dirs[root]; d != nil {
		if d.dev == st.Dev && d.ino == st.Ino {
			// Another request opened the same directory meanwhile.
			s.use(d)
			f.Close()
			return d, nil
		}
		s.retire(d) // replaced: its users finish with the old directory
	}
	nd.refs.Add(1)
	nd.elem = s.lru.PushFront(nd)
	s.dirs[root] = nd
	for len(s.dirs) > max(s.max, 1) {
		s.retire(s.lru.Back().Value.(*layerDir))
	}
	return nd, nil
}

// use marks d used and takes a reference; the caller holds s.mu.
func (s *layerShard) use(d *layerDir) {
	s.lru.MoveToFront(d.elem)
	d.refs.Add(1)
}

// retire takes d out of the cache and closes it once no request uses it; the caller
// holds s.mu.
func (s *layerShard) retire(d *layerDir) {
	s.lru.Remove(d.elem)
	delete(s.dirs, d.root)
	d.gone.Store(true)
	if d.refs.Load() == 0 {
		d.close()
	}
}

// openDirs is the number of layer directories the cache holds open (tests).
func (c *layers) openDirs() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.dirs)
		s.mu.Unlock()
	}
	return n
}

// cached calls f for every cached layer directory (tests).
func (c *layers) cached(f func(*layerDir)) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, d := range s.dirs {
			f(d)
		}
		s.mu.Unlock()
	}
}

// forget retires the cached directory of a root that is gone (a node's old volatile
// epoch after a reset), so it does not stay open for good.
func (c *layers) forget(root string) {
	s := c.shard(root)
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dirs[root]; d != nil {
		s.retire(d)
	}
}

// open opens rel inside root without leaving it and without following a final symlink.
func (c *layers) open(root, rel string, flags int) (*os.File, error) {
	name := relName(rel)
	if !c.noOA2.Load() {
		d, err := c.layerDir(root)
		if err != nil {
			return nil, err
		}
		fd, err := openat2(int(d.f.Fd()), name, flags|syscall.O_NOFOLLOW)
		d.release()
		if err == nil {
			return os.NewFile(uintptr(fd), path.Join(root, name)), nil
		}
		if !errors.Is(err, syscall.ENOSYS) {
			return nil, &iofs.PathError{Op: "open", Path: path.Join(root, name), Err: err}
		}
		c.noOA2.Store(true)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.OpenFile(name, flags|syscall.O_NOFOLLOW, 0)
}

// openRO opens rel inside root for reading (without leaving root or following a final
// symlink) as open does, but by raw system calls, openat2 here and close in
// Handle.Close, as fstatat is: serving an image file from the page cache is then CPU work
// only. A system call made the usual way tells Go's scheduler, whose monitor thread, when
// the process was idle, wakes and then polls every 20 µs while the process is busy: for
// a stream of READs that cost 10-20 % of the server's CPU (nfsd/rawio.go). The price:
// a lookup that must wait for the disk (an inode not in the cache) holds its thread's
// processor meanwhile. Only for files on a local file system (rawOK): the layer's, and
// dev, the file's device as looked up, must be that of the layer's root (not a file
// system mounted inside it). O_NONBLOCK: a file replaced by a FIFO since it was looked
// up does not block the open. ok is false when this cannot be done; the caller then
// opens the usual way (and reports that way's error).
func (c *layers) openRO(root, rel string, dev uint64) (fd int, ok bool) {
	if c.noOA2.Load() {
		return -1, false
	}
	d, err := c.layerDir(root)
	if err != nil {
		return -1, false
	}
	defer d.release()
	if !d.local || dev != d.dev {
		return -1, false // not local, or on another file system mounted inside the layer
	}
	p, err := syscall.BytePtrFromString(relName(rel))
	if err != nil {
		return -1, false
	}
	fd, e := sys.Openat2(int(d.f.Fd()), p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, resolveBeneath|resolveNoMagic, true)
	return fd, e == 0
}

type statInfo struct {
	name string
	st   syscall.Stat_t
}

func (s *statInfo) Name() string        { return s.name }
func (s *statInfo) Size() int64         { return s.st.Size }
func (s *statInfo) Mode() iofs.FileMode { return FileMode(s.st.Mode) }
func (s *statInfo) ModTime() time.Time  { return time.Unix(s.st.Mtim.Sec, s.st.Mtim.Nsec) }
func (s *statInfo) IsDir() bool         { return s.st.Mode&syscall.S_IFMT == syscall.S_IFDIR }
func (s *statInfo) Sys() any            { return &s.st }

// ownedFD returns the open directory of the volatile layers' parent (c.owned), opened
// at the first call; ok is false when there is none.
func (c *layers) ownedFD() (fd int, local, ok bool) {
	c.ownedOnce.Do(func() {
		if c.owned == "" {
			return
		}
		if f, err := os.Open(c.owned); err == nil {
			c.ownedDir, c.ownedLocal = f, rawOK(int(f.Fd()))
		}
	})
	if c.ownedDir == nil {
		return -1, false, false
	}
	return int(c.ownedDir.Fd()), c.ownedLocal, true
}

// lstatOwned is lstat for a root inside the volatile layers' parent (a node's epoch,
// <owned><node>/<epoch>): looked up from the parent's one open directory, so a cluster
// of 10,000 booting nodes needs no descriptor per node's layer (the layer-directory
// cache would turn over). No symlink is followed on the way (a node's link must not lead
// into another node's layer, which is beneath the same parent): one gives ENOTDIR, as
// the view walks the layer (walkUpper) and as lstatNoLinks does. ok is false when this
// cannot be done (no openat2, the parent not open): the caller uses lstat's usual way.
func (c *layers) lstatOwned(root, rel string) (fi iofs.FileInfo, ok bool, err error) {
	if c.noOA2.Load() || c.owned == "" || !strings.HasPrefix(root, c.owned) {
		return nil, false, nil
	}
	dfd, raw, ok := c.ownedFD()
	if !ok {
		return nil, false, nil
	}
	rn := relName(rel)
	if rn == ".." || strings.HasPrefix(rn, "../") || strings.Contains(rn, "/../") || strings.HasSuffix(rn, "/..") {
		// View paths are clean; beneath the parent, ".." would cross into another node's
		// layer.
		return nil, true, &iofs.PathError{Op: "lstat", Path: path.Join(root, rel), Err: syscall.ENOENT}
	}
	si, op, err := statBeneath(dfd, root[len(c.owned):]+"/"+rn, resolveBeneath|resolveNoMagic|resolveNoSymlinks, raw)
	if err == syscall.ENOSYS {
		return nil, false, nil
	}
	if err == syscall.ELOOP {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, true, &iofs.PathError{Op: op, Path: path.Join(root, rel), Err: err}
	}
	return si, true, nil
}

// statBeneath describes name beneath dirfd: an O_PATH openat2 with resolve (never
// following a final symlink), fstat and close, by raw system calls when raw (openRO says
// why). On failure op names the step that failed and err is its errno.
func statBeneath(dirfd int, name string, resolve uint64, raw bool) (si *statInfo, op string, err error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return nil, "lstat", err
	}
	fd, e := sys.Openat2(dirfd, p, oPath|syscall.O_NOFOLLOW, resolve, raw)
	if e != 0 {
		return nil, "open", e
	}
	defer sys.Close(fd, raw)
	si = &statInfo{name: path.Base(name)}
	if e := sys.Fstat(fd, &si.st, raw); e != 0 {
		return nil, "lstat", e
	}
	return si, "", nil
}

// lstat describes rel inside root (not following a final symlink).
func (c *layers) lstat(root, rel string) (iofs.FileInfo, error) {
	if fi, ok, err := c.lstatOwned(root, rel); ok {
		return fi, err
	}
	name := relName(rel)
	if c.noOA2.Load() {
		r, err := os.OpenRoot(root)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return r.Lstat(name)
	}
	// A bare descriptor: an *os.File would cost an fcntl, a finalizer and allocations.
	d, err := c.layerDir(root)
	if err != nil {
		return nil, err
	}
	// On a local layer, raw system calls, as in openRO: an O_PATH open, fstat and close
	// of a looked-up name are CPU work (a name whose inode is not cached holds the
	// thread's processor while it is read).
	si, op, err := statBeneath(int(d.f.Fd()), name, resolveBeneath|resolveNoMagic, d.local)
	d.release()
	if err == syscall.ENOSYS {
		f, err := c.open(root, rel, oPath) // falls back to os.Root
		if err != nil {
			return nil, err
		}
		defer f.Close()
		si := &statInfo{name: path.Base(name)}
		if err := syscall.Fstat(int(f.Fd()), &si.st); err != nil {
			return nil, &iofs.PathError{Op: "lstat", Path: path.Join(root, name), Err: err}
		}
		return si, nil
	}
	if err != nil {
		return nil, &iofs.PathError{Op: op, Path: path.Join(root, name), Err: err}
	}
	return si, nil
}

// lstatRO is lstat for read-only layers: the file's directory is looked up (escape-proof,
// as lstat does) at most once a second, so a directory an admin replaces in an image is
// seen within a second; the file itself is described afresh every time.
func (c *layers) lstatRO(root, rel string) (iofs.FileInfo, error) {
	name := relName(rel)
	if c.noOA2.Load() {
		return c.lstat(root, rel)
	}
	dir, base := ".", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i], name[i+1:]
	}
	var dfd int
	var raw bool
	if dir == "." {
		d, err := c.layerDir(root)
		if err != nil {
			return nil, err
		}
		defer d.release()
		dfd, raw = int(d.f.Fd()), d.local
	} else {
		var err error
		if dfd, raw, err = c.roDir(root, dir); err != nil {
			if errors.Is(err, syscall.ENOSYS) {
				return c.lstat(root, rel)
			}
			return nil, &iofs.PathError{Op: "open", Path: path.Join(root, name), Err: err}
		}
	}
	si := &statInfo{name: path.Base(name)}
	for {
		err := fstatat(dfd, base, &si.st, raw)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &iofs.PathError{Op: "lstat", Path: path.Join(root, name), Err: err}
		}
		return si, nil
	}
}

// roDir returns an O_PATH descriptor of directory dir inside read-only layer root.
func (c *layers) roDir(root, dir string) (fd int, local bool, err error) {
	key := root + "\x00" + dir
	now := time.Now()
	c.roMu.RLock()
	d, ok := c.roDirs[key]
	c.roMu.RUnlock()
	if ok && now.Sub(d.opened) < layerRecheckAfter {
		return d.fd, d.local, nil
	}
	rd, err := c.layerDir(root)
	if err != nil {
		return -1, false, err
	}
	fd, err = openat2(int(rd.f.Fd()), dir, oPath|syscall.O_DIRECTORY)
	rd.release()
	if err != nil {
		return -1, false, err
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return -1, false, err
	}
	c.roMu.Lock()
	defer c.roMu.Unlock()
	if old, ok := c.roDirs[key]; ok {
		if old.dev == st.Dev && old.ino == st.Ino {
			// The same directory (or another request reopened it meanwhile): keep the
			// descriptor in use. Reopening it every second, with the old one kept a
			// minute for the requests using it, held 60 descriptors per directory
			// (thousands under a boot storm, where many requests reopened it at once).
			syscall.Close(fd)
			if now.After(old.opened) {
				old.opened = now
				c.roDirs[key] = old
			}
			return old.fd, old.local, nil
		}
		old.opened = now // replaced: requests may still use it, closed a minute from now
		c.roRetired = append(c.roRetired, old)
	}
	local = rawOK(fd)
	if len(c.roDirs) >= roDirsMax {
		for k, old := range c.roDirs {
			old.opened = now
			c.roRetired = append(c.roRetired, old)
			delete(c.roDirs, k)
		}
	}
	kept := c.roRetired[:0]
	for _, r := range c.roRetired {
		if now.Sub(r.opened) > time.Minute {
			syscall.Close(r.fd)
		} else {
			kept = append(kept, r)
		}
	}
	c.roRetired = kept
	c.roDirs[key] = roDir{fd: fd, opened: now, local: local, dev: st.Dev, ino: st.Ino}
	return fd, local, nil
}

// lstatNoLinks is lstat for the node's own tree PR: no symlink is followed on the way,
// not even one that stays inside root (a node's link must not make one view path act
// on another: /srv/pd/in -> ../.. must not reach PR/etc/pfile). A symlink on the way
// gives ENOTDIR.
func (c *layers) lstatNoLinks(root, rel string) (iofs.FileInfo, error) {
	name := relName(rel)
	if !c.noOA2.Load() {
		d, err := c.layerDir(root)
		if err != nil {
			return nil, err
		}
		fd, err := openat2Resolve(int(d.f.Fd()), name, oPath|syscall.O_NOFOLLOW, resolveBeneath|resolveNoMagic|resolveNoSymlinks)
		d.release()
		if err == nil {
			defer syscall.Close(fd)
			si := &statInfo{name: path.Base(name)}
			if err := syscall.Fstat(fd, &si.st); err != nil {
				return nil, &iofs.PathError{Op: "lstat", Path: path.Join(root, name), Err: err}
			}
			return si, nil
		}
		if errors.Is(err, syscall.ELOOP) {
			err = syscall.ENOTDIR
		}
		if !errors.Is(err, syscall.ENOSYS) {
			return nil, &iofs.PathError{Op: "lstat", Path: path.Join(root, name), Err: err}
		}
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		fi, err := r.Lstat(name[:i])
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, &iofs.PathError{Op: "lstat", Path: path.Join(root, name), Err: syscall.ENOTDIR}
		}
	}
	return r.Lstat(name)
}

// Lstat implements resolver.Prober.
func (c *layers) Lstat(root, rel string) (iofs.FileInfo, error) { return c.lstat(root, rel) }

// Empty implements resolver.Prober.
func (c *layers) Empty(root, rel string) bool {
	f, err := c.open(root, rel, syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		return true
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && (err == nil || errors.Is(err, io.EOF))
}
