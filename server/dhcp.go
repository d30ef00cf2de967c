package server

import (
	"context"
	"fmt"
	"os"

	"statelite/boot"
	"statelite/tables"
)

// listenDHCP opens the DHCP server's sockets on the interfaces of Config.DHCP (full
// DHCP) and Config.DHCPProxy (proxyDHCP only). It follows the listeners of listenBoot:
// the iPXE script URLs it hands out name the HTTP boot server's port.
func (s *Server) listenDHCP() error {
	o := s.cfg
	if len(o.DHCP) == 0 && len(o.DHCPProxy) == 0 {
		return nil
	}
	// Unknown MACs are recorded in the state directory (statelite nodediscoverls), and
	// bound to the next free node while sequential discovery runs (nodediscoverstart).
	disc, err := boot.OpenDiscovery(boot.DiscoveryConfig{Dir: o.State, Log: s.log, Bind: boot.DiscoveryBinder(s.store)})
	if err != nil {
		return err
	}
	s.onClose(func() {
		if err := disc.Close(); err != nil {
			s.log.Error("discovery records not written", "err", err)
		}
	})
	cfg := boot.DHCPConfig{Resolver: s.fs.Resolver, Log: s.log,
		Unknown: func(ctx context.Context, snap *tables.Snapshot, u boot.Unknown) string {
			return disc.Seen(ctx, snap, boot.Discovered{MAC: u.MAC, Iface: u.Iface, Arch: boot.DiscoveryArch(u.Arch, u.HasArch), Vendor: u.Vendor})
		}}
	if o.Name != "" {
		cfg.Names = append(cfg.Names, o.Name)
	}
	if h, err := os.Hostname(); err == nil {
		cfg.Names = append(cfg.Names, h)
	}
	if s.httpL != nil {
		cfg.HTTPPort = portOf(s.httpL.Addr())
	}
	d, err := boot.NewDHCP(cfg)
	if err != nil {
		return err
	}
	s.dhcp = d
	s.onClose(func() { d.Close() })
	for _, ifc := range o.DHCP {
		if err := d.Listen(ifc, false); err != nil {
			return fmt.Errorf("--dhcp: %w", err)
		}
	}
	for _, ifc := range o.DHCPProxy {
		if err := d.Listen(ifc, true); err != nil {
			return fmt.Errorf("--dhcp-proxy: %w", err)
		}
	}
	return nil
}
