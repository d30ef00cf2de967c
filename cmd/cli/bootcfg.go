package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"statelite/boot"
	"statelite/resolver"
	"statelite/tables"
)

// serverPlaceholder stands for this server's address in a rendered configuration when
// the tables do not name one and --server is not given.
const serverPlaceholder = "SERVER"

// bootcfgCmd shows the boot configurations statelite serve renders for nodes, rendered
// here from the tables (boot.NodeParams and Params.Render): no request reaches a
// server, so nothing counts as a boot and no volatile layer is dropped.
func bootcfgCmd(e *env) *cobra.Command {
	var all bool
	var server string
	var nfsPort, httpPort, tftpPort int
	c := &cobra.Command{
		Use:   "bootcfg NODERANGE [-a]",
		Short: "Show the boot configuration (pxelinux, grub2, iPXE) each node is served, without booting it",
		Long: `bootcfg renders the boot configuration statelite serve hands each node, from the
tables as they are now: the loader noderes.netboot names (pxe or blank: pxelinux;
xnba: iPXE; grub2, grub2-tftp, grub2-http: grub2), or all three with -a. Nothing is
fetched from a server, so this is not a boot: the node's volatile layer stays.

What a server renders differs in two ways: the root path carries the boot's token
(/nodes/NODE/@TOKEN), and where noderes names no server the address the request
arrived on is used (here: --server, else this host's address facing the node's
hosts.ip, else the word SERVER). --nfs-port, --http-port and --tftp-port are the
ports of the statelite serve whose configuration to show.`,
		Args: usageArgs("Usage: bootcfg <noderange> [-a]\nexample:\n\tbootcfg n1"),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			nodes, err := e.noderange(snap, args[0])
			if err != nil {
				return err
			}
			r := resolver.New(snap, e.resolverConfig())
			failed := false
			for _, n := range nodes {
				set := boot.Settings{ServerIP: server, NFSPort: nfsPort, HTTPPort: httpPort, TFTPPort: tftpPort}
				if set.ServerIP == "" {
					set.ServerIP = facingAddr(snap, n)
				}
				if err := e.bootcfg(r, n, set, all); err != nil {
					e.errorf("%v", err)
					failed = true
				}
			}
			if failed {
				return exitError{1}
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "show the pxelinux, grub2 and iPXE configurations, whatever noderes.netboot says")
	c.Flags().StringVar(&server, "server", "", "this server's address as the nodes see it, where noderes names none (default: the local address facing the node's hosts.ip)")
	c.Flags().IntVar(&nfsPort, "nfs-port", 2049, "the NFS port of the server (statelite serve --nfs)")
	c.Flags().IntVar(&httpPort, "http-port", 0, "the HTTP port of the server (statelite serve --http; 0: none, iPXE loads over TFTP)")
	c.Flags().IntVar(&tftpPort, "tftp-port", 69, "the TFTP port of the server (statelite serve --tftp)")
	return c
}

// bootcfg prints node's configurations.
func (e *env) bootcfg(r *resolver.Resolver, node string, set boot.Settings, all bool) error {
	s := r.Snap
	netboot, _, _ := s.NodeAttr(node, "noderes", "netboot")
	netboot = strings.TrimSpace(netboot)
	loaders := []boot.Loader{boot.PXELinux, boot.Grub2, boot.IPXE}
	if !all {
		l, err := loaderOf(netboot)
		if err != nil {
			return fmt.Errorf("node %s: %v", node, err)
		}
		loaders = []boot.Loader{l}
	}
	p, err := boot.NodeParams(r, node, set)
	if errors.Is(err, boot.ErrOffline) {
		fmt.Fprintf(e.stdout, "== %s: chain.currstate offline: no configuration is served (the node gets none from this server)\n", node)
		return nil
	}
	if err != nil {
		return err
	}
	nb := netboot
	if nb == "" {
		nb = "blank: pxe"
	}
	for _, l := range loaders {
		text, err := p.Render(l, set)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "== %s: %s (noderes.netboot %s), served as %s\n", node, l, nb, strings.Join(configNames(s, node, l), ", "))
		e.stdout.Write(text)
	}
	if p.State == "statelite" {
		if plan, err := r.Plan(node); err == nil {
			if err := boot.CheckBootFiles(p, plan.Root); err != nil {
				fmt.Fprintf(e.stderr, "Warning: node %s: %v: the boot would fail\n", node, err)
			}
		}
	}
	return nil
}

// loaderOf is the loader whose configuration a node fetches, from noderes.netboot (as
// boot.BootFile hands out boot files).
func loaderOf(netboot string) (boot.Loader, error) {
	switch {
	case netboot == "" || netboot == "pxe":
		return boot.PXELinux, nil
	case netboot == "xnba":
		return boot.IPXE, nil
	case strings.HasPrefix(netboot, "grub2"):
		return boot.Grub2, nil
	}
	return 0, fmt.Errorf("noderes.netboot %q: statelite serves pxelinux (pxe), grub2 (grub2, grub2-tftp, grub2-http) and iPXE (xnba) configurations; bootcfg -a shows all three", netboot)
}

// configNames are the names a loader fetches node's configuration by: its MACs, its
// address in hex and its name.
func configNames(s *tables.Snapshot, node string, l boot.Loader) []string {
	v, _, _ := s.NodeAttr(node, "mac", "mac")
	_, macs := resolver.MACs(v, node)
	ip, _, _ := s.NodeAttr(node, "hosts", "ip")
	hex := boot.HexIP(ip)
	var out []string
	switch l {
	case boot.PXELinux, boot.Grub2:
		dir, pre := "pxelinux.cfg/", "pxelinux.cfg/"
		if l == boot.Grub2 {
			dir, pre = "boot/grub2/", "boot/grub2/grub.cfg-"
		}
		for _, m := range macs {
			out = append(out, pre+boot.PXEMAC(m))
		}
		if hex != "" {
			out = append(out, pre+hex)
		}
		out = append(out, dir+node)
	case boot.IPXE:
		out = append(out, "xcat/xnba/nodes/"+node)
	}
	return out
}

// facingAddr is this host's address on the way to node's hosts.ip (no packet is sent),
// or serverPlaceholder.
func facingAddr(s *tables.Snapshot, node string) string {
	ip, _, _ := s.NodeAttr(node, "hosts", "ip")
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return serverPlaceholder
	}
	c, err := net.Dial("udp", netip.AddrPortFrom(a.Unmap(), 9).String())
	if err != nil {
		return serverPlaceholder
	}
	defer c.Close()
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return ua.IP.String()
	}
	return serverPlaceholder
}
