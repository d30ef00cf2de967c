package tables

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

var stCtx = context.Background()

// stFiles returns every file of dir (dot files included) and its content; the edit
// journal (.edits, history_test.go) is left out.
func stFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string, len(ents))
	for _, e := range ents {
		if e.Name() == editsDir && e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

// stNoTemp fails if dir holds anything but .lock, .generation and <table>.csv files.
func stNoTemp(t testing.TB, dir string) {
	t.Helper()
	for name := range stFiles(t, dir) {
		if name == ".lock" || name == ".generation" {
			continue
		}
		if table, ok := strings.CutSuffix(name, ".csv"); ok {
			if _, err := LookupSchema(table); err == nil {
				continue
			}
		}
		t.Errorf("stray file %s left in the store", name)
	}
}

// stReplace returns an Edit function that replaces table name by the parse of text.
func stReplace(t testing.TB, name, text string) func(*Snapshot) (map[string]*Table, error) {
	return func(*Snapshot) (map[string]*Table, error) {
		tab, err := Parse(name, strings.NewReader(text))
		if err != nil {
			return nil, err
		}
		return map[string]*Table{name: tab}, nil
	}
}

// stAppend returns an Edit function that appends one litefile row for file.
func stAppend(file string) func(*Snapshot) (map[string]*Table, error) {
	return func(cur *Snapshot) (map[string]*Table, error) {
		lf := cur.Table("litefile").Clone()
		r := lf.NewRow()
		r.Cells[lf.Schema.Col("image")] = Val("ALL")
		r.Cells[lf.Schema.Col("file")] = Val(file)
		lf.Rows = append(lf.Rows, r)
		return map[string]*Table{"litefile": lf}, nil
	}
}

func stOpen(t testing.TB) (*DirStore, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tables")
	st, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

func stAllEmpty(t testing.TB, s *Snapshot) {
	t.Helper()
	for _, name := range TableNames() {
		tab := s.Table(name)
		if tab == nil {
			t.Errorf("table %s missing from the snapshot", name)
		} else if len(tab.Rows) != 0 {
			t.Errorf("table %s has %d rows", name, len(tab.Rows))
		}
	}
}

// The behaviour every store shares is in runStoreSuite (storesuite_test.go); the tests
// here check what is particular to the directory store: its files.

func TestDirStoreLoadMissing(t *testing.T) {
	// OpenDir creates the directory and leaves nothing in it before the first edit.
	_, dir := stOpen(t)
	stNoTemp(t, dir)

	// A DirStore over a directory that does not exist (not created by OpenDir) loads
	// empty tables and does not create it.
	missing := &DirStore{Dir: filepath.Join(t.TempDir(), "does", "not", "exist")}
	s, err := missing.Load(stCtx)
	if err != nil {
		t.Fatalf("Load of a missing directory: %v", err)
	}
	stAllEmpty(t, s)
	if _, err := os.Stat(missing.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load created %s: %v", missing.Dir, err)
	}
}

func TestDirStoreEdit(t *testing.T) {
	st, dir := stOpen(t)
	text := vdLitefile + `"ALL","/etc/adjtime",,,
"ALL","/etc/x","ro","say ""hi"", ok",
"img1","/var/log/","persistent",,"0"
`
	next, err := st.Edit(stCtx, stReplace(t, "litefile", text))
	if err != nil {
		t.Fatal(err)
	}
	if next.Gen != 1 || len(next.Table("litefile").Rows) != 3 {
		t.Errorf("Edit returned Gen %d with %d rows", next.Gen, len(next.Table("litefile").Rows))
	}
	files := stFiles(t, dir)
	if got := files["litefile.csv"]; got != text {
		t.Errorf("litefile.csv:\n%s\nwant\n%s", got, text)
	}
	if got := files[".generation"]; got != "1\n" {
		t.Errorf(".generation = %q", got)
	}
	if _, ok := files["litetree.csv"]; ok {
		t.Errorf("an untouched table was written")
	}
	fi, err := os.Stat(filepath.Join(dir, "litefile.csv"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("litefile.csv mode %v, %v", fi.Mode(), err)
	}
	s, err := st.Load(stCtx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Gen != 1 {
		t.Errorf("Load Gen = %d, want 1", s.Gen)
	}
	fmtSameCells(t, s.Table("litefile"), next.Table("litefile"))
	if got := s.Table("litefile").Rows[1].Line; got != 3 {
		t.Errorf("loaded row Line = %d, want 3", got)
	}

	// A second edit of another table bumps the generation and keeps litefile as it was.
	if _, err := st.Edit(stCtx, stReplace(t, "litetree", vdLitetree+`"1",,"/srv/tree",,,`+"\n")); err != nil {
		t.Fatal(err)
	}
	files2 := stFiles(t, dir)
	if files2["litefile.csv"] != text || files2[".generation"] != "2\n" || files2["litetree.csv"] != vdLitetree+`"1",,"/srv/tree",,,`+"\n" {
		t.Errorf("after the second edit: %q", files2)
	}

	// An edit that replaces nothing writes nothing and keeps the generation.
	same, err := st.Edit(stCtx, func(*Snapshot) (map[string]*Table, error) { return nil, nil })
	if err != nil || same.Gen != 2 {
		t.Errorf("empty edit: Gen %v, %v", same, err)
	}
	if !reflect.DeepEqual(stFiles(t, dir), files2) {
		t.Errorf("an empty edit changed the files")
	}
	stNoTemp(t, dir)
}

// docs/behaviour.md#table-text: a table file may name a subset of the columns in any
// order; the store reads it and writes it back with every column in schema order.
func TestDirStoreReadsHandWrittenFiles(t *testing.T) {
	st, dir := stOpen(t)
	if err := os.WriteFile(filepath.Join(dir, "litefile.csv"), []byte("#file,image\n\"/etc/x\",\"ALL\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := st.Load(stCtx)
	if err != nil {
		t.Fatal(err)
	}
	if lf := s.Table("litefile"); len(lf.Rows) != 1 || lf.Get(0, "file") != "/etc/x" || lf.Get(0, "image") != "ALL" {
		t.Fatalf("loaded %+v", lf.Rows)
	}
	if _, err := st.Edit(stCtx, stAppend("/etc/y")); err != nil {
		t.Fatal(err)
	}
	want := vdLitefile + "\"ALL\",\"/etc/x\",,,\n\"ALL\",\"/etc/y\",,,\n"
	if got := stFiles(t, dir)["litefile.csv"]; got != want {
		t.Errorf("litefile.csv:\n%s\nwant\n%s", got, want)
	}
}

func TestDirStoreBrokenFile(t *testing.T) {
	st, dir := stOpen(t)
	if err := os.WriteFile(filepath.Join(dir, "litefile.csv"), []byte(vdLitefile+"\"ALL\", \"/etc/adjtime\", , ,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := st.Load(stCtx)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(err.Error(), "litefile.csv line 2") {
		t.Fatalf("Load of a broken file: %v", err)
	}
	before := stFiles(t, dir) // .lock now exists
	// An edit cannot start from tables that do not parse; nothing is written.
	if _, err := st.Edit(stCtx, stAppend("/etc/y")); !errors.As(err, &pe) {
		t.Fatalf("Edit over a broken file: %v", err)
	}
	if !reflect.DeepEqual(stFiles(t, dir), before) {
		t.Errorf("files changed")
	}
}

func TestDirStoreEditRejected(t *testing.T) {
	// Rejected edits (invalid result, fn error) leave every file as it was and no
	// temporary file behind.
	st, dir := stOpen(t)
	good := vdLitefile + `"ALL","/etc/x",,,` + "\n"
	if _, err := st.Edit(stCtx, stReplace(t, "litefile", good)); err != nil {
		t.Fatal(err)
	}
	before := stFiles(t, dir)
	bad := vdLitefile + `"ALL","/etc/y","tmpfs,ro",,` + "\n"
	if _, err := st.Edit(stCtx, stReplace(t, "litefile", bad)); err == nil {
		t.Fatal("invalid edit accepted")
	}
	boom := errors.New("boom")
	if _, err := st.Edit(stCtx, func(*Snapshot) (map[string]*Table, error) {
		return map[string]*Table{"litefile": NewSnapshot(0, nil).Table("litefile")}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Edit error %v, want boom", err)
	}
	if after := stFiles(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("rejected edits changed the store:\n%q\nwant\n%q", after, before)
	}
	stNoTemp(t, dir)
}

// TestDirStoreConcurrentEdits: 20 goroutines each append one row; none is lost, every
// Load meanwhile sees a whole, consistent set of files (rows == generation), and a reader
// that takes no lock never sees a half-written file. Run with -race.
func TestDirStoreConcurrentEdits(t *testing.T) {
	st, dir := stOpen(t)
	const n = 20
	done := make(chan struct{})
	var readers sync.WaitGroup
	readErrs := make(chan error, 100)
	readers.Add(2)
	go func() { // locked loads
		defer readers.Done()
		var last uint64
		for {
			select {
			case <-done:
				return
			default:
			}
			s, err := st.Load(stCtx)
			if err != nil {
				readErrs <- err
				return
			}
			if rows := len(s.Table("litefile").Rows); uint64(rows) != s.Gen {
				readErrs <- fmt.Errorf("Load saw %d rows at generation %d", rows, s.Gen)
				return
			}
			if s.Gen < last {
				readErrs <- fmt.Errorf("generation went back from %d to %d", last, s.Gen)
				return
			}
			last = s.Gen
		}
	}()
	go func() { // unlocked reads of the file itself
		defer readers.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(filepath.Join(dir, "litefile.csv"))
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				readErrs <- err
				return
			}
			if _, err := Parse("litefile", strings.NewReader(string(b))); err != nil || !strings.HasSuffix(string(b), "\n") {
				readErrs <- fmt.Errorf("half-written litefile.csv (%v):\n%s", err, b)
				return
			}
		}
	}()

	var writers sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		writers.Add(1)
		go func() {
			defer writers.Done()
			if _, err := st.Edit(stCtx, stAppend(fmt.Sprintf("/etc/f%02d", i))); err != nil {
				errs <- err
			}
		}()
	}
	writers.Wait()
	close(done)
	readers.Wait()
	close(errs)
	close(readErrs)
	for err := range errs {
		t.Errorf("Edit: %v", err)
	}
	for err := range readErrs {
		t.Errorf("reader: %v", err)
	}

	s, err := st.Load(stCtx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Gen != n {
		t.Errorf("Gen = %d, want %d", s.Gen, n)
	}
	lf := s.Table("litefile")
	seen := map[string]bool{}
	for i := range lf.Rows {
		seen[lf.Get(i, "file")] = true
	}
	for i := range n {
		if f := fmt.Sprintf("/etc/f%02d", i); !seen[f] {
			t.Errorf("row %s lost", f)
		}
	}
	if len(lf.Rows) != n {
		t.Errorf("%d rows, want %d", len(lf.Rows), n)
	}
	stNoTemp(t, dir)
}

// KeepParsed: a table whose file did not change is not parsed again (the same table is
// returned), and any change to a file, by the store or by hand in place with the same
// size, is read.
func TestDirStoreKeepParsed(t *testing.T) {
	st, dir := stOpen(t)
	nl := "#node,groups,status,appstatus,primarysn,comments,disable\n\"n1\",\"compute\",,,,,\n"
	if err := os.WriteFile(filepath.Join(dir, "nodelist.csv"), []byte(nl), 0o644); err != nil {
		t.Fatal(err)
	}
	st.KeepParsed = true
	a, err := st.Load(stCtx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Load(stCtx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Table("nodelist") != b.Table("nodelist") {
		t.Error("an unchanged table was parsed again")
	}
	if _, err := st.Edit(stCtx, stAppend("/etc/x")); err != nil {
		t.Fatal(err)
	}
	c, err := st.Load(stCtx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Table("nodelist") != a.Table("nodelist") || len(c.Table("litefile").Rows) != len(a.Table("litefile").Rows)+1 {
		t.Errorf("after a litefile edit: nodelist reused %v, litefile rows %d (before %d)",
			c.Table("nodelist") == a.Table("nodelist"), len(c.Table("litefile").Rows), len(a.Table("litefile").Rows))
	}
	// In place, the same size.
	f, err := os.OpenFile(filepath.Join(dir, "nodelist.csv"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(strings.Replace(nl, "n1", "n2", 1)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, err := st.Load(stCtx)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Table("nodelist").Get(0, "node"); got != "n2" {
		t.Errorf("a table rewritten in place reads node %q, want n2", got)
	}
}
