// Package server assembles statelite's service: the table store and its follower, the
// table history and the status file, the state directory's lock, the filesystem of the
// nodes' views (fs), the NFS and MOUNT server (nfsd), the boot servers (boot: TFTP and
// HTTP), the portmapper, metrics, health and readiness (health.go: /metrics, /healthz,
// /readyz, systemd's notify protocol) and profiles. statelite serve parses its flags
// into a Config and runs it; tests and benchmarks start servers the same way:
//
//	srv, err := server.New(ctx, server.Config{State: dir, Tables: tables, NFS: "127.0.0.1:0"})
//	…
//	err = srv.Run(ctx) // until ctx is done
package server

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
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"statelite/boot"
	"statelite/fs"
	"statelite/internal/sys"
	"statelite/nfsd"
	"statelite/resolver"
	"statelite/tables"
)

// Config says what a server serves and where.
type Config struct {
	// State is the state directory (volatile layers, handle log and secret, history,
	// status); one server at a time holds it.
	State string
	// Tables is the table store: a directory of <table>.csv files or a postgres:// URL.
	Tables string
	// Author is who the server's own writes to the store are credited to.
	Author string
	// Mnt is where remote litetree and statemnt exports are mounted (resolver.Config).
	Mnt string

	// NFS is the TCP address for NFS and MOUNT (default ":2049").
	NFS string
	// Metrics is the HTTP address of /metrics, /healthz, /readyz and /debug/pprof/
	// ("": off).
	Metrics string
	// Portmap is an address answering portmapper GETPORT ("": off).
	Portmap string
	// TFTP (UDP) and HTTP are the boot servers' addresses ("": off); TFTPRoot is the
	// TFTP root ("": site.tftpdir, else /tftpboot).
	TFTP, HTTP, TFTPRoot string
	// DHCP lists the interfaces where this server answers DHCP with the tables' fixed
	// addresses; DHCPProxy those where it answers only the PXE part (proxyDHCP, port 67
	// and 4011) beside the site's DHCP server (docs/dhcp.md).
	DHCP, DHCPProxy []string

	// AdminAllow lists the networks that may mount any node's view (nil: loopback;
	// empty: none).
	AdminAllow []netip.Prefix
	// RootSquash maps uid 0 of every client to nobody.
	RootSquash bool
	// Name is this server's name: it serves only the nodes whose noderes.servicenode
	// (else noderes.nfsserver) names it, and those where neither is set ("": all).
	Name string
	// CheckEvery is the PostgreSQL store's periodic check (default 1 s).
	CheckEvery time.Duration
	// Record is a directory for per-node operation records ("": off).
	Record string
	// LeaseTTL is how long a node's write lease lasts unrenewed with a PostgreSQL store
	// (default 10 s): the longest a node's writes wait after its server died.
	LeaseTTL time.Duration
	// Log receives the server's log (default slog.Default()).
	Log *slog.Logger
}

// Server is an assembled statelite service, listening on its addresses once New
// returns; Run serves until its context is done and releases everything.
type Server struct {
	cfg     Config
	log     *slog.Logger
	started time.Time

	lock   *StateLock
	store  tables.Store
	snap   *tables.Snapshot
	names  *resolver.Names
	live   *liveTables
	fs     *fs.Server
	nfs    *nfsd.Server
	rec    *nfsd.DirRecorder
	leases *nfsd.PGLeases

	nfsL, metricsL, portmapL, httpL net.Listener
	tftpC                           net.PacketConn
	boot                            *boot.Server
	dhcp                            *boot.DHCP

	reg    *prometheus.Registry // the server's metrics (health.go)
	boots  atomic.Uint64        // node boots since the start (statelite_boots_total)
	health health               // what /readyz says (health.go)

	undo []func() // what New set up, released in reverse order
}

