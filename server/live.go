package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"statelite/resolver"
	"statelite/tables"
)

// HistoryDir and StatusFile are where a server keeps its table history and its status.
func HistoryDir(state string) string { return filepath.Join(state, "history") }
func StatusFile(state string) string { return filepath.Join(state, "status.json") }

// liveTables makes a server follow its table store: every valid edit is recorded in
// the history (when a state directory is given) and switched to; rejections and the
// generation in force go to the status file.
type liveTables struct {
	store  tables.Store // the store the tables were loaded from
	loc    string       // its location (a directory, or a postgres:// URL)
	log    *slog.Logger
	cfg    resolver.Config
	hist   *tables.History // nil: no history (mount)
	status *statusWriter   // nil: no status file (mount)
	// switchTo makes the views follow a new resolver; current, when set, returns the one
	// they follow.
	switchTo func(*resolver.Resolver)
	current  func() *resolver.Resolver
	// interval is the PostgreSQL watcher's periodic check (default 1 s).
	interval time.Duration
	// volatile is the site.volatiledir the server started with (a change needs a restart).
	volatile string
	// storeGen is the store generation of the tables in force (as loaded, before the
	// history numbered them): the edits after it are recorded one by one.
	storeGen uint64
}

// editJournal is a store that keeps the tables of each edit (tables.DirStore).
type editJournal interface {
	Edits(after, upto uint64) ([]tables.StoreEdit, bool)
}

// editsBefore returns the store edits made after the tables in force and before snap,
// when the store journals them all: a follower that saw several edits at once records
// each as its own generation. nil when there is none, no history or no journal.
func (l *liveTables) editsBefore(snap *tables.Snapshot, after uint64) []tables.StoreEdit {
	j, ok := l.store.(editJournal)
	if !ok || l.hist == nil || snap.Gen <= after+1 {
		return nil
	}
	edits, complete := j.Edits(after, snap.Gen-1)
	if !complete {
		l.log.Info("store edits recorded as one generation: the store's edit journal lacks some of them", "from", after+1, "to", snap.Gen)
		return nil
	}
	return edits
}

// recordEdits records edits (numbered gens by History.NumberEdits; one that changed
// nothing is left out), then snap, the tables they led to, as generation gen, in force.
// superseded marks the edits' tables as never served.
func (l *liveTables) recordEdits(edits []tables.StoreEdit, gens []uint64, snap *tables.Snapshot, gen uint64, who string, now time.Time, superseded bool) {
	for i, e := range edits {
		s, err := e.Snapshot()
		if err != nil {
			l.log.Error("store edit not recorded in the table history", "store_generation", e.Gen, "err", err)
			continue
		}
		he, recorded, err := l.hist.Record(s, gens[i], e.Who, e.Time, tables.RecordOptions{Superseded: superseded, SkipSame: true})
		if err != nil {
			l.log.Error("table history not recorded", "err", err)
			continue
		}
		if recorded {
			l.logRecorded(he)
		}
	}
	he, _, err := l.hist.Record(snap, gen, who, now, tables.RecordOptions{})
	if err != nil {
		l.log.Error("table history not recorded", "err", err)
		return
	}
	l.logRecorded(he)
	if l.status != nil {
		l.status.inForce(snap.With(gen, nil), he)
	}
}

func (l *liveTables) logRecorded(he tables.HistoryEntry) {
	var sum []string
	for _, d := range he.Diff {
		sum = append(sum, d.Summary())
	}
	l.log.Info("table generation recorded", "generation", he.Gen, "who", he.Who, "changes", strings.Join(sum, "; "))
}

// adopt records snap in the history (if kept) and returns it numbered as recorded.
func (l *liveTables) adopt(snap *tables.Snapshot, who string) *tables.Snapshot {
	if l.hist == nil {
		return snap
	}
	s, he, recorded, err := l.hist.Adopt(snap, who, time.Now())
	if err != nil {
		l.log.Error("table history not recorded", "err", err)
		return snap
	}
	if recorded {
		l.logRecorded(he)
	}
	if l.status != nil {
		l.status.inForce(s, he)
	}
	return s
}

// apply switches the views to a valid change. Several store edits seen at once (the
// store's generation moved by more than one) switch the views once, to the newest
// tables, and are recorded in the history one by one, each with its own author, from
// the store's edit journal.
func (l *liveTables) apply(c tables.Change) {
	for _, p := range c.Warnings {
		l.log.Warn("table warning", "problem", p.String())
	}
	// The views switch first, numbered as the history will record them; the history
	// and the status are written after (the recording reads the previous generation
	// and writes every table: under a boot storm of 10,000 nodes, a second).
	s := c.Snap
	edits := l.editsBefore(c.Snap, l.storeGen)
	var gens []uint64
	if len(edits) > 0 {
		g, n, err := l.hist.NumberEdits(edits, c.Snap)
		if err == nil {
			gens, s = g, n
		} else {
			edits = nil
		}
	}
	if l.hist != nil && len(edits) == 0 {
		if n, err := l.hist.Number(c.Snap); err == nil {
			s = n
		}
	}
	if l.status != nil { // a server (not a mount)
		if v, err := VolatileDir(s); err != nil || v != l.volatile {
			l.log.Warn("site.volatiledir changed: the volatile layers stay where they are until the server restarts", "in_use", l.volatile, "tables", v, "err", err)
		}
	}
	r := resolver.New(s, l.cfg)
	// The new snapshot's cluster index is built before the switch (requests keep the
	// old tables for those milliseconds instead of all waiting for the build), or taken
	// over from the tables in force when the edit changed only the views' rules.
	t := time.Now()
	index := "built"
	if l.current != nil && r.ReuseIndex(l.current()) {
		index = "taken over"
	} else {
		r.Index()
	}
	l.switchTo(r)
	l.log.Info("tables switched", "generation", s.Gen, "who", c.Who, "after", time.Since(c.Since).Round(time.Millisecond).String(),
		"read", c.Read.Round(time.Millisecond).String(), "index", index+" in "+time.Since(t).Round(time.Millisecond).String(), "edits", len(edits)+1)
	l.storeGen = c.Snap.Gen
	if len(edits) > 0 {
		l.recordEdits(edits, gens, c.Snap, s.Gen, c.Who, time.Now(), true)
		return
	}
	l.adopt(c.Snap, c.Who) // numbers it as Number did: one goroutine applies changes
}

