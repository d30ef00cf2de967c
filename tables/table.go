// Package tables holds the xCAT tables statelite reads: their schemas, the
// tabdump/tabrestore text format, stores, validation, immutable snapshots,
// node/group attribute lookup and noderange expansion.
package tables

import (
	"fmt"
	"slices"
	"strings"
)

// Cell is one value of a row: Set is false for NULL (printed as nothing by tabdump).
type Cell struct {
	V   string
	Set bool
}

// Val returns a set cell holding v.
func Val(v string) Cell { return Cell{V: v, Set: true} }

// Row is one table row with its cells in schema column order.
type Row struct {
	Cells []Cell
	// Line is the line of the table text the row started on (0 when not read from text).
	Line int
	// Src names the text the row was read from when it is not the store's <table>.csv
	// (tabrestore's input file), for messages.
	Src string
}

// Table is an ordered list of rows of one schema. Tables inside a Snapshot are never modified.
type Table struct {
	Schema *Schema
	Rows   []Row
}

// NewTable returns an empty table of the named schema.
func NewTable(name string) (*Table, error) {
	s, err := LookupSchema(name)
	if err != nil {
		return nil, err
	}
	return &Table{Schema: s}, nil
}

// Name returns the table's name.
func (t *Table) Name() string { return t.Schema.Name }

// Get returns the value of column col in row i ("" when NULL or unknown column).
func (t *Table) Get(i int, col string) string {
	c := t.Schema.Col(col)
	if c < 0 {
		return ""
	}
	return t.Rows[i].Cells[c].V
}

// SetSource records that the table's rows were read from src (a file name), so messages
// about them name that file.
func (t *Table) SetSource(src string) {
	for i := range t.Rows {
		t.Rows[i].Src = src
	}
}

// Clone returns a deep copy that may be modified freely.
func (t *Table) Clone() *Table {
	n := &Table{Schema: t.Schema, Rows: make([]Row, len(t.Rows))}
	for i, r := range t.Rows {
		n.Rows[i] = Row{Cells: append([]Cell(nil), r.Cells...), Line: r.Line, Src: r.Src}
	}
	return n
}

// NewRow returns a row of all-NULL cells for this table.
func (t *Table) NewRow() Row { return Row{Cells: make([]Cell, len(t.Schema.Columns))} }

// SetRow sets the columns vals (an empty value empties its column) of the first row
// whose first key column is key, appending a new row when there is none, and enables
// the row.
func (t *Table) SetRow(key string, vals map[string]string) {
	k := t.Schema.Keys[0]
	row := -1
	for i := range t.Rows {
		if t.Get(i, k) == key {
			row = i
			break
		}
	}
	if row < 0 {
		r := t.NewRow()
		r.Cells[t.Schema.Col(k)] = Val(key)
		t.Rows = append(t.Rows, r)
		row = len(t.Rows) - 1
	}
	for col, v := range vals {
		t.Rows[row].Cells[t.Schema.Col(col)] = Val(v)
	}
	if d := t.Schema.Col("disable"); d >= 0 {
		t.Rows[row].Cells[d] = Cell{}
	}
}

// Enabled reports whether row i is enabled: disable is NULL, empty, "0" or "no" (any case),
// docs/behaviour.md#table-text (xCAT disables a row whose disable is a quoted empty
// string; we do not).
func (t *Table) Enabled(i int) bool {
	c := t.Schema.Col("disable")
	if c < 0 {
		return true
	}
	return DisableMeansEnabled(t.Rows[i].Cells[c].V)
}

// DisableMeansEnabled reports whether a disable column value leaves its row enabled.
func DisableMeansEnabled(v string) bool {
	v = strings.TrimSpace(v)
	return v == "" || v == "0" || strings.EqualFold(v, "no")
}

// KeyOf returns the key of row i: its key columns' values joined by a NUL byte.
func (t *Table) KeyOf(i int) string {
	var b strings.Builder
	for j, k := range t.Schema.keyIdx {
		if j > 0 {
			b.WriteByte(0)
		}
		b.WriteString(t.Rows[i].Cells[k].V)
	}
	return b.String()
}

// RowLine names row i for error messages: "litefile.csv line 12" or "litefile row 3".
func (t *Table) RowLine(i int) string {
	if l := t.Rows[i].Line; l > 0 {
		if src := t.Rows[i].Src; src != "" {
			return fmt.Sprintf("%s line %d", src, l)
		}
		return fmt.Sprintf("%s.csv line %d", t.Schema.Name, l)
	}
	return fmt.Sprintf("%s row %d", t.Schema.Name, i+1)
}

// SameRows reports whether a and b hold the same rows (cells, in order; where the rows
// were read from does not count). A missing table holds no rows.
func SameRows(a, b *Table) bool {
	if a == b {
		return true
	}
	var ra, rb []Row
	if a != nil {
		ra = a.Rows
	}
	if b != nil {
		rb = b.Rows
	}
	if len(ra) != len(rb) || a != nil && b != nil && a.Schema != b.Schema {
		return false
	}
	for i := range ra {
		if !slices.Equal(ra[i].Cells, rb[i].Cells) {
			return false
		}
	}
	return true
}
