package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dhcpCluster writes tables for n1 (xnba), n2 (grub2), n3 (a *NOIP* MAC only) and n4
// (no mac) on 10.0.0.0/24, whose gateway and name server are <xcatmaster>.
func dhcpCluster(t *testing.T) string {
	t.Helper()
	return writeTables(t, map[string]string{
		"site":     "#key,value\n\"master\",\"10.0.0.1\"\n",
		"nodelist": "#node,groups\n\"n1\",\"compute,all\"\n\"n2\",\"compute,all\"\n\"n3\",\"compute,all\"\n\"n4\",\"compute,all\"\n",
		"hosts":    "#node,ip\n\"n1\",\"10.0.0.11\"\n\"n2\",\"10.0.0.12\"\n\"n3\",\"10.0.0.13\"\n\"n4\",\"10.0.0.14\"\n",
		"mac":      "#node,interface,mac\n\"n1\",\"eth0\",\"52:54:00:00:00:01\"\n\"n2\",\"eth0\",\"52:54:00:00:00:02\"\n\"n3\",\"eth0\",\"52:54:00:00:00:03!*NOIP*\"\n",
		"noderes":  "#node,netboot\n\"compute\",\"xnba\"\n\"n2\",\"grub2\"\n",
		"networks": "#netname,net,mask,gateway,nameservers,dynamicrange,domain\n" +
			"\"clusternet\",\"10.0.0.0\",\"255.255.255.0\",\"<xcatmaster>\",\"<xcatmaster>\",\"10.0.0.200-10.0.0.250\",\"cluster.example\"\n",
	})
}

