package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/prometheus/client_golang/prometheus"

	"statelite/resolver"
	"statelite/tables"
)

// DHCPConfig holds the settings of the DHCP server (docs/dhcp.md).
type DHCPConfig struct {
	// Resolver returns the resolver of the tables as they are now: every packet reads
	// the mac, hosts, noderes, networks and site rows in force (a chtab is served at the
	// next DISCOVER).
	Resolver func() *resolver.Resolver
	// HTTPPort is our HTTP boot server's port, for the iPXE script URLs of netboot xnba
	// (0: none, iPXE gets the script's TFTP name).
	HTTPPort int
	// Names are this server's names for networks.dhcpserver (its host name, --name); the
	// addresses of its interfaces always count.
	Names []string
	// Unknown is called for a request from a MAC in no mac row (discovery records it); a
	// node it returns was just bound to that MAC (sequential discovery) and is answered
	// at once. nil: unknown MACs are only counted.
	Unknown func(ctx context.Context, s *tables.Snapshot, u Unknown) (node string)
	// Log receives one line per answer and rate-limited lines for what is refused.
	Log *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Unknown is a DHCP request from a MAC that no mac row names.
type Unknown struct {
	MAC     string // normalized
	Iface   string
	Arch    uint16
	HasArch bool
	Vendor  string
}

// DHCP answers DHCP (addresses from the tables) on some interfaces and only the PXE part
// (proxyDHCP: the proxy offer on port 67 and the boot server on port 4011) on others.
// Packets are handled one at a time per socket, each in bounded work (map lookups in the
// cluster index and one node's rows), so a flood costs CPU, never memory or goroutines.
type DHCP struct {
	cfg DHCPConfig
	log *slog.Logger

	mu     sync.Mutex
	conns  []*dhcpConn
	dyn    map[string]dynLease // MAC -> dynamic lease (networks.dynamicrange)
	counts map[[2]string]*atomic.Uint64
	limit  rateLimit
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type dynLease struct {
	ip      netip.Addr
	expires time.Time
}

// DHCPIface is an interface as the DHCP server sees it: its name, its IPv4 address (our
// address as the nodes on it see it) and subnet, and whether only proxyDHCP is done there.
type DHCPIface struct {
	Name   string
	Addr   netip.Addr
	Prefix netip.Prefix
	Proxy  bool
}

type dhcpConn struct {
	in   DHCPIface
	conn net.PacketConn
	pxe  bool // the PXE boot server port 4011
}

// NewDHCP returns a DHCP server; Listen adds its sockets, Serve answers on them.
func NewDHCP(cfg DHCPConfig) (*DHCP, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("dhcp: a resolver is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &DHCP{cfg: cfg, log: log, dyn: map[string]dynLease{}, counts: map[[2]string]*atomic.Uint64{},
		limit: rateLimit{every: time.Minute, burst: 20}, ctx: ctx, cancel: cancel}, nil
}

// IfaceInfo returns the interface name's first IPv4 address and subnet.
func IfaceInfo(name string) (DHCPIface, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return DHCPIface{}, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return DHCPIface{}, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap().Is4() {
				ones, _ := ipn.Mask.Size()
				return DHCPIface{Name: name, Addr: ip.Unmap(), Prefix: netip.PrefixFrom(ip.Unmap(), ones).Masked()}, nil
			}
		}
	}
	return DHCPIface{}, fmt.Errorf("interface %s has no IPv4 address: DHCP answers need our address on it", name)
}

// Listen opens the DHCP socket (UDP port 67, bound to the interface) of iface, and for a
// proxyDHCP interface the PXE boot server's socket (UDP 4011) too.
func (d *DHCP) Listen(iface string, proxy bool) error {
	in, err := IfaceInfo(iface)
	if err != nil {
		return err
	}
	in.Proxy = proxy
	ports := []int{dhcpv4.ServerPort}
	if proxy {
		ports = append(ports, 4011)
	}
	for _, p := range ports {
		c, err := server4.NewIPv4UDPConn(iface, &net.UDPAddr{Port: p})
		if err != nil {
			return fmt.Errorf("dhcp on %s, port %d: %w", iface, p, err)
		}
		d.mu.Lock()
		d.conns = append(d.conns, &dhcpConn{in: in, conn: c, pxe: p == 4011})
		d.mu.Unlock()
	}
	return nil
}

