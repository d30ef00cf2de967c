package tables_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"statelite/internal/pgtest"
	"statelite/tables"
)

// The behavioural store suite: every Store implementation passes it.

func TestStoreSuiteDir(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) tables.Store {
		st, err := tables.OpenDir(filepath.Join(t.TempDir(), "tables"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestStoreSuitePostgres(t *testing.T) {
	pg := pgtest.Start(t)
	n := 0
	runStoreSuite(t, func(t *testing.T) tables.Store {
		// A fresh database per subtest, in the one cluster.
		n++
		db := fmt.Sprintf("suite%d", n)
		admin, err := tables.OpenPostgres(context.Background(), pg.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Pool.Exec(context.Background(), "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		admin.Close()
		st, err := tables.OpenPostgres(context.Background(), strings.Replace(pg.URL, "/postgres?", "/"+db+"?", 1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

const (
	suLitefile = "#image,file,options,comments,disable\n"
	suLitetree = "#priority,image,directory,mntopts,comments,disable\n"
)

func suParse(t testing.TB, name, text string) *tables.Table {
	t.Helper()
	tab, err := tables.Parse(name, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func suReplace(t testing.TB, name, text string) func(*tables.Snapshot) (map[string]*tables.Table, error) {
	return func(*tables.Snapshot) (map[string]*tables.Table, error) {
		return map[string]*tables.Table{name: suParse(t, name, text)}, nil
	}
}

func suAppend(file string) func(*tables.Snapshot) (map[string]*tables.Table, error) {
	return func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		lf := cur.Table("litefile").Clone()
		r := lf.NewRow()
		r.Cells[lf.Schema.Col("image")] = tables.Val("ALL")
		r.Cells[lf.Schema.Col("file")] = tables.Val(file)
		lf.Rows = append(lf.Rows, r)
		return map[string]*tables.Table{"litefile": lf}, nil
	}
}

func suDump(t testing.TB, tab *tables.Table) string {
	t.Helper()
	var b strings.Builder
	if err := tables.Dump(&b, tab); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// runStoreSuite runs the behavioural tests of a Store; open returns a fresh, empty store.
func runStoreSuite(t *testing.T, open func(t *testing.T) tables.Store) {
	ctx := context.Background()

	t.Run("fresh store is empty at generation 0", func(t *testing.T) {
		st := open(t)
		s, err := st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Gen != 0 {
			t.Errorf("Gen = %d, want 0", s.Gen)
		}
		for _, name := range tables.TableNames() {
			if tab := s.Table(name); tab == nil || len(tab.Rows) != 0 {
				t.Errorf("table %s: %v", name, tab)
			}
		}
	})

	t.Run("edit, load, order, NULL and empty cells", func(t *testing.T) {
		st := open(t)
		text := suLitefile + `"ALL","/etc/zz",,,
"ALL","/etc/x","ro","say ""hi"", ok",
"img1","/var/log/","persistent","","0"
"ALL","/etc/aa",,,
`
		next, err := st.Edit(ctx, suReplace(t, "litefile", text))
		if err != nil {
			t.Fatal(err)
		}
		if next.Gen != 1 || len(next.Table("litefile").Rows) != 4 {
			t.Errorf("Edit returned Gen %d with %d rows", next.Gen, len(next.Table("litefile").Rows))
		}
		s, err := st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Gen != 1 {
			t.Errorf("Load Gen = %d, want 1", s.Gen)
		}
		if got := suDump(t, s.Table("litefile")); got != text {
			t.Errorf("tabdump after load:\n%s\nwant (rows in store order, NULL and \"\" kept)\n%s", got, text)
		}
		// A second edit of another table bumps the generation and keeps litefile.
		lt := suLitetree + `"1",,"/srv/tree",,,` + "\n"
		if _, err := st.Edit(ctx, suReplace(t, "litetree", lt)); err != nil {
			t.Fatal(err)
		}
		s, err = st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Gen != 2 || suDump(t, s.Table("litefile")) != text || suDump(t, s.Table("litetree")) != lt {
			t.Errorf("after the second edit: gen %d\n%s%s", s.Gen, suDump(t, s.Table("litefile")), suDump(t, s.Table("litetree")))
		}
		// An edit that replaces nothing writes nothing and keeps the generation.
		same, err := st.Edit(ctx, func(*tables.Snapshot) (map[string]*tables.Table, error) { return nil, nil })
		if err != nil || same.Gen != 2 {
			t.Errorf("empty edit: %v, %v", same, err)
		}
		// Emptying a table.
		if _, err := st.Edit(ctx, suReplace(t, "litetree", suLitetree)); err != nil {
			t.Fatal(err)
		}
		if s, err = st.Load(ctx); err != nil || s.Gen != 3 || len(s.Table("litetree").Rows) != 0 {
			t.Errorf("after emptying litetree: %v", err)
		}
	})

	t.Run("rejected edits change nothing", func(t *testing.T) {
		st := open(t)
		good := suLitefile + `"ALL","/etc/x",,,` + "\n"
		if _, err := st.Edit(ctx, suReplace(t, "litefile", good)); err != nil {
			t.Fatal(err)
		}
		bad := suLitefile + `"ALL","/etc/x",,,
"ALL","/etc/y","tmpfs,ro",,
"ALL","/etc/z","bind",,
`
		_, err := st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
			return map[string]*tables.Table{
				"litefile": suParse(t, "litefile", bad),
				"litetree": suParse(t, "litetree", suLitetree+`"1",,"/ok",,,`+"\n"),
			}, nil
		})
		var ve *tables.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("Edit error %v (%T), want *ValidationError", err, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, "litefile.csv line 3: ") || !strings.Contains(msg, `option "tmpfs,ro"`) {
			t.Errorf("message %q does not name litefile.csv line 3 and the option", msg)
		}
		if strings.Contains(msg, "bind") {
			t.Errorf("warnings belong in Problems, not in the error text: %q", msg)
		}
		var warned bool
		for _, p := range ve.Problems {
			warned = warned || (p.Warning && p.Line == 4)
		}
		if !warned {
			t.Errorf("the bind warning is missing from Problems: %v", ve.Problems)
		}
		boom := errors.New("boom")
		_, err = st.Edit(ctx, func(*tables.Snapshot) (map[string]*tables.Table, error) {
			return map[string]*tables.Table{"litefile": tables.NewSnapshot(0, nil).Table("litefile")}, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Edit error %v, want boom", err)
		}
		s, err := st.Load(ctx)
		if err != nil || s.Gen != 1 || suDump(t, s.Table("litefile")) != good || len(s.Table("litetree").Rows) != 0 {
			t.Errorf("after rejected edits: gen %v, %v", s, err)
		}
	})

	t.Run("concurrent edits serialize; loads are consistent", func(t *testing.T) {
		st := open(t)
		const n = 20
		done := make(chan struct{})
		readErr := make(chan error, 1)
		go func() {
			var last uint64
			defer close(readErr)
			for {
				select {
				case <-done:
					return
				default:
				}
				s, err := st.Load(ctx)
				if err != nil {
					readErr <- err
					return
				}
				if rows := len(s.Table("litefile").Rows); uint64(rows) != s.Gen {
					readErr <- fmt.Errorf("Load saw %d rows at generation %d", rows, s.Gen)
					return
				}
				if s.Gen < last {
					readErr <- fmt.Errorf("generation went back from %d to %d", last, s.Gen)
					return
				}
				last = s.Gen
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := st.Edit(ctx, suAppend(fmt.Sprintf("/etc/f%02d", i))); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(done)
		close(errs)
		for err := range errs {
			t.Errorf("Edit: %v", err)
		}
		for err := range readErr {
			t.Errorf("reader: %v", err)
		}
		s, err := st.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lf := s.Table("litefile")
		if s.Gen != n || len(lf.Rows) != n {
			t.Errorf("Gen %d, %d rows; want %d", s.Gen, len(lf.Rows), n)
		}
		seen := map[string]bool{}
		for i := range lf.Rows {
			seen[lf.Get(i, "file")] = true
		}
		for i := range n {
			if f := fmt.Sprintf("/etc/f%02d", i); !seen[f] {
				t.Errorf("row %s lost", f)
			}
		}
	})

	t.Run("names that are not host names are refused", func(t *testing.T) {
		st := open(t)
		good := "#node,groups\n\"n1\",\"all\"\n\"node-001\",\"all\"\n\"rack1.n2\",\"all\"\n\"compute_a\",\"all\"\n"
		if _, err := st.Edit(ctx, suReplace(t, "nodelist", good)); err != nil {
			t.Fatalf("good names: %v", err)
		}
		for _, b := range []struct{ name, rule string }{
			{"../x", `holds "/"`},
			{"a/b", `holds "/"`},
			{"..", `starts with "."`},
			{"-rf", `starts with "-"`},
			{"x y", `holds " "`},
			{".hidden", `starts with "."`},
			{strings.Repeat("n", 254), "at most 253 bytes"},
			{"../../../../tmp/esc", `holds "/"`},
		} {
			// A whole table, as tabrestore writes it: the message names its line.
			_, err := st.Edit(ctx, suReplace(t, "nodelist", good+`"`+b.name+`","all"`+"\n"))
			var ve *tables.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("node %q: Edit error %v (%T), want *ValidationError", b.name, err, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "nodelist.csv line 6: node name ") || !strings.Contains(msg, b.rule) {
				t.Errorf("node %q: message %q does not name nodelist.csv line 6 and the rule %q", b.name, msg, b.rule)
			}
			// One new row, as chtab adds it (no line): the message names the row. Here the
			// bad name is a group of node n9.
			_, err = st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
				nl := cur.Table("nodelist").Clone()
				r := nl.NewRow()
				r.Cells[nl.Schema.Col("node")] = tables.Val("n9")
				r.Cells[nl.Schema.Col("groups")] = tables.Val("all," + b.name)
				nl.Rows = append(nl.Rows, r)
				return map[string]*tables.Table{"nodelist": nl}, nil
			})
			if msg := fmt.Sprint(err); !errors.As(err, &ve) || !strings.HasPrefix(msg, "nodelist row 5: group name ") || !strings.Contains(msg, b.rule) {
				t.Errorf("group %q: Edit error %q, want nodelist row 5, the group and the rule %q", b.name, msg, b.rule)
			}
			// An image name, in another table.
			_, err = st.Edit(ctx, suReplace(t, "osimage", "#imagename,osvers,osarch,profile\n\"img\",\"rhels8\",\"x86_64\",\"compute\"\n\""+b.name+"\",\"rhels8\",\"x86_64\",\"compute\"\n"))
			if msg := fmt.Sprint(err); !errors.As(err, &ve) || !strings.HasPrefix(msg, "osimage.csv line 3: image name ") || !strings.Contains(msg, b.rule) {
				t.Errorf("image %q: Edit error %q, want osimage.csv line 3, the image and the rule %q", b.name, msg, b.rule)
			}
		}
		s, err := st.Load(ctx)
		if err != nil || s.Gen != 1 || suDump(t, s.Table("nodelist")) != "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n\"n1\",\"all\",,,,,,,,,,,\n\"node-001\",\"all\",,,,,,,,,,,\n\"rack1.n2\",\"all\",,,,,,,,,,,\n\"compute_a\",\"all\",,,,,,,,,,,\n" || len(s.Table("osimage").Rows) != 0 {
			t.Errorf("after refused edits: gen %v, err %v\n%s", s.Gen, err, suDump(t, s.Table("nodelist")))
		}
	})

	t.Run("edit sees the current tables", func(t *testing.T) {
		st := open(t)
		if _, err := st.Edit(ctx, suAppend("/etc/a")); err != nil {
			t.Fatal(err)
		}
		var saw int
		if _, err := st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
			saw = len(cur.Table("litefile").Rows)
			return suAppend("/etc/b")(cur)
		}); err != nil {
			t.Fatal(err)
		}
		if saw != 1 {
			t.Errorf("the second edit saw %d rows, want 1", saw)
		}
	})
}
