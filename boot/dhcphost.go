package boot

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"statelite/resolver"
	"statelite/tables"
)

// Lease is what DHCP hands one MAC of a node: the data of its mac, hosts, noderes and
// networks rows (and site's defaults), shared by our DHCP server and `statelite makedhcp`
// (docs/dhcp.md).
type Lease struct {
	Node string // the node
	Host string // the host name handed out: the node, or the !host of a "mac!host" entry
	MAC  string // normalized (12 lower-case hex digits)
	IP   netip.Addr
	// Net is the networks row holding IP; HasNet is false when no row does (the
	// interface's own subnet is used then, and makedhcp writes no subnet for it).
	Net    tables.Network
	HasNet bool
	// Router, DNS and NTP may hold invalid addresses standing for "<xcatmaster>": the
	// address of the server that answers (Resolve fills them in).
	Router     netip.Addr
	RouterSelf bool
	DNS        []netip.Addr
	DNSSelf    bool // "<xcatmaster>" among the name servers, in front of DNS
	NTP        []netip.Addr
	Domain     string
	NextServer netip.Addr // invalid: the answering server's own address
	Netboot    string     // noderes.netboot: pxe (default), xnba, grub2, grub2-tftp, grub2-http
	ProxyDHCP  bool       // noderes.proxydhcp is not no/0
	MTU        int
	LeaseTime  time.Duration // site.dhcplease, default 12 h (xCAT's 43200 s)
}

// MACLeases returns the leases of every MAC in node's mac table value, in its order. A
// MAC without an address (a "mac!*NOIP*" entry, a node without hosts.ip, a !host that is
// no node with hosts.ip) is left out with an error naming node, MAC and the reason; the
// others are still returned.
func MACLeases(s *tables.Snapshot, node string) ([]Lease, []error) {
	v, _, ok := s.NodeAttr(node, "mac", "mac")
	if !ok || strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []Lease
	var errs []error
	for _, item := range strings.Split(v, "|") {
		m, host, hasHost := strings.Cut(strings.TrimSpace(item), "!")
		mac := resolver.NormalizeMAC(strings.TrimSpace(m))
		if mac == "" {
			errs = append(errs, fmt.Errorf("node %s: mac %q is not a MAC address", node, strings.TrimSpace(m)))
			continue
		}
		host = strings.TrimSpace(host)
		if !hasHost || host == "" {
			host = node
		}
		if host == "*NOIP*" {
			errs = append(errs, fmt.Errorf("node %s: mac %s is marked *NOIP* (no fixed address)", node, m))
			continue
		}
		l, err := NodeLease(s, node, host, mac)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, l)
	}
	return out, errs
}

// NodeLease returns the lease of node for one of its MACs, handed out under host (node
// itself, or another name of a "mac!host" entry: its address is host's hosts.ip).
func NodeLease(s *tables.Snapshot, node, host, mac string) (Lease, error) {
	ipv, _, ok := s.NodeAttr(host, "hosts", "ip")
	if !ok || strings.TrimSpace(ipv) == "" {
		if host != node {
			return Lease{}, fmt.Errorf("node %s: mac %s is for host %s, which has no hosts.ip", node, FormatMAC(mac), host)
		}
		if a, err := netip.ParseAddr(node); err == nil && a.Is4() {
			ipv = node // a node named by its address
		} else {
			return Lease{}, fmt.Errorf("node %s: no hosts.ip (DHCP hands out fixed addresses only)", node)
		}
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(ipv))
	if err != nil || !ip.Unmap().Is4() {
		return Lease{}, fmt.Errorf("node %s: hosts.ip %q is not an IPv4 address", host, ipv)
	}
	n, hasNet := tables.NetworkOf(s.Networks(), ip.Unmap())
	l, err := NetworkLease(s, n, hasNet)
	if err != nil {
		return l, fmt.Errorf("node %s: %w", node, err)
	}
	l.Node, l.Host, l.MAC, l.IP = node, host, mac, ip.Unmap()
	// The node's rows over the network's: noderes.nameservers, netboot, proxydhcp and
	// tftpserver.
	if ns, _, _ := s.NodeAttr(node, "noderes", "nameservers"); strings.TrimSpace(ns) != "" {
		l.DNS, l.DNSSelf = parseNameservers(ns)
	}
	if nb, _, _ := s.NodeAttr(node, "noderes", "netboot"); strings.TrimSpace(nb) != "" {
		l.Netboot = strings.TrimSpace(nb)
	}
	if p, _, _ := s.NodeAttr(node, "noderes", "proxydhcp"); p == "no" || p == "0" {
		l.ProxyDHCP = false
	}
	if ts, _, _ := s.NodeAttr(node, "noderes", "tftpserver"); strings.TrimSpace(ts) != "" {
		if l.NextServer, err = nextServer(s, "tftpserver", ts); err != nil {
			return l, fmt.Errorf("node %s: %w", node, err)
		}
	}
	return l, nil
}

