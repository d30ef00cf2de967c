package nfsd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A rename intent logged before a rename whose own record never made it (the server
// died in between) leads to the file after a restart, for the renamed directory and
// everything under it; once the rename's record is logged, the next start drops it. A
// torn record at the log's end ends the replay without harm.
func TestRenameIntentSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *pathTable {
		pt, err := openPathTable(dir)
		if err != nil {
			t.Fatal(err)
		}
		return pt
	}
	pt := open()
	must := func(seq uint64) {
		t.Helper()
		if err := pt.wait(seq); err != nil {
			t.Fatal(err)
		}
	}
	must(pt.setRoot("n1", 1))
	must(pt.put("n1", 2, 1, "a"))
	must(pt.put("n1", 3, 2, "f"))
	must(pt.putIntent("n1", 2, 1, "b")) // then the server dies before the rename's record
	if err := pt.close(); err != nil {
		t.Fatal(err)
	}

	pt = open()
	if p, ok := pt.path("n1", 3); !ok || p != "/a/f" {
		t.Fatalf("recorded path %q %v, want /a/f", p, ok)
	}
	p, used, ok := pt.intentPath("n1", 3)
	if !ok || p != "/b/f" || len(used) != 1 || used[2].name != "b" {
		t.Fatalf("intent path %q %v %v, want /b/f through id 2", p, used, ok)
	}
	must(pt.put("n1", 2, 1, "b")) // the rename's record
	pt.close()

	// A torn record at the end (a crash while it was written).
	f, err := os.OpenFile(filepath.Join(dir, "handles.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(appendRec(nil, "n1", 9, pathRec{parent: 1, name: "torn"})[:7])
	f.Close()

	pt = open()
	defer pt.close()
	if p, ok := pt.path("n1", 3); !ok || p != "/b/f" {
		t.Fatalf("recorded path after the rename's record: %q %v, want /b/f", p, ok)
	}
	if _, _, ok := pt.intentPath("n1", 3); ok {
		t.Fatal("the intent of a rename whose record made it was kept")
	}
	if _, ok := pt.path("n1", 9); ok {
		t.Fatal("a torn record was read")
	}
	must(pt.put("n1", 4, 1, "after")) // the log goes on after the torn tail
	pt.close()
	pt = open()
	if p, ok := pt.path("n1", 4); !ok || p != "/after" {
		t.Fatalf("a record written after a torn tail: %q %v", p, ok)
	}
}

// Two nodes recording the same new id at once, under different parents (each node's root
// has its own id): both resolve it afterwards. (The second one's shared record used to
// replace the first's, and the first node's handle answered STALE.)
func TestConcurrentPutsOfOneID(t *testing.T) {
	pt, err := openPathTable(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pt.close()
	nodes := []string{"a", "b", "c", "d"}
	for i, n := range nodes {
		pt.setRoot(n, uint64(1000+i))
	}
	for id := uint64(1 << 20); id < 1<<20+3000; id++ {
		start := make(chan struct{})
		done := make(chan struct{}, len(nodes))
		for i, n := range nodes {
			go func() {
				<-start
				pt.put(n, id, uint64(1000+i), "opt")
				done <- struct{}{}
			}()
		}
		close(start)
		for range nodes {
			<-done
		}
		for _, n := range nodes {
			if p, ok := pt.path(n, id); !ok || p != "/opt" {
				t.Fatalf("id %d in node %s: path %q %v after concurrent puts", id, n, p, ok)
			}
		}
	}
}

// Group commit: requests waiting for their records while a commit runs share the next
// one and are all woken when it ends; every record a waiter was told is durable is in
// the log after a restart. With a failing disk every waiter gets the error, the records
// stay buffered, and the next commit writes them.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	pt, err := openPathTable(dir)
	if err != nil {
		t.Fatal(err)
	}
	var syncs atomic.Int64
	var fail atomic.Bool
	pt.syncFile = func(f *os.File) error {
		syncs.Add(1)
		time.Sleep(20 * time.Millisecond) // a slow disk: waiters pile up behind a commit
		if fail.Load() {
			return syscall.EIO
		}
		return fdatasync(f)
	}
	if err := pt.wait(pt.setRoot("n1", 1)); err != nil {
		t.Fatal(err)
	}
	run := func(from, n int) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := uint64(from + i)
				errs[i] = pt.wait(pt.put("n1", id, 1, fmt.Sprintf("f%d", id)))
			}()
		}
		wg.Wait()
		return errs
	}
	const n = 500
	before := syncs.Load()
	for i, err := range run(10, n) {
		if err != nil {
			t.Fatalf("waiter %d: %v", i, err)
		}
	}
	if c := syncs.Load() - before; c > n/10 {
		t.Errorf("%d waiters took %d commits: no group commit", n, c)
	}

	fail.Store(true)
	for i, err := range run(10+n, 50) {
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("waiter %d on a failing disk: %v", i, err)
		}
	}
	fail.Store(false)
	if err := pt.flush(); err != nil {
		t.Fatal(err)
	}
	pt.close()
	pt, err = openPathTable(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.close()
	for id := uint64(10); id < 10+n+50; id++ {
		if p, ok := pt.path("n1", id); !ok || p != fmt.Sprintf("/f%d", id) {
			t.Fatalf("record %d after a restart: %q %v", id, p, ok)
		}
	}
}
