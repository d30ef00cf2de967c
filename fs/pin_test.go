package fs_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"statelite/fs"
	"statelite/resolver"
)

// flipEnv builds two rule sets over one cluster: in A litetree T1 (priority 1) serves
// /srv/ with onlyA and x00…x29 of one byte each; in B T2 comes first and serves onlyB and
// x00…x29 of two bytes each. Every answer of the view is wholly A or wholly B.
func flipEnv(t testing.TB) (e *env, ra, rb *resolver.Resolver) {
	e = newEnv(t, "/srv/ tmpfs", "/etc/flip.conf tmpfs")
	var a, b []string
	for i := range 30 {
		a = append(a, fmt.Sprintf("srv/x%02d=1", i))
		b = append(b, fmt.Sprintf("srv/x%02d=22", i))
	}
	put(t, e.T1, append(a, "srv/onlyA=1", "etc/flip.conf=1")...)
	put(t, e.T2, append(b, "srv/onlyB=22", "etc/flip.conf=22")...)
	ra = e.resolver()
	e.tabs["litetree"] = hdrLitetree + `"1","ALL","` + e.T2 + `",,,` + "\n" + `"2",,"` + e.T1 + `",,,` + "\n"
	rb = e.resolver()
	e.Srv.SetResolver(ra)
	return e, ra, rb
}

// mixed says what is wrong with a listing of /srv that is not wholly A or wholly B.
func mixed(ents []fs.DirEntry) string {
	want := map[string]uint64{}
	hasA, hasB := false, false
	for _, d := range ents {
		switch d.Name {
		case "onlyA":
			hasA = true
		case "onlyB":
			hasB = true
		}
	}
	if hasA == hasB {
		return fmt.Sprintf("onlyA %v, onlyB %v", hasA, hasB)
	}
	size := uint64(1)
	if hasB {
		size = 2
	}
	for _, d := range ents {
		want[d.Name] = size
		if d.Attr.Size != size {
			return fmt.Sprintf("%s has %d bytes in a listing of rule set %d", d.Name, d.Attr.Size, size)
		}
	}
	if len(ents) != 31 {
		return fmt.Sprintf("%d names, want 31", len(ents))
	}
	return ""
}

// TestSwitchNeverMixesRules flips the tables between two rule sets as fast as it can
// while readers list a directory and stat its files: each single answer must come wholly
// from one rule set (docs/behaviour.md#live-table-changes).
func TestSwitchNeverMixesRules(t *testing.T) {
	e, ra, rb := flipEnv(t)
	v := e.view("n1")
	stop := make(chan struct{})
	var flips atomic.Int64
	var wg sync.WaitGroup
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
				e.Srv.SetResolver(rb)
			} else {
				e.Srv.SetResolver(ra)
			}
			flips.Add(1)
		}
	}()
	var bad atomic.Value
	var reads, sawA, sawB atomic.Int64
	deadline := time.Now().Add(time.Second)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				ents, err := v.ReadDir("/srv")
				if err != nil {
					bad.Store("readdir: " + err.Error())
					return
				}
				if m := mixed(ents); m != "" {
					bad.Store(m)
					return
				}
				if ents[0].Name == "onlyA" {
					sawA.Add(1)
				} else {
					sawB.Add(1)
				}
				a, err := v.Getattr("/etc/flip.conf")
				if err != nil || a.Size != 1 && a.Size != 2 {
					bad.Store(fmt.Sprintf("getattr /etc/flip.conf: %v size %d", err, a.Size))
					return
				}
				reads.Add(1)
			}
		}()
	}
	time.Sleep(time.Until(deadline))
	close(stop)
	wg.Wait()
	if m := bad.Load(); m != nil {
		t.Fatalf("an answer mixed the rules of two table snapshots: %s", m)
	}
	if sawA.Load() == 0 || sawB.Load() == 0 {
		t.Fatalf("the readers never saw both rule sets (A %d, B %d, flips %d)", sawA.Load(), sawB.Load(), flips.Load())
	}
	t.Logf("%d listings (A %d, B %d) over %d switches, none mixed", reads.Load(), sawA.Load(), sawB.Load(), flips.Load())
}

// TestPinnedKeepsItsSnapshot: a pinned view answers from the snapshot it was pinned to,
// whatever switches meanwhile; the view itself follows the switch.
func TestPinnedKeepsItsSnapshot(t *testing.T) {
	e, _, rb := flipEnv(t)
	v := e.view("n1")
	pa := v.Pin()
	e.Srv.SetResolver(rb)
	ents, err := pa.ReadDir("/srv")
	if err != nil || mixed(ents) != "" || ents[0].Name != "onlyA" {
		t.Fatalf("pinned listing: %v %v", err, ents)
	}
	if got := mustRead(t, v, "/etc/flip.conf"); got != "22" {
		t.Errorf("the view after the switch reads %q, want 22", got)
	}
	if a, err := pa.Getattr("/etc/flip.conf"); err != nil || a.Size != 1 {
		t.Errorf("pinned getattr: %v size %d, want 1", err, a.Size)
	}
	pp, _ := pa.Plan()
	cp, _ := v.Pin().Plan()
	if pp.Sources[0].Path != e.T1 || cp.Sources[0].Path != e.T2 {
		t.Errorf("pinned plan sources %v, current %v", pp.Sources, cp.Sources)
	}
}

// TestSwitchBumpsDirectoryCtime: after a switch that changes a node's plan, directories
// report a ctime no older than the switch, so NFS clients drop cached listings; a switch
// that leaves the node's plan alone changes nothing.
func TestSwitchBumpsDirectoryCtime(t *testing.T) {
	e, ra, rb := flipEnv(t)
	v := e.view("n1")
	before := mustAttr(t, v, "/srv")
	file := mustAttr(t, v, "/usr/bin/tool")
	x00 := mustAttr(t, v, "/srv/x00")
	e.Srv.SetResolver(resolver.New(ra.Snap, resolver.Config{Mnt: e.Mnt})) // same rules, new resolver
	if a := mustAttr(t, v, "/srv"); !a.Ctime.Equal(before.Ctime) {
		t.Errorf("an unchanged plan moved the ctime of /srv: %v -> %v", before.Ctime, a.Ctime)
	}
	t0 := time.Now()
	e.Srv.SetResolver(rb)
	for _, p := range []string{"/", "/srv", "/etc"} {
		if a := mustAttr(t, v, p); a.Ctime.Before(t0) {
			t.Errorf("%s: ctime %v is older than the switch at %v", p, a.Ctime, t0)
		}
	}
	if a := mustAttr(t, v, "/usr/bin/tool"); !a.Ctime.Equal(file.Ctime) || a.FileID != file.FileID {
		t.Errorf("an image file untouched by the change moved: %+v -> %+v", file, a)
	}
	if a := mustAttr(t, v, "/srv/x00"); a.FileID == x00.FileID {
		t.Errorf("a file now served from another source kept its file id")
	}
	ents, _ := v.ReadDir("/")
	for _, d := range ents {
		if d.Attr.IsDir() && d.Attr.Ctime.Before(t0) {
			t.Errorf("readdir /: %s ctime %v older than the switch", d.Name, d.Attr.Ctime)
		}
	}
	if !strings.Contains(mustNames(t, v, "/srv"), "onlyB") {
		t.Errorf("after the switch /srv lacks onlyB")
	}
}
