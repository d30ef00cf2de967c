package tables

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is one validation finding, naming the table and line.
type Problem struct {
	Table   string
	Src     string // the file the row came from, when not <Table>.csv
	Line    int    // text line of the row (0 when unknown)
	Row     int    // row index, -1 for the whole table
	Msg     string
	Warning bool // accepted, but worth saying
}

func (p Problem) String() string {
	kind := ""
	if p.Warning {
		kind = "warning: "
	}
	switch {
	case p.Line > 0 && p.Src != "":
		return fmt.Sprintf("%s%s line %d: %s", kind, p.Src, p.Line, p.Msg)
	case p.Line > 0:
		return fmt.Sprintf("%s%s.csv line %d: %s", kind, p.Table, p.Line, p.Msg)
	case p.Row >= 0:
		return fmt.Sprintf("%s%s row %d: %s", kind, p.Table, p.Row+1, p.Msg)
	}
	return fmt.Sprintf("%s%s: %s", kind, p.Table, p.Msg)
}

// HasErrors reports whether any problem is an error (not a warning).
func HasErrors(ps []Problem) bool {
	for _, p := range ps {
		if !p.Warning {
			return true
		}
	}
	return false
}

type validator struct {
	s     *Snapshot
	probs []Problem
	seen  map[string]bool
}

func (v *validator) add(t *Table, i int, warn bool, format string, a ...any) {
	p := Problem{Table: t.Name(), Row: i, Msg: fmt.Sprintf(format, a...), Warning: warn}
	if i >= 0 {
		p.Line, p.Src = t.Rows[i].Line, t.Rows[i].Src
	}
	k := p.String()
	if v.seen[k] {
		return
	}
	v.seen[k] = true
	v.probs = append(v.probs, p)
}

// Validate checks a whole snapshot and returns its problems in table order: required
// columns, duplicate keys, litefile options and paths, parent/child rules per image,
// litetree priorities and locations, statelite locations, variables and #CMD
// (docs/behaviour.md#variables).
func Validate(s *Snapshot) []Problem {
	v := &validator{s: s, seen: map[string]bool{}}
	for _, name := range TableNames() {
		v.generic(s.tables[name])
	}
	v.names()
	v.litefile()
	v.litetree()
	v.statelite()
	v.site()
	v.networks()
	return v.probs
}

// site checks the site keys statelite reads as paths: volatiledir (the shared volatile
// layers) must be absolute.
func (v *validator) site() {
	t := v.s.tables["site"]
	if t == nil {
		return
	}
	for i := range t.Rows {
		if !t.Enabled(i) || t.Get(i, "key") != "volatiledir" {
			continue
		}
		if val := strings.TrimSpace(t.Get(i, "value")); val != "" && !path.IsAbs(val) {
			v.add(t, i, false, "volatiledir %q is not an absolute path", val)
		}
	}
}

// CheckNames returns the problems of the names in s alone (node, group and image names,
// and the nodetype/osimage values that become directories of an image's path): the check
// every command that uses the tables makes, where Validate's other rules are for edits.
func CheckNames(s *Snapshot) []Problem {
	v := &validator{s: s, seen: map[string]bool{}}
	v.names()
	return v.probs
}

func (v *validator) generic(t *Table) {
	keys := map[string]int{}
	for i := range t.Rows {
		for _, c := range t.Schema.Required {
			if t.Get(i, c) == "" {
				v.add(t, i, false, "column %s is required", c)
			}
		}
		k := t.KeyOf(i)
		if j, dup := keys[k]; dup {
			v.add(t, i, false, "duplicate key %s (same as %s)", describeKey(t, i), t.RowLine(j))
		} else {
			keys[k] = i
		}
	}
}

// MaxNameLen is the longest node, group or image name, in bytes: a DNS name's 253.
const MaxNameLen = 253

// NameRule says which names CheckName accepts, for messages and help texts.
const NameRule = "letters, digits, -, _ and . only; not starting with - or .; no ..; at most 253 bytes"

// CheckName checks a node, group or image name, or any other value that becomes one
// component of a path on the server (statemnt/<node>, volatile/<node>,
// <installdir>/netboot/<os>/<arch>/<profile>): a host name of letters, digits, "-", "_"
// and "."; not starting with "-" (an option to a command) or "." (".", "..", hidden);
// no ".."; at most MaxNameLen bytes. kind names the value in the message ("node name",
// "image name"…); the error says which rule name breaks.
func CheckName(kind, name string) error {
	q := quoteName(name)
	switch {
	case name == "":
		return fmt.Errorf("%s is empty", kind)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%s %s is %d bytes long: a name holds at most %d bytes", kind, q, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			r, _ := utf8.DecodeRuneInString(name[i:])
			//lint:ignore ST1005 the last character is the rule's "." (a dot may be in a name)
			return fmt.Errorf("%s %s holds %q: a name holds only letters, digits, -, _ and .", kind, q, string(r))
		}
	}
	switch {
	case name[0] == '-':
		return fmt.Errorf("%s %s starts with \"-\": a name starts with a letter, digit or _ (never - or .)", kind, q)
	case name[0] == '.':
		return fmt.Errorf("%s %s starts with \".\": a name starts with a letter, digit or _ (never - or .)", kind, q)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%s %s holds \"..\": a name never holds two dots in a row", kind, q)
	}
	return nil
}

