package tables

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Ino)
}

// Every store edit leaves its tables in the edit journal with its author: the tables a
// follower records when it sees several edits at once. A table an edit did not touch
// is a hard link to the previous entry's copy; one changed by hand in place is copied,
// and the copies never change with the store's files.
func TestEditJournal(t *testing.T) {
	st, dir := stOpen(t)
	var snaps []*Snapshot
	for i, ed := range []func(*Snapshot) (map[string]*Table, error){
		stReplace(t, "nodelist", lvNodelist+`"n1","all",,,,,,,,,,,`+"\n"),
		stAppend("/etc/a"),
		stAppend("/etc/b"),
	} {
		st.Author = "user" + string(rune('1'+i)) + ": statelite chtab"
		s, err := st.Edit(stCtx, ed)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
	}
	edits, complete := st.Edits(0, 3)
	if !complete || len(edits) != 3 {
		t.Fatalf("Edits(0, 3): %d, complete %v", len(edits), complete)
	}
	for i, e := range edits {
		if e.Gen != uint64(i+1) || e.Who != "user"+string(rune('1'+i))+": statelite chtab" || time.Since(e.Time) > time.Minute {
			t.Errorf("edit %d: %+v", i, e)
		}
		s, err := e.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if s.Gen != e.Gen || ContentHash(s) != ContentHash(snaps[i]) {
			t.Errorf("edit %d: the journal's tables differ from the edit's", e.Gen)
		}
	}
	j := filepath.Join(dir, editsDir)
	if inode(t, filepath.Join(j, "2", "nodelist.csv")) != inode(t, filepath.Join(j, "3", "nodelist.csv")) {
		t.Error("a table the edit did not touch is not a link to the previous copy")
	}
	if inode(t, filepath.Join(j, "3", "litefile.csv")) == inode(t, filepath.Join(dir, "litefile.csv")) {
		t.Error("the journal shares the store's file")
	}
	if _, c := st.Edits(0, 4); c {
		t.Error("Edits beyond the newest edit: complete")
	}

	// A hand edit in place: the journal keeps what the edits wrote, and the next edit
	// copies the changed file.
	nl := filepath.Join(dir, "nodelist.csv")
	f, err := os.OpenFile(nl, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`"n2","all",,,,,,,,,,,` + "\n")
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(j, "3", "nodelist.csv")); strings.Contains(string(b), "n2") {
		t.Error("a hand edit in place changed the journal")
	}
	if _, err := st.Edit(stCtx, stAppend("/etc/c")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(j, "4", "nodelist.csv")); !strings.Contains(string(b), `"n2"`) {
		t.Errorf("edit 4's nodelist lacks the hand edit:\n%s", b)
	}

	// The newest keepEdits entries are kept.
	defer func(k uint64) { keepEdits = k }(keepEdits)
	keepEdits = 3
	if _, err := st.Edit(stCtx, stAppend("/etc/d")); err != nil {
		t.Fatal(err)
	}
	if _, c := st.Edits(2, 5); !c {
		t.Error("the newest three edits are not all kept")
	}
	if _, c := st.Edits(1, 5); c {
		t.Error("edit 2 is still kept")
	}
	ents, _ := os.ReadDir(j)
	if len(ents) != 3 {
		t.Errorf("journal entries: %d, want 3", len(ents))
	}
}

// A run of store edits is recorded one by one, each with its author and diff, numbered
// by NumberEdits without reading their tables; an edit that changed nothing is left out
// and leaves its number unused.
func TestHistoryRecordEdits(t *testing.T) {
	st, _ := stOpen(t)
	h, err := OpenHistory(filepath.Join(t.TempDir(), "history"))
	if err != nil {
		t.Fatal(err)
	}
	st.Author = "start"
	s0, err := st.Edit(stCtx, stAppend("/etc/a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := h.Adopt(s0, "found at server start", time.Now()); err != nil {
		t.Fatal(err)
	}
	var last *Snapshot
	for i, ed := range []func(*Snapshot) (map[string]*Table, error){
		stAppend("/etc/b"),
		func(cur *Snapshot) (map[string]*Table, error) { // changes nothing
			return map[string]*Table{"litefile": cur.Table("litefile").Clone()}, nil
		},
		stAppend("/etc/c"),
		stAppend("/etc/d"),
	} {
		st.Author = "user" + string(rune('1'+i))
		if last, err = st.Edit(stCtx, ed); err != nil {
			t.Fatal(err)
		}
	}
	edits, complete := st.Edits(s0.Gen, last.Gen-1)
	if !complete || len(edits) != 3 {
		t.Fatalf("edits: %d %v", len(edits), complete)
	}
	gens, n, err := h.NumberEdits(edits, last)
	if err != nil || len(gens) != 3 || gens[0] != 2 || gens[2] != 4 || n.Gen != 5 {
		t.Fatalf("NumberEdits: %v %v %v", gens, n, err)
	}
	for i, e := range edits {
		s, err := e.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		_, rec, err := h.Record(s, gens[i], e.Who, e.Time, RecordOptions{Superseded: true, SkipSame: true})
		if err != nil || rec != (i != 1) {
			t.Errorf("edit %d: recorded %v, %v", e.Gen, rec, err)
		}
	}
	if _, _, err := h.Record(last, n.Gen, "user4", time.Now(), RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	list, _ := h.List()
	var got []string
	for _, he := range list {
		var d []string
		for _, td := range he.Diff {
			d = append(d, td.Summary())
		}
		got = append(got, strings.Join([]string{itoa(int(he.Gen)), he.Who, strings.Join(d, ";"), map[bool]string{true: "superseded"}[he.Superseded]}, "|"))
	}
	want := []string{"1|found at server start||", "2|user1|litefile +1 -0 ~0|superseded", "4|user3|litefile +1 -0 ~0|superseded", "5|user4|litefile +1 -0 ~0|"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if latest, _, _ := h.Latest(); latest.Gen != 5 {
		t.Errorf("latest %d", latest.Gen)
	}
}
