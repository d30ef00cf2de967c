// Package resolver turns (tables snapshot, node) into that node's view plan: image,
// image root, effective litefile entries in a path trie, litetree sources with
// variables substituted and locations mapped, the persistent root, and warnings.
package resolver

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"statelite/tables"
)

// Config holds the server settings a plan depends on.
type Config struct {
	// Mnt is where remote litetree/statemnt exports are mounted on the serving host:
	// "server:/dir" is read at Mnt/server/dir (docs/behaviour.md#locations).
	Mnt string
	// LocalNames are the serving host's own names and addresses: "server:/dir" with such a
	// server is read at /dir. site.master, "localhost" and the host name are always local.
	LocalNames []string
	// Names, when set, resolves the DNS names of nodes without hosts.ip off the request
	// path, so the cluster index knows their addresses (a server's; nil: such nodes are
	// known by address only when their name is one).
	Names *Names
}

// Entry is one effective litefile entry of a plan.
type Entry struct {
	tables.LiteEntry
	Path     string   // key: the path without trailing "/"
	Parent   *Entry   // nearest parent directory entry (docs/behaviour.md#nested-entries), or nil for top-level
	Children []*Entry // direct children (entries whose dirname is this entry's path)
}

// Top reports whether the entry is top-level (has no parent entry).
func (e *Entry) Top() bool { return e.Parent == nil }

// Source is one litetree source of a node, in priority order.
type Source struct {
	Priority string
	Row      int    // litetree row index
	Raw      string // the table value
	Server   string // substituted server part ("" for a local directory)
	Dir      string // substituted directory part
	Display  string // as xCAT's litetree command prints it (server:dir, mntopts appended)
	Path     string // where the serving host reads it (docs/behaviour.md#locations)
}

// Location is the source in the table's own words, its variables substituted: server:dir,
// or dir for a local directory (Display without the mount options).
func (s Source) Location() string {
	if s.Server == "" {
		return s.Dir
	}
	return s.Server + ":" + s.Dir
}

// Plan is a node's compiled view plan. Plans are immutable and shared by readers.
type Plan struct {
	Gen   uint64
	Node  string
	Image string
	Root  string // image root R (a generation's root when Generation > 0)
	// Generation is the image generation the plan serves (0: the working copy, live);
	// Working is then the working copy's root the generation stands for.
	Generation int
	Working    string
	Default    string // R/.default
	Sources    []Source
	Statemnt   string // substituted statemnt as lslite shows it ("" without a statelite row)
	PR         string // persistent root PR(node) on the serving host ("" when none)
	Warnings   []string
	Errors     []string // per-node errors (unset variables: rows left out of the view)

	img      *imagePlan
	litefile *tables.Table
}

// Entries returns the plan's effective entries sorted by path string.
func (p *Plan) Entries() []*Entry { return p.img.entries }

type imagePlan struct {
	entries []*Entry
	root    *trieNode
	hasPers bool
}

type trieNode struct {
	kids  map[string]*trieNode
	entry *Entry
}

// Lookup returns the entry that governs path p (an absolute, clean path): the deepest
// entry that is p itself or a directory entry above it; nil for image paths. O(depth).
func (p *Plan) Lookup(pth string) *Entry {
	n := p.img.root
	var best *Entry
	rest := strings.TrimPrefix(pth, "/")
	for rest != "" {
		var comp string
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			comp, rest = rest[:i], rest[i+1:]
		} else {
			comp, rest = rest, ""
		}
		if comp == "" {
			continue
		}
		n = n.kids[comp]
		if n == nil {
			break
		}
		if e := n.entry; e != nil && (rest == "" || e.IsDir()) {
			best = e
		}
	}
	return best
}

// Resolver compiles plans from one snapshot, sharing per-image work between nodes.
// It is safe for concurrent use.
type Resolver struct {
	Snap  *tables.Snapshot
	cfg   Config
	local map[string]bool

	mu     sync.Mutex
	images map[string]*imagePlan
	plans  sync.Map // node -> *planSlot: each node's plan, computed once

	indexOnce   sync.Once
	index       *Index
	indexBuilds atomic.Int64
	planBuilds  atomic.Int64
}

// New returns a resolver over snap.
func New(snap *tables.Snapshot, cfg Config) *Resolver {
	r := &Resolver{Snap: snap, cfg: cfg, local: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}, images: map[string]*imagePlan{}}
	if m, ok := snap.Site("master"); ok && m != "" {
		r.local[m] = true
	}
	if h, err := os.Hostname(); err == nil {
		r.local[h] = true
		r.local[strings.SplitN(h, ".", 2)[0]] = true
	}
	for _, n := range cfg.LocalNames {
		r.local[n] = true
	}
	return r
}

// ErrNoImage is wrapped by Plan errors when a node has no usable nodetype data.
var ErrNoImage = errors.New("does not have os, arch, or profile defined in nodetype table")