// Addrs returns the local addresses of the sockets, for logs.
func (d *DHCP) Addrs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.conns {
		mode := "dhcp"
		if c.in.Proxy {
			mode = "proxydhcp"
		}
		out = append(out, fmt.Sprintf("%s %s %s (%s)", mode, c.in.Name, c.conn.LocalAddr(), c.in.Addr))
	}
	return out
}

// Serve answers on every socket until ctx is done or Close is called.
func (d *DHCP) Serve(ctx context.Context) {
	d.mu.Lock()
	conns := append([]*dhcpConn(nil), d.conns...)
	d.mu.Unlock()
	for _, c := range conns {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.serveConn(c)
		}()
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-d.ctx.Done():
		}
		d.Close()
	}()
}

// Wait returns once every socket's loop has ended (Close, or the context of Serve):
// they end on nothing else, a read error is retried.
func (d *DHCP) Wait() error {
	<-d.ctx.Done()
	d.wg.Wait()
	return errors.New("dhcp sockets closed")
}

// Close closes the sockets and waits for their loops.
func (d *DHCP) Close() error {
	d.cancel()
	d.mu.Lock()
	for _, c := range d.conns {
		c.conn.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

func (d *DHCP) serveConn(c *dhcpConn) {
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.conn.ReadFrom(buf)
		if err != nil {
			if d.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Warn("dhcp read", "iface", c.in.Name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		var src netip.AddrPort
		if u, ok := peer.(*net.UDPAddr); ok {
			src = u.AddrPort()
		}
		reply, dst := d.Handle(d.ctx, c.in, c.pxe, buf[:n], src)
		if reply == nil {
			continue
		}
		if _, err := c.conn.WriteTo(reply, net.UDPAddrFromAddrPort(dst)); err != nil {
			d.log.Warn("dhcp send", "iface", c.in.Name, "to", dst.String(), "err", err)
		}
	}
}

// Handle answers one packet that arrived on in (on the PXE boot server port 4011 when
// pxe) from src: the reply's bytes and where to send them, or nil. It never panics on any
// input and does bounded work; what it did is counted by message type and outcome.
func (d *DHCP) Handle(ctx context.Context, in DHCPIface, pxe bool, pkt []byte, src netip.AddrPort) ([]byte, netip.AddrPort) {
	req, err := dhcpv4.FromBytes(pkt)
	if err != nil || req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) != 6 {
		d.count("none", "malformed")
		return nil, netip.AddrPort{}
	}
	mt := req.MessageType()
	typ := strings.ToLower(strings.TrimPrefix(mt.String(), "DHCP"))
	if mt == dhcpv4.MessageTypeNone {
		typ = "bootp"
	}
	reply, dst, outcome := d.answer(ctx, in, pxe, req, mt, src)
	d.count(typ, outcome)
	if reply == nil {
		return nil, netip.AddrPort{}
	}
	return reply.ToBytes(), dst
}

// answer decides the reply to req; outcome names what happened (the metrics' label).
func (d *DHCP) answer(ctx context.Context, in DHCPIface, pxe bool, req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, src netip.AddrPort) (*dhcpv4.DHCPv4, netip.AddrPort, string) {
	switch mt {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
	case dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeDecline:
		d.dropDynamic(hexMAC(req.ClientHWAddr))
		return nil, netip.AddrPort{}, "noted"
	default:
		return nil, netip.AddrPort{}, "ignored"
	}
	mac := hexMAC(req.ClientHWAddr)
	cl := clientOf(req)
	proxy := in.Proxy
	if proxy {
		// proxyDHCP answers PXE firmware only: the DISCOVER on 67 (the proxy offer) and
		// the request on 4011; the site's DHCP server does the rest.
		if !cl.PXE || (!pxe && mt != dhcpv4.MessageTypeDiscover) || (pxe && mt == dhcpv4.MessageTypeDiscover) {
			return nil, netip.AddrPort{}, "ignored"
		}
	}
	r := d.cfg.Resolver()
	s := r.Snap
	nodes := r.Index().NodesByMAC(mac)
	var node string
	switch len(nodes) {
	case 0:
		if d.cfg.Unknown != nil {
			node = d.cfg.Unknown(ctx, s, Unknown{MAC: mac, Iface: in.Name, Arch: cl.Arch, HasArch: cl.HasArch, Vendor: req.ClassIdentifier()})
		}
		if node == "" {
			if !proxy {
				if rep, dst, ok := d.dynamic(s, in, req, mt, mac); ok {
					return rep, dst, ok2outcome(rep)
				}
			}
			return nil, netip.AddrPort{}, "unknown"
		}
		d.log.Info("dhcp: discovered", "node", node, "mac", FormatMAC(mac), "iface", in.Name)
	case 1:
		node = nodes[0]
	default:
		l := append([]string(nil), nodes...)
		sort.Strings(l)
		d.warn("dhcp: MAC of several nodes, no answer", "mac", FormatMAC(mac), "nodes", strings.Join(l, ","))
		return nil, netip.AddrPort{}, "ambiguous"
	}
	lease, ok := d.leaseOf(s, node, mac)
	if !ok {
		return nil, netip.AddrPort{}, "noaddress"
	}
	if proxy && !lease.ProxyDHCP {
		return nil, netip.AddrPort{}, "noproxy"
	}
	if lease.HasNet && lease.Net.DHCPServer != "" && !d.isMe(in, lease.Net.DHCPServer) {
		return nil, netip.AddrPort{}, "otherserver"
	}
	relayed := req.GatewayIPAddr != nil && !req.GatewayIPAddr.IsUnspecified()
	if !proxy && !relayed && !in.Prefix.Contains(lease.IP) {
		d.warn("dhcp: the node's address is not on the interface's network, no answer", "node", node, "mac", FormatMAC(mac),
			"ip", lease.IP.String(), "iface", in.Name, "net", in.Prefix.String())
		return nil, netip.AddrPort{}, "wrongnet"
	}
	lease = lease.Resolve(in.Addr)
	file := BootFile(s, lease, cl, in.Addr, d.cfg.HTTPPort)
	if proxy {
		return d.proxyReply(in, pxe, req, mt, lease, file, src, node)
	}
	rt := dhcpv4.MessageTypeOffer
	if mt != dhcpv4.MessageTypeDiscover {
		rt = dhcpv4.MessageTypeAck
		if sid := req.ServerIdentifier(); sid != nil && !sid.IsUnspecified() && !sid.Equal(in.Addr.AsSlice()) {
			return nil, netip.AddrPort{}, "otherserver" // the client took another server's offer
		}
		want := req.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = req.ClientIPAddr
		}
		if mt == dhcpv4.MessageTypeRequest && want != nil && !want.IsUnspecified() && !want.Equal(lease.IP.AsSlice()) {
			d.log.Info("dhcp nak", "node", node, "mac", FormatMAC(mac), "asked", want.String(), "ip", lease.IP.String())
			nak, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(in.Addr.AsSlice())))
			return nak, replyDst(req, true), "nak"
		}
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(rt),
		dhcpv4.WithServerIP(lease.NextServer.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(in.Addr.AsSlice())),
		dhcpv4.WithNetmask(net.CIDRMask(d.bits(lease, in), 32)),
		dhcpv4.WithLeaseTime(uint32(lease.LeaseTime / time.Second)),
		dhcpv4.WithOption(dhcpv4.OptHostName(lease.Host)),
	}
	if mt != dhcpv4.MessageTypeInform {
		mods = append(mods, dhcpv4.WithYourIP(lease.IP.AsSlice()))
	}
	mods = append(mods, netOptions(lease)...)
	rep, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, netip.AddrPort{}, "error"
	}
	rep.BootFileName = file
	if cl.PXE {
		rep.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	}
	d.log.Info("dhcp "+strings.ToLower(strings.TrimPrefix(rt.String(), "DHCP")), "node", node, "mac", FormatMAC(mac), "ip", lease.IP.String(),
		"file", file, "next_server", lease.NextServer.String(), "iface", in.Name, "client", cl.kind())
	return rep, replyDst(req, false), ok2outcome(rep)
}

