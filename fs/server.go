// Package fs is the per-node overlay filesystem that executes a view plan: it reads the
// image, its .default tree, litetree sources and the node's persistent root through
// os.Root (no path or symlink escapes), keeps a per-node volatile copy-on-write layer
// with whiteouts, copies persistent data up at the first write, and gives every object
// a stable 64-bit file id.
package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"statelite/internal/sys"
	"statelite/resolver"
	"statelite/tables"
)

// Config holds the settings of a filesystem server.
type Config struct {
	// State is the server's state directory.
	State string
	// Volatile is where each node's volatile layer lives, as Volatile/<node>/<epoch>,
	// with the node's last boot (Volatile/<node>/boot): by default State/volatile. A
	// directory every server of a cluster reaches (site.volatiledir) lets any of them
	// serve a node's volatile files and decide its boots once for all.
	Volatile string
	// OnReset, when set, is told of every reset of a node's volatile layer (a boot) with
	// the new layer's record; it runs after the reset, under the view's lock.
	OnReset func(node string, b BootRecord)
}

// Server serves the views of every node from the current tables. It is safe for
// concurrent use; SetResolver switches all views to new tables at once.
type Server struct {
	cfg Config
	res atomic.Pointer[resolver.Resolver]

	layers *layers
	lists  listCache

	mu      sync.Mutex
	views   map[string]*View
	opening map[string]*viewOpening // views being opened (their volatile layer found)

	// removing counts the dropped volatile layers being removed (Wait).
	removing sync.WaitGroup
	// private holds the persistent roots (PR, <statemnt>/<node>) made private (0700)
	// since the server started.
	private sync.Map
}

// viewOpening is a view being opened: its node's first request waits for it without
// holding up other nodes' (a rack booting at once opens hundreds of views).
type viewOpening struct {
	done chan struct{}
	v    *View
	err  error
}

// New returns a server over the plans of r.
func New(cfg Config, r *resolver.Resolver) (*Server, error) {
	if cfg.State == "" {
		return nil, errors.New("fs: a state directory is required")
	}
	if cfg.Volatile == "" {
		cfg.Volatile = filepath.Join(cfg.State, "volatile")
	}
	if err := os.MkdirAll(cfg.Volatile, 0o700); err != nil {
		return nil, fmt.Errorf("fs: volatile layers: %w", err)
	}
	s := &Server{cfg: cfg, views: map[string]*View{}, opening: map[string]*viewOpening{}, layers: newLayers()}
	s.layers.owned = filepath.Clean(cfg.Volatile) + "/"
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
	if v, ok := s.views[node]; ok {
		s.mu.Unlock()
		return v, nil
	}
	if op := s.opening[node]; op != nil {
		s.mu.Unlock()
		<-op.done
		return op.v, op.err
	}
	if !s.res.Load().Snap.IsNode(node) {
		s.mu.Unlock()
		return nil, fmt.Errorf("node %s is not in nodelist", node)
	}
	if err := tables.CheckName("node name", node); err != nil {
		// The name is a directory of the state (volatile/<node>): never one that leaves it.
		s.mu.Unlock()
		return nil, err
	}
	op := &viewOpening{done: make(chan struct{})}
	s.opening[node] = op
	s.mu.Unlock()

	v := &View{srv: s, node: node, voldir: filepath.Join(s.cfg.Volatile, node)}
	err := v.openVolatile()
	s.mu.Lock()
	delete(s.opening, node)
	if err == nil {
		s.views[node] = v
		op.v = v
	} else {
		op.err = err
	}
	s.mu.Unlock()
	close(op.done)
	return op.v, op.err
}

