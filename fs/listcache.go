package fs

import (
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"statelite/internal/sys"
)

// listCache keeps recent listings of image directories, shared by every node. A listing
// is reused while its directory keeps the same inode, mtime and ctime (names added,
// removed or renamed change those at once) and, for the attributes of its children:
// while inotify reports nothing in the directory, for up to listTTLWatched, or, where
// the directory cannot be watched (no inotify, or a network or FUSE file system whose
// remote changes inotify would miss), for up to listTTL. A file hard-linked into the
// directory and changed through a name elsewhere shows within listTTLWatched.
type listCache struct {
	mu sync.Mutex
	m  map[listKey]listEntry

	dirs      atomic.Pointer[dirWatcher] // made at the first watch; nil: none (yet)
	dirsMu    sync.Mutex
	dirsTried bool // a watcher was made, or could not be, or the cache is closed
}

// watcher returns the cache's directory watcher, made at the first call (nil: no
// inotify instance could be made, or the cache is closed).
func (c *listCache) watcher() *dirWatcher {
	if w := c.dirs.Load(); w != nil {
		return w
	}
	c.dirsMu.Lock()
	defer c.dirsMu.Unlock()
	if !c.dirsTried {
		c.dirsTried = true
		if w := newDirWatcher(); w != nil {
			c.dirs.Store(w)
		}
	}
	return c.dirs.Load()
}

// close releases the directory watcher (its inotify instance).
func (c *listCache) close() {
	c.dirsMu.Lock()
	c.dirsTried = true
	c.dirsMu.Unlock()
	c.dirs.Load().close()
}

const (
	listTTL        = time.Second
	listTTLWatched = time.Minute
	listCacheMax   = 4096
)

type listKey struct {
	root, rel    string
	ino          uint64
	mtime, ctime syscall.Timespec
}

type listEntry struct {
	ents  []DirEntry
	built time.Time
	dw    *dirWatch // the directory's watch, or nil
	gen   uint64    // dw's generation when the listing began
	// The listing as the views of one table switch see it (bumpDirs), made once for
	// all their nodes.
	bumped    []DirEntry
	bumpedFor time.Time
}

func listKeyOf(o *object) listKey {
	k := listKey{root: o.root, rel: o.rel}
	if st, ok := o.fi.Sys().(*syscall.Stat_t); ok {
		k.ino, k.mtime, k.ctime = st.Ino, st.Mtim, st.Ctim
	}
	return k
}

// get returns the listing kept for k, as the views of a table switch at changed see it:
// directory ctimes no older than changed (a view's last table switch, as lookup reports
// them). That is the listing itself when no directory is older, else a copy, made once
// and kept with the listing for the other views of the same switch. ok is false when the
// listing is missing or no longer valid.
func (c *listCache) get(k listKey, changed time.Time) ([]DirEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	age := time.Since(e.built)
	if e.dw != nil {
		c.dirs.Load().drain() // every change made before this call is counted
		if age >= listTTLWatched || e.dw.gen.Load() != e.gen {
			return nil, false
		}
	} else if age >= listTTL {
		return nil, false
	}
	if e.bumped != nil && e.bumpedFor.Equal(changed) {
		return e.bumped, true
	}
	old := false
	for i := range e.ents {
		if e.ents[i].Attr.IsDir() && changed.After(e.ents[i].Attr.Ctime) {
			old = true
			break
		}
	}
	if !old {
		return e.ents, true
	}
	out := make([]DirEntry, len(e.ents))
	copy(out, e.ents)
	for i := range out {
		if out[i].Attr.IsDir() && changed.After(out[i].Attr.Ctime) {
			out[i].Attr.Ctime = changed
		}
	}
	c.mu.Lock()
	if cur, ok := c.m[k]; ok && cur.built.Equal(e.built) {
		cur.bumped, cur.bumpedFor = out, changed
		c.m[k] = cur
	}
	c.mu.Unlock()
	return out, true
}

