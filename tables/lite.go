package tables

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Class is what a litefile option does to its path
// (docs/behaviour.md#what-a-node-sees-at-each-path).
type Class int

// The option classes.
const (
	Volatile   Class = iota // tmpfs, rw, link, tmpfs,rw, blank, bind, tempfs: copy-on-write, reset at boot
	Persistent              // persistent, link,persistent: PR/key, survives reboots
	ReadOnly                // ro, link,ro: live read-only source
	Con                     // con, link,con: concatenation of every litetree match
	LocalDisk               // localdisk: node-managed, read-only source here
)

func (c Class) String() string {
	return [...]string{"volatile", "persistent", "ro", "con", "localdisk"}[c]
}

// Option is a parsed litefile option.
type Option struct {
	Class Class
	Link  bool // a link* spelling (presented as real files all the same)
}

var options = map[string]Option{
	"":                {Volatile, true}, // blank = tmpfs,rw
	"tmpfs":           {Volatile, false},
	"rw":              {Volatile, false},
	"link":            {Volatile, true},
	"tmpfs,rw":        {Volatile, true},
	"persistent":      {Persistent, false},
	"link,persistent": {Persistent, true},
	"ro":              {ReadOnly, false},
	"link,ro":         {ReadOnly, true},
	"con":             {Con, false},
	"link,con":        {Con, true},
	"localdisk":       {LocalDisk, false},
	"bind":            {Volatile, false},
	"tempfs":          {Volatile, false},
}

// OptionNames lists the litefile options xCAT's liteimg accepts, for messages.
const OptionNames = "tmpfs, rw, link, tmpfs,rw, persistent, link,persistent, ro, link,ro, con, link,con, localdisk (or blank for tmpfs,rw)"

// ParseOption parses a litefile option; warn is set for legacy spellings accepted as tmpfs.
func ParseOption(v string) (o Option, warn string, err error) {
	o, ok := options[v]
	if !ok {
		return o, "", fmt.Errorf("option %q is not one of %s", v, OptionNames)
	}
	if v == "bind" || v == "tempfs" {
		warn = fmt.Sprintf("option %q is a legacy spelling, served as tmpfs", v)
	}
	return o, warn, nil
}

// LiteEntry is one effective litefile entry of an image.
type LiteEntry struct {
	File   string // as written: a trailing "/" marks a directory
	Option string // as written, blank replaced by tmpfs,rw; /etc/mtab forced (xCAT's litefile table, docs/behaviour.md#what-a-node-sees-at-each-path)
	Opt    Option
	Row    int    // row index in litefile, -1 for the implicit /etc/mtab entry
	From   string // "image", "group <g>" or "ALL"
}

// Key returns the path with one trailing "/" removed.
func (e LiteEntry) Key() string { return KeyOf(e.File) }

// IsDir reports whether the entry names a directory (trailing "/").
func (e LiteEntry) IsDir() bool { return strings.HasSuffix(e.File, "/") && e.File != "/" }

// KeyOf returns p with one trailing "/" removed.
func KeyOf(p string) string {
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		return p[:len(p)-1]
	}
	return p
}

// ImageGroups returns osimage.groups of image, split (docs/behaviour.md#which-rows-apply:
// each group counts).
func (s *Snapshot) ImageGroups(image string) []string {
	t := s.tables["osimage"]
	for _, i := range s.keyRows["osimage"][image] {
		return SplitList(t.Get(i, "groups"))
	}
	return nil
}

// imageRank ranks a row's image value for image: 3 own image, 2 a group (earlier groups
// higher via sub-rank), 1 ALL or blank, 0 not applicable (docs/behaviour.md#which-rows-apply).
func imageRank(v, image string, groups []string) (rank int, from string) {
	switch {
	case v == image && v != "" && v != "ALL":
		return 1000, "image"
	case v == "" || v == "ALL":
		return 1, "ALL"
	}
	for gi, g := range groups {
		if v == g {
			return 999 - gi, "group " + g
		}
	}
	return 0, ""
}

// LitefileFor returns image's effective litefile entries sorted by path string: for one
// path the image's own row beats its groups' rows (first listed group first), which beat
// ALL or blank rows (docs/behaviour.md#which-rows-apply). Blank options become tmpfs,rw;
// /etc/mtab is forced to tmpfs,rw or added as link (it is always presented as a symlink
// to /proc/self/mounts). Rows with an invalid option are left out (Validate reports
// them).
func (s *Snapshot) LitefileFor(image string) []LiteEntry {
	t := s.tables["litefile"]
	groups := s.ImageGroups(image)
	best := map[string]int{}
	var out []LiteEntry
	for i := range t.Rows {
		if !t.Enabled(i) {
			continue
		}
		r, from := imageRank(t.Get(i, "image"), image, groups)
		if r == 0 {
			continue
		}
		file := t.Get(i, "file")
		opt := t.Get(i, "options")
		o, _, err := ParseOption(opt)
		if err != nil || file == "" {
			continue
		}
		if opt == "" {
			opt = "tmpfs,rw"
		}
		e := LiteEntry{File: file, Option: opt, Opt: o, Row: i, From: from}
		if prev, ok := best[file]; ok {
			pr, _ := imageRank(t.Get(out[prev].Row, "image"), image, groups)
			if pr >= r {
				continue
			}
			out[prev] = e
			continue
		}
		best[file] = len(out)
		out = append(out, e)
	}
	if j, ok := best["/etc/mtab"]; ok {
		out[j].Option, out[j].Opt = "tmpfs,rw", options["tmpfs,rw"]
	} else {
		out = append(out, LiteEntry{File: "/etc/mtab", Option: "link", Opt: options["link"], Row: -1, From: "implicit"})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].File < out[b].File })
	return out
}

// TreeRow is one litetree row applying to an image.
type TreeRow struct {
	Priority string
	Prio     float64
	Row      int
}

// LitetreeFor returns the enabled litetree rows for image (its own, its groups', ALL and
// blank), with a non-empty directory, in numeric priority order.
func (s *Snapshot) LitetreeFor(image string) []TreeRow {
	t := s.tables["litetree"]
	groups := s.ImageGroups(image)
	var out []TreeRow
	for i := range t.Rows {
		if !t.Enabled(i) || t.Get(i, "directory") == "" {
			continue
		}
		if r, _ := imageRank(t.Get(i, "image"), image, groups); r == 0 {
			continue
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(t.Get(i, "priority")), 64)
		if err != nil {
			continue
		}
		out = append(out, TreeRow{Priority: t.Get(i, "priority"), Prio: p, Row: i})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Prio < out[b].Prio })
	return out
}

// SplitLocation splits a litetree directory or statemnt "server:/dir" at its first colon;
// a value without a colon is a local directory with an empty server.
func SplitLocation(v string) (server, dir string) {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		return v[:i], v[i+1:]
	}
	return "", v
}
