package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"statelite/bench/storm"
	"statelite/internal/qemutest"
	"statelite/server"
)

// TestStormShort is the short version of the boot-storm benchmark that runs in CI: the
// committed trace of a real boot, replayed from 10 nodes at once (each its own
// connection, address and node), must boot every node without an error; then 10 nodes
// boot 3 times each while a litetree row changes, and no boot may see a mixed view.
func TestStormShort(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the server chowns new files to their callers: run as root")
	}
	tr, err := storm.LoadTrace(filepath.Join("testdata", "boot-trace.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cl, err := storm.Build(ctx, filepath.Join(dir, "cluster"), 10)
	if err != nil {
		t.Fatal(err)
	}
	// Only 127.0.0.1 is an admin address: each node may mount only its own view.
	srv := qemutest.Serve(ctx, t, qemutest.ServeOptions{Tables: cl.Tables, Mnt: cl.Mnt,
		State: filepath.Join(dir, "state"), Tune: func(c *server.Config) {
			c.AdminAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		}})
	addr := "127.0.0.1:" + srv.NFSPort
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.Text(0))
		}
	}()

	res, err := storm.Run(ctx, storm.Options{Addr: addr, Trace: tr, Cluster: cl, N: 10, Timeout: time.Minute, BeforeBoot: cl.FreshPersistent})
	if err != nil {
		t.Fatal(err)
	}
	s := storm.Summarize(res, 1)
	t.Logf("10 nodes booted in %.2f s, %d calls, %d errors; p50 %.2f ms, p99 %.2f ms", s.Wall, s.Calls, s.Errors, s.Ops["ALL"].P50, s.Ops["ALL"].P99)
	if s.Errors != 0 {
		t.Errorf("%d errors: %q", s.Errors, s.ErrorSample)
	}
	if want := 10 * len(tr.Ops); s.Calls < want {
		t.Errorf("%d calls replayed, want at least %d", s.Calls, want)
	}
	for _, nr := range res.Nodes {
		if len(nr.Boots) != 1 || len(nr.Boots[0].Gens) != 3 {
			t.Errorf("%s: boots %+v, want 1 boot with 3 probe answers (2 reads, 1 listing)", nr.Node, nr.Boots)
		}
	}

	// A litetree change under load.
	var once sync.Once
	var flipAt time.Time
	flipErr := make(chan error, 1)
	res, err = storm.Run(ctx, storm.Options{Addr: addr, Trace: tr, Cluster: cl, N: 10, Boots: 3, Timeout: time.Minute,
		BeforeBoot: cl.FreshPersistent,
		OnBoot: func(done int) {
			if done >= 10 {
				once.Do(func() {
					flipAt = time.Now()
					go func() { flipErr <- cl.Flip(ctx, storm.GenB) }()
				})
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if flipAt.IsZero() {
		t.Fatal("the flip never fired")
	}
	if err := <-flipErr; err != nil {
		t.Fatal(err)
	}
	f := storm.SummarizeFlip(res, 3, flipAt.Sub(res.T0))
	t.Logf("live change: %d boots old, %d new, %d crossed, %d mixed; %d stale retries; %d errors; switch seen %.0f ms after the edit",
		f.AllOld, f.AllNew, f.Crossed, f.Mixed, f.Stale, f.Errors, f.SwitchLagSec*1000)
	if f.Mixed != 0 || f.OldAfterNew != 0 {
		t.Errorf("%d mixed boots, %d old answers after the first new one", f.Mixed, f.OldAfterNew)
	}
	// Each answer knows when the call that brought it was sent: before it arrived.
	for _, nr := range res.Nodes {
		for _, b := range nr.Boots {
			if len(b.GenSent) != len(b.Gens) {
				t.Fatalf("%s: %d probe answers, %d send times", nr.Node, len(b.Gens), len(b.GenSent))
			}
			for i := range b.GenSent {
				if b.GenSent[i] <= 0 || b.GenSent[i] > b.GenAt[i] {
					t.Errorf("%s: answer %d sent at %v, seen at %v", nr.Node, i, b.GenSent[i], b.GenAt[i])
				}
			}
		}
	}
	if f.LastOldSentAt <= 0 || f.LastOldSentAt > f.LastOldAt {
		t.Errorf("the last old answer was sent at %.3f s and seen at %.3f s", f.LastOldSentAt, f.LastOldAt)
	}
	if f.Errors != 0 {
		t.Errorf("%d errors: %q", f.Errors, f.ErrorSample)
	}
	if f.AllOld == 0 {
		t.Errorf("no boot saw the old generation")
	}
	// Whenever the edit landed, a boot after it sees the new generation (the server
	// reloads within a few hundred ms of the edit).
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, err := storm.Run(ctx, storm.Options{Addr: addr, Trace: tr, Cluster: cl, N: 1, Timeout: time.Minute, BeforeBoot: cl.FreshPersistent})
		if err != nil {
			t.Fatal(err)
		}
		g := after.Nodes[0].Boots[0].Gens
		if len(g) == 3 && g[0] == storm.GenB && g[2] == storm.GenB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a boot 5 s after the edit saw %v, want generation B", g)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
