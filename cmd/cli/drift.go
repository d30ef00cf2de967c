package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"statelite/fs"
	"statelite/resolver"
	"statelite/server"
	"statelite/tables"
)

func driftCmd(e *env) *cobra.Command {
	var state string
	c := &cobra.Command{
		Use:   "drift NODERANGE [--state DIR]",
		Short: "What a reboot would change for each node: its image generation and its view plan, at its boot against now",
		Long: `drift says, for each node of NODERANGE, what its next boot would change:

  - the image: the generation its boot serves (recorded with the boot, in its volatile
    directory) against the image's current one now;
  - the view: the plan of the tables in force at its boot (from the server's table
    history on --state) against the plan of the tables now, as "statelite plan" words it
    (image, litetree sources, persistent root, the winner of every litefile path).

Table changes take effect at once on running nodes (by design); the view lines name what
differs from the tables the node booted with. Nodes with the same answer are folded into a
noderange. A node never booted through a server on --state says so.`,
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
			vol, err := server.VolatileLayers(state, snap)
			if err != nil {
				return err
			}
			boots, err := fs.Boots(vol)
			if err != nil {
				return err
			}
			cfg := e.resolverConfig()
			now := resolver.New(snap, cfg)
			h := &tables.History{Dir: server.HistoryDir(state)}
			then := map[uint64]*resolver.Resolver{}
			var order []string
			groups := map[string][]string{}
			for _, n := range nodes {
				lines := driftOf(n, boots, now, h, then, cfg)
				key := strings.Join(lines, "\n")
				if groups[key] == nil {
					order = append(order, key)
				}
				groups[key] = append(groups[key], n)
			}
			for _, key := range order {
				fmt.Fprintf(e.stdout, "%s:\n", tables.FoldNodes(groups[key]))
				for _, l := range strings.Split(key, "\n") {
					fmt.Fprintf(e.stdout, "  %s\n", l)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server (its table history; the volatile layers when site.volatiledir is not set)")
	return c
}

// driftOf is what a reboot of node would change, one line per change.
func driftOf(node string, boots map[string]fs.BootRecord, now *resolver.Resolver, h *tables.History, then map[uint64]*resolver.Resolver, cfg resolver.Config) []string {
	b, ok := boots[node]
	if !ok {
		return []string{"no boot recorded (never booted through a server on this state, or before boots were recorded)"}
	}
	var out []string
	p, err := now.Plan(node)
	switch {
	case err != nil:
		out = append(out, "no view in the tables now: "+err.Error())
	case b.ImageDir == "":
		out = append(out, "image: not recorded at its boot (a boot before generations were recorded)")
	default:
		d := p.ImageDir()
		cur, cerr := resolver.CurrentGeneration(d)
		switch {
		case cerr != nil:
			out = append(out, "image: "+cerr.Error())
		case filepath.Clean(d) != filepath.Clean(b.ImageDir):
			out = append(out, fmt.Sprintf("image: %s %s → %s %s", b.ImageDir, genWord(b.ImageGen), d, genWord(cur)))
		case cur != b.ImageGen:
			out = append(out, fmt.Sprintf("image %s: %s → %s", d, genWord(b.ImageGen), genWord(cur)))
		}
	}
	old := then[b.TablesGen]
	if old == nil {
		s, err := h.Snapshot(b.TablesGen)
		if err != nil {
			return append(out, fmt.Sprintf("view: the tables of its boot (generation %d) are not in the history on this state: %v", b.TablesGen, err))
		}
		old = resolver.New(s, cfg)
		then[b.TablesGen] = old
	}
	for _, c := range resolver.NodeViewChanges(old, now, resolver.OSProber{}, node) {
		out = append(out, fmt.Sprintf("view (tables of its boot, generation %d → now): %s", b.TablesGen, c))
	}
	if len(out) == 0 {
		return []string{"no change: a reboot serves what it serves now"}
	}
	return out
}

func genWord(g int) string {
	if g == 0 {
		return "working copy"
	}
	return fmt.Sprintf("generation %d", g)
}
