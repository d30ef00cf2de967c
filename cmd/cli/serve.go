package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"statelite/fs"
	"statelite/nfsd"
	"statelite/resolver"
	"statelite/tables"
)

const defaultState = "/var/lib/statelite/state"

// serveOpts are the flags of statelite serve.
type serveOpts struct {
	state      string
	nfsAddr    string
	metrics    string
	adminAllow string
	rootSquash bool
	portmap    string
	store      string // table store URL (postgres://…); default --tables
	name       string // this server's name (service nodes)
	checkEvery time.Duration
	record     string // directory for per-node operation records (JSON lines)
	// boot (statelite/boot, started by startBoot in nodeset.go)
	tftpAddr, httpAddr, tftpRoot string
}

func parseAllow(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return []netip.Prefix{}, nil // no admin addresses at all
	}
	var out []netip.Prefix
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, fmt.Errorf("--admin-allow %q: %v", p, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pf, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("--admin-allow %q: %v", p, err)
		}
		out = append(out, pf)
	}
	return out, nil
}

func serveCmd(e *env) *cobra.Command {
	var o serveOpts
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve every node's root view over NFSv3 (and MOUNT) from the tables, live",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.serve(cmd.Context(), o, nil)
		},
	}
	c.Flags().StringVar(&o.state, "state", defaultState, "state directory (volatile layers, handle table, secret)")
	c.Flags().StringVar(&o.nfsAddr, "nfs", ":2049", "address for NFS and MOUNT (TCP)")
	c.Flags().StringVar(&o.metrics, "metrics", "", "address for Prometheus /metrics and Go profiles (/debug/pprof/) over HTTP (off when empty)")
	c.Flags().StringVar(&o.adminAllow, "admin-allow", "127.0.0.0/8,::1/128", "comma list of networks that may mount any node's view")
	c.Flags().BoolVar(&o.rootSquash, "root-squash", false, "map uid 0 of every client to nobody")
	c.Flags().StringVar(&o.portmap, "portmap", "", "also answer portmapper GETPORT on this address (e.g. :111)")
	c.Flags().StringVar(&o.store, "store", "", "table store: a postgres:// URL shared by several servers (default: --tables, the CSV directory)")
	c.Flags().StringVar(&o.name, "name", "", "this server's name (e.g. its host name): serve only the nodes whose noderes.servicenode (else noderes.nfsserver) names it, and the nodes where neither is set; without --name (the default) every node is served, with no filtering")
	c.Flags().StringVar(&o.tftpAddr, "tftp", "", "serve boot configs, kernels and the TFTP root over TFTP on this UDP address (off when empty; e.g. :69)")
	c.Flags().StringVar(&o.httpAddr, "http", "", "serve the same files over HTTP on this address (off when empty; e.g. :8080)")
	c.Flags().StringVar(&o.record, "record", "", "record every node's MOUNT and NFS calls as JSON lines in DIR/<node>.jsonl (for bench/ replays; off when empty)")
	c.Flags().StringVar(&o.tftpRoot, "tftp-root", "", "TFTP root (default: site.tftpdir, else /tftpboot)")
	return c
}