// TestMakedhcpISC runs -n, then -a after n1's MAC changed, -q, -d and -a again against
// a file where the admin wrote lines of their own outside our markers.
func TestMakedhcpISC(t *testing.T) {
	dir := dhcpCluster(t)
	conf := filepath.Join(t.TempDir(), "dhcpd.conf")
	r := cliRun(t, dir, "", "makedhcp", "-n", "--file", conf)
	if r.code != 0 || r.stdout != "" || r.stderr != "Warning: node n3: mac 52:54:00:00:00:03 is marked *NOIP* (no fixed address)\n" {
		t.Fatalf("makedhcp -n: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	text := readFile(t, conf)
	for _, want := range []string{
		"subnet 10.0.0.0 netmask 255.255.255.0 {", "  option routers 10.0.0.1;", "  range 10.0.0.200 10.0.0.250;",
		"# statelite host n1 begin", "  hardware ethernet 52:54:00:00:00:01;", `    filename "http://10.0.0.1/tftpboot/xcat/xnba/nodes/n1";`,
		"# statelite host n2 begin", `    filename "boot/grub2/grubx64.efi";`,
	} {
		if !hasLine(text, want) {
			t.Errorf("makedhcp -n wrote no line %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "n3") || strings.Contains(text, "n4") {
		t.Errorf("n3 (*NOIP*) or n4 (no mac) has entries:\n%s", text)
	}

	// The admin's own lines, between our regions and at the end; a stricter mode.
	admin := "# admin: a printer of our own\nhost printer {\n  hardware ethernet 00:11:22:33:44:55;\n  fixed-address 10.0.0.99;\n}\n"
	text = strings.Replace(text, "# statelite host n2 begin\n", "# admin: keep this line\n# statelite host n2 begin\n", 1) + admin
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, "chtab", "node=n1", "mac.mac=52:54:00:00:01:01")
	if r := cliRun(t, dir, "", "makedhcp", "-a", "n1", "--file", conf); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("makedhcp -a n1: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after := readFile(t, conf)
	if want := strings.Replace(text, "52:54:00:00:00:01", "52:54:00:00:01:01", 1); after != want {
		t.Errorf("makedhcp -a n1 after a MAC change:\n%s\nwant:\n%s", after, want)
	}
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after -a: %v %v, want 0600 kept", fi.Mode(), err)
	}
	if out := mustRun(t, dir, "makedhcp", "-q", "n1-n4", "--file", conf); out != "n1: ip-address = 10.0.0.11, hardware-address = 52:54:00:00:01:01\nn2: ip-address = 10.0.0.12, hardware-address = 52:54:00:00:00:02\n" {
		t.Errorf("makedhcp -q n1-n4:\n%s", out)
	}

	mustRun(t, dir, "makedhcp", "-d", "n1", "--file", conf)
	deleted := readFile(t, conf)
	if strings.Contains(deleted, "n1") || !strings.Contains(deleted, "# statelite host n2 begin") || !strings.Contains(deleted, "# admin: keep this line\n") || !strings.HasSuffix(deleted, admin) {
		t.Errorf("makedhcp -d n1:\n%s", deleted)
	}
	if out := mustRun(t, dir, "makedhcp", "-q", "n1", "--file", conf); out != "" {
		t.Errorf("makedhcp -q n1 after -d: %q", out)
	}

	// Nothing for the nodes asked: exit 1, the file unchanged.
	for _, nr := range []string{"n3", "n4"} {
		r := cliRun(t, dir, "", "makedhcp", "-a", nr, "--file", conf)
		if r.code != 1 || !strings.Contains(r.stderr, "Warning: node "+nr+": ") || !strings.Contains(r.stderr, "Error: makedhcp: no DHCP entry for any node of "+nr) {
			t.Errorf("makedhcp -a %s: exit %d\n%s", nr, r.code, r.stderr)
		}
		if readFile(t, conf) != deleted {
			t.Errorf("makedhcp -a %s changed the file", nr)
		}
	}
	// -a without a noderange: every node with a mac; n1 comes back after n2's region.
	r = cliRun(t, dir, "", "makedhcp", "-a", "--file", conf)
	if r.code != 0 || !strings.Contains(r.stderr, "*NOIP*") {
		t.Fatalf("makedhcp -a: exit %d\n%s", r.code, r.stderr)
	}
	again := readFile(t, conf)
	if i, j := strings.Index(again, "# statelite host n2 end"), strings.Index(again, "# statelite host n1 begin"); i < 0 || j < i || !strings.HasSuffix(again, admin) {
		t.Errorf("makedhcp -a:\n%s", again)
	}
	// A node removed from the tables can still be deleted from the file.
	mustRun(t, dir, "chtab", "-d", "node=n2", "nodelist")
	mustRun(t, dir, "makedhcp", "-d", "n2", "--file", conf)
	if strings.Contains(readFile(t, conf), "host n2 ") {
		t.Errorf("makedhcp -d of a removed node left its entry:\n%s", readFile(t, conf))
	}
}

// TestMakedhcpDnsmasq writes the dnsmasq format and refuses to mix formats.
func TestMakedhcpDnsmasq(t *testing.T) {
	dir := dhcpCluster(t)
	conf := filepath.Join(t.TempDir(), "statelite.conf")
	if r := cliRun(t, dir, "", "makedhcp", "-n", "--format", "dnsmasq", "--file", conf, "--server", "10.0.0.2", "--http-port", "8080"); r.code != 0 {
		t.Fatalf("makedhcp -n --format dnsmasq: exit %d\n%s", r.code, r.stderr)
	}
	text := readFile(t, conf)
	for _, want := range []string{
		"dhcp-range=set:net-clusternet,10.0.0.200,10.0.0.250,255.255.255.0,43200",
		"dhcp-option=tag:net-clusternet,option:router,10.0.0.2",
		"dhcp-host=52:54:00:00:00:01,set:node-n1,10.0.0.11,n1",
		"dhcp-boot=tag:node-n1,tag:client-ipxe,http://10.0.0.2:8080/tftpboot/xcat/xnba/nodes/n1,,10.0.0.2",
	} {
		if !hasLine(text, want) {
			t.Errorf("no line %q:\n%s", want, text)
		}
	}
	if out := mustRun(t, dir, "makedhcp", "-q", "n1", "--format", "dnsmasq", "--file", conf); out != "n1: ip-address = 10.0.0.11, hardware-address = 52:54:00:00:00:01\n" {
		t.Errorf("makedhcp -q n1: %q", out)
	}
	r := cliRun(t, dir, "", "makedhcp", "-a", "n1", "--file", conf)
	if r.code != 1 || !strings.Contains(r.stderr, "written with --format dnsmasq, not isc") {
		t.Errorf("makedhcp -a (isc) on a dnsmasq file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestMakedhcpErrors: flag combinations, a missing file, an unknown server address.
func TestMakedhcpErrors(t *testing.T) {
	dir := dhcpCluster(t)
	conf := filepath.Join(t.TempDir(), "dhcpd.conf")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"makedhcp"}, "give -n, -a [NODERANGE], -d NODERANGE or -q NODERANGE"},
		{[]string{"makedhcp", "-n", "n1"}, "-n takes no noderange"},
		{[]string{"makedhcp", "-a", "-d", "n1"}, "exclude each other"},
		{[]string{"makedhcp", "-d"}, "-d and -q need a NODERANGE"},
		{[]string{"makedhcp", "-n", "--format", "kea"}, `--format "kea": isc or dnsmasq`},
		{[]string{"makedhcp", "-n", "--server", "fe80::1"}, "not an IPv4 address"},
		{[]string{"makedhcp", "n1", "--file", conf}, "does not exist: write it with statelite makedhcp -n --format isc first"},
		{[]string{"makedhcp", "-a", "n9", "--file", conf}, "Invalid nodes in noderange:n9"},
	} {
		r := cliRun(t, dir, "", c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, r.code, r.stderr, c.want)
		}
	}
	// Without site.master every value standing for the server is named, and nothing is
	// written; --server gives it.
	mustRun(t, dir, "chtab", "-d", "key=master", "site")
	r := cliRun(t, dir, "", "makedhcp", "-n", "--file", conf)
	if r.code != 1 || !strings.Contains(r.stderr, "node n1: networks.gateway <xcatmaster>, networks.nameservers <xcatmaster>") || !strings.Contains(r.stderr, "set site.master or pass --server") {
		t.Errorf("makedhcp -n without site.master: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(conf); err == nil {
		t.Error("makedhcp -n wrote a file after an error")
	}
	if r := cliRun(t, dir, "", "makedhcp", "-n", "--file", conf, "--server", "10.0.0.1"); r.code != 0 || !strings.Contains(readFile(t, conf), "option routers 10.0.0.1;") {
		t.Errorf("makedhcp -n --server: exit %d\n%s", r.code, r.stderr)
	}
}
