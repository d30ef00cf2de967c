package nfsd_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"statelite/fs"
	"statelite/nfsd"
	"statelite/resolver"
	"statelite/tables"
)

// TestServiceNodesAndSharedSecret: two servers (own fs and nfsd state: volatile layers
// and handle tables are per server; image and persistent trees are shared) with one
// handle secret (as the PostgreSQL store shares it). Each serves only its nodes and
// refuses the other's at MNT with a log line naming the node and its server; a node
// assigned to both moves from A to B and B accepts A's handles.
func TestServiceNodesAndSharedSecret(t *testing.T) {
	tc := newTestCluster(t)
	ctx := context.Background()
	_, err := tc.store.Edit(ctx, func(*tables.Snapshot) (map[string]*tables.Table, error) {
		tab, err := tables.Parse("noderes", strings.NewReader("#node,servicenode,netboot,xcatmaster\n"+
			`"n1","srvA",,"127.0.0.1"`+"\n"+`"n2","srvB",,"127.0.0.1"`+"\n"+`"compute",,"pxe","127.0.0.1"`+"\n"))
		if err != nil {
			return nil, err
		}
		return map[string]*tables.Table{"noderes": tab}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{7}, 32)
	fsB, err := fs.New(fs.Config{State: filepath.Join(tc.cl.Dir, "stateB", "fs")}, tc.resolver(t))
	if err != nil {
		t.Fatal(err)
	}
	defer fsB.Close()
	tc.fsrv.SetResolver(tc.resolver(t))
	a := tc.serve(t, nfsd.Config{Names: []string{"srvA"}, Secret: secret})
	b := tc.serve(t, nfsd.Config{FS: fsB, State: filepath.Join(tc.cl.Dir, "stateB"), Names: []string{"srvB"}, Secret: secret})

	ca := newClient(t, a.addr, "", authSys(0, 0))
	cb := newClient(t, b.addr, "", authSys(0, 0))
	if _, st := ca.mount("/nodes/n1"); st != 0 {
		t.Errorf("A refused its own node n1: %d", st)
	}
	if _, st := ca.mount("/nodes/n2"); st == 0 {
		t.Errorf("A mounted n2, which srvB serves")
	}
	if !strings.Contains(a.logs.String(), "served by another server") || !strings.Contains(a.logs.String(), "its_server=srvB") {
		t.Errorf("A's log does not say why n2 was refused:\n%s", a.logs.String())
	}
	if _, st := cb.mount("/nodes/n1"); st == 0 {
		t.Errorf("B mounted n1, which srvA serves")
	}
	if _, st := cb.mount("/nodes/n2"); st != 0 {
		t.Errorf("B refused its own node n2: %d", st)
	}

	// n1 is assigned to both: a client moves from A to B with A's handles.
	_, err = tc.store.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		nr := cur.Table("noderes").Clone()
		nr.Rows[0].Cells[nr.Schema.Col("servicenode")] = tables.Val("srvA,srvB")
		return map[string]*tables.Table{"noderes": nr}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := tc.store.Load(ctx)
	tc.fsrv.SetResolver(resolver.New(snap, resolver.Config{Mnt: tc.mnt}))
	fsB.SetResolver(resolver.New(snap, resolver.Config{Mnt: tc.mnt}))
	rootA := ca.mustMount("/nodes/n1")
	passA := ca.walk(rootA, "/etc/passwd")
	rootB := cb.mustMount("/nodes/n1")
	if !bytes.Equal(rootA, rootB) {
		t.Errorf("the servers give n1's root different handles: %x %x", rootA, rootB)
	}
	cb.walk(rootB, "/etc/passwd") // B learns the path (its handle table is its own)
	if got := cb.readAll(passA); got != demoPass {
		t.Errorf("A's handle of /etc/passwd read through B: %q", got)
	}
	if _, st := cb.getattr(rootA); st != 0 {
		t.Errorf("A's root handle on B: %d", st)
	}
}
