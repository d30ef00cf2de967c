package tables

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGWatcher follows a PGStore while a server runs: it LISTENs on NotifyChannel on a
// dedicated connection and also checks the store generation periodically. After every
// (re)connect it resyncs in full (notifications sent while disconnected are lost). While
// the database is unreachable the last good snapshot stays in force; OnStore reports the
// loss and the recovery.
type PGWatcher struct {
	Store   *PGStore
	Current *Snapshot
	// Interval is the periodic check and the reconnect delay (default 1 s).
	Interval time.Duration
	Log      *slog.Logger

	OnApply  func(Change)
	OnReject func(Rejection)
	// OnStore is called when the database becomes unreachable (err != nil) and when it
	// is reachable again (err == nil).
	OnStore func(err error)
}

// Run watches until ctx is done.
func (w *PGWatcher) Run(ctx context.Context) {
	if w.Interval <= 0 {
		w.Interval = time.Second
	}
	if w.Log == nil {
		w.Log = slog.Default()
	}
	cur := w.Current
	var down error // non-nil while the database is unreachable
	var rejected uint64
	fail := func(err error) {
		if ctx.Err() != nil {
			return
		}
		if down == nil {
			w.Log.Error("table database unreachable; serving the last good tables", "store", w.Store.String(), "generation", cur.Gen, "err", err)
			if w.OnStore != nil {
				w.OnStore(err)
			}
		}
		down = err
	}
	up := func() {
		if down != nil {
			w.Log.Info("table database reachable again", "store", w.Store.String())
			down = nil
			if w.OnStore != nil {
				w.OnStore(nil)
			}
		}
	}
	// sync loads the tables when their generation differs from the one in force.
	sync := func(since time.Time) error {
		gen, err := w.Store.Generation(ctx)
		if err != nil {
			return err
		}
		if gen == cur.Gen || gen == rejected {
			return nil
		}
		snap, err := w.Store.Load(ctx)
		if err != nil {
			return err
		}
		if snap.Gen == cur.Gen {
			return nil
		}
		probs := Validate(snap)
		if HasErrors(probs) {
			rejected = snap.Gen
			var errs []Problem
			for _, p := range probs {
				if !p.Warning {
					errs = append(errs, p)
				}
			}
			for _, p := range errs {
				// Rows in the database have no line: the problem names the row.
				w.Log.Error("table edit rejected; the last good tables stay in force", "store_generation", snap.Gen, "table", p.Table, "row", p.Row+1, "reason", p.Msg)
			}
			if w.OnReject != nil {
				w.OnReject(Rejection{Time: time.Now(), StoreGen: snap.Gen, Problems: errs})
			}
			return nil
		}
		var warns []Problem
		for _, p := range probs {
			if p.Warning {
				warns = append(warns, p)
			}
		}
		who := "edited in the database"
		if a, _, ok := w.Store.EditedBy(snap.Gen); ok {
			who = a
		}
		cur = snap
		if w.OnApply != nil {
			w.OnApply(Change{Snap: snap, Who: who, Warnings: warns, Since: since})
		}
		return nil
	}
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, w.Store.URL)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+NotifyChannel)
		}
		if err == nil {
			err = sync(time.Now()) // full resync after every (re)connect
		}
		if err != nil {
			if conn != nil {
				conn.Close(context.Background())
			}
			fail(err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(w.Interval):
			}
			continue
		}
		up()
		for ctx.Err() == nil {
			wctx, cancel := context.WithTimeout(ctx, w.Interval)
			n, err := conn.WaitForNotification(wctx)
			cancel()
			since := time.Now()
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				if !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed() {
					fail(err)
					break
				}
			}
			if n != nil {
				if g, perr := strconv.ParseUint(n.Payload, 10, 64); perr == nil && g == cur.Gen {
					continue
				}
			}
			// A notification or the periodic check: compare generations.
			if err := sync(since); err != nil {
				fail(err)
				break
			}
			up()
		}
		conn.Close(context.Background())
	}
}
