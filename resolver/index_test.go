package resolver_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/resolver"
	"statelite/tables"
)

// clusterTabs: n nodes c00001… in group compute (hosts.ip 10.1.x.y from a group regex row
// for the first half, per-node rows for the second), plus the given extra nodelist rows.
func clusterTabs(n int, extraNodes, extraHosts string) tabs {
	var nl, hosts, mac strings.Builder
	nl.WriteString("#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n")
	hosts.WriteString("#node,ip,comments,disable\n")
	mac.WriteString("#node,interface,mac,comments,disable\n")
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("c%05d", i)
		fmt.Fprintf(&nl, "%q,\"compute,all\",,,,,,,,,,,\n", name)
		fmt.Fprintf(&hosts, "%q,\"10.1.%d.%d\",,\n", name, i/250, i%250+1)
		fmt.Fprintf(&mac, "%q,,\"52:54:00:%02x:%02x:%02x!%s|aa:bb:cc:00:00:%02x\",,\n", name, i>>16&0xff, i>>8&0xff, i&0xff, name, i%200)
	}
	nl.WriteString(extraNodes)
	hosts.WriteString(extraHosts)
	return baseTabs().with(tabs{"nodelist": nl.String(), "hosts": hosts.String(), "mac": mac.String(),
		"noderes": "#node,servicenode,nfsserver,comments,disable\n" +
			`"c00002","sn1,sn2",,,` + "\n" + `"c00003",,"nfs9",,` + "\n"})
}

func TestIndex(t *testing.T) {
	snap := mkSnap(t, clusterTabs(500,
		`"10.9.9.9","compute,all",,,,,,,,,,,`+"\n"+`"twin1","compute,all",,,,,,,,,,,`+"\n"+`"twin2","compute,all",,,,,,,,,,,`+"\n"+`"dnsonly","compute,all",,,,,,,,,,,`+"\n",
		`"twin1","10.7.0.1",,`+"\n"+`"twin2","10.7.0.1",,`+"\n"))
	mustValid(t, snap)
	r := resolver.New(snap, cfg(t.TempDir()))
	ix := r.Index()
	if r.Index() != ix {
		t.Fatal("a second Index call built another index")
	}
	addr := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	for _, c := range []struct {
		addr, node string
		amb        int
	}{
		{"10.1.0.2", "c00001", 0},
		{"10.1.1.251", "", 0}, // i%250+1 is at most 250
		{"10.1.2.1", "c00500", 0},
		{"::ffff:10.1.0.2", "c00001", 0}, // v4-mapped
		{"10.9.9.9", "10.9.9.9", 0},      // a node named by its address
		{"10.7.0.1", "", 2},              // two nodes share a hosts.ip: neither
		{"10.200.0.1", "", 0},
	} {
		n, amb, pending := ix.NodeAt(addr(c.addr))
		if n != c.node || len(amb) != c.amb || pending != 0 {
			t.Errorf("NodeAt(%s) = %q, %v, %d; want %q with %d ambiguous", c.addr, n, amb, pending, c.node, c.amb)
		}
	}
	if got := ix.NodesByMAC("525400000007"); len(got) != 1 || got[0] != "c00007" {
		t.Errorf("NodesByMAC = %v", got)
	}
	if got := ix.NodesByMAC("aabbcc000007"); len(got) != 3 { // c00007, c00207, c00407
		t.Errorf("a MAC of three nodes: %v", got)
	}
	for _, n := range []string{"c00001", "c00499", "twin2"} {
		if got, ok := ix.NodeByID(resolver.NodeID(n)); !ok || got != n {
			t.Errorf("NodeByID(%s) = %q, %v", n, got, ok)
		}
		found := false
		for _, m := range ix.NodesByTag(resolver.NodeTag(resolver.NodeID(n))) {
			found = found || m == n
		}
		if !found {
			t.Errorf("NodesByTag does not list %s", n)
		}
	}
	root := "/install/netboot/rhels8.6/x86_64/compute/rootimg"
	for p, want := range map[string]bool{root: true, root + "/etc/x": true, "/install/netboot": false, root + "x": false, "/": false} {
		if got, ok := ix.ImageRoot(p); ok != want || (ok && got != root) {
			t.Errorf("ImageRoot(%s) = %q, %v", p, got, ok)
		}
	}
	if d, ok := ix.ImageDir("rhels8.6-x86_64-statelite-compute"); !ok || d != "/install/netboot/rhels8.6/x86_64/compute" {
		t.Errorf("ImageDir = %q, %v", d, ok)
	}
	if ix.ServerOf("c00002") != "sn1,sn2" || ix.ServerOf("c00003") != "nfs9" || ix.ServerOf("c00004") != "" {
		t.Errorf("ServerOf: %q %q %q", ix.ServerOf("c00002"), ix.ServerOf("c00003"), ix.ServerOf("c00004"))
	}
	if !ix.Serves([]string{"sn2"}, "c00002") || ix.Serves([]string{"sn3"}, "c00002") || !ix.Serves([]string{"sn3"}, "c00004") || !ix.Serves(nil, "c00003") {
		t.Error("Serves")
	}
	// Without Names, a node known by DNS only has no address: no lookups, nothing pending.
	if n, _, pending := ix.NodeAt(addr("10.50.0.1")); n != "" || pending != 0 {
		t.Errorf("NodeAt without Names: %q, %d pending", n, pending)
	}
}

