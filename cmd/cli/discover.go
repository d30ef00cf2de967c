package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"statelite/boot"
	"statelite/resolver"
	"statelite/tables"
)

// Node discovery, xCAT's nodediscover* commands over what the server's DHCP records
// (boot.Discovery): the unknown MACs in <state>/discovery.json, sequential discovery
// switched on by <state>/discovery-seq. The server owns discovery.json; these commands
// only read it, and bind MACs by writing the mac table through the table store.

// discoverCmds are the nodediscover* commands.
func discoverCmds(e *env) []*cobra.Command {
	return []*cobra.Command{nodediscoverlsCmd(e), nodediscoverdefCmd(e), nodediscoverstartCmd(e), nodediscoverstopCmd(e), nodediscoverstatusCmd(e)}
}

// Discovery methods as nodediscoverls shows them.
const (
	methodUndef      = "undef"      // the MAC is in no node's mac table row
	methodSequential = "sequential" // bound by sequential discovery, and still the node's
	methodManual     = "manual"     // in the mac table otherwise (nodediscoverdef, chtab…)
)

// discoveredRow is one record with its node and method by the current mac table.
type discoveredRow struct {
	boot.Discovered
	node, method string
}

// classify gives each record its node and method by the current mac table.
func classify(recs []boot.Discovered, s *tables.Snapshot) []discoveredRow {
	owners := resolver.MACOwners(s)
	rows := make([]discoveredRow, 0, len(recs))
	for _, r := range recs {
		row := discoveredRow{Discovered: r, node: "undef", method: methodUndef}
		switch own := owners[r.MAC]; {
		case len(own) == 0:
		case r.Node != "" && slices.Contains(own, r.Node):
			row.node, row.method = r.Node, methodSequential
		default:
			row.node, row.method = strings.Join(own, ","), methodManual
		}
		rows = append(rows, row)
	}
	return rows
}