// ImageOf returns the osimage a node uses for litefile/litetree (docs/behaviour.md#which-rows-apply).
func ImageOf(s *tables.Snapshot, node string) (image, os_, arch, profile string, err error) {
	os_, _, _ = s.NodeAttr(node, "nodetype", "os")
	arch, _, _ = s.NodeAttr(node, "nodetype", "arch")
	profile, _, _ = s.NodeAttr(node, "nodetype", "profile")
	pm, _, _ := s.NodeAttr(node, "nodetype", "provmethod")
	if os_ == "" || arch == "" || profile == "" {
		return "", os_, arch, profile, fmt.Errorf("%s %w", node, ErrNoImage)
	}
	switch pm {
	case "", "install", "netboot", "statelite":
		image = os_ + "-" + arch + "-statelite-" + profile
	default:
		image = pm
	}
	// The values are directories of the image's path, and the image name one of its boot
	// files' paths: tables.Validate refuses bad ones, but a regex cell's result is only
	// known here.
	if err := checkImageParts(os_, arch, profile); err != nil {
		return "", os_, arch, profile, fmt.Errorf("node %s: %w", node, err)
	}
	if err := tables.CheckName("image name", image); err != nil {
		return "", os_, arch, profile, fmt.Errorf("node %s: %w", node, err)
	}
	return image, os_, arch, profile, nil
}

// checkImageParts checks the os, arch and profile of an image's default directory
// <installdir>/netboot/<os>/<arch>/<profile>.
func checkImageParts(os_, arch, profile string) error {
	for _, p := range [][2]string{{"os", os_}, {"arch", arch}, {"profile", profile}} {
		if err := tables.CheckName(p[0], p[1]); err != nil {
			return err
		}
	}
	return nil
}

// Plan returns node's view plan, compiled once per resolver (snapshot) and shared by
// every caller.
func (r *Resolver) Plan(node string) (*Plan, error) {
	v, ok := r.plans.Load(node)
	if !ok {
		if !r.Snap.IsNode(node) {
			return nil, fmt.Errorf("node %s is not in nodelist", node)
		}
		v, _ = r.plans.LoadOrStore(node, &planSlot{})
	}
	ps := v.(*planSlot)
	ps.once.Do(func() {
		r.planBuilds.Add(1)
		ps.p, ps.err = r.compile(node)
	})
	return ps.p, ps.err
}

// compile computes node's view plan.
func (r *Resolver) compile(node string) (*Plan, error) {
	s := r.Snap
	if !s.IsNode(node) {
		return nil, fmt.Errorf("node %s is not in nodelist", node)
	}
	// The node name becomes a directory of its persistent root (statemnt/<node>): never
	// one that leaves it (tables.Validate refuses such names; this is the last guard).
	if err := tables.CheckName("node name", node); err != nil {
		return nil, err
	}
	image, os_, arch, profile, err := ImageOf(s, node)
	if err != nil {
		return nil, err
	}
	p := &Plan{Gen: s.Gen, Node: node, Image: image, litefile: s.Table("litefile")}
	p.Root = r.imageRoot(node, image, os_, arch, profile)
	p.Default = path.Join(p.Root, ".default")
	p.img = r.image(image)

	for _, tr := range s.LitetreeFor(image) {
		src, err := r.source(node, tr)
		if err != nil {
			p.Errors = append(p.Errors, err.Error())
			continue
		}
		p.Sources = append(p.Sources, src)
	}
	r.persistent(p)
	return p, nil
}

// imageRoot computes R (docs/behaviour.md#locations): noderes.nfsdir, else linuximage.rootimgdir,
// else <site.installdir>/netboot/<os>/<arch>/<profile>, then /rootimg.
func (r *Resolver) imageRoot(node, image, os_, arch, profile string) string {
	s := r.Snap
	if nfsdir, _, ok := s.NodeAttr(node, "noderes", "nfsdir"); ok {
		if strings.HasPrefix(nfsdir, "//") {
			return path.Join(nfsdir[1:], "rootimg")
		}
		return path.Join(DefaultImageDir(nfsdir, os_, arch, profile), "rootimg")
	}
	if d, err := ImageDir(s, image, node); err == nil {
		return path.Join(d, "rootimg")
	}
	// ImageDir finds the node's nodetype values, which ImageOf checked: not reached.
	return path.Join(DefaultImageDir(s.SiteOr("installdir", "/install"), os_, arch, profile), "rootimg")
}

func (r *Resolver) image(image string) *imagePlan {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ip, ok := r.images[image]; ok {
		return ip
	}
	ip := compileImage(r.Snap.LitefileFor(image))
	r.images[image] = ip
	return ip
}

