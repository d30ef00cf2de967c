package tables

import (
	"net/netip"
	"testing"
)

const vdNetworks = "#netname,net,mask,mgtifname,gateway,dhcpserver,tftpserver,nameservers,ntpservers,logservers,dynamicrange,staticrange,staticrangeincrement,nodehostname,ddnsdomain,vlanid,domain,mtu,comments,disable\n"

func TestValidateNetworks(t *testing.T) {
	s := vdSnap(t, map[string]string{"networks": vdNetworks +
		`"mgt","10.0.0.0","255.255.0.0","eth1","<xcatmaster>",,,"10.0.0.1,<xcatmaster>",,,"10.0.200.1-10.0.200.50",,,,,,"cluster.com","9000",,` + "\n" + // line 2: fine
		`"bad","10.1.0.1","255.255.0.0",,,,,,,,,,,,,,,,,` + "\n" + // 3: host bits
		`"hole","10.2.0.0","255.0.255.0",,,,,,,,,,,,,,,,,` + "\n" + // 4: mask not contiguous
		`"gw","10.3.0.0","16",,"router",,,,,,,,,,,,,,,` + "\n" + // 5: gateway
		`"rng","10.4.0.0","/16",,,,,,,,"10.5.0.1-10.5.0.9",,,,,,,,,` + "\n" + // 6: range outside
		`"dns","10.6.0.0","255.255.0.0",,,,,"ns1",,,,,,,,,,,,` + "\n" + // 7: nameserver
		`"mtu","10.7.0.0","255.255.0.0",,,,,,,,,,,,,,,"jumbo",,` + "\n" + // 8: mtu
		`"ovl","10.0.200.0","255.255.255.0",,,,,,,,"10.0.200.40-10.0.200.60",,,,,,,,,` + "\n" + // 9: range overlap
		`"dup","10.0.0.0","255.255.0.0",,,,,,,,,,,,,,,,,` + "\n", // 10: duplicate key
	})
	vdCheck(t, s, []vdWant{
		vdErr("networks", 3, `net "10.1.0.1" has host bits set`),
		vdErr("networks", 4, `mask "255.0.255.0" is not contiguous`),
		vdErr("networks", 5, `gateway "router"`),
		vdErr("networks", 6, `dynamicrange "10.5.0.1-10.5.0.9" is not inside the network 10.4.0.0/16`),
		vdErr("networks", 7, `nameservers: "ns1"`),
		vdErr("networks", 8, `mtu "jumbo"`),
		vdErr("networks", 9, "dynamicrange overlaps", "line 2"),
		vdErr("networks", 10, "duplicate key"),
	})
	nets := s.Networks()
	if len(nets) != 3 { // lines 2, 9 and 10 parse
		t.Errorf("Networks() = %d rows, want 3", len(nets))
	}
	n, ok := NetworkOf(nets, netip.MustParseAddr("10.0.200.7"))
	if !ok || n.Name != "ovl" {
		t.Errorf("NetworkOf(10.0.200.7) = %q, %v; want the longest prefix, ovl", n.Name, ok)
	}
	n, ok = NetworkOf(nets, netip.MustParseAddr("10.0.9.7"))
	if !ok || n.Name != "mgt" || Mask(n.Prefix) != "255.255.0.0" || n.MTU != 9000 || n.Domain != "cluster.com" ||
		len(n.Nameservers) != 2 || n.Gateway != XCATMaster || n.Dynamic[1] != netip.MustParseAddr("10.0.200.50") {
		t.Errorf("NetworkOf(10.0.9.7) = %+v, %v", n, ok)
	}
	if _, ok := NetworkOf(nets, netip.MustParseAddr("192.168.0.1")); ok {
		t.Error("NetworkOf(192.168.0.1) found a network")
	}
}
