package tables

import (
	"sort"
	"strings"
)

// Snapshot is an immutable set of tables with a generation number. Every table of
// the schema list is present (possibly empty). Never modify a Snapshot's tables;
// Clone a table to edit it and build a new Snapshot with With.
type Snapshot struct {
	Gen    uint64
	tables map[string]*Table

	// indexes built once at construction
	keyRows   map[string]map[string][]int // node-keyed/KV/image tables: key value -> enabled row indexes
	nodes     []string                    // enabled nodelist nodes, sorted
	nodeSet   map[string]struct{}
	groups    map[string][]string // node -> groups in nodelist order
	members   map[string][]string // group -> member nodes (static), sorted
	groupDefs map[string]int      // nodegroup groupname -> row
	site      map[string]string
	networks  []Network // the networks rows that parse (Networks)
}

// NewSnapshot builds a snapshot from tables (missing ones are empty) with generation gen.
func NewSnapshot(gen uint64, tabs map[string]*Table) *Snapshot {
	s := &Snapshot{Gen: gen, tables: make(map[string]*Table, len(schemaList))}
	for _, sc := range schemaList {
		if t, ok := tabs[sc.Name]; ok && t != nil {
			s.tables[sc.Name] = t
		} else {
			s.tables[sc.Name] = &Table{Schema: sc}
		}
	}
	s.index()
	return s
}

// With returns a new snapshot with the given tables replaced and generation gen.
func (s *Snapshot) With(gen uint64, repl map[string]*Table) *Snapshot {
	m := make(map[string]*Table, len(s.tables))
	for k, v := range s.tables {
		m[k] = v
	}
	for k, v := range repl {
		m[k] = v
	}
	return NewSnapshot(gen, m)
}

// Table returns the named table (empty if never written); nil for an unknown name.
func (s *Snapshot) Table(name string) *Table { return s.tables[name] }

// Tables returns all tables by name.
func (s *Snapshot) Tables() map[string]*Table { return s.tables }

func (s *Snapshot) index() {
	s.networks = s.parseNetworks()
	s.keyRows = make(map[string]map[string][]int)
	for name, t := range s.tables {
		if len(t.Schema.Keys) != 1 {
			continue
		}
		k := t.Schema.keyIdx[0]
		idx := make(map[string][]int)
		for i, r := range t.Rows {
			if !t.Enabled(i) {
				continue
			}
			v := r.Cells[k].V
			idx[v] = append(idx[v], i)
		}
		s.keyRows[name] = idx
	}
	s.site = make(map[string]string)
	st := s.tables["site"]
	for i := range st.Rows {
		if st.Enabled(i) {
			if _, dup := s.site[st.Get(i, "key")]; !dup {
				s.site[st.Get(i, "key")] = st.Get(i, "value")
			}
		}
	}
	nl := s.tables["nodelist"]
	s.nodeSet = make(map[string]struct{})
	s.groups = make(map[string][]string)
	s.members = make(map[string][]string)
	for i := range nl.Rows {
		if !nl.Enabled(i) {
			continue
		}
		n := nl.Get(i, "node")
		if n == "" {
			continue
		}
		if _, dup := s.nodeSet[n]; dup {
			continue
		}
		s.nodeSet[n] = struct{}{}
		s.nodes = append(s.nodes, n)
		for _, g := range SplitList(nl.Get(i, "groups")) {
			s.groups[n] = append(s.groups[n], g)
			s.members[g] = append(s.members[g], n)
		}
	}
	sort.Strings(s.nodes)
	for g := range s.members {
		sort.Strings(s.members[g])
	}
	s.groupDefs = make(map[string]int)
	ng := s.tables["nodegroup"]
	for i := range ng.Rows {
		if ng.Enabled(i) {
			if _, dup := s.groupDefs[ng.Get(i, "groupname")]; !dup {
				s.groupDefs[ng.Get(i, "groupname")] = i
			}
		}
	}
}

// SplitList splits a comma list, trimming blanks and dropping empty items.
func SplitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Nodes returns every enabled node of nodelist, sorted.
func (s *Snapshot) Nodes() []string { return s.nodes }

// IsNode reports whether name is a node in nodelist.
func (s *Snapshot) IsNode(name string) bool { _, ok := s.nodeSet[name]; return ok }

// NodeGroups returns node's groups in nodelist.groups order.
func (s *Snapshot) NodeGroups(node string) []string { return s.groups[node] }

// StaticMembers returns the nodes whose nodelist.groups lists group, sorted.
func (s *Snapshot) StaticMembers(group string) []string { return s.members[group] }

// IsGroup reports whether name is used as a group in nodelist or defined in nodegroup.
func (s *Snapshot) IsGroup(name string) bool {
	if _, ok := s.members[name]; ok {
		return true
	}
	_, ok := s.groupDefs[name]
	return ok
}

// GroupDef returns the nodegroup row of group (grouptype, wherevals…), if any.
func (s *Snapshot) GroupDef(group string) (row int, ok bool) {
	row, ok = s.groupDefs[group]
	return
}

// Site returns the value of a site key and whether the key is set (enabled row).
func (s *Snapshot) Site(key string) (string, bool) {
	v, ok := s.site[key]
	return v, ok
}

// SiteOr returns the value of a site key, or def when unset or empty.
func (s *Snapshot) SiteOr(key, def string) string {
	if v, ok := s.site[key]; ok && v != "" {
		return v
	}
	return def
}

// RowsByKey returns the enabled rows of a single-key table whose key equals key.
func (s *Snapshot) RowsByKey(table, key string) []int { return s.keyRows[table][key] }

// AttrSource tells where a node attribute came from.
type AttrSource struct {
	Table string
	Row   int    // row index in the table
	Key   string // the node or group name of the row
}

// NodeAttr looks up column col of a node-keyed table for node, per xCAT's node/group
// rules (xCAT's node and group rows, docs/behaviour.md#which-rows-apply): the node's own row first, then its groups in nodelist.groups
// order; the first non-empty value wins; regex-valued cells are applied to the node name.
// ok is false when no row provides a value.
func (s *Snapshot) NodeAttr(node, table, col string) (val string, src AttrSource, ok bool) {
	t := s.tables[table]
	if t == nil {
		return "", src, false
	}
	c := t.Schema.Col(col)
	if c < 0 || len(t.Schema.Keys) != 1 {
		return "", src, false
	}
	idx := s.keyRows[table]
	try := func(key string) bool {
		for _, i := range idx[key] {
			v := t.Rows[i].Cells[c].V
			if v == "" {
				continue
			}
			if IsRegexCell(v) {
				r, err := ApplyRegexCell(v, node)
				if err != nil || r == "" {
					continue
				}
				v = r
			}
			val, src, ok = v, AttrSource{Table: table, Row: i, Key: key}, true
			return true
		}
		return false
	}
	if try(node) {
		return
	}
	for _, g := range s.groups[node] {
		if try(g) {
			return
		}
	}
	return "", AttrSource{}, false
}
