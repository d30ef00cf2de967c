package resolver

import (
	"fmt"
	"sort"
	"strings"

	"statelite/tables"
)

// SameRules reports whether two plans give a node the same view rules: image, image
// root, persistent root, litetree sources in order, and litefile entries with their
// options. Plans of one image in one snapshot share their entries, which makes the
// common case O(sources).
func (p *Plan) SameRules(o *Plan) bool {
	if p == o {
		return true
	}
	if p == nil || o == nil || p.Image != o.Image || p.Root != o.Root || p.Default != o.Default || p.PR != o.PR || len(p.Sources) != len(o.Sources) {
		return false
	}
	for i, s := range p.Sources {
		if s.Path != o.Sources[i].Path || s.Priority != o.Sources[i].Priority {
			return false
		}
	}
	if p.img == o.img {
		return true
	}
	a, b := p.img.entries, o.img.entries
	if len(a) != len(b) {
		return false
	}
	for i, e := range a {
		if e.Path != b[i].Path || e.File != b[i].File || e.Option != b[i].Option {
			return false
		}
	}
	return true
}

// ViewChange is one change of view that a set of nodes share.
type ViewChange struct {
	Nodes  []string // sorted
	Change string   // "/etc/ntp.conf litetree 2 → litetree 1", "image A → B", …
}

// String renders the change with its nodes folded into a noderange.
func (c ViewChange) String() string { return tables.FoldNodes(c.Nodes) + ": " + c.Change }

