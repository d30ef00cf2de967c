package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"statelite/tables"
)

// filter is one tabdump -w condition: col==val, col!=val, col=~re, col!~re.
type filter struct {
	col, op, val string
	re           *regexp.Regexp
}

var filterRE = regexp.MustCompile(`^([A-Za-z0-9_]+)(==|!=|=~|!~)(.*)$`)

func parseFilter(s string, sc *tables.Schema) (filter, error) {
	m := filterRE.FindStringSubmatch(s)
	if m == nil {
		return filter{}, fmt.Errorf("-w %q: want attr==val, attr!=val, attr=~regex or attr!~regex", s)
	}
	f := filter{col: m[1], op: m[2], val: m[3]}
	if sc.Col(f.col) < 0 {
		return f, fmt.Errorf("-w %q: table %s has no column %q", s, sc.Name, f.col)
	}
	if f.op == "=~" || f.op == "!~" {
		re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(f.val, "/"), "/"))
		if err != nil {
			return f, fmt.Errorf("-w %q: %v", s, err)
		}
		f.re = re
	}
	return f, nil
}

func (f filter) match(t *tables.Table, i int) bool {
	v := t.Get(i, f.col)
	switch f.op {
	case "==":
		return v == f.val
	case "!=":
		return v != f.val
	case "=~":
		return f.re.MatchString(v)
	}
	return !f.re.MatchString(v)
}

func tabdumpCmd(e *env) *cobra.Command {
	var desc bool
	var where []string
	var file string
	c := &cobra.Command{
		Use:   "tabdump [-d] [-w attr==val]... [-f FILE] [TABLE]",
		Short: "Print a table in xCAT's CSV format (no TABLE: list the tables)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				for _, n := range tables.TableNames() {
					if desc {
						sc, _ := tables.LookupSchema(n)
						fmt.Fprintf(e.stdout, "%s: %s\n", n, sc.Desc)
					} else {
						fmt.Fprintln(e.stdout, n)
					}
				}
				return nil
			}
			sc, err := tables.LookupSchema(args[0])
			if err != nil {
				return err
			}
			if desc {
				for _, col := range sc.Columns {
					sep := "\t"
					if len(col) < 7 {
						sep = "\t\t"
					}
					fmt.Fprintf(e.stdout, "%s:%s%s\n", col, sep, sc.ColDesc[col])
				}
				return nil
			}
			var fs []filter
			for _, w := range where {
				f, err := parseFilter(w, sc)
				if err != nil {
					return err
				}
				fs = append(fs, f)
			}
			snap, err := e.loadRaw(cmd.Context())
			if err != nil {
				return err
			}
			t := snap.Table(sc.Name)
			if len(fs) > 0 {
				out := &tables.Table{Schema: sc}
			rows:
				for i, r := range t.Rows {
					for _, f := range fs {
						if !f.match(t, i) {
							continue rows
						}
					}
					out.Rows = append(out.Rows, r)
				}
				t = out
			}
			if file != "" {
				var buf bytes.Buffer
				tables.Dump(&buf, t)
				return os.WriteFile(file, buf.Bytes(), 0o644)
			}
			return tables.Dump(e.stdout, t)
		},
	}
	c.Flags().BoolVarP(&desc, "description", "d", false, "print the columns' descriptions instead of the rows")
	c.Flags().StringArrayVarP(&where, "where", "w", nil, "only rows where attr==val, attr!=val, attr=~re or attr!~re (repeatable, all must hold)")
	c.Flags().StringVarP(&file, "file", "f", "", "write to FILE instead of standard output")
	return c
}

// tableFromFile returns the table a tabrestore file is for: its base name up to the first dot.
func tableFromFile(p string) string {
	b := filepath.Base(p)
	if i := strings.IndexByte(b, '.'); i >= 0 {
		b = b[:i]
	}
	return b
}

func tabrestoreCmd(e *env) *cobra.Command {
	var appendRows bool
	c := &cobra.Command{
		Use:   "tabrestore [-a] FILE",
		Short: "Replace (or with -a, append to) a table from an xCAT CSV file named <table>.csv",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := tableFromFile(args[0])
			if _, err := tables.LookupSchema(name); err != nil {
				return fmt.Errorf("%s: %v", args[0], err)
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			t, err := tables.Parse(name, bytes.NewReader(data))
			if err != nil {
				var pe *tables.ParseError
				if errors.As(err, &pe) && filepath.Base(args[0]) != name+".csv" {
					return fmt.Errorf("%s line %d: %s", args[0], pe.Line, pe.Msg)
				}
				return err
			}
			if filepath.Base(args[0]) != name+".csv" || appendRows {
				t.SetSource(args[0])
			}
			return e.replace(cmd.Context(), t, appendRows)
		},
	}
	c.Flags().BoolVarP(&appendRows, "addrows", "a", false, "append the rows instead of replacing the table")
	return c
}

// replace writes t as the new content of its table (or appends its rows), validating the
// whole snapshot; validation problems are printed one per line.
func (e *env) replace(ctx context.Context, t *tables.Table, appendRows bool) error {
	st, err := e.store()
	if err != nil {
		return err
	}
	snap, err := st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		nt := t
		if appendRows {
			nt = cur.Table(t.Name()).Clone()
			nt.Rows = append(nt.Rows, t.Rows...)
		}
		return map[string]*tables.Table{t.Name(): nt}, nil
	})
	return e.report(snap, err)
}