func compileImage(les []tables.LiteEntry) *imagePlan {
	ip := &imagePlan{root: &trieNode{}}
	byFile := make(map[string]int, len(les))
	byKey := make(map[string]*Entry, len(les))
	for i, le := range les {
		byFile[le.File] = i
		e := &Entry{LiteEntry: le, Path: le.Key()}
		ip.entries = append(ip.entries, e)
		if le.Opt.Class == tables.Persistent {
			ip.hasPers = true
		}
		// A directory entry wins the trie slot over a file entry of the same key.
		if prev := byKey[e.Path]; prev == nil || e.IsDir() {
			byKey[e.Path] = e
		}
	}
	for _, e := range ip.entries {
		if pi := tables.ParentOf(byFile, e.Path); pi >= 0 {
			e.Parent = ip.entries[pi]
			if path.Dir(e.Path) == e.Parent.Path {
				e.Parent.Children = append(e.Parent.Children, e)
			}
		}
	}
	for key, e := range byKey {
		n := ip.root
		for _, comp := range strings.Split(strings.TrimPrefix(key, "/"), "/") {
			if n.kids == nil {
				n.kids = map[string]*trieNode{}
			}
			c := n.kids[comp]
			if c == nil {
				c = &trieNode{}
				n.kids[comp] = c
			}
			n = c
		}
		n.entry = e
	}
	return ip
}

// expandLocation substitutes a "server:dir" value for node as xCAT's litetree command
// does, then maps it to a path on the serving host (docs/behaviour.md#locations).
func (r *Resolver) expandLocation(node, raw string) (server, dir, display, local string, err error) {
	srvT, dirT := tables.SplitLocation(raw)
	ts, err := tables.ParseTemplate(srvT)
	if err != nil {
		return
	}
	td, err := tables.ParseTemplate(dirT)
	if err != nil {
		return
	}
	if server, err = r.Snap.Expand(node, ts); err != nil {
		return
	}
	if dir, err = r.Snap.Expand(node, td); err != nil {
		return
	}
	if td.HasVars() {
		// xCAT's substituted directories lose their trailing "/" and have "//" collapsed.
		dir = strings.ReplaceAll(strings.TrimRight(dir, "/"), "//", "/")
	}
	display = dir
	if server != "" {
		display = server + ":" + dir
	}
	if !strings.HasPrefix(dir, "/") {
		err = fmt.Errorf("directory %q of %q is not absolute after substitution", dir, raw)
		return
	}
	switch {
	case server == "" || r.local[server]:
		local = path.Clean(dir)
	case server == "." || server == ".." || strings.Contains(server, "/"):
		// A substituted server is one directory under the mount root (MNT/server/dir),
		// never a way out of it.
		err = fmt.Errorf("server %q of %q after substitution is not a host name", server, raw)
	default:
		local = path.Join(r.cfg.Mnt, server, dir)
	}
	return
}

func (r *Resolver) source(node string, tr tables.TreeRow) (Source, error) {
	t := r.Snap.Table("litetree")
	raw := t.Get(tr.Row, "directory")
	server, dir, display, local, err := r.expandLocation(node, raw)
	if err != nil {
		return Source{}, fmt.Errorf("%s (priority %s): %v; this source is left out of node %s's view", t.RowLine(tr.Row), tr.Priority, err, node)
	}
	if m := t.Get(tr.Row, "mntopts"); m != "" {
		display += " :" + m
	}
	return Source{Priority: tr.Priority, Row: tr.Row, Raw: raw, Server: server, Dir: dir, Display: display, Path: local}, nil
}

func (r *Resolver) persistent(p *Plan) {
	s := r.Snap
	raw, src, ok := s.NodeAttr(p.Node, "statelite", "statemnt")
	if ok {
		t := s.Table("statelite")
		server, dir, _, local, err := r.expandLocation(p.Node, raw)
		if err != nil {
			p.Errors = append(p.Errors, fmt.Sprintf("%s (node %s): statemnt: %v; persistent entries are served as volatile", t.RowLine(src.Row), src.Key, err))
		} else {
			p.Statemnt = dir
			if server != "" {
				p.Statemnt = server + ":" + dir
			}
			p.PR = path.Join(local, p.Node)
			return
		}
	}
	if p.img.hasPers && !ok {
		p.Warnings = append(p.Warnings, fmt.Sprintf("node %s has persistent litefile entries but no statelite row (statelite table): they are served as volatile and reset at every boot", p.Node))
	}
}

// trieAt returns the trie node of path pth, or nil.
func (p *Plan) trieAt(pth string) *trieNode {
	n := p.img.root
	for _, comp := range strings.Split(strings.Trim(pth, "/"), "/") {
		if comp == "" {
			continue
		}
		if n = n.kids[comp]; n == nil {
			return nil
		}
	}
	return n
}

// Below reports whether some entry lies strictly below directory pth, so pth must exist
// in the view as a directory even where no layer has it.
func (p *Plan) Below(pth string) bool {
	n := p.trieAt(pth)
	return n != nil && len(n.kids) > 0
}

// ChildNames returns the names directly below pth that lead to an entry (an entry's
// last component or a directory on the way to one).
func (p *Plan) ChildNames(pth string) []string {
	n := p.trieAt(pth)
	if n == nil {
		return nil
	}
	out := make([]string, 0, len(n.kids))
	for k := range n.kids {
		out = append(out, k)
	}
	return out
}
