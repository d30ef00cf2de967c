package tables

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// authorLog is the store's record of who made each generation through the CLI: one line
// per edit, "<generation>\t<RFC 3339 time>\t<author>".
const authorLog = ".history"

// noteAuthor appends the author of generation gen to the store's author log and keeps
// a copy of the tables as the edit left them in the edit journal (journalEdit); the
// caller holds the exclusive lock. Best effort: the edit is committed already.
func (d *DirStore) noteAuthor(gen uint64) {
	d.journalEdit(gen)
	if d.Author == "" {
		return
	}
	f, err := os.OpenFile(filepath.Join(d.Dir, authorLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	a := strings.NewReplacer("\t", " ", "\n", " ").Replace(d.Author)
	fmt.Fprintf(f, "%d\t%s\t%s\n", gen, time.Now().UTC().Format(time.RFC3339Nano), a)
	f.Sync()
}

// The edit journal keeps the tables every store edit left, so that a server following
// the store records each edit as its own generation even when several come faster than
// it switches (three chtab runs 30 ms apart): <dir>/.edits/<gen>/ holds the table files
// as edit gen left them and meta.json (who, when, the stamps of the store's files). A
// table the edit did not touch is a hard link to the previous entry's copy, so an edit
// costs a copy of the tables it changed; a table file changed by hand in place is
// copied again, never linked. The newest keepEdits entries are kept.
const editsDir = ".edits"

var keepEdits uint64 = 256 // a variable for the tests

// editMeta is an edit journal entry's meta.json.
type editMeta struct {
	Gen   uint64              `json:"gen"`
	Time  time.Time           `json:"time"`
	Who   string              `json:"who,omitempty"`
	Files map[string]fileMark `json:"files"` // <table>.csv → its stamp in the store when copied
}

// fileMark identifies the content of a table file of the store: the same inode, size
// and modification time mean the same content (the store replaces files by renaming).
type fileMark struct {
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
}

func markOf(fi os.FileInfo) fileMark {
	m := fileMark{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		m.Ino = uint64(st.Ino)
	}
	return m
}

func (d *DirStore) editDir(gen uint64) string {
	return filepath.Join(d.Dir, editsDir, strconv.FormatUint(gen, 10))
}

func readEditMeta(dir string) (*editMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, err
	}
	var m editMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &m, nil
}

// journalEdit records the tables of generation gen, just committed, in the edit
// journal; the caller holds the exclusive lock. A failure leaves no entry: a follower
// then records the edits around it as one generation, as it would without a journal.
func (d *DirStore) journalEdit(gen uint64) {
	jdir := filepath.Join(d.Dir, editsDir)
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		return
	}
	prevDir := d.editDir(gen - 1)
	prev, _ := readEditMeta(prevDir)
	tmp, err := os.MkdirTemp(jdir, ".tmp-")
	if err != nil {
		return
	}
	defer os.RemoveAll(tmp) // gone already once renamed into place
	m := editMeta{Gen: gen, Time: time.Now().UTC(), Who: d.Author, Files: map[string]fileMark{}}
	for _, name := range TableNames() {
		f := name + ".csv"
		src := filepath.Join(d.Dir, f)
		fi, err := os.Stat(src)
		if err != nil {
			continue // no file: an empty table
		}
		mark := markOf(fi)
		m.Files[f] = mark
		if prev != nil && prev.Files[f] == mark && os.Link(filepath.Join(prevDir, f), filepath.Join(tmp, f)) == nil {
			continue
		}
		if err := copyFile(src, filepath.Join(tmp, f)); err != nil {
			return
		}
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return
	}
	if err := writeAtomic(filepath.Join(tmp, "meta.json"), func(f *os.File) error {
		_, err := f.Write(append(meta, '\n'))
		return err
	}); err != nil {
		return
	}
	final := d.editDir(gen)
	os.RemoveAll(final) // an entry of a generation number reused (a restored .generation)
	if err := os.Rename(tmp, final); err != nil {
		return
	}
	syncDir(jdir)
	d.pruneEdits(gen)
}

