package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"statelite/tables"
)

type assignment struct {
	table, col, val string
	add             bool // +=: append to a comma list when absent
}

type keyPair struct{ col, val string }

func parseKeys(arg string) ([]keyPair, error) {
	var ks []keyPair
	for _, p := range strings.Split(arg, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || strings.Contains(k, ".") {
			return nil, fmt.Errorf("key %q: want key=value[,key2=value2] (for example node=n1 or image=ALL,file=/etc/hosts)", p)
		}
		ks = append(ks, keyPair{k, v})
	}
	return ks, nil
}

func parseAssignment(arg string) (assignment, error) {
	lhs, val, ok := strings.Cut(arg, "=")
	if !ok {
		return assignment{}, fmt.Errorf("%q: want table.column=value or table.column+=value", arg)
	}
	a := assignment{val: val}
	if strings.HasSuffix(lhs, "+") {
		a.add, lhs = true, strings.TrimSuffix(lhs, "+")
	}
	t, c, ok := strings.Cut(lhs, ".")
	if !ok {
		return a, fmt.Errorf("%q: want table.column=value", arg)
	}
	sc, err := tables.LookupSchema(t)
	if err != nil {
		return a, fmt.Errorf("%q: %v", arg, err)
	}
	if sc.Col(c) < 0 {
		return a, fmt.Errorf("%q: table %s has no column %q (columns: %s)", arg, t, c, strings.Join(sc.Columns, ","))
	}
	a.table, a.col = t, c
	return a, nil
}

func matchKeys(t *tables.Table, i int, ks []keyPair) bool {
	for _, k := range ks {
		if t.Get(i, k.col) != k.val {
			return false
		}
	}
	return true
}

func checkKeys(sc *tables.Schema, ks []keyPair) error {
	for _, k := range ks {
		if sc.Col(k.col) < 0 {
			return fmt.Errorf("key %s=%s: table %s has no column %q (its keys: %s)", k.col, k.val, sc.Name, k.col, strings.Join(sc.Keys, ","))
		}
	}
	return nil
}

func chtabCmd(e *env) *cobra.Command {
	var del bool
	c := &cobra.Command{
		Use:   "chtab [-d] key=value[,key=value] table.column=value|table.column+=value…  (or -d key=value TABLE…)",
		Short: "Add or change table rows (-d: delete the rows matching the keys)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := parseKeys(args[0])
			if err != nil {
				return err
			}
			var as []assignment
			var delTables []*tables.Schema
			for _, a := range args[1:] {
				if del {
					sc, err := tables.LookupSchema(a)
					if err != nil {
						return err
					}
					if err := checkKeys(sc, ks); err != nil {
						return err
					}
					delTables = append(delTables, sc)
					continue
				}
				as2, err := parseAssignment(a)
				if err != nil {
					return err
				}
				sc, _ := tables.LookupSchema(as2.table)
				if err := checkKeys(sc, ks); err != nil {
					return err
				}
				as = append(as, as2)
			}
			st, err := e.store()
			if err != nil {
				return err
			}
			snap, err := st.Edit(cmd.Context(), func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
				out := map[string]*tables.Table{}
				for _, sc := range delTables {
					t := cur.Table(sc.Name).Clone()
					kept := t.Rows[:0]
					for i, r := range t.Rows {
						if !matchKeys(t, i, ks) {
							kept = append(kept, r)
						}
					}
					t.Rows = kept
					out[sc.Name] = t
				}
				byTable := map[string][]assignment{}
				for _, a := range as {
					byTable[a.table] = append(byTable[a.table], a)
				}
				names := make([]string, 0, len(byTable))
				for n := range byTable {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					t := cur.Table(n).Clone()
					var hit []int
					for i := range t.Rows {
						if matchKeys(t, i, ks) {
							hit = append(hit, i)
						}
					}
					if len(hit) == 0 {
						r := t.NewRow()
						for _, k := range ks {
							r.Cells[t.Schema.Col(k.col)] = tables.Val(k.val)
						}
						for _, kc := range t.Schema.Keys {
							r.Cells[t.Schema.Col(kc)].Set = true
						}
						t.Rows = append(t.Rows, r)
						hit = []int{len(t.Rows) - 1}
					}
					for _, i := range hit {
						for _, a := range byTable[n] {
							ci := t.Schema.Col(a.col)
							cell := &t.Rows[i].Cells[ci]
							if a.add {
								items := tables.SplitList(cell.V)
								present := false
								for _, it := range items {
									present = present || it == a.val
								}
								if !present {
									items = append(items, a.val)
								}
								*cell = tables.Val(strings.Join(items, ","))
							} else {
								*cell = tables.Val(a.val)
							}
						}
					}
					out[n] = t
				}
				return out, nil
			})
			return e.report(snap, err)
		},
	}
	c.Flags().BoolVarP(&del, "delete", "d", false, "delete the rows of the named tables that match the keys")
	return c
}