// New takes the state directory's lock, loads and checks the tables, records them in the
// history and status, builds the views and the NFS server and opens every listener.
// Tables with errors are a *tables.ValidationError listing them. Nothing is served until
// Run; a Server that is not Run must be released with Close.
func New(ctx context.Context, cfg Config) (s *Server, err error) {
	if cfg.State == "" || cfg.Tables == "" {
		return nil, errors.New("server: Config.State and Config.Tables are required")
	}
	if cfg.NFS == "" {
		cfg.NFS = ":2049"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s = &Server{cfg: cfg, log: cfg.Log, started: time.Now()}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	log := s.log
	// One server per state directory (handle log, volatile layers, status): a second
	// one stops here, naming the first.
	if s.lock, err = LockState(cfg.State, "serve"); err != nil {
		return s, err
	}
	s.onClose(s.lock.Unlock)
	if s.store, err = openStore(ctx, cfg.Tables, cfg.Author); err != nil {
		return s, err
	}
	s.onClose(func() { s.store.Close() })
	if s.snap, err = s.store.Load(ctx); err != nil {
		return s, err
	}
	if probs := tables.CheckNames(s.snap); len(probs) > 0 {
		return s, &tables.ValidationError{Problems: probs}
	}
	if probs := tables.Validate(s.snap); tables.HasErrors(probs) {
		return s, &tables.ValidationError{Problems: probs}
	}
	rcfg := resolver.Config{Mnt: cfg.Mnt}
	// The DNS names of nodes without hosts.ip are resolved in the background, never on
	// a request's path (the cluster index asks for them).
	s.names = &resolver.Names{Log: log}
	rcfg.Names = s.names
	if s.live, s.snap, err = startLive(cfg.State, s.store, cfg.Tables, s.snap, rcfg, log); err != nil {
		return s, err
	}
	s.live.interval = cfg.CheckEvery
	s.live.status.setName(cfg.Name)
	s.onClose(s.live.status.stopped)
	var secret []byte
	var shared nfsd.SharedPaths
	if pg, ok := s.store.(*tables.PGStore); ok {
		// Every server of the store makes and checks handles with the same secret,
		// and resolves them through one shared path table.
		if secret, err = pg.Private(ctx, "nfsd.secret", tables.RandomSecret(32)); err != nil {
			return s, fmt.Errorf("handle secret: %w", err)
		}
		sp := nfsd.NewPGPaths(pg, 300*time.Millisecond)
		var last time.Time // OnError is called from one goroutine
		sp.OnError = func(err error) {
			if time.Since(last) >= time.Minute {
				last = time.Now()
				log.Warn("shared handle table: write failed (queued, retrying)", "err", err)
			}
		}
		s.onClose(func() { sp.Close() })
		shared = sp
		// One writer per node at a time among the servers of the store.
		me := cfg.Name
		if me == "" {
			host, _ := os.Hostname()
			abs, _ := filepath.Abs(cfg.State)
			me = host + ":" + abs
		}
		if s.leases, err = nfsd.NewPGLeases(ctx, pg, me, cfg.LeaseTTL, log); err != nil {
			return s, err
		}
		s.onClose(s.leases.Close)
	}
	var names []string
	if cfg.Name != "" {
		names = []string{cfg.Name}
	}
	vol, err := VolatileDir(s.snap)
	if err != nil {
		return s, err
	}
	if vol != "" {
		log.Info("volatile layers in site.volatiledir: every server that shares it serves the nodes' volatile files and decides their boots once", "dir", vol)
	}
	s.live.volatile = vol
	onReset := func(node string, b fs.BootRecord) {
		s.boots.Add(1)
		s.live.status.boot(node, b)
	}
	if s.fs, err = fs.New(fs.Config{State: filepath.Join(cfg.State, "fs"), Volatile: vol, OnReset: onReset}, resolver.New(s.snap, rcfg)); err != nil {
		return s, err
	}
	s.onClose(s.fs.Close)
	if s.leases != nil {
		fsrv := s.fs
		s.leases.OnTake = func(node, from string) {
			if err := fsrv.Refresh(node); err != nil {
				log.Error("lease taken, but the node's volatile layer not re-read", "node", node, "err", err)
			}
		}
		s.live.status.leases = s.leases.Held
	}
	s.live.switchTo, s.live.current = s.fs.SetResolver, s.fs.Resolver
	s.fs.Resolver().Index() // the cluster index, before the first request
	warnNofile(log, len(s.snap.Nodes()))
	warnMounts(log, s.nodeDirs())
	if cfg.Record != "" {
		if s.rec, err = nfsd.NewDirRecorder(cfg.Record); err != nil {
			return s, err
		}
		s.onClose(func() { s.rec.Close() })
	}
	ncfg := nfsd.Config{FS: s.fs, State: cfg.State, Names: names, Secret: secret, SharedPaths: shared,
		AdminAllow: cfg.AdminAllow, RootSquash: cfg.RootSquash, Log: log}
	if s.leases != nil {
		ncfg.Leases = s.leases
	}
	if s.rec != nil {
		ncfg.Record = s.rec
	}
	if s.nfs, err = nfsd.New(ncfg); err != nil {
		return s, err
	}
	s.onClose(func() { s.nfs.Close() })
	if s.nfsL, err = listen("tcp", cfg.NFS, "--nfs", s); err != nil {
		return s, err
	}
	if cfg.Metrics != "" {
		if s.metricsL, err = listen("tcp", cfg.Metrics, "--metrics", s); err != nil {
			return s, err
		}
	}
	if cfg.Portmap != "" {
		if s.portmapL, err = listen("tcp", cfg.Portmap, "--portmap", s); err != nil {
			return s, err
		}
	}
	if err = s.listenBoot(); err != nil {
		return s, err
	}
	if err = s.listenDHCP(); err != nil {
		return s, err
	}
	s.reg = s.newRegistry()
	return s, nil
}

// listen opens a listener that Close closes (when Run has not taken it over).
func listen(network, addr, flag string, s *Server) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	s.onClose(func() { l.Close() })
	return l, nil
}