// quoteName quotes a name for a message, shortening a long one.
func quoteName(name string) string {
	if len(name) > 40 {
		return fmt.Sprintf("%q… (%d bytes)", name[:32], len(name))
	}
	return fmt.Sprintf("%q", name)
}

// imageParts are the columns whose values become directories of an image's default path,
// <installdir>/netboot/<os>/<arch>/<profile> (resolver.ImageDir, resolver.DefaultImageDir).
var imageParts = map[string][]string{
	"nodetype": {"os", "arch", "profile"},
	"osimage":  {"osvers", "osarch", "profile"},
}

// names checks every name that becomes a path component on the server: nodelist.node,
// each group of nodelist.groups, nodegroup.groupname, the node column of every node-keyed
// table (a node or group name), osimage/linuximage.imagename, nodetype.provmethod when it
// names an image, and the nodetype and osimage values of an image's default directory
// (regex cells there are applied to a node name: the resolver checks their results).
// Disabled rows are checked too: enabling a row is a one-cell edit.
func (v *validator) names() {
	check := func(t *Table, i int, kind, val string) {
		if val == "" {
			return // a required column's emptiness is generic's finding
		}
		if err := CheckName(kind, val); err != nil {
			v.add(t, i, false, "%v", err)
		}
	}
	for _, name := range TableNames() {
		t := v.s.tables[name]
		sc := t.Schema
		switch {
		case name == "nodelist":
			for i := range t.Rows {
				check(t, i, "node name", t.Get(i, "node"))
				for _, g := range SplitList(t.Get(i, "groups")) {
					check(t, i, "group name", g)
				}
			}
		case name == "nodegroup":
			for i := range t.Rows {
				check(t, i, "group name", t.Get(i, "groupname"))
			}
		case sc.NodeKeyed:
			for i := range t.Rows {
				check(t, i, "node or group name", t.Get(i, sc.Keys[0]))
			}
		case name == "osimage" || name == "linuximage":
			for i := range t.Rows {
				check(t, i, "image name", t.Get(i, "imagename"))
			}
		}
		for _, col := range imageParts[name] {
			for i := range t.Rows {
				if val := t.Get(i, col); !IsRegexCell(val) {
					check(t, i, name+"."+col, val)
				}
			}
		}
	}
	nt := v.s.tables["nodetype"]
	for i := range nt.Rows {
		switch pm := nt.Get(i, "provmethod"); pm {
		case "install", "netboot", "statelite":
		default:
			if !IsRegexCell(pm) {
				check(nt, i, "image name nodetype.provmethod", pm)
			}
		}
	}
}

func describeKey(t *Table, i int) string {
	var parts []string
	for _, k := range t.Schema.Keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, t.Get(i, k)))
	}
	return strings.Join(parts, " ")
}

// CheckPath checks a litefile path: absolute, clean, no blanks, not "/" itself.
func CheckPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("file %q must be an absolute path (start with /)", p)
	case p == "/":
		return fmt.Errorf("file %q: the root directory itself cannot be a litefile entry", p)
	case strings.ContainsAny(p, " \t\n\r"):
		return fmt.Errorf("file %q contains white space, which statelite paths cannot hold", p)
	}
	k := KeyOf(p)
	if path.Clean(k) != k {
		return fmt.Errorf("file %q is not a clean path (no //, . or .. components; directories end in exactly one /)", p)
	}
	return nil
}

func (v *validator) litefile() {
	t := v.s.tables["litefile"]
	bad := map[int]bool{}
	for i := range t.Rows {
		file, opt := t.Get(i, "file"), t.Get(i, "options")
		o, warn, err := ParseOption(opt)
		if err != nil {
			v.add(t, i, false, "%v", err)
			bad[i] = true
			continue
		}
		if warn != "" {
			v.add(t, i, true, "%s", warn)
		}
		if file == "" {
			continue
		}
		if err := CheckPath(file); err != nil {
			v.add(t, i, false, "%v", err)
			bad[i] = true
			continue
		}
		if o.Class == Con && strings.HasSuffix(file, "/") {
			v.add(t, i, false, "option %q is for files only, but %s is a directory (trailing /)", opt, file)
		}
	}
	// Parent/child rules, per image as nodes would see them.
	images := map[string]bool{"": true}
	for i := range v.s.tables["osimage"].Rows {
		images[v.s.tables["osimage"].Get(i, "imagename")] = true
	}
	groups := map[string]bool{}
	for im := range images {
		for _, g := range v.s.ImageGroups(im) {
			groups[g] = true
		}
	}
	for i := range t.Rows {
		if im := t.Get(i, "image"); im != "ALL" && !groups[im] {
			images[im] = true
		}
	}
	names := make([]string, 0, len(images))
	for im := range images {
		names = append(names, im)
	}
	sort.Strings(names)
	for _, im := range names {
		v.children(t, v.s.LitefileFor(im), bad)
	}
}

