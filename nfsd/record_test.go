package nfsd_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"statelite/nfsd"
)

type memRecorder struct {
	mu   sync.Mutex
	recs map[string][]nfsd.OpRecord
}

func (m *memRecorder) Record(node string, r nfsd.OpRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[node] = append(m.recs[node], r)
}

// TestRecordOps: with Config.Record set, every call of a node is recorded with the view
// path of its handle(s), its names and arguments and its status, in order.
func TestRecordOps(t *testing.T) {
	tc := newTestCluster(t)
	rec := &memRecorder{recs: map[string][]nfsd.OpRecord{}}
	rs := tc.serve(t, nfsd.Config{Record: rec})
	c := newClient(t, rs.addr, "127.0.0.11", authSys(0, 0))
	root := c.mustMount("/nodes/n1/@tok1")
	etc := c.walk(root, "etc")
	fh, _, _ := c.lookup(etc, "motd")
	c.read(fh, 0, 4096)
	c.lookup(etc, "nonexistent")
	tmp := c.walk(root, "tmp")
	nf := c.mustCreate(tmp, "a", 0o644)
	c.write(nf, 0, []byte("hello"), 2)
	c.rename(tmp, "a", tmp, "b")
	c.readdirAll(etc, true, 4096, 65536)

	rec.mu.Lock()
	got := rec.recs["n1"]
	rec.mu.Unlock()
	type want struct {
		op, path, name string
		status         uint32
	}
	wants := []want{
		{"MNT", "/nodes/n1/@tok1", "", 0},
		{"LOOKUP", "/", "etc", 0},
		{"LOOKUP", "/etc", "motd", 0},
		{"READ", "/etc/motd", "", 0},
		{"LOOKUP", "/etc", "nonexistent", 2},
		{"LOOKUP", "/", "tmp", 0},
		{"CREATE", "/tmp", "a", 0},
		{"WRITE", "/tmp/a", "", 0}, // paths are those right after each call
		{"RENAME", "/tmp", "a", 0},
		{"READDIRPLUS", "/etc", "", 0},
	}
	if len(got) < len(wants) {
		t.Fatalf("recorded %d calls, want at least %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Op != w.op || g.Path != w.path || g.Name != w.name || g.Status != w.status {
			t.Errorf("record %d = %s %s %q status %d, want %s %s %q status %d", i, g.Op, g.Path, g.Name, g.Status, w.op, w.path, w.name, w.status)
		}
	}
	if r := got[3]; r.Offset != 0 || r.Count != 4096 {
		t.Errorf("READ record: offset %d count %d", r.Offset, r.Count)
	}
	if r := got[7]; r.Count != 5 || len(r.Args) != 4 {
		t.Errorf("WRITE record: count %d args %x", r.Count, r.Args)
	}
	if r := got[8]; r.Path2 != "/tmp" || r.Name2 != "b" {
		t.Errorf("RENAME record: to %s %s", r.Path2, r.Name2)
	}
	for i := 1; i < len(got); i++ {
		if got[i].T < got[i-1].T {
			t.Errorf("record %d: time %d before %d", i, got[i].T, got[i-1].T)
		}
	}
}

// TestRecordDir: the directory recorder writes one JSON line per call to <node>.jsonl.
func TestRecordDir(t *testing.T) {
	tc := newTestCluster(t)
	dir := t.TempDir()
	dr, err := nfsd.NewDirRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	rs := tc.serve(t, nfsd.Config{Record: dr})
	c := newClient(t, rs.addr, "127.0.0.12", authSys(0, 0))
	root := c.mustMount("/nodes/n2")
	c.walk(root, "etc/passwd")
	rs.stop(t)
	if err := dr.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "n2.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ops []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r nfsd.OpRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		ops = append(ops, r.Op+" "+r.Path+" "+r.Name)
	}
	want := []string{"MNT /nodes/n2 ", "LOOKUP / etc", "LOOKUP /etc passwd"}
	if len(ops) != len(want) {
		t.Fatalf("recorded %q, want %q", ops, want)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, ops[i], want[i])
		}
	}
}
