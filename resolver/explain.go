package resolver

import (
	"fmt"
	"io"
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
	fmt.Fprintf(w, "served:  %s\n", strings.Join(served, "\n         + "))
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

func (p *Plan) rowLine(row int) string {
	return p.litefile.RowLine(row)
}
