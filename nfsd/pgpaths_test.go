package nfsd_test

import (
	"context"
	"testing"
	"time"

	"statelite/internal/pgtest"
	"statelite/nfsd"
	"statelite/tables"
)

// TestPGPaths: a queued record is visible to its writer at once and to another handle on
// the database after a flush; a newer record of the same id replaces the older one.
func TestPGPaths(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	open := func() *nfsd.PGPaths {
		st, err := tables.OpenPostgres(ctx, pg.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sp := nfsd.NewPGPaths(st, time.Hour) // flushed by hand
		t.Cleanup(func() { sp.Close() })
		return sp
	}
	a, b := open(), open()
	a.Put("", 1<<63+5, 7, "passwd") // ids use all 64 bits
	a.Put("n1", 9, 0, "/")
	if p, n, ok := a.Get("", 1<<63+5); !ok || p != 7 || n != "passwd" {
		t.Errorf("queued record on its writer: %d %q %v", p, n, ok)
	}
	if _, _, ok := b.Get("", 1<<63+5); ok {
		t.Errorf("an unflushed record is visible to another server")
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if p, n, ok := b.Get("", 1<<63+5); !ok || p != 7 || n != "passwd" {
		t.Errorf("flushed record on another server: %d %q %v", p, n, ok)
	}
	if p, n, ok := b.Get("n1", 9); !ok || p != 0 || n != "/" {
		t.Errorf("root record: %d %q %v", p, n, ok)
	}
	a.Put("", 1<<63+5, 8, "shadow")
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if p, n, ok := b.Get("", 1<<63+5); !ok || p != 8 || n != "shadow" {
		t.Errorf("updated record: %d %q %v", p, n, ok)
	}
	if _, _, ok := b.Get("n2", 1<<63+5); ok {
		t.Errorf("a record of node n2 that was never put")
	}
}