// NetworkLease returns what DHCP hands any address of network n (hasNet false: of no
// networks row) before a node's rows change it: the row's router, domain, MTU, NTP
// servers and name servers (else site.nameservers and site.domain), site.dhcplease,
// next-server networks.tftpserver (else the answering server). makedhcp writes it as a
// subnet's options; the DHCP server hands it to the addresses of networks.dynamicrange.
func NetworkLease(s *tables.Snapshot, n tables.Network, hasNet bool) (Lease, error) {
	l := Lease{Netboot: "pxe", ProxyDHCP: true, LeaseTime: 12 * time.Hour}
	ns, _ := s.Site("nameservers")
	if hasNet {
		l.Net, l.HasNet = n, true
		switch {
		case n.Gateway == tables.XCATMaster:
			l.RouterSelf = true
		case n.Gateway != "":
			l.Router = netip.MustParseAddr(n.Gateway)
		}
		l.Domain, l.MTU = n.Domain, n.MTU
		for _, a := range n.NTPServers {
			if a != tables.XCATMaster {
				l.NTP = append(l.NTP, netip.MustParseAddr(a))
			}
		}
		if len(n.Nameservers) > 0 {
			ns = strings.Join(n.Nameservers, ",")
		}
	}
	l.DNS, l.DNSSelf = parseNameservers(ns)
	if l.Domain == "" {
		l.Domain, _ = s.Site("domain")
	}
	if v, ok := s.Site("dhcplease"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			l.LeaseTime = time.Duration(n) * time.Second
		}
	}
	if hasNet && n.TFTPServer != "" {
		var err error
		if l.NextServer, err = nextServer(s, "networks.tftpserver", n.TFTPServer); err != nil {
			return l, err
		}
	}
	return l, nil
}

// parseNameservers reads a comma list of name servers: the addresses, and whether
// "<xcatmaster>" (the answering server) is among them.
func parseNameservers(v string) (addrs []netip.Addr, self bool) {
	for _, x := range strings.Split(v, ",") {
		x = strings.TrimSpace(x)
		if x == tables.XCATMaster {
			self = true
		} else if a, err := netip.ParseAddr(x); err == nil && a.Is4() {
			addrs = append(addrs, a)
		}
	}
	return addrs, self
}

// nextServer reads a tftpserver value (column col): an address or a name with a hosts.ip;
// "<xcatmaster>" and "!myipfn!" are the answering server (an invalid address).
func nextServer(s *tables.Snapshot, col, v string) (netip.Addr, error) {
	v = strings.TrimSpace(v)
	if v == tables.XCATMaster || v == "!myipfn!" {
		return netip.Addr{}, nil
	}
	a, err := hostAddr(s, v)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s %s: %v", col, v, err)
	}
	return a, nil
}