// Nodes returns the nodes whose views were asked for since the server started, sorted.
func (s *Server) Nodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.views))
	for n := range s.views {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
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

// Close releases what the server holds beyond memory (the inotify instance of its
// listing cache). Views keep working (listings are then kept for a second at most).
// The volatile layers' parent directory stays open (one descriptor, layers.ownedFD).
func (s *Server) Close() { s.lists.close() }

// Wait waits until the volatile layers dropped by resets are removed (a process that
// resets nodes and exits, statelite reset with no server running, calls it last).
func (s *Server) Wait() { s.removing.Wait() }

// privateDir makes a node's own directory on the server (its persistent root, its
// volatile directory) mode 0700 when it is wider. Root on a node makes setuid files and
// device nodes in it, which keep their modes (the node sees them as it made them): no
// local user of the server may reach them, so every way to them goes through a
// directory only the server's user can enter. Only this directory is changed: the
// tree below it is the node's.
func privateDir(dir string) error {
	fi, err := os.Stat(dir) // an admin's symlink to the node's directory: the directory
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	if fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) == 0o700 {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	slog.Info("a node's directory was open to other users of the server: now mode 0700", "dir", dir, "was", fi.Mode().String())
	return nil
}

// makePrivate makes persistent root pr private (privateDir), once per server: when the
// server first uses it, not by walking every node's directory at start. A root not made
// yet is made 0700 at the node's first persistent write (layers.mkdirBeneath).
func (s *Server) makePrivate(pr string) {
	if _, done := s.private.Load(pr); done {
		return
	}
	err := privateDir(pr)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	s.private.Store(pr, true)
	if err != nil {
		slog.Error("cannot make a node's persistent directory private (0700): other users of the server may reach its files", "dir", pr, "err", err)
	}
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
	up   *upperLayer // the layer whose boot fixed the image generation
	plan *resolver.Plan
	err  error
	// synth is the time synthetic objects report (the image root's mtime).
	synth time.Time
	// changed is when a table switch last changed this node's plan (zero: not since the
	// view was opened); directories report a ctime no older than it.
	changed time.Time
}

// Pinned is a view fixed to the table snapshot in force when it was pinned: every call
// on it resolves paths under the same plan, whatever switches meanwhile, so one request
// never mixes the rules of two snapshots (docs/behaviour.md#live-table-changes). Pin
// once per request; the
// View's own methods pin for each call.
type Pinned struct {
	*View
	pc *planCache
}

// Pin returns the view fixed to the current tables.
func (v *View) Pin() *Pinned {
	pc, _ := v.current()
	return &Pinned{View: v, pc: pc}
}

// Plan returns the plan the pinned view follows.
func (v *Pinned) Plan() (*resolver.Plan, error) { return v.pc.plan, v.pc.err }

// Generation returns the table generation the pinned view follows.
func (v *Pinned) Generation() uint64 { return v.pc.res.Snap.Gen }

// Getattr returns the attributes of path p.
func (v *View) Getattr(p string) (Attr, error) { return v.Pin().Getattr(p) }

// Readlink returns the target of symbolic link p.
func (v *View) Readlink(p string) (string, error) { return v.Pin().Readlink(p) }

// ReadDir lists directory p: merged, sorted by name, stable across calls. The slice may
// be shared with other calls and views: callers must not modify it.
func (v *View) ReadDir(p string) ([]DirEntry, error) { return v.Pin().ReadDir(p) }

// Open opens file p with os.O_* flags (O_WRONLY, O_RDWR, O_TRUNC copy it up first).
func (v *View) Open(p string, flag int) (*Handle, error) { return v.Pin().Open(p, flag) }

// Create makes regular file p with permission bits mode, owned by cred, and opens it for
// writing. An existing p gives EEXIST.
func (v *View) Create(p string, mode uint32, cred Cred) (*Handle, Attr, error) {
	return v.Pin().Create(p, mode, cred)
}

// Mkdir makes directory p.
func (v *View) Mkdir(p string, mode uint32, cred Cred) (Attr, error) {
	return v.Pin().Mkdir(p, mode, cred)
}

// Symlink makes symbolic link p pointing at target (stored verbatim, never followed).
func (v *View) Symlink(target, p string, cred Cred) (Attr, error) {
	return v.Pin().Symlink(target, p, cred)
}

// Mknod makes a fifo, socket, or character or block device p; mode holds the type bits.
func (v *View) Mknod(p string, mode uint32, rdev uint64, cred Cred) (Attr, error) {
	return v.Pin().Mknod(p, mode, rdev, cred)
}

// Setattr changes mode, owner, size or times of p (copying it up first).
func (v *View) Setattr(p string, sa SetAttr) (Attr, error) { return v.Pin().Setattr(p, sa) }

// Remove deletes non-directory p.
func (v *View) Remove(p string) error { return v.Pin().Remove(p) }

// Rmdir deletes empty directory p (ENOTEMPTY otherwise).
func (v *View) Rmdir(p string) error { return v.Pin().Rmdir(p) }

// Rename moves a to b within one writable storage (EXDEV across storages).
func (v *View) Rename(a, b string) error { return v.Pin().Rename(a, b) }

// Link makes newp a hard link to oldp within one writable layer.
func (v *View) Link(oldp, newp string) (Attr, error) { return v.Pin().Link(oldp, newp) }

// Statfs describes the space behind the node's writable layer.
func (v *View) Statfs() (syscall.Statfs_t, error) { return v.Pin().Statfs() }

type upperLayer struct {
	dir   string
	epoch uint64
	// pins holds the image generation (int) the layer's boot serves, by image directory
	// (string): the boot's own from its record, any other fixed at its first use (the
	// node's image changed in the tables since, or a node that mounted without a boot).
	pins sync.Map
}

// imageGeneration returns the generation of image directory d the layer serves, fixing
// it to d's current one at the first call when the boot did not (docs/images.md#generations).
func (u *upperLayer) imageGeneration(d string) int {
	if g, ok := u.pins.Load(d); ok {
		return g.(int)
	}
	g, err := resolver.CurrentGeneration(d)
	if err != nil {
		slog.Error("image generation unreadable: the working copy is served", "image", d, "err", err)
	}
	got, _ := u.pins.LoadOrStore(d, g)
	return got.(int)
}

// newUpper is the layer of epoch in dir, with the image generation its boot recorded.
func (v *View) newUpper(dir string, epoch uint64) *upperLayer {
	u := &upperLayer{dir: dir, epoch: epoch}
	if rec, ok := readBootRecord(v.voldir); ok && rec.Epoch == epoch && rec.ImageDir != "" {
		u.pins.Store(rec.ImageDir, rec.ImageGen)
	}
	return u
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
	up := v.upper.Load()
	prev := v.plan.Load()
	if prev != nil && prev.res == r && prev.up == up {
		return prev, prev.err
	}
	p, err := r.Plan(v.node)
	if err == nil {
		if d := p.ImageDir(); d != "" {
			p = p.AtGeneration(up.imageGeneration(d))
		}
	}
	pc := &planCache{res: r, up: up, plan: p, err: err}
	if err == nil {
		if fi, serr := os.Stat(p.Root); serr == nil {
			pc.synth = fi.ModTime()
		}
	}
	if err == nil && p.PR != "" {
		v.srv.makePrivate(p.PR)
	}
	if prev != nil {
		pc.changed = prev.changed
		if err != nil || prev.err != nil || !p.SameRules(prev.plan) {
			pc.changed = time.Now()
		}
	}
	// Several requests may compute the new plan at once: the first one stored wins, so
	// every request after the switch sees the same plan object. A request that lost to
	// a later switch uses its plan once, without storing it.
	if !v.plan.CompareAndSwap(prev, pc) {
		if cur := v.plan.Load(); cur != nil && cur.res == r && cur.up == up {
			return cur, cur.err
		}
	}
	return pc, err
}

// openVolatile finds (or makes) the node's current volatile epoch directory.
func (v *View) openVolatile() error {
	if err := os.MkdirAll(v.voldir, 0o700); err != nil {
		return err
	}
	// Made by an earlier version with a wider mode: the node's files are reachable
	// from its own directory only (privateDir).
	if err := privateDir(v.voldir); err != nil {
		slog.Error("cannot make a node's volatile directory private (0700): other users of the server may reach its files", "dir", v.voldir, "err", err)
	}
	var epoch uint64
	if b, err := os.ReadFile(filepath.Join(v.voldir, "current")); err == nil {
		if e, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && e > 0 {
			epoch = e
		}
	}
	fresh := epoch == 0
	if fresh {
		epoch = 1
	}
	dir := filepath.Join(v.voldir, strconv.FormatUint(epoch, 10))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if fresh {
		if err := writeFileAtomic(filepath.Join(v.voldir, "current"), []byte("1\n")); err != nil {
			return err
		}
	}
	// Older epochs whose removal a stop cut short.
	if ents, err := os.ReadDir(v.voldir); err == nil {
		for _, e := range ents {
			if n, err := strconv.ParseUint(e.Name(), 10, 64); err == nil && n < epoch && e.IsDir() {
				os.RemoveAll(filepath.Join(v.voldir, e.Name()))
			}
		}
	}
	v.upper.Store(v.newUpper(dir, epoch))
	return nil
}

// Reset drops the node's volatile layer atomically: a new empty epoch becomes current,
// then the old one is deleted.
// It counts as a boot of the same token (a remount of that boot drops nothing more),
// and serves the image's current generation.
func (v *View) Reset() error {
	return v.shared(func() error {
		rec, _ := readBootRecord(v.voldir)
		return v.bootNow(rec.Token, false)
	})
}

// Refresh re-reads which volatile layer is node's current one: a server that takes a
// node over from another (its lease) calls it, since the other may have dropped the
// layer this server last knew (a boot there).
func (s *Server) Refresh(node string) error {
	s.mu.Lock()
	v := s.views[node]
	s.mu.Unlock()
	if v == nil {
		return nil // not opened yet: it will read the current layer when it is
	}
	return v.shared(func() error { return nil })
}

// bootFile holds a node's last boot in its volatile directory (BootRecord).
const bootFile = "boot"

// BootRecord is a node's last boot as its volatile directory keeps it (one line: token,
// epoch, image generation, tables generation, image directory), read by every server that
// shares the directory: a failover serves the same image generation.
type BootRecord struct {
	Token string
	// Epoch is the volatile layer the boot started.
	Epoch uint64
	// ImageDir is the node's image directory at the boot and ImageGen the generation of it
	// the boot serves (0: the working copy, live); TablesGen the tables' generation then.
	ImageDir  string
	ImageGen  int
	TablesGen uint64
}

func (r BootRecord) String() string {
	return fmt.Sprintf("%s %d %d %d %s\n", r.Token, r.Epoch, r.ImageGen, r.TablesGen, r.ImageDir)
}

// readBootRecord reads the record of dir (a node's volatile directory); a record of an
// earlier version has a token and an epoch only.
func readBootRecord(dir string) (BootRecord, bool) {
	b, err := os.ReadFile(filepath.Join(dir, bootFile))
	if err != nil {
		return BootRecord{}, false
	}
	f := strings.SplitN(strings.TrimRight(string(b), "\n"), " ", 5)
	if len(f) == 0 || f[0] == "" {
		return BootRecord{}, false
	}
	r := BootRecord{Token: f[0]}
	if len(f) > 1 {
		r.Epoch, _ = strconv.ParseUint(f[1], 10, 64)
	}
	if len(f) == 5 {
		r.ImageGen, _ = strconv.Atoi(f[2])
		r.TablesGen, _ = strconv.ParseUint(f[3], 10, 64)
		r.ImageDir = f[4]
	}
	return r, true
}

// LastBoot returns node's last boot as the volatile layers record it (false: none), for
// a server or a command that reads the layers without serving them.
func LastBoot(volatile, node string) (BootRecord, bool) {
	if tables.CheckName("node name", node) != nil {
		return BootRecord{}, false
	}
	return readBootRecord(filepath.Join(volatile, node))
}

// Boots returns the last boot of every node with a volatile directory in volatile.
func Boots(volatile string) (map[string]BootRecord, error) {
	ents, err := os.ReadDir(volatile)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]BootRecord{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]BootRecord, len(ents))
	for _, e := range ents {
		if !e.IsDir() || tables.CheckName("node name", e.Name()) != nil {
			continue
		}
		if r, ok := readBootRecord(filepath.Join(volatile, e.Name())); ok {
			out[e.Name()] = r
		}
	}
	return out, nil
}

