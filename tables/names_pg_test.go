package tables_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/internal/pgtest"
	"statelite/tables"
)

// lockedBuffer is a log sink the watcher writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPostgresBadNameInsertedBySQL: a node name that is not a host name, written into the
// database with SQL (past the store's validation), is a rejected edit for a server's
// watcher, logged with table, row and rule, and the last good tables stay in force; the
// tables as loaded hold it, and CheckNames (the CLI's check) reports it.
func TestPostgresBadNameInsertedBySQL(t *testing.T) {
	pg := pgtest.Start(t)
	ctx := context.Background()
	st, err := tables.OpenPostgres(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	good, err := st.Edit(ctx, suReplace(t, "nodelist", "#node,groups\n\"n1\",\"all\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	var mu sync.Mutex
	var applied []tables.Change
	var rejected []tables.Rejection
	w := &tables.PGWatcher{Store: st, Current: good, Interval: 50 * time.Millisecond,
		Log:      slog.New(slog.NewTextHandler(&log, nil)),
		OnApply:  func(c tables.Change) { mu.Lock(); applied = append(applied, c); mu.Unlock() },
		OnReject: func(r tables.Rejection) { mu.Lock(); rejected = append(rejected, r); mu.Unlock() },
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Past the store: a row and a generation written with SQL, as an admin could.
	_, err = st.Pool.Exec(ctx, `INSERT INTO statelite_rows (tab, pos, cells) VALUES ('nodelist', 1, ARRAY['../../../../tmp/esc', 'all']);
		UPDATE statelite_generation SET gen = gen + 1 WHERE id = 1;
		SELECT pg_notify('`+tables.NotifyChannel+`', 'x')`)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(rejected) + len(applied)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher neither applied nor rejected the edit; log:\n%s", log.String())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) != 0 {
		t.Fatalf("the edit with a bad node name was applied: %+v", applied[0].Snap.Nodes())
	}
	p := rejected[0].Problems
	if len(p) != 1 || p[0].Table != "nodelist" || p[0].Row != 1 || !strings.Contains(p[0].String(), `nodelist row 2: node name "../../../../tmp/esc" holds "/"`) {
		t.Errorf("rejection %+v", rejected[0])
	}
	if l := log.String(); !strings.Contains(l, `table=nodelist row=2 reason="node name \"../../../../tmp/esc\" holds \"/\"`) {
		t.Errorf("the log does not name table, row and rule:\n%s", l)
	}
	// What a CLI command loads: the raw tables hold the name, CheckNames refuses them.
	s, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsNode("../../../../tmp/esc") {
		t.Fatalf("the inserted row is not loaded: %v", s.Nodes())
	}
	if probs := tables.CheckNames(s); len(probs) != 1 || probs[0].Table != "nodelist" {
		t.Errorf("CheckNames = %v", probs)
	}
}
