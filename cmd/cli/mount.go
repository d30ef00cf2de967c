package cli

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	sfs "statelite/fs"
	"statelite/fs/fusefs"
	"statelite/resolver"
	"statelite/server"
	"statelite/tables"
)

func mountCmd(e *env) *cobra.Command {
	var state string
	var debug bool
	c := &cobra.Command{
		Use:   "mount NODE DIR",
		Short: "Mount NODE's root view at DIR with FUSE (as root) and follow table changes until interrupted",
		Long: `Mount NODE's root view at DIR, as the node sees it: the image read-only, its volatile
and persistent paths writable (writes land in the server's state, as the node's own
would). Unix permissions are checked for every local user. The table directory is
watched (inotify, and a check every second); a valid change switches the view within a
second, an invalid one is logged and ignored.
SIGINT or SIGTERM unmounts and exits.

With serve's --state the mount shows the volatile layer the node is served; a reset
the server makes meanwhile is seen after a remount.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return e.runMount(ctx, args[0], args[1], state, debug)
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory (the same as serve's shows the node's own volatile layer)")
	c.Flags().BoolVar(&debug, "debug", false, "log every FUSE request")
	return c
}

func (e *env) runMount(ctx context.Context, node, dir, state string, debug bool) error {
	log := e.logger().With("node", node)
	snap, err := e.load(ctx)
	if err != nil {
		return err
	}
	probs := tables.Validate(snap)
	if tables.HasErrors(probs) {
		for _, p := range probs {
			if !p.Warning {
				e.errorf("%s", p)
			}
		}
		return exitError{1}
	}
	logWarnings(log, probs)
	cfg := e.resolverConfig()
	// The same layout as serve: with the same --state the mount shows the volatile
	// layer the node itself is served.
	vol, err := server.VolatileDir(snap)
	if err != nil {
		return err
	}
	srv, err := sfs.New(sfs.Config{State: filepath.Join(state, "fs"), Volatile: vol}, resolver.New(snap, cfg))
	if err != nil {
		return err
	}
	defer srv.Close()
	v, err := srv.View(node)
	if err != nil {
		return err
	}
	m, err := fusefs.Mount(v, dir, fusefs.Options{Logger: log, Debug: debug})
	if err != nil {
		return err
	}
	log.Info("mounted", "dir", dir, "tables", e.tablesDir, "generation", snap.Gen, "state", state)

	gone := make(chan struct{})
	go func() { m.Wait(); close(gone) }()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	// The watcher checks the store at once when it starts: an edit made since the load
	// above is seen.
	st, err := e.store()
	if err != nil {
		return err
	}
	go server.Follow(wctx, st, e.tablesDir, snap, cfg, log, func(r *resolver.Resolver) {
		if _, err := r.Plan(node); err != nil {
			log.Warn("the node has no usable plan in the new tables", "err", err)
		}
		srv.SetResolver(r)
		// The watcher's goroutine is outside every FUSE request: notifications are safe.
		m.Invalidate()
	})

	select {
	case <-ctx.Done():
		stop()
		log.Info("unmounting", "dir", dir)
		if err := m.Unmount(); err != nil {
			return err
		}
		<-gone
		log.Info("unmounted", "dir", dir)
		return nil
	case <-gone:
		log.Info("unmounted from outside", "dir", dir)
		return nil
	}
}

func logWarnings(log *slog.Logger, probs []tables.Problem) {
	for _, p := range probs {
		if p.Warning {
			log.Warn("table warning", "problem", p.String())
		}
	}
}