func (l *liveTables) reject(r tables.Rejection) {
	if l.status != nil {
		l.status.rejected(r)
	}
}

// watcher returns the directory store watcher that switches the views; cur is the
// snapshot in force.
func (l *liveTables) watcher(cur *tables.Snapshot) (*tables.Watcher, error) {
	st, err := tables.OpenDir(l.loc)
	if err != nil {
		return nil, err
	}
	st.KeepParsed = true // its snapshots are only served, never edited
	return &tables.Watcher{
		Store: st, Current: cur, Log: l.log,
		OnApply:  l.apply,
		OnReject: l.reject,
		OnSettle: func() {
			if l.status != nil {
				l.status.settled()
			}
		},
	}, nil
}

// editedBy is a store that knows who made a generation.
type editedBy interface {
	EditedBy(gen uint64) (string, time.Time, bool)
}

// startWho is the author of the tables a server starts with: the CLI note of their store
// generation when there is one.
func startWho(st tables.Store, snap *tables.Snapshot) string {
	if eb, ok := st.(editedBy); ok {
		if who, _, ok := eb.EditedBy(snap.Gen); ok {
			return who
		}
	}
	return "found at server start"
}

// run watches the store until ctx is done: a directory through its watcher, a
// PostgreSQL store through LISTEN/NOTIFY and a periodic check.
func (l *liveTables) run(ctx context.Context, cur *tables.Snapshot) {
	if pg, ok := l.store.(*tables.PGStore); ok {
		w := &tables.PGWatcher{Store: pg, Current: cur, Log: l.log, Interval: l.interval,
			OnApply: l.apply, OnReject: l.reject,
			OnStore: func(err error) {
				if l.status != nil {
					l.status.storeState(err)
				}
			}}
		w.Run(ctx)
		return
	}
	w, err := l.watcher(cur)
	if err != nil {
		l.log.Error("not following table changes", "err", err)
		return
	}
	w.Run(ctx)
}

// startLive records the tables a server starts with in its history and status (under
// state) and returns the live-table follower and the snapshot numbered as recorded. The
// store edits made since the newest recorded generation (while no server ran) are
// recorded one by one first, when the store's edit journal holds them all and its entry
// for that generation holds the same tables (the history is this store's).
func startLive(state string, st tables.Store, loc string, snap *tables.Snapshot, cfg resolver.Config, log *slog.Logger) (*liveTables, *tables.Snapshot, error) {
	hist, err := tables.OpenHistory(HistoryDir(state))
	if err != nil {
		return nil, nil, err
	}
	l := &liveTables{store: st, loc: loc, log: log, cfg: cfg, hist: hist, status: openStatus(StatusFile(state), StoreName(loc), log), storeGen: snap.Gen}
	if edits := l.missedEdits(snap); len(edits) > 0 {
		if gens, n, err := hist.NumberEdits(edits, snap); err == nil {
			l.recordEdits(edits, gens, snap, n.Gen, startWho(st, snap), time.Now(), true)
			return l, n, nil
		}
	}
	return l, l.adopt(snap, startWho(st, snap)), nil
}

// missedEdits returns the journaled store edits between the newest recorded generation
// and snap, when the journal's entry for that generation holds its tables.
func (l *liveTables) missedEdits(snap *tables.Snapshot) []tables.StoreEdit {
	j, ok := l.store.(editJournal)
	if !ok {
		return nil
	}
	latest, ok, err := l.hist.Latest()
	if err != nil || !ok || latest.StoreGen == 0 || snap.Gen <= latest.StoreGen+1 {
		return nil
	}
	base, complete := j.Edits(latest.StoreGen-1, latest.StoreGen)
	if !complete {
		return nil
	}
	if s, err := base[0].Snapshot(); err != nil || tables.ContentHash(s) != latest.Hash {
		return nil
	}
	return l.editsBefore(snap, latest.StoreGen)
}

// Follow makes a view follow the table store st (at loc) until ctx is done, as a server
// does but with no history or status (statelite mount): every valid edit is given to
// switchTo as a resolver, invalid ones are logged and ignored. cur is the snapshot in
// force; the store is checked at once when it starts, so an edit made since cur was
// loaded is seen.
func Follow(ctx context.Context, st tables.Store, loc string, cur *tables.Snapshot, cfg resolver.Config, log *slog.Logger, switchTo func(*resolver.Resolver)) {
	(&liveTables{store: st, loc: loc, log: log, cfg: cfg, switchTo: switchTo}).run(ctx, cur)
}

// trackServed keeps the status file's list of served nodes current.
func (l *liveTables) trackServed(ctx context.Context, nodes func() []string) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		l.status.served(nodes())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// StoreName names a table store for logs and status (a URL without its password).
func StoreName(loc string) string {
	if tables.IsPostgresURL(loc) {
		return (&tables.PGStore{URL: loc}).String()
	}
	return loc
}
