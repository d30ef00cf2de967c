package nfsd_test

// Live table changes under a running server (issue 6, docs/behaviour.md#live-table-changes):
// an in-process nfsd
// over the demo cluster with a tables.Watcher that switches the fs server, observed
// through a raw NFSv3 client.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"statelite/nfsd"
	"statelite/nfsd/wire"
	"statelite/resolver"
	"statelite/tables"
)

// liveCluster is a demo cluster served over NFS whose views follow its table store.
type liveCluster struct {
	*testCluster
	srv      *runningServer
	c        *nfsClient
	root     []byte // /nodes/n1
	mu       sync.Mutex
	applied  []tables.Change
	rejected []tables.Rejection
}

func newLiveCluster(t *testing.T) *liveCluster {
	t.Helper()
	tc := newTestCluster(t)
	lc := &liveCluster{testCluster: tc}
	w := &tables.Watcher{Store: tc.store, Current: tc.fsrv.Resolver().Snap,
		OnApply: func(c tables.Change) {
			tc.fsrv.SetResolver(resolver.New(c.Snap, resolver.Config{Mnt: tc.mnt}))
			lc.mu.Lock()
			lc.applied = append(lc.applied, c)
			lc.mu.Unlock()
		},
		OnReject: func(r tables.Rejection) {
			lc.mu.Lock()
			lc.rejected = append(lc.rejected, r)
			lc.mu.Unlock()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	lc.srv = tc.serve(t, nfsd.Config{})
	lc.c = newClient(t, lc.srv.addr, "", authSys(0, 0))
	lc.root = lc.c.mustMount("/nodes/n1")
	return lc
}

// read reads view path p of n1 afresh over NFS (a new walk each time: a file now served
// from elsewhere has a new file id, so an old handle is stale).
func (lc *liveCluster) read(p string) (string, uint32) {
	fh := lc.root
	for _, comp := range strings.Split(strings.Trim(p, "/"), "/") {
		var st uint32
		if fh, _, st = lc.c.lookup(fh, comp); st != wire.NFS3OK {
			return "", st
		}
	}
	var out []byte
	for {
		data, eof, st := lc.c.read(fh, uint64(len(out)), 64<<10)
		if st != wire.NFS3OK {
			return "", st
		}
		out = append(out, data...)
		if eof || len(data) == 0 {
			return string(out), wire.NFS3OK
		}
	}
}

// waitRead waits until p reads want and returns how long that took after start; it
// fails the test after 3 s, and when it took more than a second.
func (lc *liveCluster) waitRead(t *testing.T, what, p, want string, start time.Time) time.Duration {
	t.Helper()
	for {
		got, st := lc.read(p)
		if st == wire.NFS3OK && got == want {
			took := time.Since(start)
			t.Logf("%s: %s seen over NFS %v after the edit", what, p, took.Round(time.Millisecond))
			if took > time.Second {
				t.Errorf("%s: the new view took %v, want within a second", what, took)
			}
			return took
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("%s: %s reads %q (status %d), want %q", what, p, got, st, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustRead reads p and fails unless it reads want.
func (lc *liveCluster) mustRead(t *testing.T, p, want string) {
	t.Helper()
	if got, st := lc.read(p); st != wire.NFS3OK || got != want {
		t.Fatalf("%s reads %q (status %d), want %q", p, got, st, want)
	}
}

func (lc *liveCluster) tableFile(name string) string { return filepath.Join(lc.cl.Tables, name+".csv") }

// handEdit rewrites a table file by replacing old with new, as an editor does: with
// rename into place (sed -i, most editors) or by truncating and writing (cp, shell >).
func (lc *liveCluster) handEdit(t *testing.T, table, old, new string, rename bool) time.Time {
	t.Helper()
	b, err := os.ReadFile(lc.tableFile(table))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s.csv lacks %q:\n%s", table, old, b)
	}
	text := strings.Replace(string(b), old, new, 1)
	return lc.writeTable(t, table, text, rename)
}

func (lc *liveCluster) writeTable(t *testing.T, table, text string, rename bool) time.Time {
	t.Helper()
	if rename {
		tmp := filepath.Join(lc.cl.Tables, "sed"+table)
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, lc.tableFile(table)); err != nil {
			t.Fatal(err)
		}
	} else if err := os.WriteFile(lc.tableFile(table), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

func (lc *liveCluster) counts() (applied, rejected int) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return len(lc.applied), len(lc.rejected)
}

const (
	n1Only   = "n1's own notice.\n"
	siteOnly = "Site notice from the common litetree.\n"
)

// TestLiveTableEdits edits litetree, litefile, statelite and nodetype under the running
// server, by the store (as the CLI does) and by hand, and sees each new view over NFS
// within a second.
func TestLiveTableEdits(t *testing.T) {
	lc := newLiveCluster(t)
	lc.mustRead(t, "/etc/motd", n1Motd)
	lc.mustRead(t, "/etc/hostname", "demo\n")
	rootBefore := lc.c.mustGetattr(lc.root)

	// litetree, through the store: the node's own tree goes after the common one, so
	// the con file /etc/motd concatenates them the other way round.
	start := time.Now()
	if _, err := lc.store.Edit(context.Background(), func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		lt := cur.Table("litetree").Clone()
		for i := range lt.Rows {
			if lt.Get(i, "priority") == "1" {
				lt.Rows[i].Cells[lt.Schema.Col("priority")] = tables.Val("3")
			}
		}
		return map[string]*tables.Table{"litetree": lt}, nil
	}); err != nil {
		t.Fatal(err)
	}
	lc.waitRead(t, "litetree (store edit)", "/etc/motd", siteOnly+n1Only, start)
	// The root keeps its handle and id, and shows a new ctime: clients revalidate what
	// they cached of the directories.
	if a := lc.c.mustGetattr(lc.root); a.FileID != rootBefore.FileID || !a.Ctime.After(rootBefore.Ctime) {
		t.Errorf("root after the switch: id %x ctime %v; before: id %x ctime %v", a.FileID, a.Ctime, rootBefore.FileID, rootBefore.Ctime)
	}
	// Changes inside litetree sources and the image are live, with no table change.
	os.WriteFile(filepath.Join(lc.cl.Tree, "common", "etc", "motd"), []byte("New site notice.\n"), 0o644)
	lc.mustRead(t, "/etc/motd", "New site notice.\n"+n1Only)
	os.WriteFile(filepath.Join(lc.cl.Root, "etc", "group"), []byte("root:x:0:\n"), 0o644)
	lc.mustRead(t, "/etc/group", "root:x:0:\n")
	os.WriteFile(filepath.Join(lc.cl.Tree, "common", "etc", "motd"), []byte(siteOnly), 0o644)

	// litefile, by hand (rename into place): /etc/motd becomes ro, served by the first
	// source that has it, now the common tree.
	start = lc.handEdit(t, "litefile", `"ALL","/etc/motd","con",,`, `"ALL","/etc/motd","ro",,`, true)
	lc.waitRead(t, "litefile (hand edit)", "/etc/motd", siteOnly, start)

	// statelite, by hand (truncate and write): another statemnt, where n1 has a
	// persistent copy of /etc/hostname.
	state2 := filepath.Join(lc.cl.Dir, "state2")
	os.MkdirAll(filepath.Join(state2, "n1", "etc"), 0o755)
	os.WriteFile(filepath.Join(state2, "n1", "etc", "hostname"), []byte("n1 from state2\n"), 0o644)
	start = lc.handEdit(t, "statelite", lc.cl.State+`"`, state2+`"`, false)
	lc.waitRead(t, "statelite (hand edit)", "/etc/hostname", "n1 from state2\n", start)

	// nodetype, by hand: n1 gets its own profile, hence another image whose root has a
	// file the demo image lacks.
	root2 := filepath.Join(lc.cl.Dir, "install", "netboot", "demo", "x86_64", "compute2", "rootimg")
	os.MkdirAll(filepath.Join(root2, "etc"), 0o755)
	os.WriteFile(filepath.Join(root2, "etc", "image-id"), []byte("compute2\n"), 0o644)
	if _, st := lc.read("/etc/image-id"); st != wire.NFS3ErrNoEnt {
		t.Fatalf("/etc/image-id before the nodetype edit: status %d", st)
	}
	start = lc.handEdit(t, "nodetype", `"compute",`, `"n1","demo","x86_64","compute2","statelite",,,,`+"\n"+`"compute",`, true)
	lc.waitRead(t, "nodetype (hand edit)", "/etc/image-id", "compute2\n", start)

	if a, r := lc.counts(); a != 4 || r != 0 {
		t.Errorf("%d switches, %d rejections; want 4 and 0", a, r)
	}
}

// TestLiveBrokenEditsNeverReachANode: a bad option, a bad variable and a half-written
// file are rejected, naming table and line; the node keeps its view meanwhile.
func TestLiveBrokenEditsNeverReachANode(t *testing.T) {
	lc := newLiveCluster(t)
	lc.mustRead(t, "/etc/motd", n1Motd)
	good, err := os.ReadFile(lc.tableFile("litefile"))
	if err != nil {
		t.Fatal(err)
	}
	goodTree, err := os.ReadFile(lc.tableFile("litetree"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, table, text string
		want              string // in the rejection's problem
	}{
		{"bad option", "litefile", strings.Replace(string(good), `"ALL","/etc/motd","con",,`, `"ALL","/etc/motd","tmpfs,ro",,`, 1), `"tmpfs,ro"`},
		{"bad variable", "litetree", strings.Replace(string(goodTree), "$node", "$node.foo", 1), "$node.foo"},
		{"half-written file", "litefile", string(good)[:strings.Index(string(good), `"/etc/motd"`)+6], "line"},
	}
	for i, c := range cases {
		start := lc.writeTable(t, c.table, c.text, i%2 == 0)
		for {
			if _, r := lc.counts(); r == i+1 {
				break
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("%s: not rejected", c.name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lc.mu.Lock()
		rj := lc.rejected[i]
		lc.mu.Unlock()
		p := rj.Problems[0]
		if p.Table != c.table || p.Line == 0 || !strings.Contains(p.String(), c.want) {
			t.Errorf("%s: rejection %v, want table %s, a line and %q", c.name, rj.Problems, c.table, c.want)
		}
		// The node keeps the last good view, well past the switching delay.
		for until := time.Now().Add(600 * time.Millisecond); time.Now().Before(until); time.Sleep(50 * time.Millisecond) {
			lc.mustRead(t, "/etc/motd", n1Motd)
		}
		// Put the good table back.
		back := good
		if c.table == "litetree" {
			back = goodTree
		}
		lc.writeTable(t, c.table, string(back), true)
	}
	if a, _ := lc.counts(); a != 0 {
		t.Errorf("%d switches: a broken edit (or its undo) switched the views", a)
	}
	// A good edit after all that goes through.
	start := lc.handEdit(t, "litefile", `"ALL","/etc/motd","con",,`, `"ALL","/etc/motd","ro",,`, true)
	lc.waitRead(t, "good edit after broken ones", "/etc/motd", n1Only, start)
}

// TestLiveSwitchNoMixedReplies flips n1's tables between two rule sets as fast as it can
// while clients list /srv with READDIRPLUS: every reply is wholly one rule set. In A the
// node's own litetree comes first and /srv/onlyA is an entry; in B the common tree comes
// first and /srv/onlyB is an entry; the trees hold each file with 1 (own) or 2 (common)
// bytes.
func TestLiveSwitchNoMixedReplies(t *testing.T) {
	tc := newTestCluster(t)
	os.MkdirAll(filepath.Join(tc.cl.Root, "srv"), 0o755)
	var rowsA, rowsB strings.Builder
	for i := range 20 {
		name := fmt.Sprintf("x%02d", i)
		for tree, body := range map[string]string{"n1": "1", "common": "22"} {
			p := filepath.Join(tc.cl.Tree, tree, "srv", name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(body), 0o644)
		}
		fmt.Fprintf(&rowsA, `"ALL","/srv/%s",,,`+"\n", name)
	}
	for _, n := range []string{"onlyA", "onlyB"} {
		os.WriteFile(filepath.Join(tc.cl.Tree, "n1", "srv", n), []byte("1"), 0o644)
		os.WriteFile(filepath.Join(tc.cl.Tree, "common", "srv", n), []byte("22"), 0o644)
	}
	rowsB.WriteString(rowsA.String())
	rowsA.WriteString(`"ALL","/srv/onlyA",,,` + "\n")
	rowsB.WriteString(`"ALL","/srv/onlyB",,,` + "\n")
	base := tc.resolver(t).Snap
	with := func(rows string, swap bool) *resolver.Resolver {
		lf := base.Table("litefile").Clone()
		add, err := tables.Parse("litefile", strings.NewReader("#image,file,options,comments,disable\n"+rows))
		if err != nil {
			t.Fatal(err)
		}
		lf.Rows = append(lf.Rows, add.Rows...)
		repl := map[string]*tables.Table{"litefile": lf}
		if swap {
			lt := base.Table("litetree").Clone()
			for i := range lt.Rows {
				if lt.Get(i, "priority") == "1" {
					lt.Rows[i].Cells[lt.Schema.Col("priority")] = tables.Val("3")
				}
			}
			repl["litetree"] = lt
		}
		s := base.With(base.Gen+1, repl)
		if probs := tables.Validate(s); tables.HasErrors(probs) {
			t.Fatal(probs)
		}
		return resolver.New(s, resolver.Config{Mnt: tc.mnt})
	}
	ra, rb := with(rowsA.String(), false), with(rowsB.String(), true)
	tc.fsrv.SetResolver(ra)
	srv := tc.serve(t, nfsd.Config{})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var flips atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				tc.fsrv.SetResolver(rb)
			} else {
				tc.fsrv.SetResolver(ra)
			}
			flips.Add(1)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	var bad atomic.Value
	var replies, sawA, sawB atomic.Int64
	deadline := time.Now().Add(1500 * time.Millisecond)
	for range 4 {
		c := newClient(t, srv.addr, "", authSys(0, 0))
		dir := c.walk(c.mustMount("/nodes/n1"), "/srv")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				ents, _, eof, st := c.readdirPage(dir, true, 0, nil, 1<<16, 1<<16)
				if st != wire.NFS3OK || !eof {
					bad.Store(fmt.Sprintf("READDIRPLUS: status %d, eof %v", st, eof))
					return
				}
				if m := mixedReply(ents); m != "" {
					bad.Store(m)
					return
				}
				if hasName(ents, "onlyA") {
					sawA.Add(1)
				} else {
					sawB.Add(1)
				}
				replies.Add(1)
			}
		}()
	}
	time.Sleep(time.Until(deadline))
	close(stop)
	wg.Wait()
	if m := bad.Load(); m != nil {
		t.Fatalf("a reply mixed two table snapshots: %s", m)
	}
	if sawA.Load() == 0 || sawB.Load() == 0 {
		t.Fatalf("the replies never showed both rule sets (A %d, B %d, %d switches)", sawA.Load(), sawB.Load(), flips.Load())
	}
	t.Logf("%d READDIRPLUS replies (A %d, B %d) over %d switches, none mixed", replies.Load(), sawA.Load(), sawB.Load(), flips.Load())
}

func hasName(ents []dirEntry, name string) bool {
	for _, e := range ents {
		if e.name == name {
			return true
		}
	}
	return false
}

// mixedReply says what is wrong with a /srv listing that is not wholly A or wholly B.
func mixedReply(ents []dirEntry) string {
	a, b := hasName(ents, "onlyA"), hasName(ents, "onlyB")
	if a == b {
		return fmt.Sprintf("onlyA %v, onlyB %v", a, b)
	}
	size := uint64(1)
	if b {
		size = 2
	}
	n := 0
	for _, e := range ents {
		if e.name == "." || e.name == ".." {
			continue
		}
		n++
		if e.attr == nil || e.attr.Size != size {
			return fmt.Sprintf("%s: attributes %+v in a reply of the rule set with %d-byte files", e.name, e.attr, size)
		}
	}
	if n != 21 {
		return fmt.Sprintf("%d names, want 21", n)
	}
	return ""
}