// proxyReply is the proxyDHCP answer: no address, our boot server and file, the PXE
// vendor options saying "boot this file, no boot server menu" (PXE 2.1, option 43
// PXE_DISCOVERY_CONTROL = 8), as dnsmasq's proxy mode answers.
func (d *DHCP) proxyReply(in DHCPIface, pxe bool, req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, lease Lease, file string, src netip.AddrPort, node string) (*dhcpv4.DHCPv4, netip.AddrPort, string) {
	rt := dhcpv4.MessageTypeOffer
	if pxe {
		rt = dhcpv4.MessageTypeAck
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(rt),
		dhcpv4.WithServerIP(lease.NextServer.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(in.Addr.AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient")),
		dhcpv4.WithGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}),
	}
	if uuid := req.GetOneOption(dhcpv4.OptionClientMachineIdentifier); len(uuid) > 0 {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, uuid))
	}
	rep, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, netip.AddrPort{}, "error"
	}
	rep.BootFileName = file
	dst := replyDst(req, false)
	if pxe {
		// The boot server request comes from the client's address: answer it there.
		if src.IsValid() && !src.Addr().IsUnspecified() {
			dst = src
		}
	}
	d.log.Info("dhcp proxy "+strings.ToLower(strings.TrimPrefix(rt.String(), "DHCP")), "node", node, "mac", FormatMAC(hexMAC(req.ClientHWAddr)),
		"file", file, "next_server", lease.NextServer.String(), "iface", in.Name, "client", clientOf(req).kind())
	if pxe {
		return rep, dst, "proxyack"
	}
	return rep, dst, "proxyoffer"
}

