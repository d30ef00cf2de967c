package tables

import (
	"fmt"
	"sort"
	"strings"
)

// Schema describes one table: its columns in xCAT order, keys and required columns.
type Schema struct {
	Name     string
	Columns  []string
	Keys     []string
	Required []string
	// Desc is the table description and ColDesc each column's, as printed by tabdump -d.
	Desc    string
	ColDesc map[string]string
	// KV marks a key/value table (site): rows are keyed by "key".
	KV bool
	// NodeKeyed marks tables whose key is a node or group name (node/group lookup applies).
	NodeKeyed bool

	colIdx map[string]int
	keyIdx []int
}

// Col returns the index of column name, or -1.
func (s *Schema) Col(name string) int {
	if i, ok := s.colIdx[name]; ok {
		return i
	}
	return -1
}

// IsKey reports whether column name is one of the table's keys.
func (s *Schema) IsKey(name string) bool {
	for _, k := range s.Keys {
		if k == name {
			return true
		}
	}
	return false
}

// Header returns the tabdump header line without newline: "#col1,col2,...".
func (s *Schema) Header() string { return "#" + strings.Join(s.Columns, ",") }

var schemas = func() map[string]*Schema {
	m := make(map[string]*Schema, len(schemaList))
	for _, s := range schemaList {
		s.colIdx = make(map[string]int, len(s.Columns))
		for i, c := range s.Columns {
			s.colIdx[c] = i
		}
		for _, k := range s.Keys {
			i, ok := s.colIdx[k]
			if !ok {
				panic("tables: key " + k + " not a column of " + s.Name)
			}
			s.keyIdx = append(s.keyIdx, i)
		}
		if s.Col("disable") < 0 || s.Col("comments") < 0 {
			panic("tables: " + s.Name + " lacks comments/disable")
		}
		m[s.Name] = s
	}
	return m
}()

// LookupSchema returns the schema of table name or an error naming the known tables.
func LookupSchema(name string) (*Schema, error) {
	if s, ok := schemas[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("unknown table %q (known: %s)", name, strings.Join(TableNames(), ", "))
}

// TableNames returns the names of all known tables, sorted.
func TableNames() []string {
	n := make([]string, 0, len(schemas))
	for k := range schemas {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
