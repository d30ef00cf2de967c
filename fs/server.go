// Package fs is the per-node overlay filesystem that executes a view plan: it reads the
// image, its .default tree, litetree sources and the node's persistent root through
// os.Root (no path or symlink escapes), keeps a per-node volatile copy-on-write layer
// with whiteouts, copies persistent data up at the first write, and gives every object
// a stable 64-bit file id.
package fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"statelite/resolver"
)

// Config holds the settings of a filesystem server.
type Config struct {
	// State is the server's state directory; each node's volatile layer lives under
	// State/volatile/<node>/<epoch>.
	State string
}

// Server serves the views of every node from the current tables. It is safe for
// concurrent use; SetResolver switches all views to new tables at once.
type Server struct {
	cfg Config
	res atomic.Pointer[resolver.Resolver]

	layers *layers

	mu    sync.Mutex
	views map[string]*View
}

// New returns a server over the plans of r.
func New(cfg Config, r *resolver.Resolver) (*Server, error) {
	if cfg.State == "" {
		return nil, errors.New("fs: a state directory is required")
	}
	if err := os.MkdirAll(filepath.Join(cfg.State, "volatile"), 0o700); err != nil {
		return nil, fmt.Errorf("fs: state directory: %w", err)
	}
	s := &Server{cfg: cfg, views: map[string]*View{}, layers: newLayers()}
	s.res.Store(r)
	return s, nil
}

// SetResolver switches every view to the plans of r (a new table snapshot).
func (s *Server) SetResolver(r *resolver.Resolver) { s.res.Store(r) }

// Resolver returns the resolver views currently follow.
func (s *Server) Resolver() *resolver.Resolver { return s.res.Load() }

// View returns node's view (the same object on every call).
func (s *Server) View(node string) (*View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.views[node]; ok {
		return v, nil
	}
	if !s.res.Load().Snap.IsNode(node) {
		return nil, fmt.Errorf("node %s is not in nodelist", node)
	}
	v := &View{srv: s, node: node, voldir: filepath.Join(s.cfg.State, "volatile", node)}
	if err := v.openVolatile(); err != nil {
		return nil, err
	}
	s.views[node] = v
	return v, nil
}

// Reset drops node's volatile layer (the boot event): its writes, creates and deletes
// under volatile entries are gone at once.
func (s *Server) Reset(node string) error {
	v, err := s.View(node)
	if err != nil {
		return err
	}
	return v.Reset()
}

// View is one node's root view.
type View struct {
	srv  *Server
	node string

	plan atomic.Pointer[planCache]

	// mu serializes mutations (create, remove, rename, copy-up) of this view.
	mu     sync.Mutex
	voldir string
	upper  atomic.Pointer[upperLayer]
}

type planCache struct {
	res  *resolver.Resolver
	plan *resolver.Plan
	err  error
	// synth is the time synthetic objects report (the image root's mtime).
	synth time.Time
}

type upperLayer struct {
	dir   string
	epoch uint64
}

// Node returns the view's node name.
func (v *View) Node() string { return v.node }

// Plan returns the node's current plan (recomputed after a table switch).
func (v *View) Plan() (*resolver.Plan, error) {
	pc, err := v.current()
	if err != nil {
		return nil, err
	}
	return pc.plan, nil
}

func (v *View) current() (*planCache, error) {
	r := v.srv.res.Load()
	if pc := v.plan.Load(); pc != nil && pc.res == r {
		return pc, pc.err
	}
	p, err := r.Plan(v.node)
	pc := &planCache{res: r, plan: p, err: err}
	if err == nil {
		if fi, serr := os.Stat(p.Root); serr == nil {
			pc.synth = fi.ModTime()
		}
	}
	v.plan.Store(pc)
	return pc, err
}

// openVolatile finds (or makes) the node's current volatile epoch directory.
func (v *View) openVolatile() error {
	if err := os.MkdirAll(v.voldir, 0o700); err != nil {
		return err
	}
	var epoch uint64 = 1
	if b, err := os.ReadFile(filepath.Join(v.voldir, "current")); err == nil {
		if e, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && e > 0 {
			epoch = e
		}
	}
	dir := filepath.Join(v.voldir, strconv.FormatUint(epoch, 10))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(v.voldir, "current"), []byte(strconv.FormatUint(epoch, 10)+"\n")); err != nil {
		return err
	}
	v.upper.Store(&upperLayer{dir: dir, epoch: epoch})
	return nil
}

// Reset drops the node's volatile layer atomically: a new empty epoch becomes current,
// then the old one is deleted.
func (v *View) Reset() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	old := v.upper.Load()
	epoch := old.epoch + 1
	dir := filepath.Join(v.voldir, strconv.FormatUint(epoch, 10))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(v.voldir, "current"), []byte(strconv.FormatUint(epoch, 10)+"\n")); err != nil {
		return err
	}
	v.upper.Store(&upperLayer{dir: dir, epoch: epoch})
	v.srv.layers.forget(old.dir)
	return os.RemoveAll(old.dir)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
