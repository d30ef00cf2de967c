package resolver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"statelite/tables"
)

// Prober looks at the layers' files on the serving host. Paths are relative to a layer
// root and never leave it (symlinks are resolved inside the root only).
type Prober interface {
	// Lstat describes rel inside root.
	Lstat(root, rel string) (fs.FileInfo, error)
	// Empty reports whether directory rel inside root has no entries.
	Empty(root, rel string) bool
}

// OSProber probes the local filesystem through os.Root.
type OSProber struct{}

func relName(rel string) string {
	rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
	if rel == "" {
		return "."
	}
	return rel
}

// Lstat implements Prober.
func (OSProber) Lstat(root, rel string) (fs.FileInfo, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Lstat(relName(rel))
}

// Empty implements Prober.
func (OSProber) Empty(root, rel string) bool {
	r, err := os.OpenRoot(root)
	if err != nil {
		return true
	}
	defer r.Close()
	f, err := r.Open(relName(rel))
	if err != nil {
		return true
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && (err == nil || errors.Is(err, io.EOF))
}

// Layer names the place a view's bytes come from.
type Layer struct {
	Kind string // "image", "default", "litetree", "persistent", "synthetic", "symlink"
	Root string // the layer's root directory on the serving host; for "symlink", the link target
	Rel  string // the path inside Root
	Prio string // litetree priority, for Kind "litetree"
	// Loc is the layer's root in the table's own words, for Kind "litetree": the
	// litetree.directory value with its variables substituted (srvB:/lt9), where Root
	// is where this host reads it (MNT/srvB/lt9).
	Loc string
	// ID, when set, is the name the layer's file ids are made from instead of Root: a
	// generation's image layers carry the working copy's root (Plan.AtGeneration).
	ID string
}

// Full returns Root joined with Rel.
func (l Layer) Full() string { return path.Join(l.Root, l.Rel) }

func (l Layer) String() string {
	switch l.Kind {
	case "litetree":
		if words := path.Join(l.Loc, l.Rel); l.Loc != "" && words != l.Full() {
			return fmt.Sprintf("litetree priority %s: %s at %s", l.Prio, words, l.Full())
		}
		return fmt.Sprintf("litetree priority %s: %s", l.Prio, l.Full())
	case "synthetic":
		return "an empty file or directory made up by the server (found nowhere)"
	case "symlink":
		return "a symlink to " + l.Root
	}
	return fmt.Sprintf("%s: %s", l.Kind, l.Full())
}

// Candidate is one source examined for an entry, with the verdict.
type Candidate struct {
	Layer   Layer
	Verdict string // "match", "missing", "empty directory", "child-skip: …", "not consulted: …"
}

// Resolution says how a path of a node's view is served.
type Resolution struct {
	Path  string
	Entry *Entry // nil: not covered by any litefile entry (the image, live, read-only)
	Class tables.Class
	// Writable: the node may write here (volatile or persistent); false gives EROFS.
	Writable bool
	// Persistent: writes go to PR (copied at first write); false with a persistent entry
	// means the node has no usable statelite row and the entry is served as volatile.
	Persistent bool
	// PRPath is where the persistent copy lives (PR/key), and PRExists whether it does.
	PRPath   string
	PRExists bool
	// Base are the layers whose content the node sees until it writes: one for most
	// classes, every match in order for con (the parent's copy first for a con child, when
	// that copy has the file).
	Base []Layer
	// Candidates are the sources examined, in order, with their verdicts.
	Candidates []Candidate
	Notes      []string
}

// isArtefact reports whether an image path is a liteimg symlink into .statelite/tmpfs.
func isArtefact(pr Prober, root, rel string) bool {
	fi, err := pr.Lstat(root, rel)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return false
	}
	t, err := os.Readlink(path.Join(root, rel))
	return err == nil && strings.Contains(t, ".statelite/tmpfs/")
}

// defaultLayer returns the default source of key k (docs/behaviour.md#the-default-tree): D/k, else R/k unless
// it is a liteimg artefact, else a synthetic empty object.
func (p *Plan) defaultLayer(pr Prober, k string, cands *[]Candidate) Layer {
	d := p.defaultTreeLayer(k)
	if _, err := pr.Lstat(d.Root, k); err == nil {
		*cands = append(*cands, Candidate{d, "match"})
		return d
	}
	*cands = append(*cands, Candidate{d, "missing"})
	im := p.ImageLayer(k)
	if _, err := pr.Lstat(im.Root, k); err == nil {
		if isArtefact(pr, im.Root, k) {
			*cands = append(*cands, Candidate{im, "skipped: a liteimg symlink into .statelite/tmpfs"})
		} else {
			*cands = append(*cands, Candidate{im, "match"})
			return im
		}
	} else {
		*cands = append(*cands, Candidate{im, "missing"})
	}
	return Layer{Kind: "synthetic", Rel: k}
}

