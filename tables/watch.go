package tables

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Change is a new set of tables the watcher found valid: the caller switches to it.
type Change struct {
	Snap     *Snapshot
	Who      string        // the CLI's note for the store generation, or which files were edited by hand and their owners
	Warnings []Problem     // accepted, worth saying
	Since    time.Time     // when the watcher first noticed the edit
	Read     time.Duration // how long reading and validating the tables took
}

// Rejection is an edit the watcher refused: the last good tables stay in force.
type Rejection struct {
	Time     time.Time `json:"time"`
	StoreGen uint64    `json:"store_gen"`
	Problems []Problem `json:"problems"` // errors only, each naming table, line and reason
}

// Watcher follows a DirStore while a server runs: it notices edits through inotify on
// the directory (falling back to polling) and a periodic check, waits until the writing
// is over (a quiet period, writers closed), loads the tables, validates them as a whole
// and hands a valid new snapshot to OnApply, or a broken one's problems to OnReject.
// Edits that change nothing are ignored.
type Watcher struct {
	Store *DirStore
	// Current is the snapshot in force when Run starts.
	Current *Snapshot
	// Interval is the periodic check (default 1 s; 500 ms while polling).
	Interval time.Duration
	// Quiet is how long the directory must be quiet before the tables are read (default
	// 150 ms): editors write in several steps (rename into place, truncate and write).
	Quiet time.Duration
	// WriterWait is how long a table still open for writing is waited for (default 3 s).
	WriterWait time.Duration
	// Hold is how long a table file that vanished is taken for a save in progress
	// before its table is read as empty (default 2 s).
	Hold time.Duration
	// Poll disables inotify (tests; directories on file systems without it).
	Poll bool
	Log  *slog.Logger

	OnApply  func(Change)
	OnReject func(Rejection)
	// OnSettle, when set, is called when the store again holds the tables in force after
	// a rejection (the broken edit was undone).
	OnSettle func()
}

// fileStamp is what the watcher compares of a table file between checks.
type fileStamp struct {
	size, mtime int64
	ctime       int64 // DirStore.KeepParsed only
	ino         uint64
	uid         uint32
}

// dirState maps the store's relevant file names to their stamps.
type dirState map[string]fileStamp

func (d dirState) key() string {
	names := make([]string, 0, len(d))
	for n := range d {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		s := d[n]
		fmt.Fprintf(&b, "%s:%d:%d:%d;", n, s.size, s.mtime, s.ino)
	}
	return b.String()
}

// youngest is the age at now of the most recently modified file (false: none, or
// only files modified after now, which a clock step or touch -d can make).
func (d dirState) youngest(now time.Time) (time.Duration, bool) {
	var best time.Duration
	found := false
	for _, s := range d {
		age := now.Sub(time.Unix(0, s.mtime))
		if age >= 0 && (!found || age < best) {
			best, found = age, true
		}
	}
	return best, found
}

// relevantName reports whether a file of the store directory is part of the tables:
// <table>.csv of a known table, .generation, .pending. Editors' swap, backup and
// temporary files are not.
func relevantName(name string) bool {
	if name == ".generation" || name == pendingName {
		return true
	}
	t, ok := strings.CutSuffix(name, ".csv")
	if !ok {
		return false
	}
	_, err := LookupSchema(t)
	return err == nil
}

func scanDir(dir string) dirState {
	st := dirState{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !relevantName(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		fs := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			fs.ino, fs.uid = sys.Ino, sys.Uid
		}
		st[e.Name()] = fs
	}
	return st
}

// fingerprint summarizes the table files of dir (names, sizes, times, inodes): it
// changes with every edit, by the store or by hand.
func fingerprint(dir string) string { return scanDir(dir).key() }

type watchEvent struct {
	name string // "" : anything may have changed (queue overflow)
	mask uint32
}

const (
	inModify     = 0x2
	inCloseWrite = 0x8
	inMovedFrom  = 0x40
	inMovedTo    = 0x80
	inCreate     = 0x100
	inDelete     = 0x200
)

// Run watches until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	if w.Interval <= 0 {
		w.Interval = time.Second
	}
	if w.Quiet <= 0 {
		w.Quiet = 150 * time.Millisecond
	}
	if w.WriterWait <= 0 {
		w.WriterWait = 3 * time.Second
	}
	if w.Hold <= 0 {
		w.Hold = 2 * time.Second
	}
	if w.Log == nil {
		w.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ws := &watchRun{w: w, hash: ContentHash(w.Current), storeGen: w.Current.Gen, writing: map[string]time.Time{}, missing: map[string]time.Time{}}
	ws.run(ctx)
}

