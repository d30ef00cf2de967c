package cli_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"statelite/boot"
	"statelite/tables"
)

// discoverTables are nodes n001..n005, n002 with a mac already.
func discoverTables(t *testing.T) string {
	return writeTables(t, map[string]string{
		"nodelist": "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n" +
			`"n001","compute,all",,,,,,,,,,,` + "\n" + `"n002","compute,all",,,,,,,,,,,` + "\n" + `"n003","compute,all",,,,,,,,,,,` + "\n" +
			`"n004","compute,all",,,,,,,,,,,` + "\n" + `"n005","compute,all",,,,,,,,,,,` + "\n",
		"mac": "#node,interface,mac,comments,disable\n" + `"n002","eth0","52:54:00:00:00:02",,` + "\n",
	})
}

// testClock is a clock the test moves, safe for the flusher to read.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// serverDiscovery is what the server's DHCP does with unknown MACs: a boot.Discovery over
// the state directory binding through the table store in tabdir. seen reports each MAC
// with the tables as the server last loaded them, and returns the nodes bound.
func serverDiscovery(t *testing.T, tabdir, state string, clk *testClock, macs ...string) []string {
	t.Helper()
	st, err := tables.OpenDir(tabdir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := boot.OpenDiscovery(boot.DiscoveryConfig{Dir: state, Now: clk.Now, Bind: boot.DiscoveryBinder(st)})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range macs {
		clk.Add(time.Second)
		got = append(got, d.Seen(ctx, snap, boot.Discovered{MAC: m, Iface: "eth1", Arch: boot.DiscoveryArch(7, true), Vendor: "PXEClient:Arch:00007:UNDI:003016"}))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDiscoverSequentialCLI(t *testing.T) {
	tabdir, state := discoverTables(t), t.TempDir()
	clk := &testClock{t: time.Now()}

	if out := mustRun(t, tabdir, "nodediscoverstatus", "--state", state); out != "Sequential Discovery is stopped.\n" {
		t.Errorf("status before the start:\n%s", out)
	}
	r := cliRun(t, tabdir, "", "nodediscoverstart", "noderange=x[1-3]", "--state", state)
	if r.code != 1 || !strings.Contains(r.stderr, "no defined node") {
		t.Errorf("a range without defined nodes: exit %d\n%s", r.code, r.stderr)
	}
	r = cliRun(t, tabdir, "", "nodediscoverstart", "noderange=n[001-005]", "hostiprange=10.0.0.1-10.0.0.5", "--state", state)
	if r.code != 1 || !strings.Contains(r.stderr, "hostiprange=: not supported") {
		t.Errorf("hostiprange=: exit %d\n%s", r.code, r.stderr)
	}
	out := mustRun(t, tabdir, "nodediscoverstart", "noderange=n[001-006]", "--state", state)
	for _, l := range []string{"Sequential Discovery: Started:", "    Number of free node names: 4", "    Not defined (skipped): n006"} {
		if !hasLine(out, l) {
			t.Errorf("nodediscoverstart output lacks %q:\n%s", l, out)
		}
	}
	r = cliRun(t, tabdir, "", "nodediscoverstart", "n[001-005]", "--state", state)
	if r.code != 1 || !strings.Contains(r.stderr, "Sequential Discovery is running (noderange=n[001-006])") {
		t.Errorf("a second start: exit %d\n%s", r.code, r.stderr)
	}
	out = mustRun(t, tabdir, "nodediscoverstatus", "--state", state)
	if !hasLine(out, "Sequential discovery is running.") || !hasLine(out, "    The parameters used for discovery: noderange=n[001-006]") {
		t.Errorf("status while running:\n%s", out)
	}

	got := serverDiscovery(t, tabdir, state, clk, "52:54:00:00:01:01", "52:54:00:00:01:02", "52:54:00:00:01:03")
	if want := "n001 n003 n004"; strings.Join(got, " ") != want {
		t.Fatalf("bound %v, want %s", got, want)
	}
	dump := mustRun(t, tabdir, "tabdump", "mac")
	for _, l := range []string{`"n001",,"52:54:00:00:01:01",,`, `"n002","eth0","52:54:00:00:00:02",,`, `"n003",,"52:54:00:00:01:02",,`, `"n004",,"52:54:00:00:01:03",,`} {
		if !hasLine(dump, l) {
			t.Errorf("mac table lacks %s:\n%s", l, dump)
		}
	}

	for _, args := range [][]string{{"nodediscoverls", "-t", "seq"}, {"nodediscoverls"}} {
		out = mustRun(t, tabdir, append(args, "--state", state)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 5 || lines[0] != "Discovered 3 nodes (sequential discovery of n[001-006] running)." || !strings.HasPrefix(lines[1], "MAC ") {
			t.Fatalf("%s:\n%s", strings.Join(args, " "), out)
		}
		for i, want := range []string{"52:54:00:00:01:01 n001 sequential x86_64-efi PXEClient:Arch:00007:UNDI:003016", "52:54:00:00:01:02 n003 sequential", "52:54:00:00:01:03 n004 sequential"} {
			if f := strings.Join(strings.Fields(lines[2+i]), " "); !strings.HasPrefix(f, want) || !strings.HasSuffix(f, " 1") {
				t.Errorf("%s line %d: %q, want %q…1", strings.Join(args, " "), i, f, want)
			}
		}
	}
	out = mustRun(t, tabdir, "nodediscoverls", "-t", "seq", "-l", "--state", state)
	for _, l := range []string{"Object mac: 52:54:00:00:01:02", "    node=n003", "    method=sequential", "    arch=x86_64-efi", "    interface=eth1", "    count=1"} {
		if !hasLine(out, l) {
			t.Errorf("nodediscoverls -l lacks %q:\n%s", l, out)
		}
	}

	out = mustRun(t, tabdir, "nodediscoverstop", "--state", state)
	for _, l := range []string{"Sequential Discovery: Stopped.", "Discovered 3 nodes."} {
		if !hasLine(out, l) {
			t.Errorf("nodediscoverstop output lacks %q:\n%s", l, out)
		}
	}
	for _, n := range []string{"n001", "n003", "n004"} {
		if !strings.Contains(out, "    "+n+" ") {
			t.Errorf("nodediscoverstop does not list %s:\n%s", n, out)
		}
	}
	r = cliRun(t, tabdir, "", "nodediscoverstop", "--state", state)
	if r.code != 1 || !strings.Contains(r.stderr, "Sequential Discovery is stopped.") {
		t.Errorf("a second stop: exit %d\n%s", r.code, r.stderr)
	}

	// Stopped: a new MAC is recorded, not bound.
	before := mustRun(t, tabdir, "tabdump", "mac")
	if got := serverDiscovery(t, tabdir, state, clk, "52:54:00:00:01:04"); got[0] != "" {
		t.Errorf("bound %s after nodediscoverstop", got[0])
	}
	if after := mustRun(t, tabdir, "tabdump", "mac"); after != before {
		t.Errorf("mac table changed after the stop:\n%s", after)
	}
	out = mustRun(t, tabdir, "nodediscoverls", "--state", state)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "52:54:00:00:01:04 undef undef") {
		t.Errorf("default listing after the stop:\n%s", out)
	}
	if out := mustRun(t, tabdir, "nodediscoverls", "-t", "all", "--state", state); strings.Count(out, "\n") != 5 {
		t.Errorf("-t all:\n%s", out)
	}
}

func TestNodediscoverdef(t *testing.T) {
	tabdir, state := discoverTables(t), t.TempDir()
	clk := &testClock{t: time.Now()}
	serverDiscovery(t, tabdir, state, clk, "52:54:00:00:02:01", "52:54:00:00:02:02", "52:54:00:00:02:03")
	out := mustRun(t, tabdir, "nodediscoverls", "--state", state)
	if n := strings.Count(out, " undef  undef "); n != 3 {
		t.Fatalf("default listing before: %d undef records, want 3\n%s", n, out)
	}
	before := storeFiles(t, tabdir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "52:54:00:00:02:01", "-n", "n009"}, `node "n009" is not defined`},
		{[]string{"-m", "52:54:00:00:02", "-n", "n001"}, `MAC "52:54:00:00:02" is not a MAC address`},
		{[]string{"-m", "52:54:00:00:00:02", "-n", "n001"}, "MAC 52:54:00:00:00:02 already belongs to node n002"},
		{[]string{"-u", "51E5F2D7-0D59-11E2-A7BC-3440B5BEDBB4", "-n", "n001"}, "-u 51E5F2D7-0D59-11E2-A7BC-3440B5BEDBB4: not supported"},
		{[]string{"-m", "52:54:00:00:02:01"}, "both -m MAC and -n NODE are required"},
	} {
		r := cliRun(t, tabdir, "", append(append([]string{"nodediscoverdef"}, tc.args...), "--state", state)...)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("nodediscoverdef %s: exit %d, stderr lacks %q:\n%s", strings.Join(tc.args, " "), r.code, tc.want, r.stderr)
		}
	}
	sameFiles(t, before, storeFiles(t, tabdir))

	out = mustRun(t, tabdir, "nodediscoverdef", "-m", "52-54-00-00-02-01", "-n", "n003", "--state", state)
	if out != "Defined [52:54:00:00:02:01] to node n003.\n" {
		t.Errorf("nodediscoverdef output:\n%s", out)
	}
	// A node with a mac gets the new one instead, as in xCAT.
	out = mustRun(t, tabdir, "nodediscoverdef", "-m", "52:54:00:00:02:02", "-n", "n002", "--state", state)
	if !hasLine(out, "Defined [52:54:00:00:02:02] to node n002.") || !hasLine(out, "    (its mac was 52:54:00:00:00:02)") {
		t.Errorf("replacing n002's mac:\n%s", out)
	}
	dump := mustRun(t, tabdir, "tabdump", "mac")
	for _, l := range []string{`"n002","eth0","52:54:00:00:02:02",,`, `"n003",,"52:54:00:00:02:01",,`} {
		if !hasLine(dump, l) {
			t.Errorf("mac table lacks %s:\n%s", l, dump)
		}
	}
	st, err := tables.OpenDir(tabdir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if who, _, ok := st.EditedBy(snap.Gen); !ok || !strings.Contains(who, "nodediscoverdef") {
		t.Errorf("the edit is not recorded as nodediscoverdef's: %q %v", who, ok)
	}

	out = mustRun(t, tabdir, "nodediscoverls", "--state", state)
	if strings.Contains(out, "52:54:00:00:02:01") || strings.Contains(out, "52:54:00:00:02:02") || !strings.Contains(out, "52:54:00:00:02:03") {
		t.Errorf("default listing after nodediscoverdef:\n%s", out)
	}
	out = mustRun(t, tabdir, "nodediscoverls", "-t", "manual", "--state", state)
	for _, want := range []string{"52:54:00:00:02:01 n003 manual", "52:54:00:00:02:02 n002 manual"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
			t.Errorf("-t manual lacks %q:\n%s", want, out)
		}
	}
	// The same binding again changes nothing.
	mustRun(t, tabdir, "nodediscoverdef", "-m", "52:54:00:00:02:01", "-n", "n003", "--state", state)
	if s2, err := st.Load(context.Background()); err != nil || s2.Gen != snap.Gen {
		t.Errorf("a repeated nodediscoverdef made a new generation (%v)", err)
	}
}