// copyFile copies src to a new file dst, fsynced.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// pruneEdits removes the journal entries older than the newest keepEdits, and
// temporary directories a crash left.
func (d *DirStore) pruneEdits(gen uint64) {
	jdir := filepath.Join(d.Dir, editsDir)
	ents, err := os.ReadDir(jdir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(filepath.Join(jdir, e.Name()))
			}
			continue
		}
		g, err := strconv.ParseUint(e.Name(), 10, 64)
		if err == nil && g+keepEdits <= gen {
			os.RemoveAll(filepath.Join(jdir, e.Name()))
		}
	}
}

// StoreEdit is one edit in a store's edit journal.
type StoreEdit struct {
	Gen  uint64    // the store generation it made
	Who  string    // who made it ("" unknown)
	Time time.Time // when
	dir  string
}

// Edits returns the journaled edits of store generations after+1 … upto, oldest
// first; complete is false when the journal lacks one of them (pruned, made by a
// version without a journal, or its recording failed).
func (d *DirStore) Edits(after, upto uint64) (edits []StoreEdit, complete bool) {
	for g := after + 1; g <= upto; g++ {
		dir := d.editDir(g)
		m, err := readEditMeta(dir)
		if err != nil || m.Gen != g {
			return nil, false
		}
		edits = append(edits, StoreEdit{Gen: g, Who: m.Who, Time: m.Time, dir: dir})
	}
	return edits, true
}

// Snapshot returns the tables as the edit left them, numbered with its store
// generation.
func (e StoreEdit) Snapshot() (*Snapshot, error) {
	tabs, err := readTableDir(e.dir)
	if err != nil {
		return nil, fmt.Errorf("edit journal, generation %d: %w", e.Gen, err)
	}
	return NewSnapshot(e.Gen, tabs), nil
}

// readTableDir parses the <table>.csv files of dir (the tables a history generation or
// a journaled edit kept); a table without its file is left out.
func readTableDir(dir string) (map[string]*Table, error) {
	tabs := map[string]*Table{}
	for _, name := range TableNames() {
		f, err := os.Open(filepath.Join(dir, name+".csv"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		t, err := Parse(name, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		tabs[name] = t
	}
	return tabs, nil
}

// EditedBy returns who made store generation gen through the CLI (the last note for it),
// and when; ok is false when the generation came from elsewhere (a hand edit keeps the
// generation it found).
func (d *DirStore) EditedBy(gen uint64) (who string, at time.Time, ok bool) {
	f, err := os.Open(filepath.Join(d.Dir, authorLog))
	if err != nil {
		return "", time.Time{}, false
	}
	defer f.Close()
	want := strconv.FormatUint(gen, 10) + "\t"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, want) {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, parts[1])
		if err != nil {
			continue
		}
		who, at, ok = parts[2], t, true
	}
	return who, at, ok
}

// History keeps every snapshot a server accepted, in a directory of its state: for each
// generation <dir>/<gen>/ holds a copy of its tables (<table>.csv, non-empty tables only)
// and meta.json (the HistoryEntry).
type History struct {
	Dir string

	mu     sync.Mutex
	latest *HistoryEntry // the newest entry, once looked up or written by this value
}

// HistoryEntry describes one accepted generation.
type HistoryEntry struct {
	Gen      uint64      `json:"gen"`
	StoreGen uint64      `json:"store_gen"` // the store's own generation (.generation)
	Time     time.Time   `json:"time"`      // when the server switched to it
	Who      string      `json:"who"`       // who made it ("" unknown)
	Hash     string      `json:"hash"`      // ContentHash of its tables
	Diff     []TableDiff `json:"diff,omitempty"`
	First    bool        `json:"first,omitempty"` // the first generation recorded
	// Superseded marks a store edit the server recorded but never switched to: a later
	// edit came before the switch (Time is then when the edit was made).
	Superseded bool `json:"superseded,omitempty"`
}

// OpenHistory returns the history kept in dir, creating the directory when missing.
func OpenHistory(dir string) (*History, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("history %s: %w", dir, err)
	}
	return &History{Dir: dir}, nil
}