func (s *Server) onClose(f func()) { s.undo = append(s.undo, f) }

// Close releases what New set up, in reverse order (Run does it when it returns).
func (s *Server) Close() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.undo = nil
}

// NFSAddr is the address NFS and MOUNT are served on.
func (s *Server) NFSAddr() net.Addr { return s.nfsL.Addr() }

// TFTPAddr and HTTPAddr are the boot servers' addresses (nil when off).
func (s *Server) TFTPAddr() net.Addr {
	if s.tftpC == nil {
		return nil
	}
	return s.tftpC.LocalAddr()
}

func (s *Server) HTTPAddr() net.Addr {
	if s.httpL == nil {
		return nil
	}
	return s.httpL.Addr()
}

// MetricsAddr is the address of /metrics, /healthz and /readyz (nil when off).
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsL == nil {
		return nil
	}
	return s.metricsL.Addr()
}

// FS is the filesystem of the nodes' views.
func (s *Server) FS() *fs.Server { return s.fs }

// Run serves until ctx is done, then stops: the table follower finishes the edit it is
// applying (switch, history, status), the listeners close, the handle log and the
// status are written, and the state directory's lock is released.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	log := s.log
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.names.Run(ctx)
	if s.rec != nil {
		go s.rec.Run(ctx)
	}
	h := &s.health
	if s.metricsL != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.metricsHandler())
		mux.HandleFunc("/healthz", s.healthz)
		mux.HandleFunc("/readyz", s.readyz)
		// Go's profiles, for finding where a busy server spends its time.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		h.serving("metrics", s.metricsL.Addr().String())
		go func() { h.ended("metrics", hs.Serve(s.metricsL)) }()
		defer hs.Close()
		log.Info("metrics", "addr", s.metricsL.Addr().String())
	}
	if s.portmapL != nil {
		_, port, _ := net.SplitHostPort(s.nfsL.Addr().String())
		h.serving("portmap", s.portmapL.Addr().String())
		go func() { h.ended("portmap", nfsd.ServePortmap(ctx, s.portmapL, port, log)) }()
	}
	s.serveBoot(ctx)
	if s.dhcp != nil {
		s.dhcp.Serve(ctx)
		for _, a := range s.dhcp.Addrs() {
			log.Info("dhcp", "listen", a)
		}
		h.serving("dhcp", strings.Join(s.dhcp.Addrs(), ","))
		go func() { h.ended("dhcp", s.dhcp.Wait()) }()
	}
	// The live tables stop with the server: an edit being applied (switch, history,
	// status) is finished before Run returns.
	liveDone := make(chan struct{})
	go func() { defer close(liveDone); s.live.run(ctx, s.snap) }()
	defer func() {
		cancel()
		select {
		case <-liveDone:
		case <-time.After(10 * time.Second):
			log.Error("stopping: the table follower did not stop within 10 s")
		}
	}()
	go s.live.trackServed(ctx, s.fs.Nodes)
	go s.fs.WatchResets(ctx, 100*time.Millisecond, log)
	log.Info("serving", "nfs", s.nfsL.Addr().String(), "tables", StoreName(s.cfg.Tables), "name", s.cfg.Name, "state", s.cfg.State,
		"nodes", len(s.snap.Nodes()), "startup", time.Since(s.started).Round(time.Millisecond).String())
	// Ready: the tables are in force and every listener serves (NFS from the next line
	// on; its socket has been listening since New). systemd (Type=notify) is told so,
	// and that the server stops as soon as it begins to.
	h.serving("nfs", s.nfsL.Addr().String())
	h.setReady()
	snap := s.fs.Resolver().Snap
	notify(log, fmt.Sprintf("READY=1\nSTATUS=serving %d nodes (tables generation %d) on %s", len(snap.Nodes()), s.live.status.view(false).generation, s.nfsL.Addr()))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		h.setStopping()
		notify(log, "STOPPING=1\nSTATUS=stopping")
	}()
	err := s.nfs.Serve(ctx, s.nfsL)
	h.ended("nfs", err)
	cancel()
	<-stopped
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// nodeDirs are where node files land: the state directory (volatile layers) and the
// statemnt directories of the nodes' persistent files.
func (s *Server) nodeDirs() []string {
	dirs := []string{s.cfg.State}
	seen := map[string]bool{}
	for _, n := range s.snap.Nodes() {
		p, err := s.fs.Resolver().Plan(n)
		if err != nil {
			continue
		}
		if sm := filepath.Dir(p.PR); p.PR != "" && !seen[sm] {
			seen[sm] = true
			dirs = append(dirs, sm)
		}
		for _, w := range p.Warnings {
			s.log.Warn(w, "node", n)
		}
		for _, m := range p.Errors {
			s.log.Error(m, "node", n)
		}
	}
	return dirs
}