// BootToken returns the boot token of a boot that serves image generation gen: base,
// followed by "-g<gen>" when gen > 0. The boot configuration carries it into the node's
// root path (/nodes/<node>/@<token>), so whichever server sees the boot first, by the
// configuration fetch or by the MNT, pins the same generation.
func BootToken(base string, gen int) string {
	if gen <= 0 {
		return base
	}
	return base + "-g" + strconv.Itoa(gen)
}

// TokenGeneration is the image generation a boot token names (BootToken).
func TokenGeneration(token string) (int, bool) {
	i := strings.LastIndex(token, "-g")
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(token[i+2:])
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// Boot makes token the node's current boot. The first time the node's directory sees a
// token its volatile layer is dropped (Reset) and the boot pins the image generation the
// token names (BootToken), else the node's image's current one; a token seen before — a
// remount, the boot file fetch then the mount of one boot, another server of the cluster
// that decided the boot already — changes nothing. legacy, when not empty, is the node's
// last token as a server recorded it before boots were kept with the layer: it stands
// for the layer's boot when the layer has none yet (an upgrade resets no running node).
// It reports whether the layer was dropped.
func (s *Server) Boot(node, token, legacy string) (bool, error) {
	v, err := s.View(node)
	if err != nil {
		return false, err
	}
	reset := false
	err = v.shared(func() error {
		var err error
		reset, err = v.bootLocked(token, legacy)
		return err
	})
	return reset, err
}

// bootLocked is Boot under the view's locks.
func (v *View) bootLocked(token, legacy string) (bool, error) {
	last := legacy
	if rec, ok := readBootRecord(v.voldir); ok {
		last = rec.Token
	}
	if last == token {
		return false, nil
	}
	return true, v.bootNow(token, true)
}

// bootNow drops the layer for a boot with token and records it; the caller holds the
// view's locks (shared). The boot pins the image generation the token names (when
// byToken), else the image's current one.
func (v *View) bootNow(token string, byToken bool) error {
	if token == "" {
		token = "-" // a reset of a node never booted by token
	}
	r := v.srv.res.Load()
	rec := BootRecord{Token: token, TablesGen: r.Snap.Gen}
	if p, err := r.Plan(v.node); err == nil {
		rec.ImageDir = p.ImageDir()
	}
	if rec.ImageDir != "" {
		if g, ok := TokenGeneration(token); ok && byToken {
			rec.ImageGen = g
		} else if g, err := resolver.CurrentGeneration(rec.ImageDir); err == nil {
			rec.ImageGen = g
		} else {
			slog.Error("image generation unreadable: the boot serves the working copy", "node", v.node, "image", rec.ImageDir, "err", err)
		}
	}
	if err := v.resetLocked(&rec); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(v.voldir, bootFile), []byte(rec.String())); err != nil {
		return fmt.Errorf("boot of %s: the layer was dropped but the boot not recorded: %w", v.node, err)
	}
	return nil
}

