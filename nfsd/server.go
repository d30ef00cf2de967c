// Package nfsd is statelite's NFSv3 and MOUNT v3 server over ONC-RPC/TCP: every node
// mounts /nodes/<node> and sees its own overlay view; handles are node-bound and
// authenticated; AUTH_SYS permissions are enforced.
package nfsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"statelite/fs"
	"statelite/nfsd/wire"
	"statelite/resolver"
)

// Config holds the settings of an NFS server.
type Config struct {
	// FS serves the node views.
	FS *fs.Server
	// State is the server's state directory (secret, handle table).
	State string
	// AdminAllow lists the networks that may mount any node's view (default: loopback).
	AdminAllow []netip.Prefix
	// RootSquash maps uid 0 to nobody (65534) for every caller.
	RootSquash bool
	// Leases, when set, decide which server writes a node's files (several servers on
	// one store): a call that would change them is answered NFS3ERR_JUKEBOX unless this
	// server holds the node's lease.
	Leases Leases
	// Log receives structured logs (default: slog.Default()).
	Log *slog.Logger
	// Names are this server's names (serve --name). When set, the server serves only the
	// nodes whose noderes.servicenode (or, when that is empty, noderes.nfsserver) names
	// one of them, and the nodes where neither is set; others are refused at MNT.
	Names []string
	// Secret, when set, is the handle secret (shared by every server of a cluster,
	// kept in the shared table store); otherwise State/nfsd.secret is used.
	Secret []byte
	// Delay, when set, is called before each NFS procedure (tests inject latency).
	Delay func(proc uint32)
	// SharedPaths, when set, is a handle path table shared by the servers of a cluster
	// (the PostgreSQL store's): every record is also put there, and a handle whose path
	// is not known here is resolved through it, so handles survive a failover.
	SharedPaths SharedPaths
	// Record, when set, receives every MOUNT and NFS call of every node (record.go).
	Record Recorder
	// IntakeMax and IntakeAddrMax cap the memory of the call records being received or
	// waiting to be served, in total and per client address (0: 64 MiB and 16 MiB);
	// RecordStall is how long a record may make no progress before its connection is
	// closed (0: 30 s). See intake.go.
	IntakeMax, IntakeAddrMax int64
	RecordStall              time.Duration
}

// SharedPaths is a store of handle path records shared between servers: id is name in
// directory parent in node's view (node "" for records every node shares; parent 0 and
// name "/" mark node's root). Put must not block on the network (it queues); Flush
// stores what was queued, and a reply carrying a new handle waits for it (with the
// local log's fdatasync: one commit shared by the replies waiting meanwhile); Get is
// called on a local miss, once per missing path component.
type SharedPaths interface {
	// Put queues the record that id is name in directory parent in node's view.
	Put(node string, id, parent uint64, name string)
	// Flush returns once every record queued before the call is stored (or an error:
	// they stay queued, and the reply asks its client to retry).
	Flush(ctx context.Context) error
	// Get returns the record of id in node's view; ok is false when there is none.
	Get(node string, id uint64) (parent uint64, name string, ok bool)
}

// Server is an NFS server. Build it with New, run it with Serve.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handles handleCodec
	paths   *pathTable
	rpc     *rpcServer
	verf    [8]byte
	Metrics *Metrics

	// leaseWaits counts the calls answered JUKEBOX because another server held the
	// node's lease.
	leaseWaits atomic.Uint64

	mu     sync.Mutex
	mounts map[string]mountRec // "remote|dirpath" -> record (DUMP)
	tokens map[string]string   // node -> last boot token seen
	// bootLocks serialize the boots of one node (striped by node id).
	bootLocks [64]sync.Mutex

	dirs dirCache

	behind chan struct{} // write-behinds running (nfs3.go)

	limit logLimiter // rate of the warnings clients can cause

	recStart recordStart
}

type mountRec struct {
	host, dir string
}

