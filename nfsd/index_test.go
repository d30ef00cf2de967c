package nfsd_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"statelite/fs"
	"statelite/nfsd"
	"statelite/nfsd/wire"
	"statelite/resolver"
	"statelite/tables"
)

// addNodes adds nodes big0001…bigNNNN (group compute, hosts.ip 127.20.x.y) to the
// cluster's tables, plus extra rows for nodelist and hosts; it returns the node names and
// their addresses.
func (tc *testCluster) addNodes(t *testing.T, n int, extraNodes, extraHosts string) (names, addrs []string) {
	t.Helper()
	var nl, hosts strings.Builder
	nl.WriteString("#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n")
	nl.WriteString(`"n1","compute,all",,,,,,,,,,,` + "\n" + `"n2","compute,all",,,,,,,,,,,` + "\n")
	nl.WriteString(extraNodes)
	hosts.WriteString("#node,ip,comments,disable\n" + `"n1","127.0.0.11",,` + "\n" + `"n2","127.0.0.12",,` + "\n")
	hosts.WriteString(extraHosts)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("big%04d", i)
		addr := netip.AddrFrom4([4]byte{127, 20, byte(i / 250), byte(i%250 + 1)}).String()
		names, addrs = append(names, name), append(addrs, addr)
		fmt.Fprintf(&nl, "%q,\"compute,all\",,,,,,,,,,,\n", name)
		fmt.Fprintf(&hosts, "%q,%q,,\n", name, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := tc.store.Edit(ctx, func(*tables.Snapshot) (map[string]*tables.Table, error) {
		out := map[string]*tables.Table{}
		for name, body := range map[string]string{"nodelist": nl.String(), "hosts": hosts.String()} {
			tab, err := tables.Parse(name, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			out[name] = tab
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names, addrs
}

// A cold server (its resolver's index not built) under many simultaneous MNTs and NFS
// calls from many nodes of a large cluster builds the cluster index once, and computes
// the view plan of the nodes that ask only, once each: the work of a request does not
// grow with the nodes in the tables.
func TestColdServerBuildsIndexOnce(t *testing.T) {
	tc := newTestCluster(t)
	const inTables, booting = 3000, 48
	names, addrs := tc.addNodes(t, inTables, "", "")
	res := tc.resolver(t) // cold: nothing built yet
	fsrv, err := fs.New(fs.Config{State: tc.fsState}, res)
	if err != nil {
		t.Fatal(err)
	}
	defer fsrv.Close()
	srv := tc.serve(t, nfsd.Config{FS: fsrv, AdminAllow: allowOnly("127.0.0.1/32")})
	if ix, plans := res.Builds(); ix != 0 || plans != 0 {
		t.Fatalf("before any request: %d index builds, %d plans", ix, plans)
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	start := make(chan struct{})
	for i := 0; i < booting; i++ {
		node, addr := names[i*inTables/booting], addrs[i*inTables/booting]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, srv.addr, addr, authSys(0, 0))
			<-start
			// Half mount the node path, half the image-style export (node by address).
			p := "/nodes/" + node
			if i%2 == 1 {
				p = tc.cl.Root
			}
			fh, st := c.mount(p)
			if st != wire.MNT3OK {
				t.Errorf("%s: MNT %s from %s: status %d", node, p, addr, st)
				failed.Add(1)
				return
			}
			if _, st := c.getattr(fh); st != wire.NFS3OK {
				t.Errorf("%s: GETATTR: status %d", node, st)
				failed.Add(1)
			}
			if _, _, st := c.lookup(fh, "etc"); st != wire.NFS3OK {
				t.Errorf("%s: LOOKUP etc: status %d", node, st)
				failed.Add(1)
			}
			// Another node's view is refused (the index says whose address this is).
			other := names[(i*inTables/booting+1)%inTables]
			if _, st := c.mount("/nodes/" + other); st != wire.MNT3ErrAcces {
				t.Errorf("%s: MNT of %s's view: status %d, want ACCES", node, other, st)
			}
		}()
	}
	close(start)
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	ix, plans := res.Builds()
	if ix != 1 {
		t.Errorf("the cluster index was built %d times, want once", ix)
	}
	if plans > booting {
		t.Errorf("%d view plans computed for %d booting nodes of %d in the tables: plans must be computed per asking node, once", plans, booting, inTables+2)
	}
}

// A MNT of the image-style export from an address that is no node's costs a map lookup:
// no DNS query. Nodes without hosts.ip are resolved in the background (resolver.Names);
// until then their MNT is refused and the log says why; afterwards it succeeds.
func TestImageExportNoDNSOnRequest(t *testing.T) {
	tc := newTestCluster(t)
	tc.addNodes(t, 200, `"dnsnode","compute,all",,,,,,,,,,,`+"\n", "")
	var lookups atomic.Int64
	gate := make(chan struct{})
	names := &resolver.Names{Parallel: 4, Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		<-gate
		if host == "dnsnode" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.55")}, nil
		}
		return nil, fmt.Errorf("no such host %s", host)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	snap, err := tc.store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := resolver.New(snap, resolver.Config{Mnt: tc.mnt, Names: names})
	fsrv, err := fs.New(fs.Config{State: tc.fsState}, res)
	if err != nil {
		t.Fatal(err)
	}
	defer fsrv.Close()
	srv := tc.serve(t, nfsd.Config{FS: fsrv, AdminAllow: allowOnly("127.0.0.1/32")})

	// Names has not run: an unknown address and dnsnode are both refused, with no query.
	stranger := newClient(t, srv.addr, "127.0.0.99", authSys(0, 0))
	dn := newClient(t, srv.addr, "127.0.0.55", authSys(0, 0))
	for i := 0; i < 20; i++ {
		if _, st := stranger.mount(tc.cl.Root); st != wire.MNT3ErrAcces {
			t.Fatalf("MNT %s from an unknown address: status %d, want ACCES", tc.cl.Root, st)
		}
	}
	if _, st := dn.mount(tc.cl.Root); st != wire.MNT3ErrAcces {
		t.Fatalf("MNT from dnsnode's address before its name is resolved: status %d, want ACCES", st)
	}
	if n := lookups.Load(); n != 0 {
		t.Fatalf("%d DNS queries on the request path", n)
	}
	if !strings.Contains(srv.logs.String(), "node names are still being resolved") {
		t.Errorf("the refusal does not say that names are still being resolved:\n%s", srv.logs.String())
	}

	// The background resolution runs (one query: dnsnode is the only node without
	// hosts.ip), then dnsnode mounts its view and the stranger is still refused.
	go names.Run(ctx)
	close(gate)
	for {
		if n, _, pending := res.Index().NodeAt(netip.MustParseAddr("127.0.0.55")); n == "dnsnode" && pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("dnsnode's name was never resolved")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("%d DNS queries to resolve one node name", n)
	}
	fh, st := dn.mount(tc.cl.Root)
	if st != wire.MNT3OK {
		t.Fatalf("MNT from dnsnode's address after resolution: status %d", st)
	}
	dn.mustGetattr(fh)
	for i := 0; i < 20; i++ {
		if _, st := stranger.mount(tc.cl.Root); st != wire.MNT3ErrAcces {
			t.Fatalf("MNT from an unknown address: status %d, want ACCES", st)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("%d DNS queries after requests from an unknown address, want 1 (the background one)", n)
	}
	// A table switch keeps what was resolved (one Names serves every snapshot).
	res2 := resolver.New(snap.With(snap.Gen+1, nil), resolver.Config{Mnt: tc.mnt, Names: names})
	fsrv.SetResolver(res2)
	if _, st := dn.mount(tc.cl.Root); st != wire.MNT3OK {
		t.Errorf("MNT from dnsnode's address after a table switch: status %d", st)
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("%d DNS queries after a table switch, want 1", n)
	}
}