// shared runs fn holding the view's lock and the lock of the node's volatile directory
// that the servers sharing it (site.volatiledir) take to reset or boot the node, one at
// a time, after taking the layer another of them made current meanwhile (refresh).
func (v *View) shared(fn func() error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(v.voldir, "lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer f.Close() // closing it releases the lock
	if err := sys.Lock(f); err != nil {
		return fmt.Errorf("lock of %s's volatile layer: %w", v.node, err)
	}
	if err := v.refresh(); err != nil {
		return err
	}
	return fn()
}

// refresh takes the layer another server sharing the directory made current meanwhile
// (a reset there); the caller holds the view's locks (shared).
func (v *View) refresh() error {
	b, err := os.ReadFile(filepath.Join(v.voldir, "current"))
	if err != nil {
		return err
	}
	e, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || e == 0 {
		return fmt.Errorf("%s: bad epoch %q", filepath.Join(v.voldir, "current"), strings.TrimSpace(string(b)))
	}
	old := v.upper.Load()
	if e == old.epoch {
		return nil
	}
	dir := filepath.Join(v.voldir, strconv.FormatUint(e, 10))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	v.upper.Store(v.newUpper(dir, e))
	v.srv.layers.forget(old.dir)
	return nil
}

// resetLocked drops the layer for the boot rec, setting its epoch; the new layer serves
// the boot's image generation. The caller holds the view's locks (shared).
func (v *View) resetLocked(rec *BootRecord) error {
	old := v.upper.Load()
	epoch := old.epoch + 1
	dir := filepath.Join(v.voldir, strconv.FormatUint(epoch, 10))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(v.voldir, "current"), []byte(strconv.FormatUint(epoch, 10)+"\n")); err != nil {
		return err
	}
	u := &upperLayer{dir: dir, epoch: epoch}
	rec.Epoch = epoch
	if rec.ImageDir != "" {
		u.pins.Store(rec.ImageDir, rec.ImageGen)
	}
	v.upper.Store(u)
	v.srv.layers.forget(old.dir)
	// The old layer is out of every view from now on: removing it (it may be large)
	// need not hold up the boot; what a stop cuts short, the next start removes.
	v.srv.removing.Add(1)
	go func() {
		defer v.srv.removing.Done()
		os.RemoveAll(old.dir)
	}()
	if v.srv.cfg.OnReset != nil {
		v.srv.cfg.OnReset(v.node, *rec)
	}
	return nil
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
