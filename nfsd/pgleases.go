package nfsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"statelite/tables"
)

// Leases decides which one server writes a node's files at a time (several servers on
// one store): a call that would change a node's files is served only by the server that
// holds the node's lease; another answers NFS3ERR_JUKEBOX and the client retries.
// Reads need no lease.
type Leases interface {
	// Hold reports whether this server holds node's lease now, taking it when it is
	// free or has lapsed.
	Hold(node string) bool
}

// PGLeases are per-node write leases in the statelite_leases table of a PostgreSQL
// store, on the database's clock: a lease is taken when its row is free, held by this
// server, or expired; it lasts TTL and is renewed while its node keeps being served
// (every TTL/3, for the nodes served within the last TTL). A server that dies stops
// renewing: its nodes' leases lapse after TTL at most, and the next server a node asks
// takes it (the pause its writes see).
type PGLeases struct {
	st  *tables.PGStore
	me  string
	ttl time.Duration
	log *slog.Logger

	mu   sync.Mutex
	held map[string]*heldLease

	moves     atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// OnTake, when set, is called when this server takes a node's lease it did not hold
	// (from another server, or after it lapsed): its view of the node must be re-read.
	OnTake func(node, from string)
}

type heldLease struct {
	until time.Time // local time before which the lease is surely held
	since time.Time // when this server took it (the database's clock)
	used  time.Time // the last call that needed it
}

// NewPGLeases returns the leases of server me (its --name, else host and state
// directory) in st's database, renewed until Close.
func NewPGLeases(ctx context.Context, st *tables.PGStore, me string, ttl time.Duration, log *slog.Logger) (*PGLeases, error) {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	if _, err := st.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS statelite_leases (
		node text PRIMARY KEY, holder text NOT NULL, since timestamptz NOT NULL, expires timestamptz NOT NULL)`); err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	l := &PGLeases{st: st, me: me, ttl: ttl, log: log, held: map[string]*heldLease{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l, nil
}

// Hold implements Leases.
func (l *PGLeases) Hold(node string) bool {
	now := time.Now()
	l.mu.Lock()
	h := l.held[node]
	if h != nil && now.Before(h.until) {
		h.used = now
		l.mu.Unlock()
		return true
	}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ok, err := l.take(ctx, node)
	if err != nil {
		l.log.Warn("lease not taken: the database did not answer (the call is retried)", "node", node, "err", err)
	}
	return ok
}

// take takes or renews node's lease in the database.
func (l *PGLeases) take(ctx context.Context, node string) (bool, error) {
	sent := time.Now()
	var since time.Time
	var prev string
	err := l.st.Pool.QueryRow(ctx, `WITH prev AS (SELECT holder FROM statelite_leases WHERE node = $1)
		INSERT INTO statelite_leases AS l (node, holder, since, expires)
		VALUES ($1, $2, now(), now() + make_interval(secs => $3))
		ON CONFLICT (node) DO UPDATE SET holder = excluded.holder, expires = excluded.expires,
			since = CASE WHEN l.holder = excluded.holder THEN l.since ELSE excluded.since END
		WHERE l.holder = excluded.holder OR l.expires < now()
		RETURNING since, coalesce((SELECT holder FROM prev), '')`,
		node, l.me, l.ttl.Seconds()).Scan(&since, &prev)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			l.drop(node)
			return false, nil // another server holds it
		}
		return false, err
	}
	l.mu.Lock()
	h := l.held[node]
	fresh := h == nil
	if fresh {
		h = &heldLease{used: time.Now()}
		l.held[node] = h
	}
	// Held surely until the database's now() + TTL, which is no earlier than sent + TTL;
	// a fifth of TTL is left as a margin for the clocks' rates.
	h.until, h.since = sent.Add(l.ttl-l.ttl/5), since
	l.mu.Unlock()
	if fresh && prev != l.me {
		if prev != "" {
			l.moves.Add(1)
			l.log.Info("lease taken over", "node", node, "from", prev, "since", since)
		}
		if l.OnTake != nil {
			l.OnTake(node, prev)
		}
	}
	return true, nil
}

func (l *PGLeases) drop(node string) {
	l.mu.Lock()
	delete(l.held, node)
	l.mu.Unlock()
}

// run renews the leases of the nodes served within the last TTL, every TTL/3, and
// forgets the others (they lapse).
func (l *PGLeases) run() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		var renew []string
		l.mu.Lock()
		for n, h := range l.held {
			if now.Sub(h.used) < l.ttl {
				renew = append(renew, n)
			} else {
				delete(l.held, n)
			}
		}
		l.mu.Unlock()
		for _, n := range renew {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if _, err := l.take(ctx, n); err != nil {
				l.log.Warn("lease not renewed", "node", n, "err", err)
			}
			cancel()
		}
	}
}

// Held returns the nodes whose leases this server holds, with since when.
func (l *PGLeases) Held() map[string]time.Time {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]time.Time{}
	for n, h := range l.held {
		if now.Before(h.until) {
			out[n] = h.since
		}
	}
	return out
}

// HeldNodes returns Held's nodes, sorted.
func (l *PGLeases) HeldNodes() []string {
	var out []string
	for n := range l.Held() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Moves is how many leases this server took over from another server.
func (l *PGLeases) Moves() uint64 { return l.moves.Load() }

// Close stops renewing (the leases lapse after TTL).
func (l *PGLeases) Close() {
	l.closeOnce.Do(func() { close(l.stop); <-l.done })
}
