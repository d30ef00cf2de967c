package fusefs

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"path"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	sfs "statelite/fs"
)

// Options tune a mount; the zero value is the documented default.
type Options struct {
	// FsName is the source shown in /proc/mounts (default "statelite:<node>").
	FsName string
	// EntryTimeout and AttrTimeout are how long the kernel caches names and attributes
	// (default 1 s each).
	EntryTimeout, AttrTimeout time.Duration
	// Logger receives errors the kernel only sees as EIO (default slog.Default()).
	Logger *slog.Logger
	// Debug logs every FUSE request.
	Debug bool
}

// Mounted is a live mount of a view.
type Mounted struct {
	// Dir is the mount point.
	Dir string

	srv   *fuse.Server
	st    *mountState
	invMu sync.Mutex

	unmountOnce sync.Once
	unmountErr  error
}

// mountState is what every node of one mount shares.
type mountState struct {
	view *sfs.View
	log  *slog.Logger
	root *node

	mu sync.Mutex
	// ids maps an inode number (the file id) to the live inodes carrying it (one per file type; a file id
	// is normally one object, hard links included).
	ids map[uint64][]*node
}

// Mount mounts view v at dir (an existing directory). The caller must be root: the mount
// is made with mount(2) directly, allows other users and lets the kernel check
// permissions.
func Mount(v *sfs.View, dir string, opts Options) (*Mounted, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.EntryTimeout == 0 {
		opts.EntryTimeout = time.Second
	}
	if opts.AttrTimeout == 0 {
		opts.AttrTimeout = time.Second
	}
	if opts.FsName == "" {
		opts.FsName = "statelite:" + v.Node()
	}
	ra, err := v.Getattr("/")
	if err != nil {
		return nil, fmt.Errorf("fusefs: view of %s: %w", v.Node(), err)
	}
	st := &mountState{view: v, log: opts.Logger, ids: map[uint64][]*node{}}
	st.root = &node{st: st}
	st.ids[ino(ra.FileID)] = []*node{st.root}
	et, at := opts.EntryTimeout, opts.AttrTimeout
	fo := &gofs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther:        true,
			DirectMountStrict: true,
			Options:           []string{"default_permissions"},
			FsName:            opts.FsName,
			Name:              "statelite",
			DisableXAttrs:     true,
			MaxWrite:          1 << 20,
			Debug:             opts.Debug,
			Logger:            slog.NewLogLogger(opts.Logger.Handler(), slog.LevelInfo),
		},
		EntryTimeout:   &et,
		AttrTimeout:    &at,
		RootStableAttr: &gofs.StableAttr{Ino: ino(ra.FileID)},
		// The engine reports real permission bits: mode 0 stays 0.
		NullPermissions: true,
		Logger:          log.New(slogWriter{opts.Logger}, "", 0),
	}
	srv, err := gofs.Mount(dir, st.root, fo)
	if err != nil {
		return nil, fmt.Errorf("fusefs: mount %s at %s: %w", v.Node(), dir, err)
	}
	return &Mounted{Dir: dir, srv: srv, st: st}, nil
}

// slogWriter turns go-fuse's diagnostic lines into warnings.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(b []byte) (int, error) {
	w.l.Warn("go-fuse: " + string(trimNL(b)))
	return len(b), nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return b
}

// Unmount unmounts the view and waits for the server to stop. A busy mount is detached
// lazily instead (MNT_DETACH): it leaves the namespace at once and the server keeps
// answering for the files still open until they are closed (Wait returns then).
func (m *Mounted) Unmount() error {
	m.unmountOnce.Do(func() {
		err := m.srv.Unmount()
		if err == nil {
			return
		}
		if derr := syscall.Unmount(m.Dir, syscall.MNT_DETACH); derr != nil {
			m.unmountErr = fmt.Errorf("fusefs: unmount %s: %w (lazy unmount: %v)", m.Dir, err, derr)
			return
		}
		m.st.log.Warn("mount busy, detached lazily", "dir", m.Dir, "err", err)
	})
	return m.unmountErr
}

// Wait blocks until the mount is gone (unmounted by Unmount or from outside).
func (m *Mounted) Wait() { m.srv.Wait() }

// Invalidate makes the kernel forget what it cached of the view: the attributes and data
// of every inode it knows, and each name whose object changed identity (another file id
// or type) or vanished. Names that still lead to the same object are kept, so processes
// whose working directory is inside the mount keep a valid one. Call it after the
// tables changed, never from inside a FUSE operation.
func (m *Mounted) Invalidate() {
	m.invMu.Lock()
	defer m.invMu.Unlock()
	st := m.st
	st.mu.Lock()
	var nodes []*node
	for id, ns := range st.ids {
		kept := ns[:0]
		for _, n := range ns {
			// A node go-fuse discarded (a racing lookup registered another) never
			// gets OnForget: drop it when it is found unreferenced twice in a row
			// (once could be a node between its Lookup and its entry into the tree).
			//lint:ignore SA1019 OnForget never comes for such a node: only Forgotten tells
			if n != st.root && n.Forgotten() {
				if n.unref {
					continue
				}
				n.unref = true
			} else {
				n.unref = false
			}
			kept = append(kept, n)
			nodes = append(nodes, n)
		}
		if len(kept) == 0 {
			delete(st.ids, id)
		} else {
			st.ids[id] = kept
		}
	}
	st.mu.Unlock()

	for _, n := range nodes {
		n.NotifyContent(0, 0) // ENOENT: the kernel had nothing cached
	}
	for _, d := range nodes {
		if d.StableAttr().Mode != syscall.S_IFDIR {
			continue
		}
		dp, ok := d.path()
		for name, c := range d.Children() {
			if ok {
				a, err := st.view.Getattr(path.Join(dp, name))
				sa := c.StableAttr()
				if err == nil && ino(a.FileID) == sa.Ino && a.Mode&syscall.S_IFMT == sa.Mode {
					continue
				}
			}
			d.NotifyEntry(name)
		}
	}
}

// register returns the live inode for attributes a (reusing the one the kernel knows
// under the same file id and type), making a new child of parent otherwise.
func (st *mountState) register(ctx context.Context, parent *node, a sfs.Attr) *gofs.Inode {
	sa := gofs.StableAttr{Mode: a.Mode & syscall.S_IFMT, Ino: ino(a.FileID)}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, n := range st.ids[sa.Ino] {
		//lint:ignore SA1019 as above: a forgotten node must not be handed out again
		if n.StableAttr().Mode == sa.Mode && (n == st.root || !n.Forgotten()) {
			return n.EmbeddedInode()
		}
	}
	n := &node{st: st}
	in := parent.NewInode(ctx, n, sa)
	st.ids[sa.Ino] = append(st.ids[sa.Ino], n)
	return in
}

// forget drops n from the file id map.
func (st *mountState) forget(n *node) {
	st.mu.Lock()
	defer st.mu.Unlock()
	id := n.StableAttr().Ino
	ns := st.ids[id]
	for i, x := range ns {
		if x == n {
			ns = append(ns[:i], ns[i+1:]...)
			break
		}
	}
	if len(ns) == 0 {
		delete(st.ids, id)
	} else {
		st.ids[id] = ns
	}
}

// known returns how many inodes the mount tracks (for tests).
func (m *Mounted) known() int {
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	n := 0
	for _, ns := range m.st.ids {
		n += len(ns)
	}
	return n
}