// search runs the source search for entry e (first match, child-skip rule:
// docs/behaviour.md#litetree-sources-and-priorities, #nested-entries).
func (p *Plan) search(pr Prober, e *Entry, all bool) (matches []Layer, cands []Candidate) {
	k := e.Path
	for _, s := range p.Sources {
		l := Layer{Kind: "litetree", Root: s.Path, Rel: k, Prio: s.Priority, Loc: s.Location()}
		if !all && len(matches) > 0 {
			cands = append(cands, Candidate{l, "not consulted: an earlier source matched"})
			continue
		}
		fi, err := pr.Lstat(s.Path, k)
		if err != nil {
			cands = append(cands, Candidate{l, "missing"})
			continue
		}
		if fi.IsDir() {
			if pr.Empty(s.Path, k) {
				cands = append(cands, Candidate{l, "empty directory (treated as missing)"})
				continue
			}
			if e.Top() && e.IsDir() {
				skip := ""
				for _, c := range e.Children {
					if _, err := pr.Lstat(s.Path, c.Path); err == nil {
						skip = c.File
						break
					}
				}
				if skip != "" {
					cands = append(cands, Candidate{l, "child-skip: it also holds child entry " + skip + ", so it is a tree meant for the child"})
					continue
				}
			}
		}
		cands = append(cands, Candidate{l, "match"})
		matches = append(matches, l)
	}
	return matches, cands
}

// Resolve says how path pth (absolute) of the node's view is served, probing the layers.
func (p *Plan) Resolve(pr Prober, pth string) *Resolution {
	pth = path.Clean("/" + pth)
	res := &Resolution{Path: pth}
	e := p.Lookup(pth)
	if pth == "/etc/mtab" {
		res.Entry = e
		res.Notes = append(res.Notes, "/etc/mtab is always a symlink to /proc/self/mounts")
		res.Base = []Layer{{Kind: "symlink", Root: "/proc/self/mounts"}}
		return res
	}
	if e == nil {
		res.Base = []Layer{p.ImageLayer(pth)}
		res.Notes = append(res.Notes, "not covered by any litefile entry: the image, live and read-only")
		return res
	}
	res.Entry, res.Class = e, e.Opt.Class
	rel := strings.TrimPrefix(pth, e.Path) // "" or "/sub/path"
	under := func(l Layer) Layer {
		if l.Kind != "synthetic" {
			l.Rel = e.Path + rel
		}
		return l
	}
	switch e.Opt.Class {
	case tables.Con:
		matches, cands := p.search(pr, e, true)
		res.Candidates = cands
		res.Writable = true
		if e.Parent != nil {
			var pc []Candidate
			par := p.parentCopy(pr, e, &pc)
			res.Candidates = append(pc, res.Candidates...)
			_, err := pr.Lstat(par.Root, par.Rel)
			if hasCopy := par.Kind != "synthetic" && err == nil; hasCopy || len(matches) == 0 {
				res.Base = append([]Layer{par}, matches...)
				res.Notes = append(res.Notes, "con child: the parent's copy of the file, then every litetree match appended")
			} else {
				// The parent's source has no such file: there is nothing to append to.
				res.Base = matches
				res.Notes = append(res.Notes, "con child: the parent's copy has no such file ("+par.String()+"), so every litetree match in priority order")
			}
		} else if len(matches) == 0 {
			// docs/behaviour.md#concatenated-files: with no match, the image file,
			// copy-on-write like tmpfs (xCAT leaves a plain con read-only there; we do
			// not).
			res.Base = []Layer{p.defaultLayer(pr, e.Path, &res.Candidates)}
			res.Notes = append(res.Notes, e.Option+" with no litetree match: the image file, live until the node writes; writes are volatile")
		} else {
			res.Base = matches
			res.Notes = append(res.Notes, fmt.Sprintf("con: the concatenation of %d litetree match(es) in priority order; writes are volatile", len(matches)))
		}
		return res
	}
	matches, cands := p.search(pr, e, false)
	res.Candidates = cands
	var base Layer
	if len(matches) > 0 {
		base = matches[0]
	} else {
		base = p.defaultLayer(pr, e.Path, &res.Candidates)
	}
	res.Base = []Layer{under(base)}
	switch e.Opt.Class {
	case tables.ReadOnly:
		res.Notes = append(res.Notes, "read-only and live: the node sees source changes at once; writes fail with EROFS")
	case tables.LocalDisk:
		res.Notes = append(res.Notes, "localdisk: served read-only from the source; the node mounts its local disk over it")
	case tables.Volatile:
		res.Writable = true
		res.Notes = append(res.Notes, "volatile: the source, live, until the node writes; then the node's private copy-on-write layer, reset at boot")
	case tables.Persistent:
		res.Writable = true
		if p.PR == "" {
			res.Notes = append(res.Notes, "persistent entry, but node "+p.Node+" has no usable statelite row: served as VOLATILE, reset at every boot")
			break
		}
		res.Persistent = true
		res.PRPath = path.Join(p.PR, e.Path)
		if _, err := pr.Lstat(p.PR, e.Path); err == nil {
			res.PRExists = true
			res.Base = []Layer{{Kind: "persistent", Root: p.PR, Rel: e.Path + rel}}
			res.Notes = append(res.Notes, "persistent: the node's copy "+res.PRPath+" exists and always wins")
		} else if e.IsDir() {
			res.Notes = append(res.Notes, "persistent: the source, live, until the first write copies the whole directory to "+res.PRPath)
		} else {
			res.Notes = append(res.Notes, "persistent: the source, live, until the first write copies the file to "+res.PRPath)
		}
	}
	return res
}

// parentCopy returns the layer the parent entry of e serves at e's path.
func (p *Plan) parentCopy(pr Prober, e *Entry, cands *[]Candidate) Layer {
	par := e.Parent
	matches, c := p.search(pr, par, false)
	*cands = append(*cands, c...)
	if len(matches) > 0 {
		l := matches[0]
		l.Rel = e.Path
		return l
	}
	l := p.defaultLayer(pr, par.Path, cands)
	if l.Kind != "synthetic" {
		l.Rel = e.Path
	}
	return l
}
