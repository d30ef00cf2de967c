package nfsd

import (
	"context"
	"sync"
	"time"

	"statelite/tables"
)

// PGPaths is the NFS handle path table (file id → parent id and name, per node, node ""
// for records every node shares) kept in the statelite_handles table of a PostgreSQL
// store, so that every server of the store resolves the handles any of them gave out.
// Put only queues a record: queued records are upserted in one statement by Flush (the
// NFS server calls it before a reply carries a new handle) and every flush interval.
// Get reads the table directly.
type PGPaths struct {
	st      *tables.PGStore
	every   time.Duration
	timeout time.Duration

	mu      sync.Mutex
	pending map[pgPathKey]pgPathRec
	// flushMu makes flushes one at a time: a Flush that finds nothing queued returns
	// only after a flush in progress (whose records were queued before it) has ended.
	flushMu sync.Mutex

	stop      chan struct{}
	closeOnce sync.Once
	done      chan struct{}
	// OnError, when set, is called with a failed flush's error (the records stay queued).
	OnError func(error)
}

type pgPathKey struct {
	node string
	id   uint64
}

type pgPathRec struct {
	parent uint64
	name   string
}

// NewPGPaths returns the shared path table of st, flushing queued records every every
// (500 ms when zero) until Close.
func NewPGPaths(st *tables.PGStore, every time.Duration) *PGPaths {
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	p := &PGPaths{st: st, every: every, timeout: 2 * time.Second, pending: map[pgPathKey]pgPathRec{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *PGPaths) run() {
	defer close(p.done)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-p.stop:
			// A last flush, bounded: a lost database must not hold up a shutdown.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			p.Flush(ctx)
			cancel()
			return
		}
		if err := p.Flush(context.Background()); err != nil && p.OnError != nil {
			p.OnError(err)
		}
	}
}

// Put queues the record that id is name in directory parent in node's view ("" for every
// node; parent 0 and name "/" record node's root).
func (p *PGPaths) Put(node string, id, parent uint64, name string) {
	p.mu.Lock()
	p.pending[pgPathKey{node, id}] = pgPathRec{parent, name}
	p.mu.Unlock()
}

// Get returns the stored record of id in node's view (node "" for the shared records);
// ok is false when there is none or the database cannot be read.
func (p *PGPaths) Get(node string, id uint64) (parent uint64, name string, ok bool) {
	p.mu.Lock()
	r, queued := p.pending[pgPathKey{node, id}]
	p.mu.Unlock()
	if queued {
		return r.parent, r.name, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	var par int64
	err := p.st.Pool.QueryRow(ctx, "SELECT parent, name FROM statelite_handles WHERE node = $1 AND id = $2",
		node, int64(id)).Scan(&par, &name)
	if err != nil {
		return 0, "", false
	}
	return uint64(par), name, true
}

// Flush upserts the queued records now: when it returns nil, every record Put before the
// call is stored. On failure they stay queued (unless a newer record of the same id was
// queued meanwhile) for the next flush.
func (p *PGPaths) Flush(ctx context.Context) error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	batch := p.pending
	if len(batch) == 0 {
		p.mu.Unlock()
		return nil
	}
	p.pending = make(map[pgPathKey]pgPathRec, len(batch))
	p.mu.Unlock()
	nodes := make([]string, 0, len(batch))
	ids := make([]int64, 0, len(batch))
	parents := make([]int64, 0, len(batch))
	names := make([]string, 0, len(batch))
	for k, r := range batch {
		nodes = append(nodes, k.node)
		ids = append(ids, int64(k.id))
		parents = append(parents, int64(r.parent))
		names = append(names, r.name)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := p.st.Pool.Exec(ctx, `INSERT INTO statelite_handles (node, id, parent, name)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])
		ON CONFLICT (node, id) DO UPDATE SET parent = EXCLUDED.parent, name = EXCLUDED.name`,
		nodes, ids, parents, names)
	if err != nil {
		p.mu.Lock()
		for k, r := range batch {
			if _, newer := p.pending[k]; !newer {
				p.pending[k] = r
			}
		}
		p.mu.Unlock()
	}
	return err
}

// Close stops the flusher after a last flush.
func (p *PGPaths) Close() error {
	p.closeOnce.Do(func() { close(p.stop) })
	<-p.done
	return nil
}