// serve runs the NFS server until ctx is done; ready, when set, receives the NFS address.
func (e *env) serve(ctx context.Context, o serveOpts, ready func(nfsAddr net.Addr)) error {
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	if o.store != "" {
		e.tablesDir = o.store
	}
	allow, err := parseAllow(o.adminAllow)
	if err != nil {
		return err
	}
	// One server per state directory (handle log, volatile layers, status): a second
	// one exits here, naming the first.
	lock, err := lockState(o.state, "serve")
	if err != nil {
		return err
	}
	defer lock.unlock()
	snap, err := e.load(ctx)
	if err != nil {
		return err
	}
	if probs := tables.Validate(snap); tables.HasErrors(probs) {
		for _, p := range probs {
			if !p.Warning {
				e.errorf("%s", p)
			}
		}
		return exitError{1}
	}
	started := time.Now()
	cfg := e.resolverConfig()
	// The DNS names of nodes without hosts.ip are resolved in the background, never on
	// a request's path (the cluster index asks for them).
	cfg.Names = &resolver.Names{Log: log}
	nctx, ncancel := context.WithCancel(ctx)
	defer ncancel()
	go cfg.Names.Run(nctx)
	live, snap, err := e.startLive(o.state, snap, cfg, log)
	if err != nil {
		return err
	}
	live.interval = o.checkEvery
	live.status.setName(o.name)
	var secret []byte
	var shared nfsd.SharedPaths
	if st, err := e.store(); err == nil {
		if pg, ok := st.(*tables.PGStore); ok {
			// Every server of the store makes and checks handles with the same secret,
			// and resolves them through one shared path table.
			if secret, err = pg.Private(ctx, "nfsd.secret", tables.RandomSecret(32)); err != nil {
				return fmt.Errorf("handle secret: %w", err)
			}
			sp := nfsd.NewPGPaths(pg, 300*time.Millisecond)
			var last time.Time // OnError is called from one goroutine
			sp.OnError = func(err error) {
				if time.Since(last) >= time.Minute {
					last = time.Now()
					log.Warn("shared handle table: write failed (queued, retrying)", "err", err)
				}
			}
			defer sp.Close()
			shared = sp
		}
	}
	var names []string
	if o.name != "" {
		names = []string{o.name}
	}
	defer live.status.stopped()
	fsrv, err := fs.New(fs.Config{State: filepath.Join(o.state, "fs"), OnReset: live.status.boot}, resolver.New(snap, cfg))
	if err != nil {
		return err
	}
	live.switchTo = fsrv.SetResolver
	fsrv.Resolver().Index() // the cluster index, before the first request
	warnNofile(log, len(snap.Nodes()))
	nodeDirs := []string{o.state} // where node files land: volatile layers, statemnt dirs
	statemnts := map[string]bool{}
	for _, n := range snap.Nodes() {
		if p, err := fsrv.Resolver().Plan(n); err == nil {
			if sm := filepath.Dir(p.PR); p.PR != "" && !statemnts[sm] {
				statemnts[sm] = true
				nodeDirs = append(nodeDirs, sm)
			}
			for _, w := range p.Warnings {
				log.Warn(w, "node", n)
			}
			for _, m := range p.Errors {
				log.Error(m, "node", n)
			}
		}
	}
	warnMounts(log, nodeDirs)
	var rec nfsd.Recorder
	if o.record != "" {
		dr, err := nfsd.NewDirRecorder(o.record)
		if err != nil {
			return err
		}
		go dr.Run(ctx)
		defer dr.Close()
		rec = dr
	}
	srv, err := nfsd.New(nfsd.Config{FS: fsrv, State: o.state, Names: names, Secret: secret, SharedPaths: shared, AdminAllow: allow, RootSquash: o.rootSquash, Log: log, Record: rec})
	if err != nil {
		return err
	}
	defer srv.Close()
	l, err := net.Listen("tcp", o.nfsAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.metrics != "" {
		ml, err := net.Listen("tcp", o.metrics)
		if err != nil {
			l.Close()
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", srv.Metrics)
		// Go's profiles, for finding where a busy server spends its time.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(ml)
		defer hs.Close()
		log.Info("metrics", "addr", ml.Addr().String())
	}
	if o.portmap != "" {
		pl, err := net.Listen("tcp", o.portmap)
		if err != nil {
			l.Close()
			return err
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		go nfsd.ServePortmap(ctx, pl, port, log)
	}
	if err := e.startBoot(ctx, o, fsrv, l.Addr(), log); err != nil {
		l.Close()
		return err
	}
	// The live tables stop with the server: an edit being applied (switch, history,
	// status) is finished before serve returns.
	liveDone := make(chan struct{})
	go func() { defer close(liveDone); live.run(ctx, snap) }()
	defer func() {
		cancel()
		select {
		case <-liveDone:
		case <-time.After(10 * time.Second):
			log.Error("stopping: the table follower did not stop within 10 s")
		}
	}()
	go live.trackServed(ctx, fsrv.Nodes)
	go fsrv.WatchResets(ctx, 100*time.Millisecond, log)
	log.Info("serving", "nfs", l.Addr().String(), "tables", storeName(e.tablesDir), "name", o.name, "state", o.state,
		"nodes", len(snap.Nodes()), "startup", time.Since(started).Round(time.Millisecond).String())
	if ready != nil {
		ready(l.Addr())
	}
	err = srv.Serve(ctx, l)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// warnNofile warns when the open-file limit is low for a cluster of nodes: a booted node
// holds a descriptor for its connection, and the server keeps up to a quarter of the
// limit for the nodes' layer directories (fewer make it reopen them more often).
func warnNofile(log *slog.Logger, nodes int) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if need := uint64(2*nodes + 4096); rl.Cur < need {
		log.Warn("the open-file limit is low for this cluster: each booted node holds a connection, and its layer directories share a quarter of the limit",
			"limit", rl.Cur, "nodes", nodes, "advised", need, "hint", "raise LimitNOFILE= (systemd) or ulimit -n")
	}
}

func resetCmd(e *env) *cobra.Command {
	var state string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "reset NODERANGE",
		Short: "Drop the volatile layer of nodes (as a boot does): through the running server, else here",
		Long: `Drop the volatile layer of nodes, as a boot does. With a server running on the state
directory (it holds the directory's lock), the server does it; with none, reset does it
itself, holding the lock meanwhile (a server cannot start on the directory until it is
done).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			nodes, err := e.noderange(snap, args[0])
			if err != nil {
				return err
			}
			if fi, err := os.Stat(state); err != nil || !fi.IsDir() {
				return fmt.Errorf("no state directory %s (--state)", state)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			lock, err := lockReset(ctx, state)
			if err != nil {
				return err
			}
			if lock != nil {
				defer lock.unlock()
				return e.resetOffline(snap, state, nodes)
			}
			for _, n := range nodes {
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				err := fs.RequestReset(ctx, filepath.Join(state, "fs"), n)
				cancel()
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s: volatile layer reset\n", n)
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the running server")
	return c
}

// lockReset takes state's lock for an offline reset, without waiting when it is free
// (no server: the lock is returned) or held by a server (nil: ask the server). Held by
// another offline reset, it waits for it until ctx is done.
func lockReset(ctx context.Context, state string) (*stateLock, error) {
	for {
		lock, err := lockState(state, "reset")
		var busy *stateBusyError
		if !errors.As(err, &busy) {
			return lock, err
		}
		if busy.Role != "reset" {
			return nil, nil // a server (or a holder that did not say): it is asked
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (waited for it until the --timeout)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// resetOffline drops the volatile layers of nodes with the server's own code (a
// filesystem server on state that serves nothing), the caller holding state's lock.
func (e *env) resetOffline(snap *tables.Snapshot, state string, nodes []string) error {
	fsrv, err := fs.New(fs.Config{State: filepath.Join(state, "fs")}, resolver.New(snap, e.resolverConfig()))
	if err != nil {
		return err
	}
	defer fsrv.Wait() // the dropped layers are removed before the lock goes
	for _, n := range nodes {
		if err := fsrv.Reset(n); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: volatile layer reset (no server running on %s: done here)\n", n, state)
	}
	return nil
}
