package tables

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	lvLitefile = "#image,file,options,comments,disable\n"
	lvNodelist = "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n"
)

func lvSnap(t testing.TB, gen uint64, texts map[string]string) *Snapshot {
	t.Helper()
	m := map[string]*Table{}
	for name, text := range texts {
		tab, err := Parse(name, strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		m[name] = tab
	}
	return NewSnapshot(gen, m)
}

func TestDiff(t *testing.T) {
	a := lvSnap(t, 1, map[string]string{
		"litefile": lvLitefile + `"ALL","/etc/a",,,` + "\n" + `"ALL","/etc/b","ro",,` + "\n" + `"ALL","/etc/c",,,` + "\n",
		"nodelist": lvNodelist + `"n1","compute",,,,,,,,,,,` + "\n",
	})
	b := lvSnap(t, 2, map[string]string{
		"litefile": lvLitefile + `"ALL","/etc/a",,,` + "\n" + `"ALL","/etc/b","persistent",,` + "\n" + `"ALL","/etc/d",,,` + "\n",
		"nodelist": lvNodelist + `"n1","compute",,,,,,,,,,,` + "\n",
		"site":     "#key,value,comments,disable\n" + `"master","10.0.0.1",,` + "\n",
	})
	got := Diff(a, b)
	want := []TableDiff{
		{Table: "litefile", Added: []string{`"ALL","/etc/d",,,`}, Removed: []string{`"ALL","/etc/c",,,`},
			Changed: [][2]string{{`"ALL","/etc/b","ro",,`, `"ALL","/etc/b","persistent",,`}}},
		{Table: "site", Added: []string{`"master","10.0.0.1",,`}},
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Table < got[j].Table })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff:\n got %+v\nwant %+v", got, want)
	}
	if s := got[0].Summary(); s != "litefile +1 -1 ~1" {
		t.Errorf("summary %q", s)
	}
	if len(Diff(a, a)) != 0 {
		t.Errorf("a snapshot differs from itself")
	}
	if ContentHash(a) == ContentHash(b) || ContentHash(a) != ContentHash(a.With(7, nil)) {
		t.Errorf("ContentHash must follow the content, not the generation")
	}
	// Rolling b back to a replaces exactly the tables that differ.
	repl := RollbackTables(b, a)
	var names []string
	for n := range repl {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "litefile,site" || len(repl["site"].Rows) != 0 {
		t.Errorf("RollbackTables replaces %v", names)
	}
	if ContentHash(b.With(3, repl)) != ContentHash(a) {
		t.Errorf("b with the rollback tables is not a")
	}
}