// report prints validation errors and warnings of an edit.
func (e *env) report(snap *tables.Snapshot, err error) error {
	var ve *tables.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			if !p.Warning {
				e.errorf("%s", p)
			}
		}
		return exitError{1}
	}
	if err != nil {
		return err
	}
	for _, p := range tables.Validate(snap) {
		if p.Warning {
			fmt.Fprintf(e.stderr, "%s\n", p)
		}
	}
	return nil
}

func tabeditCmd(e *env) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "tabedit [-y] TABLE",
		Short: "Edit a table with $EDITOR; the result is validated, its effect on every node's view shown, and on confirmation it replaces the table atomically",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := tables.LookupSchema(args[0])
			if err != nil {
				return err
			}
			snap, err := e.loadRaw(cmd.Context())
			if err != nil {
				return err
			}
			var orig bytes.Buffer
			tables.Dump(&orig, snap.Table(sc.Name))
			dir, err := os.MkdirTemp("", "tabedit")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			file := filepath.Join(dir, sc.Name+".csv")
			if err := os.WriteFile(file, orig.Bytes(), 0o600); err != nil {
				return err
			}
			editor := os.Getenv("VISUAL")
			if editor == "" {
				editor = os.Getenv("EDITOR")
			}
			if editor == "" {
				editor = "vi"
			}
			in := bufio.NewReader(e.stdin)
			for {
				ed := exec.CommandContext(cmd.Context(), "sh", "-c", editor+` "$1"`, "editor", file)
				ed.Stdin, ed.Stdout, ed.Stderr = os.Stdin, e.stdout, e.stderr
				if f, ok := e.stdin.(*os.File); ok {
					ed.Stdin = f
				}
				if err := ed.Run(); err != nil {
					return fmt.Errorf("editor %q: %v; table %s unchanged", editor, err, sc.Name)
				}
				data, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				if bytes.Equal(data, orig.Bytes()) {
					fmt.Fprintf(e.stdout, "No changes to table %s.\n", sc.Name)
					return nil
				}
				ok, err := e.confirmEdit(cmd.Context(), sc.Name, data, orig.Bytes(), yes, in)
				if err == nil && !ok {
					fmt.Fprintf(e.stdout, "Not applied; table %s is unchanged.\n", sc.Name)
					return exitError{1}
				}
				if err == nil {
					err = e.saveEdited(cmd.Context(), sc.Name, data, orig.Bytes())
				}
				if err == nil {
					return nil
				}
				var conflict errConflict
				if errors.As(err, &conflict) {
					return err
				}
				fmt.Fprintf(e.stderr, "Error: %v\n", err)
				fmt.Fprintf(e.stdout, "Table %s was not changed. Edit again? [Y/n] ", sc.Name)
				ans, _ := in.ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(ans)); a == "n" || a == "no" || (ans == "" && a == "") {
					fmt.Fprintf(e.stdout, "\nYour edit is discarded; table %s is unchanged.\n", sc.Name)
					return exitError{1}
				}
			}
		},
	}
	c.Flags().BoolVarP(&yes, "yes", "y", false, "apply a valid edit without asking (the plan is still shown)")
	return c
}

// confirmEdit validates the edited table with the other current tables, prints how every
// node's view would change and asks whether to apply it (y/N; yes answers for the user).
// A validation or parse error is returned as saveEdited would return it; a table changed
// by someone else meanwhile gives errConflict. The store is not locked while asking.
func (e *env) confirmEdit(ctx context.Context, name string, data, orig []byte, yes bool, in *bufio.Reader) (bool, error) {
	t, err := tables.Parse(name, bytes.NewReader(data))
	if err != nil {
		return false, err
	}
	cur, err := e.loadRaw(ctx)
	if err != nil {
		return false, err
	}
	var now bytes.Buffer
	tables.Dump(&now, cur.Table(name))
	if !bytes.Equal(now.Bytes(), orig) {
		return false, errConflict{name}
	}
	next := cur.With(cur.Gen+1, map[string]*tables.Table{name: t})
	if probs := tables.Validate(next); tables.HasErrors(probs) {
		return false, &tables.ValidationError{Problems: probs}
	}
	e.printPlan(cur, next)
	if yes {
		return true, nil
	}
	fmt.Fprintf(e.stdout, "Apply these changes to table %s? [y/N] ", name)
	ans, _ := in.ReadString('\n')
	fmt.Fprintln(e.stdout)
	a := strings.ToLower(strings.TrimSpace(ans))
	return a == "y" || a == "yes", nil
}

type errConflict struct{ table string }

func (c errConflict) Error() string {
	return fmt.Sprintf("table %s was changed by someone else while you edited it; your edit is not saved (run tabedit again)", c.table)
}

func (e *env) saveEdited(ctx context.Context, name string, data, orig []byte) error {
	t, err := tables.Parse(name, bytes.NewReader(data))
	if err != nil {
		return err
	}
	st, err := e.store()
	if err != nil {
		return err
	}
	snap, err := st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		var now bytes.Buffer
		tables.Dump(&now, cur.Table(name))
		if !bytes.Equal(now.Bytes(), orig) {
			return nil, errConflict{name}
		}
		return map[string]*tables.Table{name: t}, nil
	})
	var ve *tables.ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	if err != nil {
		return err
	}
	return e.report(snap, nil)
}
