package tables

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NotifyChannel is the PostgreSQL channel a PGStore edit notifies, with the new store
// generation as payload (keys, never rows: payloads must stay below 8000 bytes).
const NotifyChannel = "statelite_tables"

// IsPostgresURL reports whether a table store location is a PostgreSQL URL.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open opens the table store at loc: a PostgreSQL URL (postgres://…) or a directory.
func Open(ctx context.Context, loc string) (Store, error) {
	if IsPostgresURL(loc) {
		return OpenPostgres(ctx, loc)
	}
	return OpenDir(loc)
}

// PGStore is a Store in a PostgreSQL database. Schema (created on first open):
//
//	statelite_generation(id = 1, gen)          the store generation, bumped by every edit
//	statelite_rows(tab, pos, cells text[])     every table's rows, pos = store order; a NULL
//	                                           array element is a NULL cell
//	statelite_history(gen, at, author)         who made each generation through the CLI
//	statelite_private(key, value bytea)        server-private values (the NFS handle secret)
//
// Edits run in one transaction that first locks the generation row, so writers on every
// host serialize; the transaction writes the changed tables, bumps the generation and
// NOTIFYs NotifyChannel, so listeners learn of it exactly when it commits. Loads read in
// one REPEATABLE READ transaction: a consistent snapshot.
type PGStore struct {
	URL  string
	Pool *pgxpool.Pool
	// Author, when set, is recorded with every edit (see DirStore.Author).
	Author string
}

const pgSchema = `
CREATE TABLE IF NOT EXISTS statelite_generation (id int PRIMARY KEY, gen bigint NOT NULL);
INSERT INTO statelite_generation VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS statelite_rows (
	tab text NOT NULL, pos int NOT NULL, cells text[] NOT NULL, PRIMARY KEY (tab, pos));
CREATE TABLE IF NOT EXISTS statelite_history (
	gen bigint NOT NULL, at timestamptz NOT NULL, author text NOT NULL);
CREATE TABLE IF NOT EXISTS statelite_private (key text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE IF NOT EXISTS statelite_handles (
	node text NOT NULL, id bigint NOT NULL, parent bigint NOT NULL, name text NOT NULL,
	PRIMARY KEY (node, id));
`

// pgSchemaLock is the advisory lock key taken while creating the schema, so several
// servers starting at once do not race on CREATE TABLE.
const pgSchemaLock = 0x5374617465 // "State"

// OpenPostgres connects to the database at url and creates the schema when missing.
func OpenPostgres(ctx context.Context, url string) (*PGStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("table store: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("table store %s: %w", redactURL(url), err)
	}
	st := &PGStore{URL: url, Pool: pool}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgSchemaLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, pgSchema)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("table store %s: %w", redactURL(url), err)
	}
	return st, nil
}

// redactURL drops a password from a connection URL, for messages.
func redactURL(u string) string {
	cfg, err := pgconn.ParseConfig(u)
	if err != nil || cfg.Password == "" {
		return u
	}
	return strings.Replace(u, ":"+cfg.Password+"@", ":***@", 1)
}

// String names the store for messages and status.
func (p *PGStore) String() string { return redactURL(p.URL) }

// Close implements Store.
func (p *PGStore) Close() error {
	p.Pool.Close()
	return nil
}