func TestFoldNodes(t *testing.T) {
	var many []string
	for i := 1; i <= 128; i++ {
		many = append(many, "n"+pad3(i))
	}
	cases := []struct {
		in   []string
		want string
	}{
		{many, "n[001-128]"},
		{[]string{"n1"}, "n1"},
		{[]string{"n2", "n1"}, "n1,n2"},
		{[]string{"n1", "n2", "n3", "n5", "login", "n10", "n9", "n8"}, "login,n[1-3],n5,n[8-10]"},
		{[]string{"n098", "n099", "n100", "n101"}, "n[098-101]"},
		{[]string{"n8", "n9", "n010", "n011", "n012"}, "n8,n9,n[010-012]"},
		{[]string{"r1n1", "r1n2", "r1n3", "r2n1"}, "r1n[1-3],r2n1"},
		{nil, ""},
	}
	for _, c := range cases {
		if got := FoldNodes(c.in); got != c.want {
			t.Errorf("FoldNodes(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	// The folded form expands back to the same nodes.
	var nl strings.Builder
	nl.WriteString(lvNodelist)
	all := append(append([]string{}, many...), "n1", "n2", "n3", "n5", "login", "n010", "n8", "n9")
	for _, n := range all {
		nl.WriteString(`"` + n + `","compute",,,,,,,,,,,` + "\n")
	}
	s := lvSnap(t, 1, map[string]string{"nodelist": nl.String()})
	for _, set := range [][]string{many, {"n1", "n2", "n3", "n5", "login"}, {"n8", "n9", "n010"}} {
		got, _, err := s.Noderange(FoldNodes(set), NoderangeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := append([]string{}, set...)
		sort.Strings(want)
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("noderange %q = %v, want %v", FoldNodes(set), got, want)
		}
	}
}

func pad3(i int) string {
	s := "00" + itoa(i)
	return s[len(s)-3:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestHistoryAdopt(t *testing.T) {
	h, err := OpenHistory(filepath.Join(t.TempDir(), "history"))
	if err != nil {
		t.Fatal(err)
	}
	lf := func(opt string) map[string]string {
		return map[string]string{"litefile": lvLitefile + `"ALL","/etc/a","` + opt + `",,` + "\n"}
	}
	t0 := time.Unix(1700000000, 0)
	// The first generation keeps the store's number.
	s, he, rec, err := h.Adopt(lvSnap(t, 5, lf("ro")), "start", t0)
	if err != nil || !rec || s.Gen != 5 || he.Gen != 5 || !he.First {
		t.Fatalf("first adopt: %v rec=%v gen=%d %+v", err, rec, s.Gen, he)
	}
	// The same content again (a touched file): nothing recorded, the same generation.
	if s, _, rec, _ := h.Adopt(lvSnap(t, 5, lf("ro")), "x", t0); rec || s.Gen != 5 {
		t.Errorf("same content: rec=%v gen=%d", rec, s.Gen)
	}
	// A hand edit keeps the store generation: the history counts on.
	s, he, rec, err = h.Adopt(lvSnap(t, 5, lf("tmpfs")), "edited by hand", t0.Add(time.Second))
	if err != nil || !rec || s.Gen != 6 || he.StoreGen != 5 || len(he.Diff) != 1 || len(he.Diff[0].Changed) != 1 {
		t.Fatalf("hand edit: %v rec=%v gen=%d %+v", err, rec, s.Gen, he)
	}
	// A CLI edit ahead of the history keeps its store generation.
	s, _, _, _ = h.Adopt(lvSnap(t, 9, lf("persistent")), "alice: statelite chtab", t0.Add(2*time.Second))
	if s.Gen != 9 {
		t.Errorf("store generation ahead: gen %d, want 9", s.Gen)
	}
	// ... and one behind it is numbered after the newest.
	s, _, _, _ = h.Adopt(lvSnap(t, 7, lf("con")), "bob", t0.Add(3*time.Second))
	if s.Gen != 10 {
		t.Errorf("store generation behind: gen %d, want 10", s.Gen)
	}
	list, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	var gens []uint64
	for _, e := range list {
		gens = append(gens, e.Gen)
	}
	if !reflect.DeepEqual(gens, []uint64{5, 6, 9, 10}) || list[2].Who != "alice: statelite chtab" {
		t.Errorf("history %v %+v", gens, list)
	}
	old, err := h.Snapshot(6)
	if err != nil || old.Gen != 6 || old.Table("litefile").Get(0, "options") != "tmpfs" {
		t.Fatalf("snapshot 6: %v %+v", err, old)
	}
	if _, err := h.Snapshot(8); err == nil || !strings.Contains(err.Error(), "generation 8 is not in the history") {
		t.Errorf("missing generation: %v", err)
	}
}

func TestStoreAuthor(t *testing.T) {
	st, dir := stOpen(t)
	st.Author = "alice: statelite chtab x"
	snap, err := st.Edit(stCtx, stAppend("/etc/x"))
	if err != nil {
		t.Fatal(err)
	}
	who, at, ok := st.EditedBy(snap.Gen)
	if !ok || who != "alice: statelite chtab x" || time.Since(at) > time.Minute {
		t.Errorf("EditedBy(%d) = %q %v %v", snap.Gen, who, at, ok)
	}
	other := &DirStore{Dir: dir} // no author: nothing noted
	snap2, err := other.Edit(stCtx, stAppend("/etc/y"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := st.EditedBy(snap2.Gen); ok {
		t.Errorf("an edit without author has a note")
	}
}

// watchRig runs a Watcher over a store and collects what it reports.
type watchRig struct {
	st      *DirStore
	dir     string
	mu      sync.Mutex
	applied []Change
	rejects []Rejection
	settled int
	notify  chan struct{}
}

func newWatchRig(t *testing.T, poll bool, files map[string]string, opts ...func(*Watcher)) *watchRig {
	t.Helper()
	st, dir := stOpen(t)
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".csv"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := st.Load(stCtx)
	if err != nil {
		t.Fatal(err)
	}
	r := &watchRig{st: st, dir: dir, notify: make(chan struct{}, 100)}
	w := &Watcher{Store: st, Current: snap, Poll: poll,
		OnApply: func(c Change) { r.mu.Lock(); r.applied = append(r.applied, c); r.mu.Unlock(); r.notify <- struct{}{} },
		OnReject: func(rj Rejection) {
			r.mu.Lock()
			r.rejects = append(r.rejects, rj)
			r.mu.Unlock()
			r.notify <- struct{}{}
		},
		OnSettle: func() { r.mu.Lock(); r.settled++; r.mu.Unlock(); r.notify <- struct{}{} },
	}
	for _, o := range opts {
		o(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// wait waits up to d for the next report.
func (r *watchRig) wait(t *testing.T, d time.Duration) bool {
	t.Helper()
	select {
	case <-r.notify:
		return true
	case <-time.After(d):
		return false
	}
}

func (r *watchRig) counts() (applied, rejected, settled int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied), len(r.rejects), r.settled
}

func (r *watchRig) lastApplied() Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied[len(r.applied)-1]
}

// renameInPlace writes a table as editors such as sed -i do: a temporary file renamed over it.
func renameInPlace(t *testing.T, dir, name, text string) {
	t.Helper()
	tmp := filepath.Join(dir, "sedXYZ")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".csv")); err != nil {
		t.Fatal(err)
	}
}

const (
	lvGood  = lvLitefile + `"ALL","/etc/a",,,` + "\n"
	lvGood2 = lvLitefile + `"ALL","/etc/a","ro",,` + "\n" + `"ALL","/etc/b","persistent",,` + "\n"
)

func TestWatcherEditPatterns(t *testing.T) {
	for _, poll := range []bool{false, true} {
		name := "inotify"
		if poll {
			name = "polling"
		}
		t.Run(name, func(t *testing.T) {
			r := newWatchRig(t, poll, map[string]string{"litefile": lvGood})
			time.Sleep(50 * time.Millisecond) // the first check sees the tables in force: nothing to report
			if a, rj, _ := r.counts(); a+rj != 0 {
				t.Fatalf("reports at start: %d applied, %d rejected", a, rj)
			}

			// Rename into place.
			start := time.Now()
			renameInPlace(t, r.dir, "litefile", lvGood2)
			if !r.wait(t, 2*time.Second) {
				t.Fatal("a renamed-into-place edit was not applied")
			}
			took := time.Since(start)
			if c := r.lastApplied(); len(c.Snap.Table("litefile").Rows) != 2 || !strings.Contains(c.Who, "litefile.csv") {
				t.Errorf("applied %+v", c)
			}
			t.Logf("%s: rename into place applied after %v", name, took)
			if took > time.Second {
				t.Errorf("applied after %v, want within a second", took)
			}

			// Truncate and write slowly, the file open all along: one switch, to the
			// whole new content, never the half-written one.
			f, err := os.OpenFile(filepath.Join(r.dir, "litefile.csv"), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			half := len(lvGood) / 2
			f.WriteString(lvGood[:half])
			time.Sleep(400 * time.Millisecond)
			f.WriteString(lvGood[half:])
			f.Close()
			if !r.wait(t, 2*time.Second) {
				t.Fatal("a slow write was not applied")
			}
			a, rj, _ := r.counts()
			if !poll && (a != 2 || rj != 0) {
				// (Polling cannot see an open writer: it may reject the half first.)
				t.Errorf("slow write: %d applied, %d rejected; want the whole file applied once", a, rj)
			}
			for deadline := time.Now().Add(2 * time.Second); len(r.lastApplied().Snap.Table("litefile").Rows) != 1; {
				if !r.wait(t, time.Until(deadline)) {
					t.Fatalf("after the slow write: %d rows in force", len(r.lastApplied().Snap.Table("litefile").Rows))
				}
			}

			// An editor's swap file and backup change nothing.
			a0, rj0, _ := r.counts()
			for i := range 5 {
				os.WriteFile(filepath.Join(r.dir, ".litefile.csv.swp"), []byte(strings.Repeat("x", i)), 0o600)
				os.WriteFile(filepath.Join(r.dir, "litefile.csv~"), []byte("junk"), 0o600)
				time.Sleep(20 * time.Millisecond)
			}
			if r.wait(t, 500*time.Millisecond) {
				a, rj, _ := r.counts()
				t.Errorf("swap and backup files reported: %d->%d applied, %d->%d rejected", a0, a, rj0, rj)
			}
		})
	}
}

func TestWatcherRejects(t *testing.T) {
	r := newWatchRig(t, false, map[string]string{"litefile": lvGood})
	// A half-written file that was closed: a parse error, rejected.
	cut := lvGood2[:len(lvLitefile)+12] // inside the quoted file name of the first row
	if err := os.WriteFile(filepath.Join(r.dir, "litefile.csv"), []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}
	if !r.wait(t, 2*time.Second) {
		t.Fatal("a half-written table was not reported")
	}
	_, rj, _ := r.counts()
	if rj != 1 {
		t.Fatalf("%d rejections", rj)
	}
	p := r.rejects[0].Problems[0]
	if p.Table != "litefile" || p.Line != 2 || p.Msg == "" {
		t.Errorf("rejection %+v", p)
	}
	// A bad option: a validation error naming table and line.
	renameInPlace(t, r.dir, "litefile", lvGood+`"ALL","/etc/z","tmpfs,ro",,`+"\n")
	if !r.wait(t, 2*time.Second) {
		t.Fatal("a bad option was not reported")
	}
	if _, rj, _ := r.counts(); rj != 2 || r.rejects[1].Problems[0].Line != 3 || !strings.Contains(r.rejects[1].Problems[0].Msg, `"tmpfs,ro"`) {
		t.Errorf("rejections %+v", r.rejects)
	}
	// Undoing the broken edit settles without a switch.
	renameInPlace(t, r.dir, "litefile", lvGood)
	if !r.wait(t, 2*time.Second) {
		t.Fatal("the undo was not reported")
	}
	if a, _, s := r.counts(); a != 0 || s != 1 {
		t.Errorf("after the undo: %d applied, %d settled", a, s)
	}
	// A table renamed away while the new one is written (vim's backup pattern) is not
	// read as an empty table in between.
	os.Rename(filepath.Join(r.dir, "litefile.csv"), filepath.Join(r.dir, "litefile.csv~"))
	time.Sleep(500 * time.Millisecond)
	os.WriteFile(filepath.Join(r.dir, "litefile.csv"), []byte(lvGood2), 0o644)
	if !r.wait(t, 2*time.Second) {
		t.Fatal("the rewritten table was not applied")
	}
	if a, rj, _ := r.counts(); a != 1 || rj != 2 || len(r.lastApplied().Snap.Table("litefile").Rows) != 2 {
		t.Errorf("vim pattern: %d applied (%d rows), %d rejected", a, len(r.lastApplied().Snap.Table("litefile").Rows), rj)
	}
}

func TestWatcherCLIAuthor(t *testing.T) {
	r := newWatchRig(t, false, map[string]string{"litefile": lvGood})
	r.st.Author = "alice: statelite chtab image=ALL,file=/etc/x"
	if _, err := r.st.Edit(stCtx, stAppend("/etc/x")); err != nil {
		t.Fatal(err)
	}
	if !r.wait(t, 2*time.Second) {
		t.Fatal("a store edit was not applied")
	}
	if c := r.lastApplied(); c.Who != r.st.Author || c.Snap.Gen != 1 {
		t.Errorf("applied gen %d by %q", c.Snap.Gen, c.Who)
	}
}

// A store edit (chtab, tabedit, the API) is read as soon as its journal is gone: its
// files were renamed into place whole, so it does not wait out the quiet period that a
// hand edit gets (under a boot storm, that period was a third of the time a change took
// to reach the nodes). A hand edit still waits for it.
func TestWatcherStoreEditAtOnce(t *testing.T) {
	const quiet = 4 * time.Second
	r := newWatchRig(t, false, map[string]string{"litefile": lvGood}, func(w *Watcher) { w.Quiet = quiet })
	r.st.Author = "bob: statelite chtab"
	if _, err := r.st.Edit(stCtx, stAppend("/etc/x")); err != nil {
		t.Fatal(err)
	}
	if !r.wait(t, quiet/2) {
		t.Fatalf("a store edit was not applied within %v (the quiet period is %v)", quiet/2, quiet)
	}
	if c := r.lastApplied(); c.Snap.Gen != 1 || c.Who != r.st.Author || len(c.Snap.Table("litefile").Rows) != 2 {
		t.Fatalf("applied gen %d by %q, %d litefile rows", c.Snap.Gen, c.Who, len(c.Snap.Table("litefile").Rows))
	}
	renameInPlace(t, r.dir, "litefile", lvGood2)
	if r.wait(t, quiet/2) {
		t.Fatal("a hand edit was applied before the quiet period was over")
	}
	if !r.wait(t, quiet+2*time.Second) {
		t.Fatal("a hand edit was never applied")
	}
	if c := r.lastApplied(); len(c.Snap.Table("litefile").Rows) != 2 || !strings.HasPrefix(c.Who, "edited by hand") {
		t.Fatalf("applied %d litefile rows by %q", len(c.Snap.Table("litefile").Rows), c.Who)
	}
}
