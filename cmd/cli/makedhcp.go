package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"statelite/boot"
	"statelite/tables"
)

// makedhcpOpts are makedhcp's flags.
type makedhcpOpts struct {
	new, add, del, query bool
	format, file, server string
	httpPort             int
}

// makedhcpCmd is xCAT's makedhcp for sites that keep their own DHCP server: it writes
// what statelite's DHCP server hands out (boot.MakeDHCP: the same leases and boot files)
// into an ISC dhcpd or dnsmasq configuration file. Nothing is reloaded: the admin
// restarts dhcpd or dnsmasq, as with any edit of their configuration.
func makedhcpCmd(e *env) *cobra.Command {
	var o makedhcpOpts
	c := &cobra.Command{
		Use:   "makedhcp -n | -a [NODERANGE] | -d NODERANGE | -q NODERANGE",
		Short: "Write nodes' DHCP entries into an ISC dhcpd or dnsmasq configuration (xCAT's makedhcp)",
		Long: `makedhcp -n                 write the whole configuration anew: a subnet for every
                            networks row and the entries of every node with a mac
makedhcp -a [NODERANGE]     add or replace the entries of the nodes (all nodes with a
                            mac without a NODERANGE), keeping every other line
makedhcp NODERANGE          the same as -a NODERANGE
makedhcp -d NODERANGE       delete the entries of the nodes
makedhcp -q NODERANGE       print the entries of the nodes found in the file

Entries are what statelite's DHCP server hands out: the mac table's MACs with the
hosts.ip addresses, the networks row's options, next-server and the boot file by
noderes.netboot and client kind (BIOS, UEFI, arm64, iPXE). <xcatmaster> and the
default next-server are the server's address: --server, else site.master. A node's
entries sit between "# statelite host NODE begin" and "... end" lines; the file is
replaced atomically. MACs without an address (no hosts.ip, *NOIP*) are left out
with a warning; -a fails when none of the nodes has an entry.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.makedhcp(cmd.Context(), o, args)
		},
	}
	f := c.Flags()
	f.BoolVarP(&o.new, "new", "n", false, "write the whole configuration anew (every network, every node with a mac)")
	f.BoolVarP(&o.add, "add", "a", false, "add or replace the entries of NODERANGE (default: every node with a mac)")
	f.BoolVarP(&o.del, "delete", "d", false, "delete the entries of NODERANGE")
	f.BoolVarP(&o.query, "query", "q", false, "print the entries of NODERANGE found in the file")
	f.StringVar(&o.format, "format", boot.DHCPFormatISC, "isc (ISC dhcpd) or dnsmasq")
	f.StringVar(&o.file, "file", "", "the configuration file (default /etc/dhcp/dhcpd.conf for isc, /etc/dnsmasq.d/statelite.conf for dnsmasq)")
	f.StringVar(&o.server, "server", "", "this server's IPv4 address, for <xcatmaster> and the default next-server (default site.master)")
	f.IntVar(&o.httpPort, "http-port", 80, "the HTTP port iPXE fetches xnba scripts from (0: TFTP paths)")
	return c
}

// defaultDHCPFiles are the files each format is written to by default.
var defaultDHCPFiles = map[string]string{
	boot.DHCPFormatISC:     "/etc/dhcp/dhcpd.conf",
	boot.DHCPFormatDnsmasq: "/etc/dnsmasq.d/statelite.conf",
}

func (e *env) makedhcp(ctx context.Context, o makedhcpOpts, args []string) error {
	nr := ""
	if len(args) == 1 {
		nr = args[0]
	}
	modes := 0
	for _, m := range []bool{o.new, o.add, o.del, o.query} {
		if m {
			modes++
		}
	}
	switch {
	case modes > 1:
		return errors.New("makedhcp: -n, -a, -d and -q exclude each other")
	case modes == 0 && nr == "":
		return errors.New("makedhcp: give -n, -a [NODERANGE], -d NODERANGE or -q NODERANGE")
	case modes == 0:
		o.add = true // xCAT: makedhcp NODERANGE adds the nodes
	case o.new && nr != "":
		return errors.New("makedhcp: -n takes no noderange (it writes every node with a mac; then use -a or -d)")
	case (o.del || o.query) && nr == "":
		return errors.New("makedhcp: -d and -q need a NODERANGE")
	}
	file, ok := defaultDHCPFiles[o.format]
	if !ok {
		return fmt.Errorf("makedhcp: --format %q: isc or dnsmasq", o.format)
	}
	if o.file != "" {
		file = o.file
	}
	var server netip.Addr
	if o.server != "" {
		a, err := netip.ParseAddr(o.server)
		if err != nil || !a.Unmap().Is4() {
			return fmt.Errorf("makedhcp: --server %q is not an IPv4 address", o.server)
		}
		server = a.Unmap()
	}
	snap, err := e.load(ctx)
	if err != nil {
		return err
	}
	nodes := boot.NodesWithMAC(snap)
	switch {
	case nr != "" && (o.del || o.query):
		// A node removed from the tables keeps its entries in the file until deleted:
		// names of the noderange that are no nodes count too.
		opt := tables.NoderangeOptions{Prefix: os.Getenv("XCAT_NODE_PREFIX"), Suffix: os.Getenv("XCAT_NODE_SUFFIX")}
		in, missed, err := snap.Noderange(nr, opt)
		if err != nil {
			return err
		}
		nodes = append(in, missed...)
		slices.Sort(nodes)
	case nr != "":
		if nodes, err = e.noderange(snap, nr); err != nil {
			return err
		}
	}
	// The file as it is, for every mode but -n.
	var text string
	if !o.new {
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s does not exist: write it with statelite makedhcp -n --format %s first", file, o.format)
		}
		if err != nil {
			return err
		}
		text = string(b)
		if err := boot.CheckDHCPFormat(text, o.format); err != nil {
			return fmt.Errorf("%s: %v", file, err)
		}
	}

	switch {
	case o.query:
		found, err := boot.QueryDHCPHosts(text, nodes)
		if err != nil {
			return fmt.Errorf("%s: %v", file, err)
		}
		for _, h := range found {
			fmt.Fprintln(e.stdout, boot.FormatDHCPHostAddr(h))
		}
		return nil
	case o.del:
		out, removed, err := boot.RemoveDHCPHosts(text, nodes)
		if err != nil {
			return fmt.Errorf("%s: %v", file, err)
		}
		if len(removed) == 0 {
			return nil
		}
		return writeDHCPFile(file, out)
	}

	c, err := boot.MakeDHCP(snap, nodes, boot.MakeDHCPOptions{Format: o.format, Server: server, HTTPPort: o.httpPort, AllNetworks: o.new})
	if err != nil {
		return err
	}
	for _, w := range c.Warnings {
		fmt.Fprintln(e.stderr, "Warning: "+w)
	}
	if o.new {
		return writeDHCPFile(file, c.Text())
	}
	// -a: the nodes asked must give something; the others' warnings say why not.
	if len(c.Hosts) == 0 {
		return fmt.Errorf("makedhcp: no DHCP entry for any node of %s; %s is unchanged", describeRange(nr), file)
	}
	out, err := boot.SpliceDHCPHosts(text, c.Hosts)
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	for _, w := range boot.MissingDHCPNetworks(out, c) {
		fmt.Fprintln(e.stderr, "Warning: "+w)
	}
	return writeDHCPFile(file, out)
}

// describeRange names the nodes asked for in a message.
func describeRange(nr string) string {
	if nr == "" {
		return "the nodes with a mac"
	}
	return nr
}

// writeDHCPFile replaces path with text atomically: a fsynced temporary file in the
// same directory (keeping the old file's permissions, else 0644) renamed over it, so
// that dhcpd or dnsmasq starting meanwhile reads the old file or the new one, never
// half of one.
func writeDHCPFile(path, text string) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	return tables.WriteFileAtomic(path, []byte(text), mode)
}