func nodediscoverlsCmd(e *env) *cobra.Command {
	var typ, uuid, state string
	var long bool
	c := &cobra.Command{
		Use:   "nodediscoverls [-t seq|manual|undef|all] [-l] [--state DIR]",
		Short: "List the unknown MACs the server's DHCP has seen and the nodes discovery bound them to",
		Long: `List what the running server's DHCP recorded about requests from MACs no node has
(<state>/discovery.json, written by the server at most once a second).

xCAT prints UUID NODE METHOD MTM SERIAL, from the inventory its genesis image sends. statelite
discovers from the DHCP request alone, so a record is keyed by MAC and the columns are:

  MAC      the client's MAC
  NODE     the node whose mac table row has it ("undef": none)
  METHOD   undef (no node has the MAC), sequential (bound by nodediscoverstart's sequential
           discovery), manual (bound otherwise: nodediscoverdef, chtab, tabedit)
  ARCH     client architecture (DHCP option 93): x86, x86_64-efi, arm64-efi, x86_64-efi-http…
  VENDOR   vendor class (DHCP option 60)
  FIRST    first request, LAST latest request, COUNT requests seen

-t seq|manual|undef|all selects by METHOD. Without -t: while sequential discovery runs, the
nodes it bound (as xCAT); otherwise the undef records, the MACs still waiting for a node (xCAT
lists all records then; ours also hold every stray DHCP client, so that is -t all here).
-l prints one stanza per record. The server keeps at most 10000 records, dropping the oldest.
-u UUID is not supported: there are no UUIDs, only MACs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if uuid != "" {
				return fmt.Errorf("-u %s: not supported: statelite records MACs (DHCP requests), not UUIDs; nodediscoverls lists them by MAC", uuid)
			}
			seqText, _, running, err := boot.ReadDiscoverySeq(state)
			if err != nil {
				return err
			}
			want := ""
			switch typ {
			case "":
				want = methodUndef
				if running {
					want = methodSequential
				}
			case "seq", "sequential":
				want = methodSequential
			case "manual", "undef":
				want = typ
			case "all":
			case "profile", "switch", "blade":
				return fmt.Errorf("the discovery type '%s' is not supported: statelite has sequential discovery only (seq, manual, undef, all)", typ)
			default:
				return fmt.Errorf("the discovery type '%s' is not supported (seq, manual, undef, all)", typ)
			}
			recs, err := boot.ReadDiscovered(state)
			if err != nil {
				return err
			}
			snap, err := e.loadRaw(cmd.Context())
			if err != nil {
				return err
			}
			var rows []discoveredRow
			for _, r := range classify(recs, snap) {
				if want == "" || r.method == want {
					rows = append(rows, r)
				}
			}
			if running && want == methodSequential {
				fmt.Fprintf(e.stdout, "Discovered %d %s (sequential discovery of %s running).\n", len(rows), plural(len(rows), "node", "nodes"), seqText)
			}
			if long {
				printDiscoveredLong(e.stdout, rows)
				return nil
			}
			if len(rows) == 0 {
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MAC\tNODE\tMETHOD\tARCH\tVENDOR\tFIRST\tLAST\tCOUNT")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", boot.FormatMAC(r.MAC), r.node, r.method, orDash(r.Arch), orDash(r.Vendor),
					r.First.Local().Format(timeFmt), r.Last.Local().Format(timeFmt), r.Count)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&typ, "type", "t", "", "seq, manual, undef or all (default: seq while sequential discovery runs, else undef)")
	c.Flags().BoolVarP(&long, "long", "l", false, "one stanza per record with every field")
	c.Flags().StringVarP(&uuid, "uuid", "u", "", "xCAT's UUID selection: not supported")
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	return c
}

// printDiscoveredLong prints records as xCAT's nodediscoverls -l stanzas.
func printDiscoveredLong(w io.Writer, rows []discoveredRow) {
	for _, r := range rows {
		fmt.Fprintf(w, "Object mac: %s\n", boot.FormatMAC(r.MAC))
		fmt.Fprintf(w, "    node=%s\n    method=%s\n", r.node, r.method)
		if r.Arch != "" {
			fmt.Fprintf(w, "    arch=%s\n", r.Arch)
		}
		if r.Vendor != "" {
			fmt.Fprintf(w, "    vendor=%s\n", r.Vendor)
		}
		if r.Iface != "" {
			fmt.Fprintf(w, "    interface=%s\n", r.Iface)
		}
		fmt.Fprintf(w, "    firsttime=%s\n    discoverytime=%s\n    count=%d\n",
			r.First.Local().Format(timeFmt), r.Last.Local().Format(timeFmt), r.Count)
		if r.Node != "" && r.method != methodSequential {
			fmt.Fprintf(w, "    sequentialnode=%s\n", r.Node)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func nodediscoverdefCmd(e *env) *cobra.Command {
	var mac, node, uuid, state string
	var remove bool
	c := &cobra.Command{
		Use:   "nodediscoverdef -m MAC -n NODE [--state DIR]",
		Short: "Bind a discovered MAC to a predefined node (writes its mac table row)",
		Long: `Bind MAC to NODE: NODE's mac.mac becomes MAC (replacing the mac it had, as xCAT does;
mac.interface is left as it is), written through the table store like chtab: validated,
atomic, recorded in the history, picked up by a running server at once.

NODE must be defined (a nodelist row) and MAC must not be another node's. The MAC is usually
one nodediscoverls lists, but need not be. xCAT names the record by -u UUID; statelite's
records are MACs, so -m MAC replaces it (-u is refused). -r (remove records) is not
supported: the server drops the oldest records by itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case uuid != "":
				return fmt.Errorf("-u %s: not supported: statelite records MACs, not UUIDs; use -m MAC (nodediscoverls lists them)", uuid)
			case remove:
				return errors.New("-r: not supported: the server keeps the discovery records and drops the oldest itself")
			case mac == "" || node == "":
				return errors.New("both -m MAC and -n NODE are required")
			}
			m := resolver.NormalizeMAC(mac)
			if m == "" {
				return fmt.Errorf("MAC %q is not a MAC address (want aa:bb:cc:dd:ee:ff)", mac)
			}
			st, err := e.store()
			if err != nil {
				return err
			}
			snap, prev, err := boot.SetNodeMAC(cmd.Context(), st, node, m, true)
			if err != nil {
				return e.report(nil, err)
			}
			fmt.Fprintf(e.stdout, "Defined [%s] to node %s.\n", boot.FormatMAC(m), node)
			if _, all := resolver.MACs(prev, node); prev != "" && !slices.Contains(all, m) {
				fmt.Fprintf(e.stdout, "    (its mac was %s)\n", prev)
			}
			if recs, err := boot.ReadDiscovered(state); err == nil && !slices.ContainsFunc(recs, func(r boot.Discovered) bool { return r.MAC == m }) {
				fmt.Fprintf(e.stdout, "    (%s is not among the MACs the server has seen in %s)\n", boot.FormatMAC(m), state)
			}
			return e.report(snap, nil)
		},
	}
	c.Flags().StringVarP(&mac, "mac", "m", "", "the discovered MAC")
	c.Flags().StringVarP(&node, "node", "n", "", "the predefined node to bind it to")
	c.Flags().StringVarP(&uuid, "uuid", "u", "", "xCAT's UUID: not supported, use -m")
	c.Flags().BoolVarP(&remove, "remove", "r", false, "xCAT's record removal: not supported")
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	return c
}