// Load implements Store.
func (p *PGStore) Load(ctx context.Context) (*Snapshot, error) {
	var snap *Snapshot
	err := pgx.BeginTxFunc(ctx, p.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		snap, err = p.load(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("table store %s: %w", p, err)
	}
	return snap, nil
}

// Generation returns the store generation (a cheap check for the watcher).
func (p *PGStore) Generation(ctx context.Context) (uint64, error) {
	var g int64
	if err := p.Pool.QueryRow(ctx, "SELECT gen FROM statelite_generation WHERE id = 1").Scan(&g); err != nil {
		return 0, fmt.Errorf("table store %s: %w", p, err)
	}
	return uint64(g), nil
}

func (p *PGStore) load(ctx context.Context, tx pgx.Tx) (*Snapshot, error) {
	var gen int64
	if err := tx.QueryRow(ctx, "SELECT gen FROM statelite_generation WHERE id = 1").Scan(&gen); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT tab, cells FROM statelite_rows ORDER BY tab, pos")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tabs := map[string]*Table{}
	var name string
	var cells []*string
	for rows.Next() {
		if err := rows.Scan(&name, &cells); err != nil {
			return nil, err
		}
		t := tabs[name]
		if t == nil {
			sc, err := LookupSchema(name)
			if err != nil {
				continue // a table this version does not know
			}
			t = &Table{Schema: sc}
			tabs[name] = t
		}
		r := t.NewRow()
		for i := range r.Cells {
			if i < len(cells) && cells[i] != nil {
				r.Cells[i] = Val(*cells[i])
			}
		}
		t.Rows = append(t.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return NewSnapshot(uint64(gen), tabs), nil
}

// Edit implements Store.
func (p *PGStore) Edit(ctx context.Context, fn func(cur *Snapshot) (map[string]*Table, error)) (*Snapshot, error) {
	var result *Snapshot
	var fnErr error
	err := pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		// The row lock serializes writers; in READ COMMITTED every later statement of
		// this transaction sees everything committed before the lock was granted.
		if _, err := tx.Exec(ctx, "SELECT gen FROM statelite_generation WHERE id = 1 FOR UPDATE"); err != nil {
			return err
		}
		cur, err := p.load(ctx, tx)
		if err != nil {
			return err
		}
		repl, err := fn(cur)
		if err != nil {
			fnErr = err
			return err
		}
		if len(repl) == 0 {
			result = cur
			return nil
		}
		next := cur.With(cur.Gen+1, repl)
		if probs := Validate(next); HasErrors(probs) {
			fnErr = &ValidationError{Problems: probs}
			return fnErr
		}
		names := make([]string, 0, len(repl))
		for n := range repl {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if _, err := tx.Exec(ctx, "DELETE FROM statelite_rows WHERE tab = $1", n); err != nil {
				return err
			}
			t := repl[n]
			src := make([][]any, len(t.Rows))
			for i, r := range t.Rows {
				cells := make([]*string, len(r.Cells))
				for j, c := range r.Cells {
					if c.Set || c.V != "" {
						v := c.V
						cells[j] = &v
					}
				}
				src[i] = []any{n, int32(i), cells}
			}
			if len(src) > 0 {
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"statelite_rows"}, []string{"tab", "pos", "cells"}, pgx.CopyFromRows(src)); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE statelite_generation SET gen = $1 WHERE id = 1", int64(next.Gen)); err != nil {
			return err
		}
		if p.Author != "" {
			if _, err := tx.Exec(ctx, "INSERT INTO statelite_history (gen, at, author) VALUES ($1, $2, $3)", int64(next.Gen), time.Now().UTC(), p.Author); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", NotifyChannel, strconv.FormatUint(next.Gen, 10)); err != nil {
			return err
		}
		// Loaded rows carry no line numbers; the replaced tables keep theirs.
		result = next
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("table store %s: %w", p, err)
	}
	return result, nil
}

// EditedBy returns who made store generation gen through the CLI (see DirStore.EditedBy).
func (p *PGStore) EditedBy(gen uint64) (who string, at time.Time, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.Pool.QueryRow(ctx, "SELECT author, at FROM statelite_history WHERE gen = $1 ORDER BY at DESC LIMIT 1", int64(gen)).Scan(&who, &at)
	if err != nil {
		return "", time.Time{}, false
	}
	return who, at, true
}

// Private returns the server-private value key, creating it with create() when missing;
// every server of the store reads the same value (the first writer wins).
func (p *PGStore) Private(ctx context.Context, key string, create func() ([]byte, error)) ([]byte, error) {
	var v []byte
	err := p.Pool.QueryRow(ctx, "SELECT value FROM statelite_private WHERE key = $1", key).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("table store %s: %w", p, err)
	}
	nv, err := create()
	if err != nil {
		return nil, err
	}
	if _, err := p.Pool.Exec(ctx, "INSERT INTO statelite_private (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING", key, nv); err != nil {
		return nil, fmt.Errorf("table store %s: %w", p, err)
	}
	if err := p.Pool.QueryRow(ctx, "SELECT value FROM statelite_private WHERE key = $1", key).Scan(&v); err != nil {
		return nil, fmt.Errorf("table store %s: %w", p, err)
	}
	return v, nil
}

// RandomSecret returns n random bytes (for Private).
func RandomSecret(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		_, err := rand.Read(b)
		return b, err
	}
}
