package boot

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"statelite/resolver"
	"statelite/tables"
)

// dhcpTables is the cluster of the DHCP tests: networks 10.0.0.0/16 (gateway and a
// name server <xcatmaster>, a dynamic range) and 10.1.0.0/16 (served by another DHCP
// server); n1 pxe, n2 xnba with a second MAC of host n2-ib0, n3 grub2 with proxydhcp no,
// n4 without hosts.ip, n5 on the other network, n6 and n7 sharing a MAC.
func dhcpTables() map[string]string {
	return map[string]string{
		"site": "#key,value\n" + `"master","10.0.0.1"` + "\n" + `"domain","cluster.example"` + "\n" +
			`"nameservers","10.0.0.53"` + "\n" + `"dhcplease","3600"` + "\n",
		"nodelist": "#node,groups\n" + `"n1","compute,all"` + "\n" + `"n2","compute,all"` + "\n" + `"n3","compute,all"` + "\n" +
			`"n4","compute,all"` + "\n" + `"n5","compute,all"` + "\n" + `"n6","all"` + "\n" + `"n7","all"` + "\n" + `"n2-ib0","ib"` + "\n",
		"networks": "#netname,net,mask,mgtifname,gateway,dhcpserver,tftpserver,nameservers,dynamicrange,domain,mtu\n" +
			`"mgt","10.0.0.0","255.255.0.0","eth1","<xcatmaster>",,,"<xcatmaster>,10.0.0.54","10.0.200.1-10.0.200.2","mgt.example","9000"` + "\n" +
			`"other","10.1.0.0","255.255.0.0",,"10.1.0.254","sn2",,,,,` + "\n",
		"noderes": "#node,netboot,proxydhcp,tftpserver\n" + `"n2","xnba",,` + "\n" + `"n3","grub2","no","10.0.0.9"` + "\n",
		"hosts": "#node,ip\n" + `"n1","10.0.0.11"` + "\n" + `"n2","10.0.0.12"` + "\n" + `"n2-ib0","10.0.100.12"` + "\n" +
			`"n3","10.0.0.13"` + "\n" + `"n5","10.1.0.15"` + "\n" + `"n6","10.0.0.16"` + "\n" + `"n7","10.0.0.17"` + "\n",
		"mac": "#node,interface,mac\n" +
			`"n1","eth0","52:54:00:00:00:01"` + "\n" +
			`"n2","eth0","52:54:00:00:00:02!n2|52-54-00-00-01-02!n2-ib0"` + "\n" +
			`"n3","eth0","525400000003"` + "\n" +
			`"n4","eth0","52:54:00:00:00:04"` + "\n" +
			`"n5","eth0","52:54:00:00:00:05"` + "\n" +
			`"n6","eth0","52:54:00:00:00:66"` + "\n" + `"n7","eth0","52:54:00:00:00:66"` + "\n",
	}
}

type dhcpFixture struct {
	d       *DHCP
	in      DHCPIface
	mu      sync.Mutex
	r       *resolver.Resolver
	unknown []Unknown
	log     bytes.Buffer
}

func newDHCPFixture(t testing.TB, edit func(map[string]string)) *dhcpFixture {
	t.Helper()
	files := dhcpTables()
	if edit != nil {
		edit(files)
	}
	fx := &dhcpFixture{in: DHCPIface{Name: "eth1", Addr: netip.MustParseAddr("10.0.0.1"), Prefix: netip.MustParsePrefix("10.0.0.0/16")}}
	fx.r = resolver.New(snapshot(t, files, "/install", "/img"), resolver.Config{})
	d, err := NewDHCP(DHCPConfig{
		Resolver: func() *resolver.Resolver { fx.mu.Lock(); defer fx.mu.Unlock(); return fx.r },
		HTTPPort: 80,
		Names:    []string{"mn1"},
		Unknown: func(ctx context.Context, s *tables.Snapshot, u Unknown) string {
			fx.mu.Lock()
			defer fx.mu.Unlock()
			fx.unknown = append(fx.unknown, u)
			return ""
		},
		Log: slog.New(slog.NewTextHandler(&fx.log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.d = d
	return fx
}

// packet builds a client's message.
func packet(t testing.TB, mac string, mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	ipxeBIOS = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)), dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE"))}
	pxeBIOS = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC))}
	uefi64 = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64))}
	arm64 = []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00011:UNDI:003000")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_ARM64))}
)