// watch starts watching the directory open as dirfd, before its listing is read; the
// returned token goes to put with the listing.
func (c *listCache) watch(dirfd int) (*dirWatch, uint64) {
	if remoteFS(dirfd) {
		return nil, 0
	}
	w := c.watcher()
	if w == nil {
		return nil, 0
	}
	dw := w.add(dirfd)
	if dw == nil {
		return nil, 0
	}
	return dw, dw.gen.Load()
}

func (c *listCache) put(k listKey, ents []DirEntry, dw *dirWatch, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= listCacheMax {
		c.m = make(map[listKey]listEntry)
	}
	c.m[k] = listEntry{ents: ents, built: time.Now(), dw: dw, gen: gen}
}

// remoteFS reports whether the directory open as dirfd is on a file system whose
// changes made elsewhere inotify does not see (NFS, SMB, FUSE, Ceph, Lustre, GPFS…).
func remoteFS(dirfd int) bool {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(dirfd, &st); err != nil {
		return true
	}
	switch uint32(st.Type) {
	case 0x6969, // NFS
		0xff534d42, 0xfe534d42, 0x517b, // CIFS, SMB2, SMB
		0x65735546,             // FUSE
		0x00c36400,             // Ceph
		0x0bd00bd0,             // Lustre
		0x47504653,             // GPFS
		0x013111a8, 0x013111a7, // IBRIX
		0x5346414f, // AFS
		0x19830326: // BeeGFS
		return true
	}
	return false
}

// dirWatcher tells, through inotify, when anything in a watched directory changes:
// a name, or a child's data or attributes (written, truncated, chmod, touched…). Each
// fs server has one (an inotify instance; without one, listings are kept for listTTL).
type dirWatcher struct {
	in     *sys.Inotify
	mu     sync.Mutex
	closed bool // the descriptor is closed (its number may be another file's now)
	byWD   map[int32]*dirWatch
	buf    []byte
}

// dirWatch is one watched directory; gen changes with every event in it.
type dirWatch struct {
	wd  int32
	gen atomic.Uint64
}

const (
	dirWatchMask = sys.InModify | sys.InAttrib | sys.InCloseWrite | sys.InMovedFrom | sys.InMovedTo | sys.InCreate |
		sys.InDelete | sys.InDeleteSelf | sys.InMoveSelf | sys.InOnlyDir
	dirWatchesMax = 8192
)

// newDirWatcher returns a watcher, or nil when no inotify instance can be made.
func newDirWatcher() *dirWatcher {
	in, err := sys.NewInotify()
	if err != nil {
		return nil
	}
	return &dirWatcher{in: in, byWD: map[int32]*dirWatch{}, buf: make([]byte, 64<<10)}
}

// close ends every watch; the listings they validated are stale from now on.
func (w *dirWatcher) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.dropAll()
	w.closed = true
	w.in.Close()
}

// add watches the directory open as dirfd (through /proc/self/fd, so the directory
// watched is the one opened, whatever symlinks its path has); nil when it can't.
func (w *dirWatcher) add(dirfd int) *dirWatch {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	if len(w.byWD) >= dirWatchesMax {
		w.dropAll()
	}
	wd, err := w.in.Add("/proc/self/fd/"+strconv.Itoa(dirfd), dirWatchMask)
	if err != nil {
		return nil
	}
	dw := w.byWD[wd]
	if dw == nil {
		dw = &dirWatch{wd: wd}
		w.byWD[wd] = dw
	}
	return dw
}

// dropAll removes every watch; the listings they validated are stale from now on.
func (w *dirWatcher) dropAll() {
	for wd, dw := range w.byWD {
		dw.gen.Add(1)
		w.in.Remove(wd)
		delete(w.byWD, wd)
	}
}

// drain counts the events queued so far (the kernel queues them as the changes happen).
func (w *dirWatcher) drain() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.in.ReadNow(w.buf, func(ev sys.InotifyEvent) {
		if ev.Mask&sys.InQOverflow != 0 {
			for _, dw := range w.byWD {
				dw.gen.Add(1)
			}
			return
		}
		if dw := w.byWD[ev.WD]; dw != nil {
			dw.gen.Add(1)
			if ev.Mask&sys.InIgnored != 0 {
				delete(w.byWD, ev.WD)
			}
		}
	})
}
