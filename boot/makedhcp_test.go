package boot

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"statelite/tables"
)

// makedhcpTables is the Cookbook's sample cluster (management node 172.10.0.1, the
// japan group, cnfs holding state and a litetree, hv32lpar05) with what makedhcp
// needs: a mac table (n02 with a second NIC on the service network and a *NOIP* MAC),
// hosts, three networks (gateway, name servers and NTP with <xcatmaster>, a domain, a
// dynamic range; one network no node is on) and noderes.netboot pxe, xnba and grub2.
const makedhcpTables = "testdata/makedhcp/tables"

// loadTableDir parses every <table>.csv of dir into a validated snapshot (generation 1).
func loadTableDir(t testing.TB, dir string) *tables.Snapshot {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no tables in %s (%v)", dir, err)
	}
	tabs := map[string]*tables.Table{}
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".csv")
		tb, err := tables.Parse(name, r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		tabs[name] = tb
	}
	s := tables.NewSnapshot(1, tabs)
	if probs := tables.Validate(s); tables.HasErrors(probs) {
		t.Fatalf("tables of %s invalid: %v", dir, probs)
	}
	return s
}

// checkGoldenFile compares got with testdata/<rel>, or rewrites it with -update.
func checkGoldenFile(t *testing.T, rel, got string) {
	t.Helper()
	p := filepath.Join("testdata", rel)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./boot -run %s -update to create it, then inspect it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s\n--- got ---\n%s--- want ---\n%s", p, got, want)
	}
}

// TestMakeDHCPGolden renders makedhcp -n of the Cookbook cluster in both formats:
//
//	go test ./boot -run TestMakeDHCP -update
//
// rewrites testdata/makedhcp/{isc,dnsmasq}.conf; TestMakeDHCPRealTools has dhcpd and
// dnsmasq check them.
func TestMakeDHCPGolden(t *testing.T) {
	s := loadTableDir(t, makedhcpTables)
	nodes := NodesWithMAC(s)
	if want := []string{"cnfs", "hv32lpar05", "n01", "n02", "n03", "n04"}; !slices.Equal(nodes, want) {
		t.Fatalf("NodesWithMAC = %v, want %v", nodes, want)
	}
	wantWarn := []string{
		"node hv32lpar05: no hosts.ip (DHCP hands out fixed addresses only)",
		"node n02: mac 52:54:00:0a:02:02 is marked *NOIP* (no fixed address)",
	}
	for _, f := range []string{DHCPFormatISC, DHCPFormatDnsmasq} {
		t.Run(f, func(t *testing.T) {
			c, err := MakeDHCP(s, nodes, MakeDHCPOptions{Format: f, HTTPPort: 80, AllNetworks: true})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Warnings, wantWarn) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(c.Warnings, "\n"), strings.Join(wantWarn, "\n"))
			}
			if c.Server != netip.MustParseAddr("172.10.0.1") || c.ServerFrom != "site.master" {
				t.Errorf("server %s from %q, want 172.10.0.1 from site.master", c.Server, c.ServerFrom)
			}
			var got []string
			for _, h := range c.Hosts {
				got = append(got, h.Node)
			}
			if want := []string{"cnfs", "n01", "n02", "n03", "n04"}; !slices.Equal(got, want) {
				t.Errorf("host entries of %v, want %v", got, want)
			}
			checkGoldenFile(t, filepath.Join("makedhcp", f+".conf"), c.Text())
		})
	}
}