// VolatileDir is site.volatiledir: the directory of the nodes' volatile layers that
// several servers share ("" when unset: the state directory's own).
func VolatileDir(snap *tables.Snapshot) (string, error) {
	v, _ := snap.Site("volatiledir")
	if v = strings.TrimSpace(v); v == "" {
		return "", nil
	}
	if !filepath.IsAbs(v) {
		return "", fmt.Errorf("site.volatiledir %q: not an absolute path", v)
	}
	return filepath.Clean(v), nil
}

// VolatileLayers is where the nodes' volatile layers (and their boot records) of a
// server on state live: site.volatiledir, else <state>/fs/volatile.
func VolatileLayers(state string, snap *tables.Snapshot) (string, error) {
	v, err := VolatileDir(snap)
	if v == "" && err == nil {
		v = filepath.Join(state, "fs", "volatile")
	}
	return v, err
}

// openStore opens the table store at loc: a postgres:// URL or a directory.
func openStore(ctx context.Context, loc, author string) (tables.Store, error) {
	if tables.IsPostgresURL(loc) {
		st, err := tables.OpenPostgres(ctx, loc)
		if err != nil {
			return nil, err
		}
		st.Author = author
		return st, nil
	}
	st, err := tables.OpenDir(loc)
	if err != nil {
		return nil, err
	}
	st.Author = author
	return st, nil
}

// warnNofile warns when the open-file limit is low for a cluster of nodes: a booted node
// holds a descriptor for its connection, and the server keeps up to a quarter of the
// limit for the nodes' layer directories (fewer make it reopen them more often).
func warnNofile(log *slog.Logger, nodes int) {
	cur, err := sys.NofileLimit()
	if err != nil {
		return
	}
	if need := uint64(2*nodes + 4096); cur < need {
		log.Warn("the open-file limit is low for this cluster: each booted node holds a connection, and its layer directories share a quarter of the limit",
			"limit", cur, "nodes", nodes, "advised", need, "hint", "raise LimitNOFILE= (systemd) or ulimit -n")
	}
}