// seqArgs returns the noderange of nodediscoverstart's arguments: noderange=NR (xCAT's
// form) or a bare NR. xCAT's other sequential discovery parameters assign addresses and
// BMC settings, which statelite leaves to the tables: they are refused by name.
func seqArgs(args []string) (string, error) {
	unsupported := []string{"hostiprange", "bmciprange", "groups", "rack", "chassis", "height", "unit", "osimage",
		"networkprofile", "imageprofile", "hostnameformat", "hardwareprofile", "rank"}
	var nr []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "noderange="); ok {
			nr = append(nr, v)
			continue
		}
		if k, _, ok := strings.Cut(a, "="); ok && slices.Contains(unsupported, k) {
			return "", fmt.Errorf("%s=: not supported: predefine the nodes with their hosts.ip (and the rest) and give noderange= only", k)
		}
		nr = append(nr, a)
	}
	switch {
	case len(nr) == 0 || len(nr) == 1 && strings.TrimSpace(nr[0]) == "":
		return "", errors.New("for sequential discovery, the noderange must be specified: nodediscoverstart noderange=NODERANGE")
	case len(nr) > 1:
		return "", fmt.Errorf("one noderange, not %d: %s", len(nr), strings.Join(nr, " "))
	case strings.ContainsAny(nr[0], "\n\r"):
		return "", errors.New("the noderange must be one line")
	}
	return strings.TrimSpace(nr[0]), nil
}

