package tables

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Network is one parsed row of the networks table (xCAT's networks: a subnet and what
// DHCP hands the nodes on it). Values keep xCAT's keywords: Gateway and the entries of
// Nameservers may be "<xcatmaster>" (the address of the server answering the node).
type Network struct {
	Row          int // row index in the table
	Name         string
	Prefix       netip.Prefix // net and mask
	Mgtifname    string
	Gateway      string // an address, "<xcatmaster>" or ""
	DHCPServer   string
	TFTPServer   string
	Nameservers  []string // addresses or "<xcatmaster>"
	NTPServers   []string
	Dynamic      [2]netip.Addr // dynamicrange, first and last address; invalid when unset
	Domain       string
	MTU          int
	NodeHostname string
}

// XCATMaster is xCAT's keyword for the address of the server that answers a node.
const XCATMaster = "<xcatmaster>"

// ParseNetwork parses row i of the networks table t. The error names the column and the
// value (the caller adds table and line).
func ParseNetwork(t *Table, i int) (Network, error) {
	n := Network{Row: i, Name: t.Get(i, "netname"), Mgtifname: strings.TrimSpace(t.Get(i, "mgtifname")),
		DHCPServer: strings.TrimSpace(t.Get(i, "dhcpserver")), TFTPServer: strings.TrimSpace(t.Get(i, "tftpserver")),
		Domain: strings.TrimSpace(t.Get(i, "domain")), NodeHostname: t.Get(i, "nodehostname")}
	netv, maskv := strings.TrimSpace(t.Get(i, "net")), strings.TrimSpace(t.Get(i, "mask"))
	a, err := netip.ParseAddr(netv)
	if err != nil || !a.Is4() {
		return n, fmt.Errorf("net %q is not an IPv4 address", netv)
	}
	bits, err := MaskBits(maskv)
	if err != nil {
		return n, err
	}
	n.Prefix = netip.PrefixFrom(a, bits)
	if n.Prefix.Masked().Addr() != a {
		return n, fmt.Errorf("net %q has host bits set for mask %s (the network is %s)", netv, maskv, n.Prefix.Masked().Addr())
	}
	if g := strings.TrimSpace(t.Get(i, "gateway")); g != "" {
		if g != XCATMaster {
			ga, err := netip.ParseAddr(g)
			if err != nil || !ga.Is4() {
				return n, fmt.Errorf("gateway %q is neither an IPv4 address nor %s", g, XCATMaster)
			}
		}
		n.Gateway = g
	}
	for _, col := range []string{"nameservers", "ntpservers"} {
		for _, v := range strings.Split(t.Get(i, col), ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			if v != XCATMaster {
				if a, err := netip.ParseAddr(v); err != nil || !a.Is4() {
					return n, fmt.Errorf("%s: %q is neither an IPv4 address nor %s", col, v, XCATMaster)
				}
			}
			if col == "nameservers" {
				n.Nameservers = append(n.Nameservers, v)
			} else {
				n.NTPServers = append(n.NTPServers, v)
			}
		}
	}
	if r := strings.TrimSpace(t.Get(i, "dynamicrange")); r != "" {
		// xCAT writes start-end (makedhcp also splits on a comma).
		lo, hi, ok := strings.Cut(r, "-")
		if !ok {
			lo, hi, ok = strings.Cut(r, ",")
		}
		la, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		ha, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		switch {
		case !ok || err1 != nil || err2 != nil || !la.Is4() || !ha.Is4():
			return n, fmt.Errorf("dynamicrange %q is not START-END (two IPv4 addresses)", r)
		case ha.Less(la):
			return n, fmt.Errorf("dynamicrange %q ends before it starts", r)
		case !n.Prefix.Contains(la) || !n.Prefix.Contains(ha):
			return n, fmt.Errorf("dynamicrange %q is not inside the network %s", r, n.Prefix)
		}
		n.Dynamic = [2]netip.Addr{la, ha}
	}
	if m := strings.TrimSpace(t.Get(i, "mtu")); m != "" {
		v, err := strconv.Atoi(m)
		if err != nil || v < 68 || v > 65535 {
			return n, fmt.Errorf("mtu %q is not a number from 68 to 65535", m)
		}
		n.MTU = v
	}
	return n, nil
}

// MaskBits parses a network mask: dotted (255.255.255.0, xCAT's form) or a prefix
// length (24, /24).
func MaskBits(m string) (int, error) {
	if b, err := strconv.Atoi(strings.TrimPrefix(m, "/")); err == nil {
		if b < 0 || b > 32 {
			return 0, fmt.Errorf("mask %q: a prefix length is 0 to 32", m)
		}
		return b, nil
	}
	a, err := netip.ParseAddr(m)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("mask %q is neither a dotted IPv4 mask nor a prefix length", m)
	}
	v := a.As4()
	x := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
	bits := 0
	for bits < 32 && x&(1<<(31-bits)) != 0 {
		bits++
	}
	if bits < 32 && x<<bits != 0 {
		return 0, fmt.Errorf("mask %q is not contiguous", m)
	}
	return bits, nil
}

// Mask returns the prefix's mask in dotted form.
func Mask(p netip.Prefix) string {
	var b [4]byte
	x := ^uint32(0) << (32 - p.Bits())
	if p.Bits() == 0 {
		x = 0
	}
	b[0], b[1], b[2], b[3] = byte(x>>24), byte(x>>16), byte(x>>8), byte(x)
	return netip.AddrFrom4(b).String()
}

// Networks returns the enabled rows of the networks table that parse (Validate reports
// the others), in table order. They are parsed once, with the snapshot's other indexes
// (the DHCP server asks for them at every packet); callers must not modify them.
func (s *Snapshot) Networks() []Network { return s.networks }

// parseNetworks is Networks' index, built at construction.
func (s *Snapshot) parseNetworks() []Network {
	t := s.tables["networks"]
	if t == nil {
		return nil
	}
	var out []Network
	for i := range t.Rows {
		if !t.Enabled(i) {
			continue
		}
		if n, err := ParseNetwork(t, i); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// NetworkOf returns the network of nets holding a, the longest prefix first.
func NetworkOf(nets []Network, a netip.Addr) (Network, bool) {
	best, found := Network{}, false
	for _, n := range nets {
		if n.Prefix.Contains(a) && (!found || n.Prefix.Bits() > best.Prefix.Bits()) {
			best, found = n, true
		}
	}
	return best, found
}

func (v *validator) networks() {
	t := v.s.tables["networks"]
	if t == nil {
		return
	}
	var nets []Network
	for i := range t.Rows {
		n, err := ParseNetwork(t, i)
		if err != nil {
			v.add(t, i, false, "%v", err)
			continue
		}
		for _, o := range nets {
			if o.Dynamic[0].IsValid() && n.Dynamic[0].IsValid() && !(n.Dynamic[1].Less(o.Dynamic[0]) || o.Dynamic[1].Less(n.Dynamic[0])) {
				v.add(t, i, false, "dynamicrange overlaps the dynamicrange of %s", t.RowLine(o.Row))
			}
		}
		nets = append(nets, n)
	}
}