// netOptions are a lease's network options: router, name servers, domain, NTP, MTU.
func netOptions(l Lease) []dhcpv4.Modifier {
	var m []dhcpv4.Modifier
	if l.Router.IsValid() {
		m = append(m, dhcpv4.WithRouter(l.Router.AsSlice()))
	}
	if len(l.DNS) > 0 {
		m = append(m, dhcpv4.WithDNS(ipSlices(l.DNS)...))
	}
	if l.Domain != "" {
		m = append(m, dhcpv4.WithOption(dhcpv4.OptDomainName(l.Domain)))
	}
	if len(l.NTP) > 0 {
		m = append(m, dhcpv4.WithOption(dhcpv4.OptNTPServers(ipSlices(l.NTP)...)))
	}
	if l.MTU > 0 {
		m = append(m, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(l.MTU >> 8), byte(l.MTU)}))
	}
	return m
}

func ipSlices(l []netip.Addr) []net.IP {
	out := make([]net.IP, len(l))
	for i, a := range l {
		out[i] = a.AsSlice()
	}
	return out
}

// bits is the prefix length handed out: the networks row's, else the interface's.
func (d *DHCP) bits(l Lease, in DHCPIface) int {
	if l.HasNet {
		return l.Net.Prefix.Bits()
	}
	return in.Prefix.Bits()
}

func ok2outcome(rep *dhcpv4.DHCPv4) string {
	return strings.ToLower(strings.TrimPrefix(rep.MessageType().String(), "DHCP"))
}

// replyDst is where a reply goes (RFC 2131 4.1): to the relay agent, to a configured
// client's address, else broadcast (we do not write the ARP cache for unicast).
func replyDst(req *dhcpv4.DHCPv4, nak bool) netip.AddrPort {
	if g, ok := netip.AddrFromSlice(req.GatewayIPAddr.To4()); ok && !g.IsUnspecified() {
		return netip.AddrPortFrom(g, dhcpv4.ServerPort)
	}
	if c, ok := netip.AddrFromSlice(req.ClientIPAddr.To4()); ok && !c.IsUnspecified() && !nak {
		return netip.AddrPortFrom(c, dhcpv4.ClientPort)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcpv4.ClientPort)
}

// leaseOf returns node's lease for mac (the node may have been bound a moment ago and not
// be in the mac rows of s yet).
func (d *DHCP) leaseOf(s *tables.Snapshot, node, mac string) (Lease, bool) {
	leases, errs := MACLeases(s, node)
	for _, l := range leases {
		if l.MAC == mac {
			return l, true
		}
	}
	for _, err := range errs {
		d.warn("dhcp: no answer", "node", node, "mac", FormatMAC(mac), "err", err)
	}
	if len(leases) == 0 && len(errs) == 0 {
		if l, err := NodeLease(s, node, node, mac); err == nil {
			return l, true
		} else {
			d.warn("dhcp: no answer", "node", node, "mac", FormatMAC(mac), "err", err)
		}
	}
	return Lease{}, false
}

