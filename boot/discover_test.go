package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/tables"
)

// discClock is a test clock moved by hand, safe for concurrent use.
type discClock struct {
	mu sync.Mutex
	t  time.Time
}

func newDiscClock() *discClock {
	return &discClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *discClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *discClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// discLog is a log buffer the logger, the flusher and the test share.
type discLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *discLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *discLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (l *discLog) count(sub string) int {
	n := 0
	for _, line := range l.lines() {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

func (l *discLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// discMAC is the i-th test MAC.
func discMAC(i int) string {
	return fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", i>>24&0xff, i>>16&0xff, i>>8&0xff, i&0xff)
}

func openDisc(t *testing.T, cfg DiscoveryConfig) *Discovery {
	t.Helper()
	d, err := OpenDiscovery(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// seqTables are nodes n001..n005, n002 with a mac already.
func seqTables(t *testing.T) *tables.Snapshot {
	return snapshot(t, map[string]string{
		"nodelist": "#node,groups\n" +
			`"n001","all"` + "\n" + `"n002","all"` + "\n" + `"n003","all"` + "\n" +
			`"n004","all"` + "\n" + `"n005","all"` + "\n",
		"mac": "#node,interface,mac\n" + `"n002","eth0","52:54:00:00:00:02"` + "\n",
	}, "", "")
}

func TestDiscoverBounded(t *testing.T) {
	dir := t.TempDir()
	clk := newDiscClock()
	var lg discLog
	d := openDisc(t, DiscoveryConfig{Dir: dir, Max: 10000, Log: lg.logger(), Now: clk.Now})
	ctx := context.Background()
	for i := 0; i < 12000; i++ {
		clk.Add(time.Millisecond)
		if n := d.Seen(ctx, nil, Discovered{MAC: discMAC(i), Iface: "eth0", Arch: "x86", Vendor: "PXEClient:Arch:00000:UNDI:002001"}); n != "" {
			t.Fatalf("Seen bound %s without sequential discovery", n)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadDiscovered(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 10000 {
		t.Fatalf("%d records kept, want 10000", len(recs))
	}
	for i, r := range recs {
		// Sorted by First: the survivors are MACs 2000..11999 in order.
		if want := strings.ReplaceAll(discMAC(2000+i), ":", ""); r.MAC != want {
			t.Fatalf("record %d is %s, want %s (the 2000 oldest dropped, the rest by First)", i, r.MAC, want)
		}
		if r.Count != 1 || r.Iface != "eth0" || r.Arch != "x86" || r.Node != "" {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	// 12 seconds of new MACs: ten lines, one "records full", one summary at Close.
	if n := lg.count(`msg="unknown MAC"`); n != 10 {
		t.Errorf("%d \"unknown MAC\" lines, want 10", n)
	}
	if n := lg.count("11990 more unknown MACs not logged"); n != 1 {
		t.Errorf("summary line missing:\n%s", strings.Join(lg.lines(), "\n"))
	}
	if n := len(lg.lines()); n > 13 {
		t.Errorf("%d log lines for 12000 MACs, want at most 13:\n%s", n, strings.Join(lg.lines(), "\n"))
	}
}

func TestDiscoverLogWindow(t *testing.T) {
	clk := newDiscClock()
	var lg discLog
	d := openDisc(t, DiscoveryConfig{Dir: t.TempDir(), Log: lg.logger(), Now: clk.Now})
	ctx := context.Background()
	// Three minutes of 100 new MACs a minute: ten lines and a summary each minute.
	for i := 0; i < 300; i++ {
		d.Seen(ctx, nil, Discovered{MAC: discMAC(i)})
		clk.Add(600 * time.Millisecond)
	}
	d.Close()
	if n := lg.count(`msg="unknown MAC"`); n != 30 {
		t.Errorf("%d \"unknown MAC\" lines in 3 minutes, want 30", n)
	}
	if n := lg.count("90 more unknown MACs not logged"); n != 3 {
		t.Errorf("%d summaries, want 3:\n%s", n, strings.Join(lg.lines(), "\n"))
	}
}

func TestDiscoverRepeatedMAC(t *testing.T) {
	dir := t.TempDir()
	clk := newDiscClock()
	d := openDisc(t, DiscoveryConfig{Dir: dir, Now: clk.Now})
	ctx := context.Background()
	t0 := clk.Now()
	d.Seen(ctx, nil, Discovered{MAC: "52:54:00:AA:BB:CC", Iface: "eth0", Arch: "x86"})
	clk.Add(time.Second)
	d.Seen(ctx, nil, Discovered{MAC: "52-54-00-aa-bb-cc", Iface: "eth1"})
	clk.Add(time.Second)
	t2 := clk.Now()
	d.Seen(ctx, nil, Discovered{MAC: "525400aabbcc", Arch: "x86_64-efi", Vendor: "PXEClient:Arch:00007:UNDI:003016"})
	d.Seen(ctx, nil, Discovered{MAC: "not a mac"}) // ignored
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadDiscovered(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Discovered{MAC: "525400aabbcc", Iface: "eth1", Arch: "x86_64-efi", Vendor: "PXEClient:Arch:00007:UNDI:003016", First: t0, Last: t2, Count: 3}
	if len(recs) != 1 || !recs[0].First.Equal(want.First) || !recs[0].Last.Equal(want.Last) ||
		recs[0].MAC != want.MAC || recs[0].Count != 3 || recs[0].Iface != want.Iface || recs[0].Arch != want.Arch || recs[0].Vendor != want.Vendor {
		t.Fatalf("records %+v, want one %+v", recs, want)
	}

	// A restart keeps the record and goes on counting.
	d2 := openDisc(t, DiscoveryConfig{Dir: dir, Now: clk.Now})
	d2.Seen(ctx, nil, Discovered{MAC: "52:54:00:aa:bb:cc"})
	d2.Close()
	recs, _ = ReadDiscovered(dir)
	if len(recs) != 1 || recs[0].Count != 4 || !recs[0].First.Equal(t0) {
		t.Fatalf("after a restart: %+v", recs)
	}
}

func TestDiscoverCorruptFile(t *testing.T) {
	dir := t.TempDir()
	bad := []byte(`{"records":[{"mac":"5254`)
	if err := os.WriteFile(DiscoveryFile(dir), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDiscovered(dir); err == nil {
		t.Error("ReadDiscovered of a corrupt file: no error")
	}
	var lg discLog
	d, err := OpenDiscovery(DiscoveryConfig{Dir: dir, Log: lg.logger()})
	if err != nil {
		t.Fatalf("a corrupt file failed the server: %v", err)
	}
	aside, _ := filepath.Glob(DiscoveryFile(dir) + ".bad-*")
	if len(aside) != 1 {
		t.Fatalf("corrupt file not moved aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, bad) {
		t.Errorf("moved-aside file holds %q", b)
	}
	if lg.count("moved aside") != 1 {
		t.Errorf("no log line for the corrupt file:\n%s", strings.Join(lg.lines(), "\n"))
	}
	if _, err := os.Stat(DiscoveryFile(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("discovery.json still there: %v", err)
	}
	d.Seen(context.Background(), nil, Discovered{MAC: "52:54:00:00:00:99"})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadDiscovered(dir)
	if err != nil || len(recs) != 1 || recs[0].MAC != "525400000099" {
		t.Fatalf("after an empty start: %+v, %v", recs, err)
	}
}

// bindLog is a fake Bind recording its calls.
type bindLog struct {
	mu    sync.Mutex
	calls []string // "node mac"
	fail  error
}

func (b *bindLog) Bind(ctx context.Context, node, mac string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.calls = append(b.calls, node+" "+mac)
	return nil
}

func (b *bindLog) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

func TestDiscoverSequential(t *testing.T) {
	dir := t.TempDir()
	clk := newDiscClock()
	var lg discLog
	var bl bindLog
	s := seqTables(t)
	ctx := context.Background()
	d := openDisc(t, DiscoveryConfig{Dir: dir, Log: lg.logger(), Now: clk.Now, Bind: bl.Bind})
	// Without the file, nothing is bound.
	if n := d.Seen(ctx, s, Discovered{MAC: "02:00:00:00:00:0f"}); n != "" {
		t.Fatalf("bound %s with sequential discovery off", n)
	}
	if err := WriteDiscoverySeq(dir, "n[001-005]"); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Second) // the file is looked at once a second
	// New MACs get the free nodes in the range's order (n002 has a mac).
	var got []string
	for _, m := range []string{"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"} {
		got = append(got, d.Seen(ctx, s, Discovered{MAC: m}))
	}
	if want := []string{"n001", "n003", "n004"}; !slices.Equal(got, want) {
		t.Fatalf("bound %v, want %v", got, want)
	}
	wantCalls := []string{"n001 020000000001", "n003 020000000002", "n004 020000000003"}
	if calls := bl.list(); !slices.Equal(calls, wantCalls) {
		t.Fatalf("Bind calls %v, want %v", calls, wantCalls)
	}
	if n := lg.count(`msg=discovered node=n003 mac=02:00:00:00:00:02`); n != 1 {
		t.Errorf("no \"discovered\" line for n003:\n%s", strings.Join(lg.lines(), "\n"))
	}
	// The same MAC again (the tables have not reloaded): the same node, no second Bind.
	if n := d.Seen(ctx, s, Discovered{MAC: "02:00:00:00:00:01"}); n != "n001" {
		t.Errorf("repeated MAC got %q, want n001", n)
	}
	// The last free node, then the range is used up: logged once.
	if n := d.Seen(ctx, s, Discovered{MAC: "02:00:00:00:00:0f"}); n != "n005" {
		t.Errorf("4th MAC got %q, want n005", n)
	}
	for _, m := range []string{"02:00:00:00:00:10", "02:00:00:00:00:11"} {
		if n := d.Seen(ctx, s, Discovered{MAC: m}); n != "" {
			t.Errorf("%s got %q with the range used up", m, n)
		}
	}
	if n := lg.count("no free node left"); n != 1 {
		t.Errorf("%d \"no free node left\" lines, want 1", n)
	}
	if len(bl.list()) != 4 {
		t.Fatalf("Bind calls %v", bl.list())
	}

	// The tables reload with the bindings: nothing is free. Then an admin removes n003's
	// mac: n003 is free again for a new MAC.
	macs := "#node,interface,mac\n" + `"n001","","02:00:00:00:00:01"` + "\n" + `"n002","eth0","52:54:00:00:00:02"` + "\n" +
		`"n004","","02:00:00:00:00:03"` + "\n" + `"n005","","02:00:00:00:00:0f"` + "\n"
	nodes := "#node,groups\n" + `"n001","all"` + "\n" + `"n002","all"` + "\n" + `"n003","all"` + "\n" +
		`"n004","all"` + "\n" + `"n005","all"` + "\n"
	reloaded := snapshot(t, map[string]string{"nodelist": nodes, "mac": macs + `"n003","","02:00:00:00:00:02"` + "\n"}, "", "")
	if n := d.Seen(ctx, reloaded, Discovered{MAC: "02:00:00:00:00:12"}); n != "" {
		t.Errorf("all nodes bound: got %q", n)
	}
	edited := snapshot(t, map[string]string{"nodelist": nodes, "mac": macs}, "", "")
	if n := d.Seen(ctx, edited, Discovered{MAC: "02:00:00:00:00:12"}); n != "n003" {
		t.Errorf("with n003's mac removed: got %q, want n003", n)
	}
	if n := lg.count("no free node left"); n != 1 {
		t.Errorf("%d \"no free node left\" lines, want 1", n)
	}

	// Stopped: no more binding.
	if ok, err := RemoveDiscoverySeq(dir); !ok || err != nil {
		t.Fatalf("RemoveDiscoverySeq: %v %v", ok, err)
	}
	clk.Add(2 * time.Second)
	calls := len(bl.list())
	s3 := seqTables(t)
	if n := d.Seen(ctx, s3, Discovered{MAC: "02:00:00:00:00:20"}); n != "" {
		t.Errorf("bound %s after the stop", n)
	}
	if len(bl.list()) != calls {
		t.Errorf("Bind called after the stop: %v", bl.list())
	}
	d.Close()
	recs, _ := ReadDiscovered(dir)
	bound := map[string]string{}
	for _, r := range recs {
		if r.Node != "" {
			bound[r.MAC] = r.Node
		}
	}
	want := map[string]string{"020000000001": "n001", "020000000002": "n003", "020000000003": "n004", "02000000000f": "n005", "020000000012": "n003"}
	if fmt.Sprint(bound) != fmt.Sprint(want) {
		t.Errorf("records' nodes %v, want %v", bound, want)
	}
}

func TestDiscoverSequentialBindFailure(t *testing.T) {
	dir := t.TempDir()
	clk := newDiscClock()
	var lg discLog
	bl := bindLog{fail: errors.New("store down")}
	s := seqTables(t)
	ctx := context.Background()
	if err := WriteDiscoverySeq(dir, "n[001-005]"); err != nil {
		t.Fatal(err)
	}
	d := openDisc(t, DiscoveryConfig{Dir: dir, Log: lg.logger(), Now: clk.Now, Bind: bl.Bind})
	for i := 0; i < 5; i++ {
		if n := d.Seen(ctx, s, Discovered{MAC: discMAC(i)}); n != "" {
			t.Fatalf("bound %s with Bind failing", n)
		}
	}
	if n := lg.count("binding failed"); n != 1 {
		t.Errorf("%d \"binding failed\" lines, want 1", n)
	}
	bl.mu.Lock()
	bl.fail = nil
	bl.mu.Unlock()
	clk.Add(2 * time.Second)
	// The node whose binding failed is handed out again.
	if n := d.Seen(ctx, s, Discovered{MAC: discMAC(7)}); n != "n001" {
		t.Errorf("after the store is back: %q, want n001", n)
	}
}

func TestDiscoverConcurrent(t *testing.T) {
	dir := t.TempDir()
	var bl bindLog
	nodes := "#node,groups\n"
	for i := 1; i <= 50; i++ {
		nodes += fmt.Sprintf("\"c%d\",\"all\"\n", i)
	}
	s := snapshot(t, map[string]string{"nodelist": nodes}, "", "")
	if err := WriteDiscoverySeq(dir, "c1-c50"); err != nil {
		t.Fatal(err)
	}
	var lg discLog
	d, err := OpenDiscovery(DiscoveryConfig{Dir: dir, Max: 500, Log: lg.logger(), Bind: bl.Bind})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < 1500; i++ {
				d.Seen(ctx, s, Discovered{MAC: discMAC((i*7 + g*13) % 700), Iface: "eth0"})
			}
		}()
	}
	close(start)
	time.Sleep(5 * time.Millisecond)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := ReadDiscovered(dir); err != nil {
		t.Fatal(err)
	}
	// Every node went to one MAC, every MAC got at most one node.
	byNode, byMAC := map[string]string{}, map[string]string{}
	calls := bl.list()
	for _, c := range calls {
		node, mac, _ := strings.Cut(c, " ")
		if byNode[node] != "" || byMAC[mac] != "" {
			t.Fatalf("double binding: %s (node had %q, MAC had %q)", c, byNode[node], byMAC[mac])
		}
		byNode[node], byMAC[mac] = mac, node
	}
	for i := 1; i <= 50; i++ {
		if byNode[fmt.Sprintf("c%d", i)] == "" {
			t.Errorf("c%d not bound (bindings: %v)", i, calls)
		}
	}
}

func TestDiscoveryArch(t *testing.T) {
	for _, c := range []struct {
		arch    uint16
		present bool
		want    string
	}{{0, false, ""}, {0, true, "x86"}, {7, true, "x86_64-efi"}, {9, true, "x86_64-efi"}, {11, true, "arm64-efi"},
		{16, true, "x86_64-efi-http"}, {19, true, "arm64-efi-http"}, {6, true, "6"}} {
		if got := DiscoveryArch(c.arch, c.present); got != c.want {
			t.Errorf("DiscoveryArch(%d, %v) = %q, want %q", c.arch, c.present, got, c.want)
		}
	}
}

func TestDiscoverySeqOrder(t *testing.T) {
	nodes := "#node,groups\n"
	for _, n := range []string{"n1", "n2", "n10", "n11", "n9"} {
		nodes += fmt.Sprintf("%q,\"all\"\n", n)
	}
	s := snapshot(t, map[string]string{"nodelist": nodes, "mac": "#node,interface,mac\n\"n2\",,\"52:54:00:00:00:02\"\n"}, "", "")
	all, free, missed, err := SeqFreeNodes(s, "n[1-12]")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"n1", "n2", "n9", "n10", "n11"}; !slices.Equal(all, want) {
		t.Errorf("nodes %v, want %v (numbers as numbers)", all, want)
	}
	if want := []string{"n1", "n9", "n10", "n11"}; !slices.Equal(free, want) {
		t.Errorf("free %v, want %v", free, want)
	}
	if len(missed) != 7 {
		t.Errorf("missed %v, want n3..n8 and n12", missed)
	}
}