// ask sends p and parses the reply (nil for none).
func (fx *dhcpFixture) ask(t testing.TB, in DHCPIface, pxe bool, p *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, netip.AddrPort) {
	t.Helper()
	b, dst := fx.d.Handle(context.Background(), in, pxe, p.ToBytes(), netip.MustParseAddrPort("0.0.0.0:68"))
	if b == nil {
		return nil, dst
	}
	r, err := dhcpv4.FromBytes(b)
	if err != nil {
		t.Fatalf("our reply does not parse: %v", err)
	}
	return r, dst
}

func TestDHCPAnswers(t *testing.T) {
	fx := newDHCPFixture(t, nil)
	bcast := netip.MustParseAddrPort("255.255.255.255:68")
	for _, tc := range []struct {
		name, mac string
		mods      []dhcpv4.Modifier
		ip, file  string
		next      string
	}{
		{"n1 iPXE ROM, pxe", "52:54:00:00:00:01", ipxeBIOS, "10.0.0.11", "pxelinux.0", "10.0.0.1"},
		{"n1 UEFI, pxe", "52:54:00:00:00:01", uefi64, "10.0.0.11", "efi64/syslinux.efi", "10.0.0.1"},
		{"n2 iPXE, xnba: our HTTP script URL", "52:54:00:00:00:02", ipxeBIOS, "10.0.0.12", "http://10.0.0.1/tftpboot/xcat/xnba/nodes/n2", "10.0.0.1"},
		{"n2 plain PXE ROM, xnba: iPXE to chain-load", "52:54:00:00:00:02", pxeBIOS, "10.0.0.12", "xcat/xnba.kpxe", "10.0.0.1"},
		{"n2 UEFI, xnba", "52:54:00:00:00:02", uefi64, "10.0.0.12", "xcat/xnba.efi", "10.0.0.1"},
		{"n2-ib0: the address of the !host", "52:54:00:00:01:02", pxeBIOS, "10.0.100.12", "xcat/xnba.kpxe", "10.0.0.1"},
		{"n3 grub2 x86-64 UEFI, noderes.tftpserver", "52:54:00:00:00:03", uefi64, "10.0.0.13", "boot/grub2/grubx64.efi", "10.0.0.9"},
		{"n3 grub2 arm64 UEFI", "52:54:00:00:00:03", arm64, "10.0.0.13", "boot/grub2/grubaa64.efi", "10.0.0.9"},
		{"n1 udhcpc (no PXE)", "52:54:00:00:00:01", nil, "10.0.0.11", "pxelinux.0", "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offer, dst := fx.ask(t, fx.in, false, packet(t, tc.mac, dhcpv4.MessageTypeDiscover, tc.mods...))
			if offer == nil {
				t.Fatalf("no offer; log:\n%s", fx.log.String())
			}
			if offer.MessageType() != dhcpv4.MessageTypeOffer || dst != bcast {
				t.Errorf("reply %s to %s, want an offer broadcast", offer.MessageType(), dst)
			}
			if offer.YourIPAddr.String() != tc.ip || offer.BootFileName != tc.file || offer.ServerIPAddr.String() != tc.next {
				t.Errorf("offer: ip %s file %q next-server %s; want %s %q %s", offer.YourIPAddr, offer.BootFileName, offer.ServerIPAddr, tc.ip, tc.file, tc.next)
			}
			// The network's options: mask, router and first name server <xcatmaster>,
			// domain and MTU of the networks row; lease time from site.dhcplease.
			if m := net.IP(offer.SubnetMask()).String(); m != "255.255.0.0" {
				t.Errorf("mask %s", m)
			}
			if r := offer.Router(); len(r) != 1 || r[0].String() != "10.0.0.1" {
				t.Errorf("router %v, want 10.0.0.1 (<xcatmaster>)", r)
			}
			if d := offer.DNS(); len(d) != 2 || d[0].String() != "10.0.0.1" || d[1].String() != "10.0.0.54" {
				t.Errorf("name servers %v, want 10.0.0.1 10.0.0.54", d)
			}
			if offer.DomainName() != "mgt.example" || offer.IPAddressLeaseTime(0) != time.Hour {
				t.Errorf("domain %q lease %s", offer.DomainName(), offer.IPAddressLeaseTime(0))
			}
			if mtu := offer.GetOneOption(dhcpv4.OptionInterfaceMTU); !bytes.Equal(mtu, []byte{0x23, 0x28}) {
				t.Errorf("mtu option %x, want 2328 (9000)", mtu)
			}
			// REQUEST for the offered address: ACK; for another: NAK.
			req := packet(t, tc.mac, dhcpv4.MessageTypeRequest, append(tc.mods,
				dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(offer.YourIPAddr)),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.0.1"))))...)
			ack, _ := fx.ask(t, fx.in, false, req)
			if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.YourIPAddr.String() != tc.ip || ack.BootFileName != tc.file {
				t.Errorf("ack: %v", ack)
			}
			bad := packet(t, tc.mac, dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.0.9.9"))))
			if nak, _ := fx.ask(t, fx.in, false, bad); nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
				t.Errorf("request for another address: %v, want a NAK", nak)
			}
			// A request that names another server is not ours to answer.
			other := packet(t, tc.mac, dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.0.2"))))
			if r, _ := fx.ask(t, fx.in, false, other); r != nil {
				t.Errorf("request for server 10.0.0.2 answered: %v", r)
			}
		})
	}
	if h := fx.d.Counts(); h["discover/offer"] != 9 || h["request/ack"] != 9 || h["request/nak"] != 9 || h["request/otherserver"] != 9 {
		t.Errorf("counts %v", h)
	}
}

func TestDHCPRefusals(t *testing.T) {
	fx := newDHCPFixture(t, nil)
	for _, tc := range []struct{ name, mac, outcome string }{
		{"no hosts.ip", "52:54:00:00:00:04", "noaddress"},
		{"another server's network (networks.dhcpserver sn2)", "52:54:00:00:00:05", "otherserver"},
		{"a MAC of two nodes", "52:54:00:00:00:66", "ambiguous"},
	} {
		if r, _ := fx.ask(t, fx.in, false, packet(t, tc.mac, dhcpv4.MessageTypeDiscover, pxeBIOS...)); r != nil {
			t.Errorf("%s: answered %v", tc.name, r)
		}
		if fx.d.Counts()["discover/"+tc.outcome] != 1 {
			t.Errorf("%s: counts %v, want discover/%s", tc.name, fx.d.Counts(), tc.outcome)
		}
	}
	// n5's network is another server's; an address off the interface's network is not
	// answered either (unless relayed).
	if !strings.Contains(fx.log.String(), "node=n4") || !strings.Contains(fx.log.String(), "nodes=n6,n7") {
		t.Errorf("the log names neither n4 nor n6,n7:\n%s", fx.log.String())
	}
	// Malformed packets are dropped and counted.
	for _, b := range [][]byte{nil, {1}, bytes.Repeat([]byte{0xff}, 300), packet(t, "52:54:00:00:00:01", dhcpv4.MessageTypeOffer).ToBytes()[:200]} {
		if r, _ := fx.d.Handle(context.Background(), fx.in, false, b, netip.AddrPort{}); r != nil {
			t.Errorf("reply to garbage %x", b)
		}
	}
	if n := fx.d.Counts()["none/malformed"]; n != 4 {
		t.Errorf("malformed counted %d, want 4 (%v)", n, fx.d.Counts())
	}
	// A BOOTREPLY (another server's answer seen on the wire) is not answered.
	rep := packet(t, "52:54:00:00:00:01", dhcpv4.MessageTypeOffer)
	rep.OpCode = dhcpv4.OpcodeBootReply
	if r, _ := fx.d.Handle(context.Background(), fx.in, false, rep.ToBytes(), netip.AddrPort{}); r != nil {
		t.Error("answered a BOOTREPLY")
	}
}

func TestDHCPUnknownAndDynamic(t *testing.T) {
	fx := newDHCPFixture(t, nil)
	// Unknown MACs: recorded; addresses from networks.dynamicrange (two), no boot file.
	var got []string
	for i, mac := range []string{"52:54:00:aa:00:01", "52:54:00:aa:00:02", "52:54:00:aa:00:03"} {
		r, _ := fx.ask(t, fx.in, false, packet(t, mac, dhcpv4.MessageTypeDiscover, pxeBIOS...))
		if i < 2 {
			if r == nil || r.BootFileName != "" {
				t.Fatalf("%s: %v, want an offer without a boot file", mac, r)
			}
			got = append(got, r.YourIPAddr.String())
		} else if r != nil {
			t.Errorf("%s: offered %s though the dynamic range is used up", mac, r.YourIPAddr)
		}
	}
	if strings.Join(got, ",") != "10.0.200.1,10.0.200.2" {
		t.Errorf("dynamic addresses %v", got)
	}
	if len(fx.unknown) != 3 || fx.unknown[0].MAC != "525400aa0001" || fx.unknown[0].Iface != "eth1" || !fx.unknown[0].HasArch ||
		!strings.HasPrefix(fx.unknown[0].Vendor, "PXEClient") {
		t.Errorf("unknown MACs recorded: %+v", fx.unknown)
	}
	// The same MAC keeps its address; a RELEASE frees it.
	r, _ := fx.ask(t, fx.in, false, packet(t, "52:54:00:aa:00:01", dhcpv4.MessageTypeDiscover))
	if r == nil || r.YourIPAddr.String() != "10.0.200.1" {
		t.Errorf("second discover: %v", r)
	}
	fx.ask(t, fx.in, false, packet(t, "52:54:00:aa:00:01", dhcpv4.MessageTypeRelease))
	if r, _ := fx.ask(t, fx.in, false, packet(t, "52:54:00:aa:00:03", dhcpv4.MessageTypeDiscover)); r == nil || r.YourIPAddr.String() != "10.0.200.1" {
		t.Errorf("after the release: %v", r)
	}
	// Without a dynamic range: no answer at all.
	fx = newDHCPFixture(t, func(f map[string]string) {
		f["networks"] = strings.Replace(f["networks"], `"10.0.200.1-10.0.200.2"`, "", 1)
	})
	if r, _ := fx.ask(t, fx.in, false, packet(t, "52:54:00:aa:00:01", dhcpv4.MessageTypeDiscover, pxeBIOS...)); r != nil {
		t.Errorf("unknown MAC answered without a dynamicrange: %v", r)
	}
	if fx.d.Counts()["discover/unknown"] != 1 {
		t.Errorf("counts %v", fx.d.Counts())
	}
}

func TestDHCPLiveTables(t *testing.T) {
	fx := newDHCPFixture(t, nil)
	mac := "52:54:00:bb:00:01"
	if r, _ := fx.ask(t, fx.in, false, packet(t, mac, dhcpv4.MessageTypeDiscover, pxeBIOS...)); r == nil || r.BootFileName != "" {
		t.Fatalf("before: %v", r) // a dynamic address, no boot
	}
	// chtab mac…: the next DISCOVER gets the node's fixed address and boot file.
	files := dhcpTables()
	files["mac"] += `"n4","eth0","` + mac + `"` + "\n"
	files["mac"] = strings.Replace(files["mac"], `"n4","eth0","52:54:00:00:00:04"`+"\n", "", 1)
	files["hosts"] += `"n4","10.0.0.14"` + "\n"
	fx.mu.Lock()
	fx.r = resolver.New(snapshot(t, files, "/install", "/img"), resolver.Config{})
	fx.mu.Unlock()
	if r, _ := fx.ask(t, fx.in, false, packet(t, mac, dhcpv4.MessageTypeDiscover, pxeBIOS...)); r == nil || r.YourIPAddr.String() != "10.0.0.14" || r.BootFileName != "pxelinux.0" {
		t.Errorf("after chtab: %v", r)
	}
}

func TestDHCPProxy(t *testing.T) {
	fx := newDHCPFixture(t, nil)
	in := fx.in
	in.Proxy = true
	// The proxy offer: no address, our boot file and server, PXEClient and the PXE
	// discovery control option.
	offer, dst := fx.ask(t, in, false, packet(t, "52:54:00:00:00:01", dhcpv4.MessageTypeDiscover, ipxeBIOS...))
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer || !offer.YourIPAddr.IsUnspecified() ||
		offer.BootFileName != "pxelinux.0" || offer.ServerIPAddr.String() != "10.0.0.1" || offer.ClassIdentifier() != "PXEClient" ||
		!bytes.Equal(offer.GetOneOption(dhcpv4.OptionVendorSpecificInformation), []byte{6, 1, 8, 255}) || dst.Port() != 68 {
		t.Fatalf("proxy offer %v to %s", offer, dst)
	}
	if len(offer.Router()) != 0 || offer.SubnetMask() != nil {
		t.Errorf("the proxy offer carries address options: %v", offer)
	}
	// Port 4011: the boot server's ACK goes back to the client's address.
	req := packet(t, "52:54:00:00:00:01", dhcpv4.MessageTypeRequest, append(ipxeBIOS, dhcpv4.WithClientIP(net.ParseIP("10.0.0.11")))...)
	b, dst := fx.d.Handle(context.Background(), in, true, req.ToBytes(), netip.MustParseAddrPort("10.0.0.11:68"))
	ack, err := dhcpv4.FromBytes(b)
	if err != nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileName != "pxelinux.0" || dst.String() != "10.0.0.11:68" {
		t.Fatalf("port 4011 answer %v (%v) to %s", ack, err, dst)
	}
	// Not answered in proxy mode: a REQUEST on 67 (the site's server's business), a
	// client that is no PXE firmware, a node with proxydhcp no, an unknown MAC.
	for name, p := range map[string]*dhcpv4.DHCPv4{
		"request on 67":    packet(t, "52:54:00:00:00:01", dhcpv4.MessageTypeRequest, ipxeBIOS...),
		"udhcpc":           packet(t, "52:54:00:00:00:01", dhcpv4.MessageTypeDiscover),
		"proxydhcp no":     packet(t, "52:54:00:00:00:03", dhcpv4.MessageTypeDiscover, uefi64...),
		"unknown MAC":      packet(t, "52:54:00:cc:00:01", dhcpv4.MessageTypeDiscover, pxeBIOS...),
		"discover on 4011": packet(t, "52:54:00:00:00:01", dhcpv4.MessageTypeDiscover, pxeBIOS...),
	} {
		if r, _ := fx.ask(t, in, name == "discover on 4011", p); r != nil {
			t.Errorf("%s: answered %v", name, r)
		}
	}
	if len(fx.unknown) != 1 {
		t.Errorf("unknown MACs recorded in proxy mode: %+v", fx.unknown)
	}
}

func TestRateLimit(t *testing.T) {
	r := rateLimit{every: time.Minute, burst: 3}
	now := time.Unix(1000, 0)
	n := 0
	for i := 0; i < 100; i++ {
		if _, ok := r.allow(now); ok {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d allowed in a minute, want 3", n)
	}
	if s, ok := r.allow(now.Add(time.Minute)); !ok || s != 97 {
		t.Errorf("next minute: suppressed %d, %v; want 97, true", s, ok)
	}
}

// FuzzDHCP feeds the DHCP server any packet, on either kind of interface and port: it
// never panics, and whatever it answers parses, is a BOOTREPLY to the asking MAC, and
// hands out only a node's fixed address, one of the dynamic range, or none.
func FuzzDHCP(f *testing.F) {
	for _, p := range []*dhcpv4.DHCPv4{
		packet(f, "52:54:00:00:00:01", dhcpv4.MessageTypeDiscover, ipxeBIOS...),
		packet(f, "52:54:00:00:00:02", dhcpv4.MessageTypeRequest, uefi64...),
		packet(f, "52:54:00:00:00:03", dhcpv4.MessageTypeDiscover, arm64...),
		packet(f, "52:54:00:aa:00:01", dhcpv4.MessageTypeDiscover),
		packet(f, "52:54:00:00:00:01", dhcpv4.MessageTypeRelease),
	} {
		f.Add(p.ToBytes(), false, false)
		f.Add(p.ToBytes(), true, true)
	}
	fx := newDHCPFixture(f, nil)
	allowed := map[string]bool{"0.0.0.0": true, "10.0.200.1": true, "10.0.200.2": true}
	for _, ip := range []string{"10.0.0.11", "10.0.0.12", "10.0.100.12", "10.0.0.13"} {
		allowed[ip] = true
	}
	f.Fuzz(func(t *testing.T, pkt []byte, proxy, pxe bool) {
		in := fx.in
		in.Proxy = proxy
		b, _ := fx.d.Handle(context.Background(), in, pxe, pkt, netip.MustParseAddrPort("10.0.0.99:68"))
		if b == nil {
			return
		}
		rep, err := dhcpv4.FromBytes(b)
		if err != nil {
			t.Fatalf("our reply does not parse: %v", err)
		}
		req, _ := dhcpv4.FromBytes(pkt)
		if rep.OpCode != dhcpv4.OpcodeBootReply || req == nil || !bytes.Equal(rep.ClientHWAddr, req.ClientHWAddr) || rep.TransactionID != req.TransactionID {
			t.Fatalf("reply %v to %v", rep, req)
		}
		if !allowed[rep.YourIPAddr.String()] {
			t.Fatalf("handed out %s", rep.YourIPAddr)
		}
	})
}