// ParentOf returns the index in entries (sorted or not) of the nearest entry that is a
// parent of entries[c] (docs/behaviour.md#nested-entries: an entry "A/" for an ancestor A of key(c)), or -1.
func ParentOf(byFile map[string]int, key string) int {
	for d := path.Dir(key); d != "/" && d != "."; d = path.Dir(d) {
		if j, ok := byFile[d+"/"]; ok {
			return j
		}
	}
	return -1
}

func (v *validator) children(t *Table, es []LiteEntry, bad map[int]bool) {
	byFile := make(map[string]int, len(es))
	byKey := make(map[string]int, len(es))
	for i, e := range es {
		byFile[e.File] = i
		if j, dup := byKey[e.Key()]; dup && e.Row >= 0 && es[j].Row >= 0 {
			v.add(t, e.Row, false, "%s and %s (%s) name the same path; list it once, with a trailing / for a directory", e.File, es[j].File, t.RowLine(es[j].Row))
		}
		byKey[e.Key()] = i
	}
	for _, c := range es {
		pi := ParentOf(byFile, c.Key())
		if pi < 0 || c.Row < 0 || bad[c.Row] {
			continue
		}
		p := es[pi]
		where := fmt.Sprintf("%s (%s) is a child of %s (%s", c.File, c.Option, p.File, p.Option)
		if p.Row >= 0 {
			where += ", " + t.RowLine(p.Row)
		}
		where += ")"
		switch {
		case p.Opt.Class == ReadOnly:
			v.add(t, c.Row, false, "%s: a read-only directory entry cannot have child entries", where)
		case p.Opt.Class == Persistent && c.Opt.Class != Persistent:
			v.add(t, c.Row, false, "%s: children of a persistent directory must be persistent too", where)
		case p.Opt.Link && !c.Opt.Link && c.File != "/etc/mtab":
			v.add(t, c.Row, false, "%s: children of a link directory must use a link option", where)
		case !p.Opt.Link && c.Opt.Link && c.File != "/etc/mtab":
			v.add(t, c.Row, true, "%s: a link child under a non-link directory (xCAT's liteimg meant to refuse this; statelite serves it as %s)", where, c.Opt.Class)
		}
	}
}

// CheckLocation checks a litetree directory or statemnt value: "server:/dir" or "/dir",
// with valid variables and no #CMD.
func CheckLocation(v string) error {
	server, dir := SplitLocation(v)
	if _, err := ParseTemplate(server); err != nil {
		return err
	}
	if err := CheckServer(server); err != nil {
		return fmt.Errorf("location %q: %v", v, err)
	}
	if strings.Contains(v, ":") && server == "" {
		return fmt.Errorf("location %q: empty server before the colon (write server:/dir or /dir)", v)
	}
	tdir, err := ParseTemplate(dir)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(dir, "/") && !(strings.HasPrefix(dir, "$") && tdir.HasVars()) {
		return fmt.Errorf("location %q: directory %q must be absolute (write server:/dir or /dir)", v, dir)
	}
	if strings.Contains(dir, ":") {
		return fmt.Errorf("location %q: more than one colon (IPv6 literals and colons in paths are not supported)", v)
	}
	return nil
}

// CheckServer checks the server part of a location (variables allowed): a host name or
// address, never "." or "..", no "/" or blanks.
func CheckServer(server string) error {
	if server == "." || server == ".." {
		return fmt.Errorf("server part %q is not a host name", server)
	}
	for _, c := range server {
		if !(c == '$' || c == '{' || c == '}' || c == '.' || c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return fmt.Errorf("server part %q holds %q: write server:/dir with a host name or address", server, c)
		}
	}
	return nil
}

func (v *validator) litetree() {
	t := v.s.tables["litetree"]
	prios := map[float64]int{}
	for i := range t.Rows {
		ps := t.Get(i, "priority")
		if ps != "" {
			p, err := strconv.ParseFloat(strings.TrimSpace(ps), 64)
			if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
				// ParseFloat accepts "NaN" and "Inf", which cannot be ordered as priorities.
				v.add(t, i, false, "priority %q is not a number", ps)
			} else if j, dup := prios[p]; dup {
				v.add(t, i, false, "priority %s equals priority %s of %s (priorities must be unique)", ps, t.Get(j, "priority"), t.RowLine(j))
			} else {
				prios[p] = i
			}
		}
		if d := t.Get(i, "directory"); d != "" {
			if err := CheckLocation(d); err != nil {
				v.add(t, i, false, "directory: %v", err)
			}
		}
	}
}

func (v *validator) statelite() {
	t := v.s.tables["statelite"]
	for i := range t.Rows {
		if d := t.Get(i, "statemnt"); d != "" {
			if IsRegexCell(d) {
				v.add(t, i, true, "statemnt %q has the form /pattern/replacement/, so xCAT's lookup rules read it as a regex applied to the node name, not as a directory; drop the trailing / if a directory is meant", d)
				continue
			}
			if err := CheckLocation(d); err != nil {
				v.add(t, i, false, "statemnt: %v", err)
			}
		}
	}
}
