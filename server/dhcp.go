package server

import (
	"fmt"
	"os"

	"statelite/boot"
)

// listenDHCP opens the DHCP server's sockets on the interfaces of Config.DHCP (full
// DHCP) and Config.DHCPProxy (proxyDHCP only). It follows the listeners of listenBoot:
// the iPXE script URLs it hands out name the HTTP boot server's port.
func (s *Server) listenDHCP() error {
	o := s.cfg
	if len(o.DHCP) == 0 && len(o.DHCPProxy) == 0 {
		return nil
	}
	cfg := boot.DHCPConfig{Resolver: s.fs.Resolver, Log: s.log}
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