// Plans are computed once per node and snapshot, however many callers ask at once.
func TestPlansOncePerNode(t *testing.T) {
	snap := mkSnap(t, clusterTabs(200, "", ""))
	r := resolver.New(snap, cfg(t.TempDir()))
	var wg sync.WaitGroup
	plans := make([]*resolver.Plan, 64)
	for i := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.Plan(fmt.Sprintf("c%05d", 1+i%8))
			if err != nil {
				t.Error(err)
			}
			plans[i] = p
		}()
	}
	wg.Wait()
	if _, n := r.Builds(); n != 8 {
		t.Errorf("%d plans computed for 8 nodes", n)
	}
	for i := range plans {
		if plans[i] != plans[i%8] {
			t.Fatalf("two callers got different plan objects for one node")
		}
	}
	if _, err := r.Plan("nosuchnode"); err == nil {
		t.Error("a plan for a node not in the tables")
	}
	if _, n := r.Builds(); n != 8 {
		t.Errorf("a missing node's plan was computed (%d)", n)
	}
}

// Names: the index of each snapshot asks for its DNS-only nodes; Run resolves them in
// the background (bounded), requests see the result with a map lookup, and a new
// snapshot keeps what was resolved.
func TestNames(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]int{}
	inflight, peak := 0, 0
	names := &resolver.Names{Parallel: 3, Refresh: time.Hour, Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		mu.Lock()
		asked[host]++
		inflight++
		peak = max(peak, inflight)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		inflight--
		mu.Unlock()
		var i int
		if _, err := fmt.Sscanf(host, "d%d", &i); err != nil {
			return nil, fmt.Errorf("no such host")
		}
		return []netip.Addr{netip.AddrFrom4([4]byte{10, 60, byte(i / 250), byte(i%250 + 1)})}, nil
	}}
	var extra strings.Builder
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&extra, "\"d%d\",\"compute,all\",,,,,,,,,,,\n", i)
	}
	extra.WriteString(`"unresolvable","compute,all",,,,,,,,,,,` + "\n")
	snap := mkSnap(t, clusterTabs(100, extra.String(), ""))
	c := cfg(t.TempDir())
	c.Names = names
	ix := resolver.New(snap, c).Index()
	if n, _, pending := ix.NodeAt(netip.MustParseAddr("10.60.0.8")); n != "" || pending != 41 {
		t.Fatalf("before Run: %q, %d pending; want none and 41", n, pending)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go names.Run(ctx)
	waitUntil(ctx, t, "names never resolved", func() bool {
		_, _, pending := ix.NodeAt(netip.MustParseAddr("10.200.0.1"))
		return pending == 0
	})
	if n, _, _ := ix.NodeAt(netip.MustParseAddr("10.60.0.8")); n != "d7" {
		t.Errorf("NodeAt(d7's address) = %q", n)
	}
	mu.Lock()
	if len(asked) != 41 || peak > 3 {
		t.Errorf("%d names asked (want the 41 DNS-only nodes), %d lookups at once (want ≤ 3)", len(asked), peak)
	}
	for h, k := range asked {
		if k != 1 {
			t.Errorf("%s asked %d times", h, k)
		}
	}
	mu.Unlock()
	// A new snapshot without d7 and with d41: d7's address is no node's any more, d41 is
	// resolved, nothing is asked again.
	extra.Reset()
	for i := 1; i <= 41; i++ {
		if i != 7 {
			fmt.Fprintf(&extra, "\"d%d\",\"compute,all\",,,,,,,,,,,\n", i)
		}
	}
	ix2 := resolver.New(mkSnap(t, clusterTabs(100, extra.String(), "")), c).Index()
	if n, _, _ := ix2.NodeAt(netip.MustParseAddr("10.60.0.8")); n != "" {
		t.Errorf("a removed node's address: %q", n)
	}
	waitUntil(ctx, t, "d41 never resolved", func() bool {
		n, _, _ := ix2.NodeAt(netip.MustParseAddr("10.60.0.42"))
		return n == "d41"
	})
	if n, _, _ := ix2.NodeAt(netip.MustParseAddr("10.60.0.9")); n != "d8" {
		t.Errorf("d8 after the switch: %q", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 42 || asked["d41"] != 1 || asked["d8"] != 1 {
		t.Errorf("after the switch: %d names asked, d41 %d times, d8 %d times", len(asked), asked["d41"], asked["d8"])
	}
}

// waitUntil polls cond every 5 ms until it holds, failing with what when ctx ends first.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal(what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// BenchmarkIndex: building the cluster index of 1,000 and 10,000 nodes (once per
// snapshot), and a request's lookups in it (which must not grow with the cluster).
func BenchmarkIndex(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		snap := mkSnap(b, clusterTabs(n, "", ""))
		b.Run(fmt.Sprintf("build-%d", n), func(b *testing.B) {
			for b.Loop() {
				resolver.New(snap, resolver.Config{}).Index()
			}
		})
		ix := resolver.New(snap, resolver.Config{}).Index()
		a := netip.MustParseAddr("10.1.2.1")
		root := "/install/netboot/rhels8.6/x86_64/compute/rootimg/etc"
		b.Run(fmt.Sprintf("request-%d", n), func(b *testing.B) {
			for b.Loop() {
				ix.NodeAt(a)
				ix.NodesByTag(resolver.NodeTag(resolver.NodeID("c00007")))
				ix.ImageRoot(root)
			}
		})
	}
}

// A table switch that changes only the views' rules (litefile, litetree, statelite)
// takes over the index of the tables in force, serving the new snapshot; the same rows
// parsed anew count as unchanged; any other table changed, or another configuration,
// builds a new index that shows the change.
func TestReuseIndex(t *testing.T) {
	tt := clusterTabs(300, "", "")
	a := mkSnap(t, tt)
	c := cfg(t.TempDir())
	ra := resolver.New(a, c)
	ixa := ra.Index()

	rules := a.With(2, map[string]*tables.Table{"litetree": mustParse(t, "litetree", "#priority,image,directory,mntopts,comments,disable\n\"1\",,\"/srv/other\",,,\n")})
	rb := resolver.New(rules, c)
	if !rb.ReuseIndex(ra) {
		t.Fatal("a litetree change did not reuse the index")
	}
	if ix, _ := rb.Builds(); ix != 0 || rb.Index().Snap() != rules {
		t.Fatalf("reused index: %d builds, serves generation %d", ix, rb.Index().Snap().Gen)
	}
	if n, _, _ := rb.Index().NodeAt(netip.MustParseAddr("10.1.0.5")); n != "c00004" {
		t.Errorf("the reused index finds %q at 10.1.0.5", n)
	}
	if n, ok := rb.Index().NodeByID(resolver.NodeID("c00007")); !ok || n != "c00007" || ixa.Snap() != a {
		t.Errorf("the reused index finds %q by id; the old one serves generation %d", n, ixa.Snap().Gen)
	}

	reparsed := mkSnap(t, tt) // the same rows in new tables (a restart's first load)
	if !resolver.New(reparsed, c).ReuseIndex(ra) {
		t.Error("the same rows parsed anew did not reuse the index")
	}

	const row = `"c00250","10.1.1.1"`
	if !strings.Contains(tt["hosts"], row) {
		t.Fatalf("fixture: no hosts row %s", row)
	}
	moved := mkSnap(t, tt.with(tabs{"hosts": strings.Replace(tt["hosts"], row, `"c00250","10.1.9.9"`, 1)}))
	rm := resolver.New(moved, c)
	if rm.ReuseIndex(ra) {
		t.Fatal("a hosts change reused the index")
	}
	if n, _, _ := rm.Index().NodeAt(netip.MustParseAddr("10.1.9.9")); n != "c00250" {
		t.Errorf("after a hosts change 10.1.9.9 is %q", n)
	}
	if resolver.New(rules, cfg(t.TempDir())).ReuseIndex(ra) {
		t.Error("another configuration reused the index")
	}
	if rb.ReuseIndex(ra) {
		t.Error("a resolver whose index was set took another")
	}
}

func mustParse(t *testing.T, name, text string) *tables.Table {
	t.Helper()
	tab, err := tables.Parse(name, strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}