func nodediscoverstartCmd(e *env) *cobra.Command {
	var state string
	var verbose bool
	c := &cobra.Command{
		Use:   "nodediscoverstart noderange=NODERANGE [-V] [--state DIR]",
		Short: "Start sequential discovery: unknown MACs get the free nodes of NODERANGE, in order",
		Long: `Start sequential discovery: while it runs, the server binds each MAC no node has, as its
DHCP requests arrive, to the next node of NODERANGE that has no mac yet (writing that node's
mac.mac), so nodes powered on one after another get the names in order (numbers compared as
numbers: n2 before n10). The nodes must be defined; names of the range that are not are
skipped. It writes <state>/discovery-seq, which the running server looks at once a second.

xCAT's hostiprange=, bmciprange=, groups=, osimage=… are not supported: predefine the nodes
with their hosts.ip and the rest. -V lists the free nodes.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nr, err := seqArgs(args)
			if err != nil {
				return err
			}
			if text, _, running, err := boot.ReadDiscoverySeq(state); err != nil {
				return err
			} else if running {
				//lint:ignore ST1005 xCAT's own message
				return fmt.Errorf("Sequential Discovery is running (noderange=%s). If you want to rerun the discovery, stop the running discovery first", text)
			}
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			nodes, free, missed, err := boot.SeqFreeNodes(snap, nr)
			if err != nil {
				return err
			}
			if len(nodes) == 0 {
				return fmt.Errorf("noderange %s has no defined node (sequential discovery hands out predefined nodes only)", nr)
			}
			if err := boot.WriteDiscoverySeq(state, nr); err != nil {
				return err
			}
			w := e.stdout
			fmt.Fprintf(w, "Sequential Discovery: Started:\n")
			fmt.Fprintf(w, "    Number of free node names: %d\n", len(free))
			if n := len(nodes) - len(free); n > 0 {
				fmt.Fprintf(w, "    Nodes with a mac already (skipped): %d\n", n)
			}
			if len(missed) > 0 {
				fmt.Fprintf(w, "    Not defined (skipped): %s\n", tables.FoldNodes(missed))
			}
			if verbose && len(free) > 0 {
				fmt.Fprintf(w, "====================Free Nodes===================\n")
				for _, n := range free {
					fmt.Fprintf(w, "%s\n", n)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	c.Flags().BoolVarP(&verbose, "verbose", "V", false, "list the free node names in the order they are handed out")
	return c
}

func nodediscoverstopCmd(e *env) *cobra.Command {
	var state string
	c := &cobra.Command{
		Use:   "nodediscoverstop [--state DIR]",
		Short: "Stop sequential discovery and show the nodes it bound",
		Long: `Stop sequential discovery (remove <state>/discovery-seq; the running server notices within a
second) and list the nodes bound during the run: the records the server bound that were seen
since the start and whose MAC is still their node's. The server writes its records at most once
a second, so a node bound in the very last second may be missing from the list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, since, running, err := boot.ReadDiscoverySeq(state)
			if err != nil {
				return err
			}
			if !running {
				if _, err := boot.RemoveDiscoverySeq(state); err != nil { // an empty file
					return err
				}
				//lint:ignore ST1005 xCAT's own message
				return errors.New("Sequential Discovery is stopped.")
			}
			if _, err := boot.RemoveDiscoverySeq(state); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Sequential Discovery: Stopped.\n")
			recs, err := boot.ReadDiscovered(state)
			if err != nil {
				return err
			}
			snap, err := e.loadRaw(cmd.Context())
			if err != nil {
				return err
			}
			var bound []discoveredRow
			for _, r := range classify(recs, snap) {
				if r.method == methodSequential && !r.Last.Before(since.Add(-time.Second)) {
					bound = append(bound, r)
				}
			}
			fmt.Fprintf(e.stdout, "Discovered %d %s.\n", len(bound), plural(len(bound), "node", "nodes"))
			if len(bound) > 0 {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "    NODE\tMAC")
				for _, r := range bound {
					fmt.Fprintf(tw, "    %s\t%s\n", r.node, boot.FormatMAC(r.MAC))
				}
				return tw.Flush()
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	return c
}

func nodediscoverstatusCmd(e *env) *cobra.Command {
	var state string
	c := &cobra.Command{
		Use:   "nodediscoverstatus [--state DIR]",
		Short: "Say whether sequential discovery is running, and its noderange",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			text, since, running, err := boot.ReadDiscoverySeq(state)
			if err != nil {
				return err
			}
			if !running {
				fmt.Fprintf(e.stdout, "Sequential Discovery is stopped.\n")
				return nil
			}
			fmt.Fprintf(e.stdout, "Sequential discovery is running.\n")
			fmt.Fprintf(e.stdout, "    The parameters used for discovery: noderange=%s\n", text)
			fmt.Fprintf(e.stdout, "    Started: %s\n", since.Local().Format(timeFmt))
			if snap, err := e.loadRaw(cmd.Context()); err == nil {
				if _, free, _, err := boot.SeqFreeNodes(snap, text); err == nil {
					fmt.Fprintf(e.stdout, "    Number of free node names: %d\n", len(free))
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	return c
}
