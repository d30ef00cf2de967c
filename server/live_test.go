package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"statelite/resolver"
	"statelite/tables"
)

// appendLitefile returns a store edit adding an ALL litefile row for file.
func appendLitefile(file string) func(*tables.Snapshot) (map[string]*tables.Table, error) {
	return func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		lf := cur.Table("litefile").Clone()
		r := lf.NewRow()
		r.Cells[lf.Schema.Col("image")] = tables.Val("ALL")
		r.Cells[lf.Schema.Col("file")] = tables.Val(file)
		r.Cells[lf.Schema.Col("options")] = tables.Val("tmpfs")
		lf.Rows = append(lf.Rows, r)
		return map[string]*tables.Table{"litefile": lf}, nil
	}
}

// editAs makes one store edit as who.
func editAs(t *testing.T, st *tables.DirStore, who, file string) *tables.Snapshot {
	t.Helper()
	st.Author = who
	s, err := st.Edit(context.Background(), appendLitefile(file))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// historyLines renders the history as "gen|who|changes|superseded" lines.
func historyLines(t *testing.T, h *tables.History) []string {
	t.Helper()
	list, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, he := range list {
		var d []string
		for _, td := range he.Diff {
			d = append(d, td.Summary())
		}
		sup := ""
		if he.Superseded {
			sup = "superseded"
		}
		out = append(out, strings.Join([]string{itoa(he.Gen), he.Who, strings.Join(d, ";"), sup}, "|"))
	}
	return out
}

func itoa(g uint64) string { return strconv.FormatUint(g, 10) }

// Several store edits the follower sees at once (three chtab runs 30 ms apart) switch
// the views once, to the newest tables, and are recorded one by one with their own
// authors and changes; edits made while no server ran are recorded one by one at the
// next start; without the journal's entries they are one generation, as before.
func TestLiveRecordsEachEdit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tables")
	st, err := tables.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	log := slog.New(slog.NewTextHandler(&syncBuf{}, nil))
	snap := editAs(t, st, "root: statelite tabrestore litefile.csv", "/etc/a")

	l, cur, err := startLive(state, st, dir, snap, resolver.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	var switched []uint64
	l.switchTo = func(r *resolver.Resolver) { switched = append(switched, r.Snap.Gen) }
	for _, w := range []string{"alice", "bob", "carol"} {
		editAs(t, st, w+": statelite chtab file=/etc/"+w, "/etc/"+w)
	}
	last, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l.apply(tables.Change{Snap: last, Who: "carol: statelite chtab file=/etc/carol", Since: time.Now()})
	if len(switched) != 1 || switched[0] != last.Gen {
		t.Errorf("views switched to %v, want once to %d", switched, last.Gen)
	}
	want := []string{
		itoa(cur.Gen) + "|root: statelite tabrestore litefile.csv||",
		"2|alice: statelite chtab file=/etc/alice|litefile +1 -0 ~0|superseded",
		"3|bob: statelite chtab file=/etc/bob|litefile +1 -0 ~0|superseded",
		"4|carol: statelite chtab file=/etc/carol|litefile +1 -0 ~0|",
	}
	if got := historyLines(t, l.hist); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if stt, err := ReadStatus(StatusFile(state)); err != nil || stt.Generation != 4 || !strings.HasPrefix(stt.Who, "carol") {
		t.Errorf("status: %+v %v", stt, err)
	}
	old, err := l.hist.Snapshot(3)
	if err != nil || len(old.Table("litefile").Rows) != 3 {
		t.Errorf("generation 3's tables: %v", err)
	}

	// Edits while no server runs: recorded one by one at the next start.
	editAs(t, st, "dave: statelite chtab", "/etc/dave")
	editAs(t, st, "erin: statelite chtab", "/etc/erin")
	now, _ := st.Load(context.Background())
	_, cur, err = startLive(state, st, dir, now, resolver.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	got := historyLines(t, l.hist)
	if cur.Gen != 6 || len(got) != 6 || got[4] != "5|dave: statelite chtab|litefile +1 -0 ~0|superseded" || got[5] != "6|erin: statelite chtab|litefile +1 -0 ~0|" {
		t.Errorf("after a restart (gen %d):\n%s", cur.Gen, strings.Join(got, "\n"))
	}

	// A journal entry missing: the edits are one generation, credited to the last.
	l, _, err = startLive(state, st, dir, now, resolver.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	l.switchTo = func(*resolver.Resolver) {}
	editAs(t, st, "frank", "/etc/frank")
	editAs(t, st, "grace", "/etc/grace")
	if err := os.RemoveAll(filepath.Join(dir, ".edits", "7")); err != nil {
		t.Fatal(err)
	}
	last, _ = st.Load(context.Background())
	l.apply(tables.Change{Snap: last, Who: "grace", Since: time.Now()})
	got = historyLines(t, l.hist)
	if len(got) != 7 || got[6] != "8|grace|litefile +2 -0 ~0|" {
		t.Errorf("without the journal:\n%s", strings.Join(got, "\n"))
	}
}

// A switch that changes only the views' rules (a litefile edit here) takes over the
// cluster index of the tables in force; one that changes a node's tables builds it, and
// the switch's log line says which.
func TestLiveSwitchReusesIndex(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tables")
	st, err := tables.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	snap := editAs(t, st, "root", "/etc/a")
	l, cur, err := startLive(t.TempDir(), st, dir, snap, resolver.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	inForce := resolver.New(cur, resolver.Config{})
	inForce.Index()
	l.switchTo = func(r *resolver.Resolver) { inForce = r }
	l.current = func() *resolver.Resolver { return inForce }

	l.apply(tables.Change{Snap: editAs(t, st, "alice", "/etc/b"), Since: time.Now()})
	if ix, _ := inForce.Builds(); ix != 0 || !strings.Contains(logs.String(), `index="taken over in`) {
		t.Fatalf("a litefile edit: %d index builds; log:\n%s", ix, logs.String())
	}
	nodes, err := st.Edit(context.Background(), func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		nl := cur.Table("nodelist").Clone()
		nl.SetRow("n9", map[string]string{"groups": "compute"})
		return map[string]*tables.Table{"nodelist": nl}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	l.apply(tables.Change{Snap: nodes, Since: time.Now()})
	if ix, _ := inForce.Builds(); ix != 1 || !strings.Contains(logs.String(), `index="built in`) {
		t.Fatalf("a nodelist edit: %d index builds; log:\n%s", ix, logs.String())
	}
	if _, ok := inForce.Index().NodeByID(resolver.NodeID("n9")); !ok {
		t.Error("the index built for the nodelist edit lacks its node")
	}
}