// isMe tells whether a networks.dhcpserver value names this server.
func (d *DHCP) isMe(in DHCPIface, v string) bool {
	v = strings.TrimSpace(v)
	if a, err := netip.ParseAddr(v); err == nil {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, c := range d.conns {
			if c.in.Addr == a.Unmap() {
				return true
			}
		}
		return in.Addr == a.Unmap()
	}
	for _, n := range d.cfg.Names {
		if strings.EqualFold(n, v) || strings.EqualFold(strings.SplitN(n, ".", 2)[0], strings.SplitN(v, ".", 2)[0]) {
			return true
		}
	}
	return false
}

// dynamic answers an unknown MAC from networks.dynamicrange of the interface's network,
// when the admin set one: an address only (no boot file: unknown machines are not booted).
func (d *DHCP) dynamic(s *tables.Snapshot, in DHCPIface, req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, mac string) (*dhcpv4.DHCPv4, netip.AddrPort, bool) {
	n, ok := tables.NetworkOf(s.Networks(), in.Addr)
	if !ok || !n.Dynamic[0].IsValid() {
		return nil, netip.AddrPort{}, false
	}
	if n.DHCPServer != "" && !d.isMe(in, n.DHCPServer) {
		return nil, netip.AddrPort{}, false
	}
	l, err := NetworkLease(s, n, true)
	if err != nil {
		d.warn("dhcp: no dynamic answer", "mac", FormatMAC(mac), "net", n.Prefix.String(), "err", err)
		return nil, netip.AddrPort{}, false
	}
	now := d.cfg.Now()
	ttl := l.LeaseTime // site.dhcplease
	if mt == dhcpv4.MessageTypeDiscover {
		ttl = time.Minute // an offer holds the address briefly
	}
	ix := d.cfg.Resolver().Index()
	d.mu.Lock()
	cur, have := d.dyn[mac]
	if !have || now.After(cur.expires) {
		used := map[netip.Addr]bool{}
		for m, l := range d.dyn {
			if now.After(l.expires) {
				delete(d.dyn, m)
				continue
			}
			used[l.ip] = true
		}
		cur = dynLease{}
		for a := n.Dynamic[0]; a.IsValid() && !n.Dynamic[1].Less(a); a = a.Next() {
			if !used[a] && len(ix.HostsIP(a)) == 0 && a != in.Addr {
				cur.ip = a
				break
			}
		}
	}
	if !cur.ip.IsValid() {
		d.mu.Unlock()
		d.warn("dhcp: dynamicrange exhausted", "net", n.Prefix.String(), "mac", FormatMAC(mac))
		return nil, netip.AddrPort{}, false
	}
	cur.expires = now.Add(ttl)
	d.dyn[mac] = cur
	d.mu.Unlock()
	rt := dhcpv4.MessageTypeOffer
	if mt != dhcpv4.MessageTypeDiscover {
		rt = dhcpv4.MessageTypeAck
		if sid := req.ServerIdentifier(); sid != nil && !sid.IsUnspecified() && !sid.Equal(in.Addr.AsSlice()) {
			d.dropDynamic(mac)
			return nil, netip.AddrPort{}, false
		}
		if want := req.RequestedIPAddress(); want != nil && !want.IsUnspecified() && !want.Equal(cur.ip.AsSlice()) {
			nak, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(in.Addr.AsSlice())))
			return nak, replyDst(req, true), true
		}
	}
	l = l.Resolve(in.Addr)
	rep, err := dhcpv4.NewReplyFromRequest(req, append([]dhcpv4.Modifier{
		dhcpv4.WithMessageType(rt), dhcpv4.WithYourIP(cur.ip.AsSlice()),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(in.Addr.AsSlice())),
		dhcpv4.WithNetmask(net.CIDRMask(n.Prefix.Bits(), 32)),
		dhcpv4.WithLeaseTime(uint32(ttl / time.Second)),
	}, netOptions(l)...)...)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	d.log.Info("dhcp dynamic "+strings.ToLower(strings.TrimPrefix(rt.String(), "DHCP")), "mac", FormatMAC(mac), "ip", cur.ip.String(), "iface", in.Name)
	return rep, replyDst(req, false), true
}

