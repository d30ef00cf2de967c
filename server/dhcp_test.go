package server

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"statelite/boot"
	"statelite/internal/need"
	"statelite/internal/testenv"
)

// TestServerDHCPDiscovery: the assembled server's DHCP (on lo) with sequential discovery
// running: unknown MACs are bound to the free nodes of the range in arrival order through
// the table store and answered at once with those nodes' addresses; a MAC beyond the
// range gets nothing; every request is in the discovery records once the server stops
// and in /metrics while it runs. The packets go through the server's handler (the real
// exchange on a TAP device is e2e.TestQemuDHCP).
func TestServerDHCPDiscovery(t *testing.T) {
	need.Root(t, "DHCP binds UDP port 67 on an interface")
	cl := testenv.Demo(t)
	state := filepath.Join(t.TempDir(), "state")
	ctx := context.Background()
	// nodediscoverstart n1,n2 (the server checks the file at most once a second).
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := boot.WriteDiscoverySeq(state, "n1,n2"); err != nil {
		t.Fatal(err)
	}
	srv := runServer(t, Config{State: state, Tables: cl.Tables, Mnt: filepath.Join(cl.Dir, "mnt"), DHCP: []string{"lo"}})
	in, err := boot.IfaceInfo("lo")
	if err != nil {
		t.Fatal(err)
	}
	discover := func(mac string) *dhcpv4.DHCPv4 {
		hw, _ := net.ParseMAC(mac)
		p, err := dhcpv4.New(dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover),
			dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := srv.dhcp.Handle(ctx, in, false, p.ToBytes(), netip.MustParseAddrPort("0.0.0.0:68"))
		if b == nil {
			return nil
		}
		r, err := dhcpv4.FromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i, mac := range []string{"52:54:00:dd:00:01", "52:54:00:dd:00:02"} {
		r := discover(mac)
		if r == nil {
			t.Fatalf("%s: no answer while sequential discovery runs; log:\n%s", mac, srv.log.String())
		}
		if want := []string{"127.0.0.11", "127.0.0.12"}[i]; r.YourIPAddr.String() != want {
			t.Errorf("%s: offered %s, want %s (n%d's hosts.ip)", mac, r.YourIPAddr, want, i+1)
		}
		t.Logf("%s: offered %s, file %s", mac, r.YourIPAddr, r.BootFileName)
	}
	if r := discover("52:54:00:dd:00:03"); r != nil {
		t.Errorf("a MAC beyond the range was answered: %v", r)
	}
	// In arrival order, through the store.
	macs, err := os.ReadFile(filepath.Join(cl.Tables, "mac.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(macs), `"n1",,"52:54:00:dd:00:01"`) || !strings.Contains(string(macs), `"n2",,"52:54:00:dd:00:02"`) {
		t.Errorf("mac.csv after discovery:\n%s", macs)
	}
	// The tables reload: the bound MACs are then known nodes.
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.fs.Resolver().Index().NodesByMAC("525400dd0001")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r := discover("52:54:00:dd:00:01"); r == nil || !strings.HasPrefix(r.YourIPAddr.String(), "127.0.0.1") {
		t.Errorf("after the reload: %v", r)
	}
	_, body := srv.get(t, "/metrics")
	for _, want := range []string{`statelite_dhcp_packets_total{outcome="offer",type="discover"} 3`, `statelite_dhcp_packets_total{outcome="unknown",type="discover"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s:\n%s", want, body)
		}
	}
	srv.stop()
	recs, err := boot.ReadDiscovered(state)
	if err != nil || len(recs) != 3 {
		t.Fatalf("discovery records %+v, %v; want 3", recs, err)
	}
	bound := 0
	for _, r := range recs {
		if r.Node != "" {
			bound++
		}
	}
	if bound != 2 {
		t.Errorf("records bound to a node: %d, want 2: %+v", bound, recs)
	}
}
