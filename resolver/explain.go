package resolver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Explain writes why path pth of the plan's node is served the way it is: the entry
// and option that govern it, every candidate source in order with its verdict, and
// the layer that serves it.
func (p *Plan) Explain(w io.Writer, pr Prober, pth string) *Resolution {
	r := p.Resolve(pr, pth)
	fmt.Fprintf(w, "node:    %s\nimage:   %s (root %s)\npath:    %s\n", p.Node, p.Image, p.Root, r.Path)
	if r.Entry == nil {
		fmt.Fprintf(w, "entry:   none\n")
	} else {
		kind := "top-level"
		if r.Entry.Parent != nil {
			kind = "child of " + r.Entry.Parent.File + " (" + r.Entry.Parent.Option + ")"
		}
		from := r.Entry.From
		if r.Entry.Row >= 0 {
			from += ", " + p.rowLine(r.Entry.Row)
		}
		fmt.Fprintf(w, "entry:   %s %s (%s; %s)\n", r.Entry.Option, r.Entry.File, kind, from)
		fmt.Fprintf(w, "class:   %s\n", r.Class)
	}
	if len(r.Candidates) > 0 {
		fmt.Fprintf(w, "sources:\n")
		for i, c := range r.Candidates {
			fmt.Fprintf(w, "  %2d. %-60s %s\n", i+1, c.Layer.String(), c.Verdict)
		}
	}
	var served []string
	for _, l := range r.Base {
		served = append(served, l.String())
	}
	switch p.found(pr, r) {
	case foundNowhere:
		var where []string
		for _, l := range r.Base {
			if l.Kind == "synthetic" {
				where = append(where, "its entry "+r.Entry.File+" is found nowhere either: the server makes it up, empty")
			} else {
				where = append(where, "not in "+l.String())
			}
		}
		unless := ""
		if r.Writable && !r.Persistent {
			unless = ", unless it made one since its boot"
		}
		fmt.Fprintf(w, "served:  exists nowhere: the node gets ENOENT%s (%s)\n", unless, strings.Join(where, "; "))
	case foundMadeUp:
		fmt.Fprintf(w, "served:  a directory made up by the server, on the way to litefile entries below it (not in %s)\n", strings.Join(served, "; "))
	default:
		fmt.Fprintf(w, "served:  %s\n", strings.Join(served, "\n         + "))
	}
	mode := "read-only (EROFS on write)"
	switch {
	case r.Persistent:
		mode = "writable, persistent (" + r.PRPath + ")"
	case r.Writable:
		mode = "writable, volatile (reset at boot)"
	}
	fmt.Fprintf(w, "writes:  %s\n", mode)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note:    %s\n", n)
	}
	for _, n := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", n)
	}
	for _, n := range p.Errors {
		fmt.Fprintf(w, "error:   %s\n", n)
	}
	return r
}

// What the node finds at a resolved path, as the view server answers a lookup.
const (
	foundLayer   = iota // a layer has it (or cannot tell: a symlink on the way)
	foundNowhere        // no layer has it: ENOENT
	foundMadeUp         // no layer has it, but entries lie below: a made-up directory
)

// found probes the layers of r: the view server makes up the entry path itself when
// no source has it, and the directories on the way to entries; anything else no layer
// holds does not exist. A path through a symlink the probe cannot follow (one leading
// out of the layer's root: the node resolves it) counts as found.
func (p *Plan) found(pr Prober, r *Resolution) int {
	if len(r.Base) == 0 {
		return foundLayer
	}
	for _, l := range r.Base {
		switch l.Kind {
		case "symlink":
			return foundLayer
		case "synthetic":
			if r.Entry != nil && r.Path == r.Entry.Path {
				return foundLayer
			}
			continue
		}
		if _, err := pr.Lstat(l.Root, l.Rel); !errors.Is(err, fs.ErrNotExist) {
			return foundLayer
		}
	}
	if p.Below(r.Path) {
		return foundMadeUp
	}
	return foundNowhere
}

func (p *Plan) rowLine(row int) string {
	return p.litefile.RowLine(row)
}