type watchRun struct {
	w        *Watcher
	hash     string // content of the tables in force
	storeGen uint64 // store generation they were read at
	rejected bool   // the store holds a rejected edit
	last     dirState
	lastKey  string
	writing  map[string]time.Time // table files written and not yet closed
	missing  map[string]time.Time // table files in force that vanished, since when
	since    time.Time            // first notice of the edit being settled
	events   chan watchEvent
	closer   io.Closer
	warned   bool // said that inotify is unavailable
	// committed: the last event was the end of a store edit (its journal removed, every
	// file renamed into place whole), so the tables are read at once, without the quiet
	// period that hand edits get. Load's shared lock waits for the edit's last steps.
	committed bool
}

func (r *watchRun) startNotify(done <-chan struct{}) {
	if r.w.Poll {
		return
	}
	ch := make(chan watchEvent, 256)
	c, err := startInotify(r.w.Store.Dir, ch, done)
	if err != nil {
		if !r.warned {
			r.w.Log.Warn("no inotify on the table directory: polling it", "dir", r.w.Store.Dir, "err", err)
			r.warned = true
		}
		return
	}
	r.events, r.closer = ch, c
}

func (r *watchRun) run(ctx context.Context) {
	w := r.w
	r.startNotify(ctx.Done())
	defer func() {
		if r.closer != nil {
			r.closer.Close()
		}
	}()
	polled := false
	every := func() time.Duration {
		if r.closer == nil {
			return min(w.Interval, 500*time.Millisecond)
		}
		return w.Interval
	}
	tick := time.NewTicker(every())
	defer tick.Stop()
	settle := time.NewTimer(0) // a first check at once: an edit made while starting is seen
	defer settle.Stop()
	armed := true
	pendKey := ""
	arm := func(d time.Duration) {
		settle.Reset(d)
		armed = true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-r.events:
			if !ok {
				// The directory was removed or moved away, or inotify failed: poll.
				r.events, r.closer = nil, nil
				tick.Reset(every())
				w.Log.Warn("inotify on the table directory stopped: polling it", "dir", w.Store.Dir)
				arm(w.Quiet)
				continue
			}
			if ev.name != "" && !relevantName(ev.name) {
				continue
			}
			r.note(ev, time.Now())
			if r.committed = storeEditDone(ev); r.committed {
				arm(0)
				continue
			}
			arm(w.Quiet)
		case <-tick.C:
			if r.closer == nil && !w.Poll && polled {
				// Polling after inotify was lost: try to get it back.
				if r.startNotify(ctx.Done()); r.closer != nil {
					tick.Reset(every())
				}
			}
			polled = r.closer == nil
			if armed {
				continue
			}
			if k := fingerprint(w.Store.Dir); k != r.lastKey {
				pendKey = k
				if r.since.IsZero() {
					r.since = time.Now()
				}
				arm(w.Quiet)
			}
		case <-settle.C:
			armed = false
			fast := r.committed
			r.committed = false
			// Events already read but not yet handled: a writer that opened a table a
			// moment ago must be seen as writing before the table is read (its file may
			// be truncated and not yet written).
			for drained := false; !drained && r.events != nil; {
				select {
				case ev, ok := <-r.events:
					if ok && (ev.name == "" || relevantName(ev.name)) {
						r.note(ev, time.Now())
						fast = storeEditDone(ev) // or something else moved since
					}
					drained = !ok
				default:
					drained = true
				}
			}
			now := time.Now()
			busy := false
			for n, t := range r.writing {
				if now.Sub(t) < w.WriterWait {
					busy = true
				} else {
					delete(r.writing, n)
				}
			}
			if busy {
				arm(w.Quiet)
				continue
			}
			cur := scanDir(w.Store.Dir)
			// A file changed less than Quiet ago is not read yet, whatever the events
			// said: its writer's events may not have been read when this timer fired
			// (a table truncated by open(O_TRUNC) and not yet written reads as empty).
			if age, ok := cur.youngest(now); ok && age < w.Quiet && !fast {
				arm(w.Quiet - age)
				continue
			}
			k := cur.key()
			if r.closer == nil && k != pendKey {
				// Polling: the files must stay as they are for a quiet period.
				pendKey = k
				arm(w.Quiet)
				continue
			}
			if k == r.lastKey {
				r.since = time.Time{}
				continue
			}
			if r.held(cur, now) {
				arm(w.Quiet)
				continue
			}
			if !r.check(ctx, cur) {
				arm(w.Quiet) // the files changed while they were read: read them again
				continue
			}
			r.last, r.lastKey, r.since = cur, k, time.Time{}
		}
	}
}

// held reports whether a table file that has rows in force vanished less than Hold ago:
// editors that rename the old file away before writing the new one leave a gap.
func (r *watchRun) held(cur dirState, now time.Time) bool {
	held := false
	for n := range r.last {
		if _, ok := cur[n]; ok || !strings.HasSuffix(n, ".csv") {
			delete(r.missing, n)
			continue
		}
		t, ok := r.missing[n]
		if !ok {
			r.missing[n], t = now, now
		}
		if now.Sub(t) < r.w.Hold {
			held = true
		}
	}
	return held
}

