package cli

import (
	"context"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"statelite/resolver"
	"statelite/tables"
)

// commandLine renders the command being run with the flags given and its arguments.
func commandLine(cmd *cobra.Command, args []string) string {
	parts := []string{cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "tables" || f.Name == "mnt" {
			return
		}
		parts = append(parts, "--"+f.Name+"="+f.Value.String())
	})
	return strings.Join(append(parts, args...), " ")
}

// author says who runs this command, for the table store's edit notes: the user (and
// the sudo caller), then the command.
func (e *env) author() string {
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if su := os.Getenv("SUDO_USER"); su != "" && su != name {
		name += " (sudo by " + su + ")"
	}
	if e.command == "" {
		return name
	}
	return name + ": " + e.command
}

// historyDir and statusFile are where a server keeps its table history and its status.
func historyDir(state string) string { return filepath.Join(state, "history") }
func statusFile(state string) string { return filepath.Join(state, "status.json") }

// liveTables makes a server follow its table store: every valid edit is recorded in
// the history (when a state directory is given) and switched to; rejections and the
// generation in force go to the status file.
type liveTables struct {
	e      *env
	log    *slog.Logger
	cfg    resolver.Config
	hist   *tables.History // nil: no history (mount)
	status *statusWriter   // nil: no status file (mount)
	// switchTo makes the views follow a new resolver.
	switchTo func(*resolver.Resolver)
	// interval is the PostgreSQL watcher's periodic check (default 1 s).
	interval time.Duration
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
		var sum []string
		for _, d := range he.Diff {
			sum = append(sum, d.Summary())
		}
		l.log.Info("table generation recorded", "generation", he.Gen, "who", he.Who, "changes", strings.Join(sum, "; "))
	}
	if l.status != nil {
		l.status.inForce(s, he)
	}
	return s
}

// apply switches the views to a valid change.
func (l *liveTables) apply(c tables.Change) {
	for _, p := range c.Warnings {
		l.log.Warn("table warning", "problem", p.String())
	}
	// The views switch first, numbered as the history will record them; the history
	// and the status are written after (the recording reads the previous generation
	// and writes every table: under a boot storm of 10,000 nodes, a second).
	s := c.Snap
	if l.hist != nil {
		if n, err := l.hist.Number(c.Snap); err == nil {
			s = n
		}
	}
	r := resolver.New(s, l.cfg)
	// The new snapshot's cluster index is built before the switch: requests keep the
	// old tables for those milliseconds instead of all waiting for the build.
	r.Index()
	l.switchTo(r)
	l.log.Info("tables switched", "generation", s.Gen, "who", c.Who, "after", time.Since(c.Since).Round(time.Millisecond).String())
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
	st, err := tables.OpenDir(l.e.tablesDir)
	if err != nil {
		return nil, err
	}
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
	if st, err := l.e.store(); err == nil {
		if pg, ok := st.(*tables.PGStore); ok {
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
	}
	w, err := l.watcher(cur)
	if err != nil {
		l.log.Error("not following table changes", "err", err)
		return
	}
	w.Run(ctx)
}

// startLive records the tables a server starts with in its history and status (under
// state) and returns the live-table follower and the snapshot numbered as recorded.
func (e *env) startLive(state string, snap *tables.Snapshot, cfg resolver.Config, log *slog.Logger) (*liveTables, *tables.Snapshot, error) {
	hist, err := tables.OpenHistory(historyDir(state))
	if err != nil {
		return nil, nil, err
	}
	st, err := e.store()
	if err != nil {
		return nil, nil, err
	}
	l := &liveTables{e: e, log: log, cfg: cfg, hist: hist, status: openStatus(statusFile(state), storeName(e.tablesDir), log)}
	return l, l.adopt(snap, startWho(st, snap)), nil
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

// storeName names a table store for logs and status (a URL without its password).
func storeName(loc string) string {
	if tables.IsPostgresURL(loc) {
		return (&tables.PGStore{URL: loc}).String()
	}
	return loc
}