// TestMakeDHCPNetworks: without AllNetworks only the networks the nodes are on are
// written; --server overrides site.master; without either a value standing for the
// server is an error naming the node or network and the column.
func TestMakeDHCPNetworks(t *testing.T) {
	s := loadTableDir(t, makedhcpTables)
	c, err := MakeDHCP(s, []string{"n01"}, MakeDHCPOptions{HTTPPort: 80})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Networks, "subnet 172.10.0.0 netmask 255.255.0.0 {") || strings.Contains(c.Networks, "192.168.1.0") || strings.Contains(c.Networks, "10.20.0.0") {
		t.Errorf("networks of n01 alone:\n%s", c.Networks)
	}
	c, err = MakeDHCP(s, []string{"n02"}, MakeDHCPOptions{Format: DHCPFormatDnsmasq, Server: netip.MustParseAddr("172.10.0.9"), HTTPPort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"dhcp-range=set:net-service,192.168.1.0,static,255.255.255.0,43200",
		"dhcp-option=tag:net-172_10_0_0-255_255_0_0,option:router,172.10.0.9",
		"dhcp-boot=tag:node-n02-5254000a0002,tag:client-ipxe,http://172.10.0.9:8080/tftpboot/xcat/xnba/nodes/n02,,172.10.0.9",
		"dhcp-boot=tag:node-n02-5254000a0102,tag:client-ipxe,http://172.10.0.9:8080/tftpboot/xcat/xnba/nodes/n02,,192.168.1.1",
	} {
		if !hasLine(c.Text(), want) {
			t.Errorf("no line %q in\n%s", want, c.Text())
		}
	}
	if strings.Contains(c.Text(), "10.20.0.0") || c.ServerFrom != "--server" {
		t.Errorf("from %q:\n%s", c.ServerFrom, c.Text())
	}

	// No site.master: every value standing for the server is named.
	site := s.Table("site").Clone()
	site.Rows = site.Rows[1:]
	noMaster := s.With(2, map[string]*tables.Table{"site": site})
	_, err = MakeDHCP(noMaster, []string{"n01", "n04"}, MakeDHCPOptions{HTTPPort: 80})
	if err == nil {
		t.Fatal("no error without site.master and --server")
	}
	for _, want := range []string{
		"node n01: networks.gateway <xcatmaster>, networks.nameservers <xcatmaster>, networks.ntpservers <xcatmaster>, the next-server (noderes.tftpserver and networks.tftpserver unset or <xcatmaster>) stands for the server's address, which is unknown: set site.master or pass --server",
		"node n04: networks.gateway <xcatmaster>, networks.ntpservers <xcatmaster>, noderes.netboot xnba",
		"network 172_10_0_0-255_255_0_0 (172.10.0.0/16): networks.gateway <xcatmaster>",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// --server stands in for site.master.
	if _, err := MakeDHCP(noMaster, []string{"n01"}, MakeDHCPOptions{Server: netip.MustParseAddr("10.0.0.1")}); err != nil {
		t.Errorf("with --server: %v", err)
	}
	// A node whose netboot gives every client the same file has no conditions.
	keys := s.Table("site").Clone()
	keys.SetRow("pxelinuxefi", map[string]string{"value": "pxelinux.0"})
	c, err = MakeDHCP(s.With(2, map[string]*tables.Table{"site": keys}), []string{"n01"}, MakeDHCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Hosts[0].Text; !hasLine(h, `  filename "pxelinux.0";`) || strings.Contains(h, "if ") {
		t.Errorf("one file for every client:\n%s", h)
	}

	// makedhcp -a warns when a file declares no subnet for a node's network.
	for _, f := range []string{DHCPFormatISC, DHCPFormatDnsmasq} {
		c, err := MakeDHCP(s, []string{"n01", "n02"}, MakeDHCPOptions{Format: f})
		if err != nil {
			t.Fatal(err)
		}
		if m := MissingDHCPNetworks(c.Text(), c); len(m) != 0 {
			t.Errorf("%s: missing in the whole file: %v", f, m)
		}
		want := []string{
			"network 172_10_0_0-255_255_0_0 (172.10.0.0/16) of node n01 is not declared in the file (run makedhcp -n, or declare it)",
			"network service (192.168.1.0/24) of node n02 is not declared in the file (run makedhcp -n, or declare it)",
		}
		if m := MissingDHCPNetworks(c.Header, c); !slices.Equal(m, want) {
			t.Errorf("%s: missing in the header alone: %q", f, m)
		}
	}
	if _, err := MakeDHCP(s, []string{"n01"}, MakeDHCPOptions{Format: "kea"}); err == nil || !strings.Contains(err.Error(), `format "kea"`) {
		t.Errorf("format kea: %v", err)
	}
}

// hasLine reports whether text holds line as one whole line.
func hasLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}

// TestMakeDHCPBootChoice checks that the written choice of boot file (the ISC
// conditions and the dnsmasq tags) gives every client what BootFile gives it, and that
// exactly one dnsmasq dhcp-boot line matches each client.
func TestMakeDHCPBootChoice(t *testing.T) {
	s := loadTableDir(t, makedhcpTables)
	self := netip.MustParseAddr("172.10.0.1")
	var clients []Client
	for _, ipxe := range []bool{false, true} {
		clients = append(clients, Client{IPXE: ipxe})
		for _, a := range []uint16{0, 6, 7, 9, 10, 11, 16, 19} {
			clients = append(clients, Client{Arch: a, HasArch: true, IPXE: ipxe})
		}
	}
	for _, netboot := range []string{"pxe", "xnba", "grub2", "grub2-http"} {
		for _, port := range []int{0, 80} {
			l, err := NodeLease(s, "n01", "n01", "5254000a0001")
			if err != nil {
				t.Fatal(err)
			}
			l.Netboot = netboot
			l = l.Resolve(self)
			bs := bootBranches(s, l, self, port)
			for _, c := range clients {
				want := BootFile(s, l, c, self, port)
				if got := iscChoose(t, bs, c); got != want {
					t.Errorf("%s port %d client %+v: ISC conditions give %q, BootFile %q", netboot, port, c, got, want)
				}
				got := dnsmasqChoose(bs, nil, c)
				if len(got) != 1 || got[0] != want {
					t.Errorf("%s port %d client %+v: dnsmasq dhcp-boot lines matching: %q, want only %q", netboot, port, c, got, want)
				}
			}
		}
	}
}

// iscChoose evaluates the branches as dhcpd does (first true condition, else last).
func iscChoose(t *testing.T, bs []bootBranch, c Client) string {
	for _, b := range bs {
		var ok bool
		switch b.cond {
		case "":
			ok = true
		case iscIPXE:
			ok = c.IPXE
		case iscARM64:
			ok = c.HasArch && (c.Arch == 11 || c.Arch == 19)
		case iscEFI:
			ok = c.HasArch && c.Arch != 0
		default:
			t.Fatalf("unknown condition %q", b.cond)
		}
		if ok {
			if b.sub != nil {
				return iscChoose(t, b.sub, c)
			}
			return b.file
		}
	}
	return ""
}

// dnsmasqChoose returns the files of every dhcp-boot line whose tags all match the tags
// the header's dhcp-userclass, dhcp-match and tag-if lines set for c.
func dnsmasqChoose(bs []bootBranch, outer []string, c Client) []string {
	set := map[string]bool{
		tagIPXE:            c.IPXE,
		"client-arch":      c.HasArch,
		"client-arch-bios": c.HasArch && c.Arch == 0,
		tagARM64:           c.HasArch && (c.Arch == 11 || c.Arch == 19),
	}
	set[tagEFI] = set["client-arch"] && !set["client-arch-bios"]
	var out []string
	for _, b := range bs {
		tags := append(append([]string(nil), outer...), b.tags...)
		if b.sub != nil {
			out = append(out, dnsmasqChoose(b.sub, tags, c)...)
			continue
		}
		match := true
		for _, tg := range tags {
			if neg, ok := strings.CutPrefix(tg, "!"); ok {
				match = match && !set[neg]
			} else {
				match = match && set[tg]
			}
		}
		if match {
			out = append(out, b.file)
		}
	}
	return out
}

// TestMakeDHCPSplice: -a replaces a node's region where it is and adds new ones after
// the last region; -d removes regions; lines outside the markers stay; -q finds the
// entries.
func TestMakeDHCPSplice(t *testing.T) {
	entry := func(node, body string) DHCPHostEntry {
		return DHCPHostEntry{Node: node, Text: DHCPHostBegin(node) + "\n" + body + DHCPHostEnd(node) + "\n"}
	}
	text := "# admin's line\nsubnet x {}\n" +
		entry("n1", "host n1 {\n  hardware ethernet 52:54:00:00:00:01;\n  fixed-address 10.0.0.1;\n}\n").Text +
		"# between\n" +
		entry("n2", "dhcp-host=52:54:00:00:00:02,set:node-n2,10.0.0.2,n2\n").Text +
		"# the end\n"
	got, err := SpliceDHCPHosts(text, []DHCPHostEntry{
		entry("n3", "host n3 {\n  hardware ethernet 52:54:00:00:00:03;\n  fixed-address 10.0.0.3;\n}\n"),
		entry("n1", "host n1 {\n  hardware ethernet 52:54:00:00:01:01;\n  fixed-address 10.0.0.1;\n}\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "# admin's line\nsubnet x {}\n" +
		entry("n1", "host n1 {\n  hardware ethernet 52:54:00:00:01:01;\n  fixed-address 10.0.0.1;\n}\n").Text +
		"# between\n" +
		entry("n2", "dhcp-host=52:54:00:00:00:02,set:node-n2,10.0.0.2,n2\n").Text +
		entry("n3", "host n3 {\n  hardware ethernet 52:54:00:00:00:03;\n  fixed-address 10.0.0.3;\n}\n").Text +
		"# the end\n"
	if got != want {
		t.Fatalf("splice:\n%s\nwant:\n%s", got, want)
	}
	q, err := QueryDHCPHosts(got, []string{"n3", "n1", "n2", "n9"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range q {
		lines = append(lines, FormatDHCPHostAddr(e))
	}
	if wantQ := []string{
		"n3: ip-address = 10.0.0.3, hardware-address = 52:54:00:00:00:03",
		"n1: ip-address = 10.0.0.1, hardware-address = 52:54:00:00:01:01",
		"n2: ip-address = 10.0.0.2, hardware-address = 52:54:00:00:00:02",
	}; !slices.Equal(lines, wantQ) {
		t.Errorf("query:\n%s", strings.Join(lines, "\n"))
	}
	rm, removed, err := RemoveDHCPHosts(got, []string{"n9", "n1", "n3"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "# admin's line\nsubnet x {}\n# between\n" + entry("n2", "dhcp-host=52:54:00:00:00:02,set:node-n2,10.0.0.2,n2\n").Text + "# the end\n"; rm != want || !slices.Equal(removed, []string{"n1", "n3"}) {
		t.Errorf("remove: %v\n%s", removed, rm)
	}
	// Into a file without regions, after a blank line.
	got, err = SpliceDHCPHosts("# admin\n", []DHCPHostEntry{entry("n1", "x\n")})
	if err != nil || got != "# admin\n\n"+entry("n1", "x\n").Text {
		t.Errorf("splice into a file without regions: %v\n%s", err, got)
	}
	// A begin line without its end is refused, naming the line.
	if _, err := SpliceDHCPHosts("a\n"+DHCPHostBegin("n1")+"\nb\n", nil); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("unterminated region: %v", err)
	}
	if err := CheckDHCPFormat(generatedPrefix+"isc from the tables of generation 1\n", DHCPFormatDnsmasq); err == nil {
		t.Error("CheckDHCPFormat took an isc file for dnsmasq")
	}
	if err := CheckDHCPFormat("# an admin's own file\n", DHCPFormatDnsmasq); err != nil {
		t.Errorf("CheckDHCPFormat refused a file not written by makedhcp: %v", err)
	}
}