// check loads, validates and applies or rejects the store's tables. It returns false,
// having done nothing, when tables that fail changed while they were read (a writer at
// work): they are read again after a quiet period rather than reported.
func (r *watchRun) check(ctx context.Context, cur dirState) bool {
	w := r.w
	moved := func() bool { return scanDir(w.Store.Dir).key() != cur.key() }
	start := time.Now()
	snap, err := w.Store.Load(ctx)
	if err != nil {
		if moved() {
			return false
		}
		r.reject(Rejection{Time: time.Now(), StoreGen: w.Store.generation(), Problems: loadProblems(err)})
		return true
	}
	hash := ContentHash(snap)
	if hash == r.hash {
		r.storeGen = snap.Gen
		if r.rejected {
			r.rejected = false
			w.Log.Info("the table store holds the tables in force again", "dir", w.Store.Dir)
			if w.OnSettle != nil {
				w.OnSettle()
			}
		}
		return true
	}
	probs := Validate(snap)
	if HasErrors(probs) {
		if moved() {
			return false
		}
		var errs []Problem
		for _, p := range probs {
			if !p.Warning {
				errs = append(errs, p)
			}
		}
		r.reject(Rejection{Time: time.Now(), StoreGen: snap.Gen, Problems: errs})
		return true
	}
	if moved() {
		return false // a write in progress may have been read half-way: read again
	}
	var warns []Problem
	for _, p := range probs {
		if p.Warning {
			warns = append(warns, p)
		}
	}
	who := r.who(snap, cur)
	r.hash, r.storeGen, r.rejected = hash, snap.Gen, false
	since := r.since
	if since.IsZero() {
		since = time.Now()
	}
	if w.OnApply != nil {
		w.OnApply(Change{Snap: snap, Who: who, Warnings: warns, Since: since, Read: time.Since(start)})
	}
	return true
}

func (r *watchRun) reject(rj Rejection) {
	r.rejected = true
	for _, p := range rj.Problems {
		r.w.Log.Error("table change rejected: the last good tables stay in force", "table", p.Table, "line", p.Line, "reason", p.Msg)
	}
	if r.w.OnReject != nil {
		r.w.OnReject(rj)
	}
}

// who says who made the tables of snap: the CLI's note when the store generation moved,
// else the table files edited by hand since the last check, with their owners.
func (r *watchRun) who(snap *Snapshot, cur dirState) string {
	if snap.Gen != r.storeGen {
		if who, _, ok := r.w.Store.EditedBy(snap.Gen); ok {
			return who
		}
	}
	var parts []string
	names := make([]string, 0, len(cur))
	for n := range cur {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := cur[n]
		if old, ok := r.last[n]; (ok && old == s) || !strings.HasSuffix(n, ".csv") {
			continue
		}
		owner := strconv.FormatUint(uint64(s.uid), 10)
		if u, err := user.LookupId(owner); err == nil {
			owner = u.Username
		}
		parts = append(parts, n+" (owner "+owner+")")
	}
	for n := range r.last {
		if _, ok := cur[n]; !ok && strings.HasSuffix(n, ".csv") {
			parts = append(parts, n+" (removed)")
		}
	}
	if len(parts) == 0 {
		return "edited by hand"
	}
	return "edited by hand: " + strings.Join(parts, ", ")
}

// loadProblems turns a store load error into problems naming table and line.
func loadProblems(err error) []Problem {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []Problem
	for _, e := range errs {
		var pe *ParseError
		if errors.As(e, &pe) {
			out = append(out, Problem{Table: pe.Table, Line: pe.Line, Row: -1, Msg: pe.Msg})
			continue
		}
		table := "store"
		var pathErr *os.PathError
		if errors.As(e, &pathErr) {
			table = strings.TrimSuffix(filepath.Base(pathErr.Path), ".csv")
		}
		out = append(out, Problem{Table: table, Row: -1, Msg: e.Error()})
	}
	return out
}

// storeEditDone says whether ev is the last step of a store edit: its journal removed.
func storeEditDone(ev watchEvent) bool {
	return ev.name == pendingName && ev.mask&(inDelete|inMovedFrom) != 0
}

// note takes an inotify event of a table file into account: a file modified or created
// is being written until it is closed, moved or removed.
func (r *watchRun) note(ev watchEvent, now time.Time) {
	switch {
	case ev.mask&(inModify|inCreate) != 0:
		r.writing[ev.name] = now
	case ev.mask&(inCloseWrite|inMovedTo|inMovedFrom|inDelete) != 0:
		delete(r.writing, ev.name)
	}
	if r.since.IsZero() {
		r.since = now
	}
}