func (h *History) genDir(gen uint64) string {
	return filepath.Join(h.Dir, strconv.FormatUint(gen, 10))
}

// List returns every recorded generation, oldest first.
func (h *History) List() ([]HistoryEntry, error) {
	ents, err := os.ReadDir(h.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []HistoryEntry
	for _, e := range ents {
		g, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		he, err := h.Entry(g)
		if err != nil {
			continue
		}
		out = append(out, he)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Gen < out[j].Gen })
	return out, nil
}

// Entry returns the record of generation gen.
func (h *History) Entry(gen uint64) (HistoryEntry, error) {
	var he HistoryEntry
	b, err := os.ReadFile(filepath.Join(h.genDir(gen), "meta.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return he, fmt.Errorf("generation %d is not in the history (%s)", gen, h.Dir)
		}
		return he, err
	}
	if err := json.Unmarshal(b, &he); err != nil {
		return he, fmt.Errorf("history %s: generation %d: %w", h.Dir, gen, err)
	}
	return he, nil
}

// Latest returns the newest recorded generation; ok is false when there is none.
func (h *History) Latest() (he HistoryEntry, ok bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.latest != nil {
		return *h.latest, true, nil
	}
	l, err := h.List()
	if err != nil || len(l) == 0 {
		return he, false, err
	}
	h.latest = &l[len(l)-1]
	return *h.latest, true, nil
}

// Snapshot returns the tables of generation gen as they were accepted.
func (h *History) Snapshot(gen uint64) (*Snapshot, error) {
	he, err := h.Entry(gen)
	if err != nil {
		return nil, err
	}
	tabs, err := readTableDir(h.genDir(gen))
	if err != nil {
		return nil, fmt.Errorf("history generation %d: %w", gen, err)
	}
	return NewSnapshot(he.Gen, tabs), nil
}

// Adopt records s as accepted by the server, made by who, unless its content is the
// newest recorded generation's already. It returns s renumbered with its history
// generation — the store's generation when that is ahead of the history, else one more
// than the newest recorded (hand edits keep the store's generation) — and the entry.
func (h *History) Adopt(s *Snapshot, who string, at time.Time) (*Snapshot, HistoryEntry, bool, error) {
	hash := ContentHash(s)
	gen, latest, ok, err := h.number(s, hash)
	if err != nil {
		return nil, HistoryEntry{}, false, err
	}
	if ok && latest.Hash == hash {
		if s.Gen != gen {
			s = s.With(gen, nil)
		}
		return s, latest, false, nil
	}
	he, err := h.record(s, gen, hash, who, at, false)
	if err != nil {
		return nil, HistoryEntry{}, false, err
	}
	if s.Gen != he.Gen {
		s = s.With(he.Gen, nil)
	}
	return s, he, true, nil
}

// NumberEdits numbers a run of store edits that came after the newest recorded
// generation (oldest first, as Record will record them one by one) and s, the tables
// they led to, each as Adopt numbers (its store generation, or one more than the one
// before), without reading their tables: an edit Record leaves out (SkipSame) leaves
// its number unused. It returns the edits' generations and s numbered after them,
// recording nothing.
func (h *History) NumberEdits(edits []StoreEdit, s *Snapshot) ([]uint64, *Snapshot, error) {
	latest, ok, err := h.Latest()
	if err != nil {
		return nil, nil, err
	}
	var g uint64
	if ok {
		g = latest.Gen
	}
	gens := make([]uint64, len(edits))
	for i, e := range edits {
		g = max(e.Gen, g+1)
		gens[i] = g
	}
	if n := max(s.Gen, g+1); n != s.Gen {
		s = s.With(n, nil)
	}
	return gens, s, nil
}

// RecordOptions say how Record records a generation.
type RecordOptions struct {
	// Superseded marks tables the server never switched to (HistoryEntry.Superseded).
	Superseded bool
	// SkipSame leaves out tables the newest recorded generation holds already (an edit
	// that changed nothing).
	SkipSame bool
}