func (d *DHCP) dropDynamic(mac string) {
	d.mu.Lock()
	delete(d.dyn, mac)
	d.mu.Unlock()
}

// clientOf reads the client's kind from its options.
func clientOf(req *dhcpv4.DHCPv4) Client {
	var c Client
	if a := req.GetOneOption(dhcpv4.OptionClientSystemArchitectureType); len(a) >= 2 {
		c.Arch, c.HasArch = uint16(a[0])<<8|uint16(a[1]), true
	}
	c.IPXE = bytes.Contains(req.GetOneOption(dhcpv4.OptionUserClassInformation), []byte("iPXE"))
	c.PXE = strings.HasPrefix(req.ClassIdentifier(), "PXEClient")
	return c
}

// kind names the client for the log.
func (c Client) kind() string {
	var k string
	switch {
	case c.ARM64():
		k = "arm64-uefi"
	case c.UEFI():
		k = fmt.Sprintf("uefi(%d)", c.Arch)
	case c.PXE || c.HasArch:
		k = "bios"
	default:
		k = "plain"
	}
	if c.IPXE {
		k += "+ipxe"
	}
	return k
}

func hexMAC(hw net.HardwareAddr) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 0, 12)
	for _, x := range hw {
		b = append(b, hexd[x>>4], hexd[x&15])
	}
	return string(b)
}

// count adds one to the packets of message type typ with outcome.
func (d *DHCP) count(typ, outcome string) {
	k := [2]string{typ, outcome}
	d.mu.Lock()
	c := d.counts[k]
	if c == nil {
		c = &atomic.Uint64{}
		d.counts[k] = c
	}
	d.mu.Unlock()
	c.Add(1)
}

// Counts returns the packets counted by message type and outcome ("discover/offer").
func (d *DHCP) Counts() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]uint64, len(d.counts))
	for k, v := range d.counts {
		out[k[0]+"/"+k[1]] = v.Load()
	}
	return out
}

var dhcpPacketsDesc = prometheus.NewDesc("statelite_dhcp_packets_total",
	"DHCP packets received, by message type and what was done (offer, ack, nak, proxyoffer, proxyack, unknown, malformed, …).",
	[]string{"type", "outcome"}, nil)

// Describe and Collect make the DHCP server a prometheus.Collector of its packet
// counts (statelite_dhcp_packets_total{type,outcome}): statelite serve registers it.
func (d *DHCP) Describe(ch chan<- *prometheus.Desc) { ch <- dhcpPacketsDesc }

func (d *DHCP) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	ms := make([]prometheus.Metric, 0, len(d.counts))
	for k, v := range d.counts {
		ms = append(ms, prometheus.MustNewConstMetric(dhcpPacketsDesc, prometheus.CounterValue, float64(v.Load()), k[0], k[1]))
	}
	d.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}

// warn logs a refusal, rate-limited overall (a flood of bad packets cannot flood the log).
func (d *DHCP) warn(msg string, args ...any) {
	if n, ok := d.limit.allow(d.cfg.Now()); ok {
		if n > 0 {
			args = append(args, "suppressed", n)
		}
		d.log.Warn(msg, args...)
	}
}

// rateLimit allows burst events per period; allow returns how many were suppressed since
// the last one allowed.
type rateLimit struct {
	mu         sync.Mutex
	every      time.Duration
	burst      int
	start      time.Time
	n          int
	suppressed int
}

func (r *rateLimit) allow(now time.Time) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.start) >= r.every || now.Before(r.start) {
		r.start, r.n = now, 0
	}
	if r.n >= r.burst {
		r.suppressed++
		return 0, false
	}
	r.n++
	s := r.suppressed
	r.suppressed = 0
	return s, true
}

// drain returns the events suppressed so far and forgets them, once the period they
// fall in is over (at once with force); allow would report them with the next event.
func (r *rateLimit) drain(now time.Time, force bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.suppressed == 0 || !force && now.Sub(r.start) < r.every {
		return 0
	}
	n := r.suppressed
	r.suppressed = 0
	return n
}
