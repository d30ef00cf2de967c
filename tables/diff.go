package tables

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// TableDiff is how one table differs between two snapshots. Rows are matched by their
// key columns (in order among rows of one key); rows are shown as tabdump lines.
type TableDiff struct {
	Table   string      `json:"table"`
	Added   []string    `json:"added,omitempty"`
	Removed []string    `json:"removed,omitempty"`
	Changed [][2]string `json:"changed,omitempty"` // old row, new row
}

// Summary says "+A -R ~C" for the table.
func (d TableDiff) Summary() string {
	return fmt.Sprintf("%s +%d -%d ~%d", d.Table, len(d.Added), len(d.Removed), len(d.Changed))
}

// RowText returns row i of t as a tabdump line (without the newline).
func RowText(t *Table, i int) string {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeRow(w, t.Rows[i])
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// Diff returns the tables that differ from a to b, in table order (a may be nil: every
// row of b is added).
func Diff(a, b *Snapshot) []TableDiff {
	var out []TableDiff
	for _, name := range TableNames() {
		var ta *Table
		if a != nil {
			ta = a.Table(name)
		}
		d := diffTable(name, ta, b.Table(name))
		if len(d.Added)+len(d.Removed)+len(d.Changed) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func diffTable(name string, a, b *Table) TableDiff {
	d := TableDiff{Table: name}
	old := map[string][]int{} // key -> rows of a not yet matched, in order
	var order []string
	if a != nil {
		for i := range a.Rows {
			k := a.KeyOf(i)
			if _, ok := old[k]; !ok {
				order = append(order, k)
			}
			old[k] = append(old[k], i)
		}
	}
	for i := range b.Rows {
		k := b.KeyOf(i)
		nt := RowText(b, i)
		if rows := old[k]; len(rows) > 0 {
			old[k] = rows[1:]
			if ot := RowText(a, rows[0]); ot != nt {
				d.Changed = append(d.Changed, [2]string{ot, nt})
			}
			continue
		}
		d.Added = append(d.Added, nt)
	}
	for _, k := range order {
		for _, i := range old[k] {
			d.Removed = append(d.Removed, RowText(a, i))
		}
	}
	return d
}

// ContentHash identifies the content of a snapshot's tables (not its generation): two
// snapshots with equal hashes give every node the same view.
func ContentHash(s *Snapshot) string {
	h := sha256.New()
	for _, name := range TableNames() {
		t := s.Table(name)
		if len(t.Rows) == 0 {
			continue
		}
		fmt.Fprintf(h, "%s\n", name)
		Dump(h, t)
	}
	return hex.EncodeToString(h.Sum(nil))
}