// Record records s (numbered with its store generation) as history generation gen, made
// by who at at: a store edit numbered by NumberEdits. recorded is false when o.SkipSame
// left it out.
func (h *History) Record(s *Snapshot, gen uint64, who string, at time.Time, o RecordOptions) (he HistoryEntry, recorded bool, err error) {
	hash := ContentHash(s)
	if o.SkipSame {
		if latest, ok, err := h.Latest(); err != nil {
			return he, false, err
		} else if ok && latest.Hash == hash {
			return latest, false, nil
		}
	}
	he, err = h.record(s, gen, hash, who, at, o.Superseded)
	return he, err == nil, err
}

func (h *History) record(s *Snapshot, gen uint64, hash, who string, at time.Time, superseded bool) (HistoryEntry, error) {
	latest, ok, err := h.Latest()
	if err != nil {
		return HistoryEntry{}, err
	}
	he := HistoryEntry{Gen: gen, StoreGen: s.Gen, Time: at, Who: who, Hash: hash, First: !ok, Superseded: superseded}
	if ok {
		if prev, err := h.Snapshot(latest.Gen); err == nil {
			he.Diff = Diff(prev, s)
		} else {
			he.First = true
		}
	}
	if err := h.write(he, s); err != nil {
		return HistoryEntry{}, err
	}
	h.mu.Lock()
	h.latest = &he
	h.mu.Unlock()
	return he, nil
}

// Number returns s numbered as Adopt would record it now, without recording anything:
// a server switches to new tables first and records them after (the recording reads
// the previous generation and writes every table, which under load takes a while).
func (h *History) Number(s *Snapshot) (*Snapshot, error) {
	gen, _, _, err := h.number(s, ContentHash(s))
	if err != nil {
		return nil, err
	}
	if s.Gen != gen {
		s = s.With(gen, nil)
	}
	return s, nil
}

// number is the history generation of s (content hash): the newest recorded one's when
// it holds the same tables, else the store's generation when that is ahead of the
// history, else one more than the newest recorded.
func (h *History) number(s *Snapshot, hash string) (gen uint64, latest HistoryEntry, ok bool, err error) {
	latest, ok, err = h.Latest()
	switch {
	case err != nil:
		return 0, latest, ok, err
	case ok && latest.Hash == hash:
		return latest.Gen, latest, ok, nil
	case ok:
		return max(s.Gen, latest.Gen+1), latest, ok, nil
	}
	return max(s.Gen, 1), latest, ok, nil
}

// write stores generation he.Gen (tables, then meta.json) through a temporary directory
// renamed into place, so a listed generation is always complete.
func (h *History) write(he HistoryEntry, s *Snapshot) error {
	tmp, err := os.MkdirTemp(h.Dir, ".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, name := range TableNames() {
		t := s.Table(name)
		if len(t.Rows) == 0 {
			continue
		}
		if err := writeAtomic(filepath.Join(tmp, name+".csv"), func(f *os.File) error { return Dump(f, t) }); err != nil {
			return err
		}
	}
	meta, err := json.MarshalIndent(he, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(tmp, "meta.json"), func(f *os.File) error {
		_, err := f.Write(append(meta, '\n'))
		return err
	}); err != nil {
		return err
	}
	dst := h.genDir(he.Gen)
	os.RemoveAll(dst) // a left-over of a generation number reused after a crash
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("history %s: %w", h.Dir, err)
	}
	syncDir(h.Dir)
	return nil
}

// RollbackTables returns the replacements that turn cur into old: every table whose
// content differs (a table old lacks becomes empty).
func RollbackTables(cur, old *Snapshot) map[string]*Table {
	repl := map[string]*Table{}
	for _, name := range TableNames() {
		if !sameOrder(cur.Table(name), old.Table(name)) {
			repl[name] = old.Table(name).Clone()
		}
	}
	return repl
}

func sameOrder(a, b *Table) bool {
	if len(a.Rows) != len(b.Rows) {
		return false
	}
	for i := range a.Rows {
		if RowText(a, i) != RowText(b, i) {
			return false
		}
	}
	return true
}
