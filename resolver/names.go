package resolver

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Names resolves the DNS names of nodes that have no hosts.ip, off the request path: the
// cluster index of each new snapshot says which names it wants (at its build), Run
// resolves those not resolved yet at once and every name again each Refresh, at most
// Parallel lookups at a time, each bounded by Timeout. A request asks the result with a
// map lookup (Index.NodeAt) and never waits for a lookup. One Names serves every
// snapshot of a server, so a table switch does not forget what was resolved.
type Names struct {
	// Lookup resolves a host name (default: net.DefaultResolver.LookupNetIP "ip").
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// Log receives a line per round that resolved names (default: slog.Default()).
	Log *slog.Logger
	// Refresh is how often every wanted name is resolved again (default 5 minutes).
	Refresh time.Duration
	// Parallel bounds the lookups in flight (default 8); Timeout bounds each (default 2 s).
	Parallel int
	Timeout  time.Duration

	mu       sync.Mutex
	wanted   []string             // names of the latest index's DNS-only nodes
	resolved map[string]nameEntry // name -> its addresses (none: the lookup failed)
	addrs    atomic.Pointer[map[netip.Addr][]string]
	unres    atomic.Int64 // wanted names not looked up yet
	kick     chan struct{}
	lookups  atomic.Int64
}

type nameEntry struct {
	addrs []netip.Addr
	at    time.Time
}

func (n *Names) init() {
	if n.kick == nil {
		n.kick = make(chan struct{}, 1)
		n.resolved = map[string]nameEntry{}
	}
}

// want replaces the wanted names (those of the newest snapshot's DNS-only nodes) and
// wakes Run for those not resolved yet.
func (n *Names) want(names []string) {
	n.mu.Lock()
	n.init()
	n.wanted = names
	var unres int64
	for _, name := range names {
		if _, ok := n.resolved[name]; !ok {
			unres++
		}
	}
	n.unres.Store(unres)
	kick := n.kick
	n.mu.Unlock()
	if unres > 0 {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// at returns the names that resolved to addr.
func (n *Names) at(addr netip.Addr) []string {
	m := n.addrs.Load()
	if m == nil {
		return nil
	}
	return (*m)[addr]
}

// pending is the number of wanted names not looked up yet.
func (n *Names) pending() int { return int(n.unres.Load()) }

// Lookups returns how many DNS lookups Names made (tests).
func (n *Names) Lookups() int64 { return n.lookups.Load() }

// Run resolves wanted names until ctx is done.
func (n *Names) Run(ctx context.Context) {
	n.mu.Lock()
	n.init()
	kick := n.kick
	n.mu.Unlock()
	refresh := n.Refresh
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
			n.round(ctx, false)
		case <-t.C:
			n.round(ctx, true)
		}
	}
}

// round looks up the wanted names (all of them, or those never looked up) and publishes
// the address map.
func (n *Names) round(ctx context.Context, all bool) {
	n.mu.Lock()
	var todo []string
	for _, name := range n.wanted {
		if _, ok := n.resolved[name]; all || !ok {
			todo = append(todo, name)
		}
	}
	n.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	lookup := n.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	par, timeout := n.Parallel, n.Timeout
	if par <= 0 {
		par = 8
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	start := time.Now()
	results := make([]nameEntry, len(todo))
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i, name := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			lctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			n.lookups.Add(1)
			ips, err := lookup(lctx, name)
			if err != nil {
				failed.Add(1)
			}
			e := nameEntry{at: time.Now()}
			for _, ip := range ips {
				e.addrs = append(e.addrs, ip.Unmap())
			}
			results[i] = e
		}()
	}
	wg.Wait()
	n.mu.Lock()
	for i, name := range todo {
		n.resolved[name] = results[i]
	}
	m := map[netip.Addr][]string{}
	var unres int64
	for _, name := range n.wanted {
		e, ok := n.resolved[name]
		if !ok {
			unres++
			continue
		}
		for _, a := range e.addrs {
			m[a] = append(m[a], name)
		}
	}
	for _, l := range m {
		sort.Strings(l)
	}
	n.addrs.Store(&m)
	n.unres.Store(unres)
	n.mu.Unlock()
	log := n.Log
	if log == nil {
		log = slog.Default()
	}
	log.Info("node names resolved (nodes without hosts.ip)", "names", len(todo), "failed", failed.Load(),
		"took", time.Since(start).Round(time.Millisecond).String())
}