// DiffViews says how every node's view changes from the tables of old to those of new:
// nodes added or removed, image, image root, persistent root and litetree sources, and
// for the path of every entry of either plan the old and the new winner (option and
// serving source, resolved through pr). Nodes with the same change are grouped; changes
// come in node order, then in the order of the node's own list.
func DiffViews(old, new *Resolver, pr Prober) []ViewChange {
	nodes := map[string]bool{}
	for _, n := range old.Snap.Nodes() {
		nodes[n] = true
	}
	for _, n := range new.Snap.Nodes() {
		nodes[n] = true
	}
	sorted := make([]string, 0, len(nodes))
	for n := range nodes {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	byChange := map[string]*ViewChange{}
	var out []*ViewChange
	for _, n := range sorted {
		for _, c := range nodeChanges(old, new, pr, n) {
			vc := byChange[c]
			if vc == nil {
				vc = &ViewChange{Change: c}
				byChange[c] = vc
				out = append(out, vc)
			}
			vc.Nodes = append(vc.Nodes, n)
		}
	}
	res := make([]ViewChange, len(out))
	for i, c := range out {
		res[i] = *c
	}
	return res
}

func planOf(r *Resolver, node string) (*Plan, error) {
	if !r.Snap.IsNode(node) {
		return nil, nil
	}
	return r.Plan(node)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// NodeViewChanges lists how node's view changes from the tables of old to those of
// new, as DiffViews words it.
func NodeViewChanges(old, new *Resolver, pr Prober, node string) []string {
	return nodeChanges(old, new, pr, node)
}

// nodeChanges lists how node's view changes, in a fixed order.
func nodeChanges(old, new *Resolver, pr Prober, node string) []string {
	po, eo := planOf(old, node)
	pn, en := planOf(new, node)
	switch {
	case po == nil && eo == nil && pn == nil && en == nil:
		return nil
	case po == nil && eo == nil:
		if en != nil {
			return []string{"node added, without a view: " + en.Error()}
		}
		return []string{fmt.Sprintf("node added (image %s, %d litefile entries)", pn.Image, len(pn.Entries()))}
	case pn == nil && en == nil:
		return []string{"node removed"}
	case en != nil && eo != nil:
		if en.Error() != eo.Error() {
			return []string{"still without a view: " + en.Error()}
		}
		return nil
	case en != nil:
		return []string{"loses its view: " + en.Error()}
	case eo != nil:
		return []string{fmt.Sprintf("gets a view (image %s, %d litefile entries)", pn.Image, len(pn.Entries()))}
	}
	if po.SameRules(pn) {
		return nil
	}
	var out []string
	if po.Image != pn.Image {
		out = append(out, "image "+po.Image+" → "+pn.Image)
	}
	if po.Root != pn.Root {
		out = append(out, "image root "+po.Root+" → "+pn.Root)
	}
	// Sources and the persistent root are shown as the tables write them (variables
	// unsubstituted), so nodes sharing a row share the line; substituted when only a
	// variable's value changed.
	if po.PR != pn.PR {
		if po.Statemnt != pn.Statemnt {
			out = append(out, "statemnt "+orNone(po.Statemnt)+" → "+orNone(pn.Statemnt))
		} else {
			out = append(out, "persistent root "+orNone(po.PR)+" → "+orNone(pn.PR))
		}
	}
	if a, b := sourcesText(po, false), sourcesText(pn, false); a != b {
		if ra, rb := sourcesText(po, true), sourcesText(pn, true); ra != rb {
			a, b = ra, rb
		}
		out = append(out, "litetree "+a+" → "+b)
	}
	type ent struct{ old, new *Entry }
	ents := map[string]*ent{}
	for _, e := range po.Entries() {
		if ents[e.Path] == nil {
			ents[e.Path] = &ent{}
		}
		ents[e.Path].old = e
	}
	for _, e := range pn.Entries() {
		if ents[e.Path] == nil {
			ents[e.Path] = &ent{}
		}
		ents[e.Path].new = e
	}
	paths := make([]string, 0, len(ents))
	for p := range ents {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		e := ents[p]
		file := p
		if e.new != nil {
			file = e.new.File
		} else if e.old != nil {
			file = e.old.File
		}
		oOpt, oSrc := winner(pr, po.Resolve(pr, p), p)
		nOpt, nSrc := winner(pr, pn.Resolve(pr, p), p)
		if oOpt == nOpt && oSrc == nSrc {
			continue
		}
		var line string
		switch {
		case oOpt == nOpt:
			line = file + " " + oSrc + " → " + nSrc
		case oSrc == nSrc && oOpt != "" && nOpt != "":
			line = file + " " + oOpt + " → " + nOpt
		default:
			line = file + " " + join(oOpt, oSrc) + " → " + join(nOpt, nSrc)
		}
		switch {
		case e.old == nil:
			line += " (entry added)"
		case e.new == nil:
			line += " (entry removed)"
		}
		out = append(out, line)
	}
	return out
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

func sourcesText(p *Plan, raw bool) string {
	if len(p.Sources) == 0 {
		return "(none)"
	}
	parts := make([]string, len(p.Sources))
	for i, s := range p.Sources {
		if raw {
			parts[i] = s.Priority + " " + s.Raw
		} else {
			parts[i] = s.Priority + " " + s.Path
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// winner describes how path key is served: the governing option ("" for the image, "under
// /dir/ OPT" when a directory entry above governs) and the serving source.
func winner(pr Prober, r *Resolution, key string) (opt, src string) {
	e := r.Entry
	switch {
	case e == nil:
		opt = ""
	case e.Path != key:
		opt = "under " + e.File + " " + e.Option
	default:
		opt = e.Option
	}
	if e != nil && e.Opt.Class == tables.Persistent && !r.Persistent {
		opt += " (volatile: no statelite row)"
	}
	if e == nil && len(r.Base) == 1 && r.Base[0].Kind == "image" {
		if _, err := pr.Lstat(r.Base[0].Root, r.Base[0].Rel); err != nil {
			return "", "absent (not in the image)"
		}
	}
	var parts []string
	for _, l := range r.Base {
		parts = append(parts, layerWord(l))
	}
	return opt, strings.Join(parts, "+")
}

func layerWord(l Layer) string {
	switch l.Kind {
	case "litetree":
		return "litetree " + l.Prio
	case "default":
		return "image .default"
	case "synthetic":
		return "empty (found nowhere)"
	case "symlink":
		return "symlink " + l.Root
	case "persistent":
		return "persistent copy"
	}
	return l.Kind
}