// hostAddr returns the IPv4 address of a server named in the tables: an address, or a
// name with a hosts.ip. No DNS: this runs on the request path.
func hostAddr(s *tables.Snapshot, name string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(name); err == nil && a.Unmap().Is4() {
		return a.Unmap(), nil
	}
	if ip, _, ok := s.NodeAttr(name, "hosts", "ip"); ok {
		if a, err := netip.ParseAddr(strings.TrimSpace(ip)); err == nil && a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("not an IPv4 address and no hosts.ip for it")
}

// Resolve fills in the "<xcatmaster>" values and the default next-server with self, the
// address of the server answering the node.
func (l Lease) Resolve(self netip.Addr) Lease {
	if l.RouterSelf {
		l.Router = self
	}
	if l.DNSSelf {
		l.DNS = append([]netip.Addr{self}, l.DNS...)
	}
	if l.HasNet {
		for _, a := range l.Net.NTPServers {
			if a == tables.XCATMaster {
				l.NTP = append([]netip.Addr{self}, l.NTP...)
				break
			}
		}
	}
	if !l.NextServer.IsValid() {
		l.NextServer = self
	}
	l.RouterSelf, l.DNSSelf = false, false
	return l
}

// FormatMAC formats a normalized MAC with colons (aa:bb:cc:dd:ee:ff).
func FormatMAC(mac string) string {
	if len(mac) != 12 {
		return mac
	}
	var b strings.Builder
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(mac[i : i+2])
	}
	return b.String()
}

// Client is what a DHCP client says about itself: its firmware kind decides the boot
// file.
type Client struct {
	Arch    uint16 // option 93 (RFC 4578): 0 BIOS, 6 EFI IA32, 7 and 9 EFI x86-64, 11 EFI arm64, 16 and 19 UEFI HTTP
	HasArch bool
	IPXE    bool // user class "iPXE" (77), as iPXE ROMs and binaries send
	PXE     bool // vendor class "PXEClient…" (60): PXE firmware
}

// UEFI tells whether the client is UEFI firmware.
func (c Client) UEFI() bool { return c.HasArch && c.Arch != 0 }

// ARM64 tells whether the client is arm64 UEFI firmware.
func (c Client) ARM64() bool { return c.HasArch && (c.Arch == 11 || c.Arch == 19) }

// Site keys naming the boot files handed out (paths under the TFTP root), with their
// defaults (docs/dhcp.md#boot-files).
var BootFileKeys = map[string]string{
	"pxelinuxbios": "pxelinux.0",              // netboot pxe, BIOS
	"pxelinuxefi":  "efi64/syslinux.efi",      // netboot pxe, x86-64 UEFI
	"xnbabios":     "xcat/xnba.kpxe",          // netboot xnba, BIOS PXE ROM: iPXE to chain-load
	"xnbaefi":      "xcat/xnba.efi",           // netboot xnba, x86-64 UEFI
	"xnbaarm64":    "xcat/xnba-arm64.efi",     // netboot xnba, arm64 UEFI
	"grub2bios":    "boot/grub2/grub2.pxe",    // netboot grub2, BIOS
	"grub2x64":     "boot/grub2/grubx64.efi",  // netboot grub2, x86-64 UEFI
	"grub2aa64":    "boot/grub2/grubaa64.efi", // netboot grub2, arm64 UEFI
}

// BootFile returns the boot file for the lease's node and client, as xCAT chooses it
// from noderes.netboot: pxe gives pxelinux.0 to BIOS clients (iPXE ROMs included); xnba
// gives an iPXE client our HTTP URL of its script (xcat/xnba/nodes/<node>, on httpPort;
// TFTP when there is no HTTP server) and a plain PXE ROM an iPXE binary to chain-load;
// grub2 gives grub2's network image for the client's architecture. self is the address
// the node reaches us on.
func BootFile(s *tables.Snapshot, l Lease, c Client, self netip.Addr, httpPort int) string {
	site := func(k string) string { return s.SiteOr(k, BootFileKeys[k]) }
	switch {
	case l.Netboot == "xnba":
		if c.IPXE {
			if httpPort == 0 {
				return "xcat/xnba/nodes/" + l.Node
			}
			host := self.String()
			if httpPort != 80 {
				host += ":" + strconv.Itoa(httpPort)
			}
			return "http://" + host + "/tftpboot/xcat/xnba/nodes/" + l.Node
		}
		switch {
		case c.ARM64():
			return site("xnbaarm64")
		case c.UEFI():
			return site("xnbaefi")
		}
		return site("xnbabios")
	case strings.HasPrefix(l.Netboot, "grub2"):
		switch {
		case c.ARM64():
			return site("grub2aa64")
		case c.UEFI():
			return site("grub2x64")
		}
		return site("grub2bios")
	}
	if c.UEFI() {
		return site("pxelinuxefi")
	}
	return site("pxelinuxbios")
}
