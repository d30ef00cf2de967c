package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"statelite/fs"
	"statelite/resolver"
	"statelite/server"
	"statelite/tables"
)

const defaultState = "/var/lib/statelite/state"

// serveOpts are the flags of statelite serve.
type serveOpts struct {
	state      string
	nfsAddr    string
	metrics    string
	adminAllow string
	rootSquash bool
	portmap    string
	store      string // table store URL (postgres://…); default --tables
	name       string // this server's name (service nodes)
	checkEvery time.Duration
	record     string // directory for per-node operation records (JSON lines)
	leaseTTL   time.Duration
	// boot (statelite/boot, started by startBoot in nodeset.go)
	tftpAddr, httpAddr, tftpRoot string
	dhcp, dhcpProxy              []string
}

func parseAllow(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return []netip.Prefix{}, nil // no admin addresses at all
	}
	var out []netip.Prefix
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, fmt.Errorf("--admin-allow %q: %v", p, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pf, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("--admin-allow %q: %v", p, err)
		}
		out = append(out, pf)
	}
	return out, nil
}

func serveCmd(e *env) *cobra.Command {
	var o serveOpts
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve every node's root view over NFSv3 (and MOUNT) from the tables, live",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.serve(cmd.Context(), o, nil)
		},
	}
	c.Flags().StringVar(&o.state, "state", defaultState, "state directory (volatile layers, handle table, secret)")
	c.Flags().StringVar(&o.nfsAddr, "nfs", ":2049", "address for NFS and MOUNT (TCP)")
	c.Flags().StringVar(&o.metrics, "metrics", "", "address for Prometheus /metrics and Go profiles (/debug/pprof/) over HTTP (off when empty)")
	c.Flags().StringVar(&o.adminAllow, "admin-allow", "127.0.0.0/8,::1/128", "comma list of networks that may mount any node's view")
	c.Flags().BoolVar(&o.rootSquash, "root-squash", false, "map uid 0 of every client to nobody")
	c.Flags().StringVar(&o.portmap, "portmap", "", "also answer portmapper GETPORT on this address (e.g. :111)")
	c.Flags().StringVar(&o.store, "store", "", "table store: a postgres:// URL shared by several servers (default: --tables, the CSV directory)")
	c.Flags().StringVar(&o.name, "name", "", "this server's name (e.g. its host name): serve only the nodes whose noderes.servicenode (else noderes.nfsserver) names it, and the nodes where neither is set; without --name (the default) every node is served, with no filtering")
	c.Flags().StringVar(&o.tftpAddr, "tftp", "", "serve boot configs, kernels and the TFTP root over TFTP on this UDP address (off when empty; e.g. :69)")
	c.Flags().StringVar(&o.httpAddr, "http", "", "serve the same files over HTTP on this address (off when empty; e.g. :8080)")
	c.Flags().StringVar(&o.record, "record", "", "record every node's MOUNT and NFS calls as JSON lines in DIR/<node>.jsonl (for bench/ replays; off when empty)")
	c.Flags().StringVar(&o.tftpRoot, "tftp-root", "", "TFTP root (default: site.tftpdir, else /tftpboot)")
	c.Flags().StringSliceVar(&o.dhcp, "dhcp", nil, "answer DHCP on these interfaces (IFACE[,IFACE…]) with the fixed addresses of the mac and hosts tables and the boot file of noderes.netboot (docs/dhcp.md)")
	c.Flags().StringSliceVar(&o.dhcpProxy, "dhcp-proxy", nil, "answer only the PXE part of DHCP (proxyDHCP: ports 67 and 4011) on these interfaces, beside the site's DHCP server")
	c.Flags().DurationVar(&o.leaseTTL, "lease-ttl", 10*time.Second, "with a postgres:// store: how long a node's write lease lasts unrenewed (the longest its writes wait after its server died)")
	return c
}

// serve runs the service (server.Run) until ctx is done; ready, when set, receives the
// NFS address once every listener is open.
func (e *env) serve(ctx context.Context, o serveOpts, ready func(nfsAddr net.Addr)) error {
	loc, flag := e.tablesDir, "tables"
	if o.store != "" {
		loc, flag = o.store, "store"
	}
	if err := e.checkTableDir(loc, flag); err != nil {
		return err
	}
	allow, err := parseAllow(o.adminAllow)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Config{
		State: o.state, Tables: loc, Author: e.author(), Mnt: e.mnt,
		NFS: o.nfsAddr, Metrics: o.metrics, Portmap: o.portmap,
		TFTP: o.tftpAddr, HTTP: o.httpAddr, TFTPRoot: o.tftpRoot,
		DHCP: o.dhcp, DHCPProxy: o.dhcpProxy,
		AdminAllow: allow, RootSquash: o.rootSquash, Name: o.name,
		CheckEvery: o.checkEvery, Record: o.record, LeaseTTL: o.leaseTTL,
		Log: e.logger(),
	})
	if err != nil {
		return err
	}
	if ready != nil {
		ready(srv.NFSAddr())
	}
	return srv.Run(ctx)
}

func resetCmd(e *env) *cobra.Command {
	var state string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "reset NODERANGE",
		Short: "Drop the volatile layer of nodes (as a boot does): through the running server, else here",
		Long: `Drop the volatile layer of nodes, as a boot does. With a server running on the state
directory (it holds the directory's lock), the server does it; with none, reset does it
itself, holding the lock meanwhile (a server cannot start on the directory until it is
done).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			nodes, err := e.noderange(snap, args[0])
			if err != nil {
				return err
			}
			if fi, err := os.Stat(state); err != nil || !fi.IsDir() {
				return fmt.Errorf("no state directory %s %s", state, e.stateHint())
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			lock, err := lockReset(ctx, state)
			if err != nil {
				return err
			}
			if lock != nil {
				defer lock.Unlock()
				return e.resetOffline(snap, state, nodes)
			}
			for _, n := range nodes {
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				err := fs.RequestReset(ctx, filepath.Join(state, "fs"), n)
				cancel()
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s: volatile layer reset\n", n)
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the running server")
	return c
}

// lockReset takes state's lock for an offline reset, without waiting when it is free
// (no server: the lock is returned) or held by a server (nil: ask the server). Held by
// another offline reset, it waits for it until ctx is done.
func lockReset(ctx context.Context, state string) (*server.StateLock, error) {
	for {
		lock, err := server.LockState(state, "reset")
		var busy *server.StateBusyError
		if !errors.As(err, &busy) {
			return lock, err
		}
		if busy.Role != "reset" {
			return nil, nil // a server (or a holder that did not say): it is asked
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (waited for it until the --timeout)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// resetOffline drops the volatile layers of nodes with the server's own code (a
// filesystem server on state that serves nothing), the caller holding state's lock.
func (e *env) resetOffline(snap *tables.Snapshot, state string, nodes []string) error {
	vol, err := server.VolatileDir(snap)
	if err != nil {
		return err
	}
	fsrv, err := fs.New(fs.Config{State: filepath.Join(state, "fs"), Volatile: vol}, resolver.New(snap, e.resolverConfig()))
	if err != nil {
		return err
	}
	defer fsrv.Close()
	defer fsrv.Wait() // the dropped layers are removed before the lock goes
	for _, n := range nodes {
		if err := fsrv.Reset(n); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: volatile layer reset (no server running on %s: done here)\n", n, state)
	}
	return nil
}