// New returns a server; it loads (or creates) the handle secret and handle table.
func New(cfg Config) (*Server, error) {
	if cfg.FS == nil || cfg.State == "" {
		return nil, errors.New("nfsd: FS and State are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.AdminAllow == nil {
		cfg.AdminAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	secret := cfg.Secret
	if len(secret) == 0 {
		var err error
		if secret, err = loadSecret(cfg.State); err != nil {
			return nil, fmt.Errorf("nfsd: secret: %w", err)
		}
	}
	pt, err := openPathTable(filepath.Join(cfg.State, "handles"))
	if err != nil {
		return nil, fmt.Errorf("nfsd: handle table: %w", err)
	}
	pt.remote = cfg.SharedPaths
	s := &Server{cfg: cfg, log: cfg.Log, handles: handleCodec{secret: secret}, paths: pt,
		mounts: map[string]mountRec{}, tokens: map[string]string{}, Metrics: newMetrics()}
	s.dirs.init()
	// The write verifier changes at every start (RFC 1813 WRITE/COMMIT).
	binary64(s.verf[:], uint64(time.Now().UnixNano()))
	s.behind = make(chan struct{}, writeBehindMax)
	s.rpc = &rpcServer{log: cfg.Log, observe: s.Metrics.observe, deny: s.Metrics.deny,
		budget: newIntakeBudget(orDefault(cfg.IntakeMax, defaultIntakeMax), orDefault(cfg.IntakeAddrMax, defaultIntakeAddrMax)),
		stall:  orDefault(cfg.RecordStall, defaultRecordStall),
		big:    make(chan struct{}, bigWorkMax()),
		progs: map[uint32]*program{
			wire.ProgMount: {low: 3, high: 3, procs: map[uint32][]procFunc{3: s.mountProcs()}},
			wire.ProgNFS:   {low: 3, high: 3, procs: map[uint32][]procFunc{3: s.nfsProcs()}},
		}}
	if cfg.Record != nil {
		s.rpc.record = s.recordCall
	}
	s.Metrics.more = s.serverMetrics()
	return s, nil
}

func binary64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

// Serve answers MOUNT and NFS on l until ctx is cancelled.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var calls uint64
		busy := false
		for {
			select {
			case <-t.C:
				s.paths.flush()
				// After a burst (a rack booting), once a second has passed without a
				// call, give the memory the burst freed back to the system: Go would
				// otherwise keep most of it for minutes.
				if n := s.Metrics.calls.Load(); n != calls {
					calls, busy = n, true
				} else if busy {
					busy = false
					// Twice: pooled buffers (1 MiB each) survive one collection.
					debug.FreeOSMemory()
					debug.FreeOSMemory()
				}
			case <-stop:
				return
			}
		}
	}()
	err := s.rpc.serve(ctx, l)
	close(stop)
	if ferr := s.paths.flush(); err == nil {
		err = ferr
	}
	return err
}

// Close flushes the handle table.
func (s *Server) Close() error { return s.paths.close() }

// index returns the cluster index of the current tables (built once per snapshot).
func (s *Server) index() *resolver.Index { return s.cfg.FS.Resolver().Index() }

func remoteAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// isAdmin reports whether addr may mount any node.
func (s *Server) isAdmin(addr netip.Addr) bool {
	for _, p := range s.cfg.AdminAllow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// mayAccess reports whether a client at addr may use node's view.
func (s *Server) mayAccess(addr netip.Addr, node string) bool {
	if s.isAdmin(addr) {
		return true
	}
	n, _, _ := s.index().NodeAt(addr)
	return n == node
}

// nodeForAddr returns the node a client address belongs to ("" when none): a map lookup
// in the cluster index, never a DNS query (resolver.Names resolves node names in the
// background). A refused mount's log says why (addressOf).
func (s *Server) nodeForAddr(addr netip.Addr) string {
	n, _, _ := s.index().NodeAt(addr)
	return n
}

// addressOf says whose address addr is, for the log of a refused mount.
func (s *Server) addressOf(addr netip.Addr) string {
	n, amb, pending := s.index().NodeAt(addr)
	switch {
	case n != "":
		return n
	case len(amb) > 0:
		return "several nodes (" + strings.Join(amb, ",") + "): none of them"
	case pending > 0:
		return fmt.Sprintf("no node known yet (%d node names are still being resolved)", pending)
	}
	return "no node"
}

// export is a parsed MOUNT path.
type export struct {
	node  string
	token string // boot token ("" when none)
	sub   string // view path below the export root
}

// parseExport maps a MOUNT dirpath to a node's view: /nodes/<node>[/@<token>][/sub…],
// or an image root path (…/rootimg[/sub…]) for the node the client address belongs to.
func (s *Server) parseExport(dirpath string, addr netip.Addr) (export, uint32) {
	p := path.Clean("/" + dirpath)
	if rest, ok := strings.CutPrefix(p, "/nodes/"); ok {
		node, sub, _ := strings.Cut(rest, "/")
		e := export{node: node, sub: "/" + sub}
		if tok, after, ok := strings.Cut(sub, "/"); strings.HasPrefix(tok, "@") {
			e.token, e.sub = tok[1:], "/"+after
			_ = ok
		}
		e.sub = path.Clean(e.sub)
		if !s.cfg.FS.Resolver().Snap.IsNode(node) {
			return e, wire.MNT3ErrNoEnt
		}
		return e, wire.MNT3OK
	}
	if root, ok := s.index().ImageRoot(p); ok {
		node := s.nodeForAddr(addr)
		if node == "" {
			return export{}, wire.MNT3ErrAcces
		}
		return export{node: node, sub: path.Clean("/" + strings.TrimPrefix(p, root))}, wire.MNT3OK
	}
	return export{}, wire.MNT3ErrNoEnt
}

// ServerOf returns the server(s) node is assigned to in the current tables: its
// noderes.servicenode, else its noderes.nfsserver ("" when neither is set).
func (s *Server) ServerOf(node string) string { return s.index().ServerOf(node) }

// Serves reports whether this server serves node (Config.Names).
func (s *Server) Serves(node string) bool { return s.index().Serves(s.cfg.Names, node) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Reset drops the volatile layer of a node (an explicit boot event).
func (s *Server) Reset(node string) error { return s.cfg.FS.Reset(node) }

// serverMetrics are the server's own series beside the calls' (Metrics): the handle
// log's commits and records, the intake's memory and, with leases, their waits and moves.
func (s *Server) serverMetrics() []prometheus.Collector {
	ms := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statelite_handle_commits_total",
			Help: "Group commits of handle records (one fdatasync each, and the shared table's flush)."},
			func() float64 { return float64(s.paths.commits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statelite_handle_commit_seconds_total",
			Help: "Time spent in those commits."},
			func() float64 { return float64(s.paths.commitNanos.Load()) / 1e9 }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statelite_handle_records_total",
			Help: "Handle records made durable in the handle log since the start."},
			func() float64 { return float64(s.paths.durable.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "statelite_intake_bytes",
			Help: "Memory held by call records being received or waiting to be served."},
			func() float64 { total, _ := s.rpc.budget.usage(netip.Addr{}); return float64(total) }),
	}
	if s.cfg.Leases != nil {
		ms = append(ms, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statelite_lease_waits_total",
			Help: "Calls answered JUKEBOX because another server held the node's lease."},
			func() float64 { return float64(s.leaseWaits.Load()) }))
		if m, ok := s.cfg.Leases.(interface{ Moves() uint64 }); ok {
			ms = append(ms, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statelite_lease_moves_total",
				Help: "Node leases this server took over from another server."},
				func() float64 { return float64(m.Moves()) }))
		}
	}
	return ms
}

// orDefault is v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
