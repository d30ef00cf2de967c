package cli

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"statelite/resolver"
	"statelite/tables"
)

func (e *env) noderange(snap *tables.Snapshot, expr string) ([]string, error) {
	opt := tables.NoderangeOptions{Prefix: os.Getenv("XCAT_NODE_PREFIX"), Suffix: os.Getenv("XCAT_NODE_SUFFIX")}
	if opt.Prefix == "" {
		opt.Prefix = "node"
	}
	nodes, missed, err := snap.Noderange(expr, opt)
	if err != nil {
		return nil, err
	}
	if len(missed) > 0 {
		//lint:ignore ST1005 xCAT's own message, word for word
		return nil, fmt.Errorf("Invalid nodes in noderange:%s", strings.Join(missed, ","))
	}
	return nodes, nil
}

// resolverConfig is the configuration plans are computed with by the CLI.
func (e *env) resolverConfig() resolver.Config {
	return resolver.Config{Mnt: e.mnt}
}

// forNodes loads the tables, expands the noderange and calls fn with each node's plan;
// per-node errors are printed and make the command exit 1 after all nodes.
func (e *env) forNodes(cmd *cobra.Command, expr string, fn func(p *resolver.Plan)) error {
	snap, err := e.load(cmd.Context())
	if err != nil {
		return err
	}
	nodes, err := e.noderange(snap, expr)
	if err != nil {
		return err
	}
	r := resolver.New(snap, e.resolverConfig())
	failed := false
	for _, n := range nodes {
		p, err := r.Plan(n)
		if err != nil {
			e.errorf("%v", err)
			failed = true
			continue
		}
		fn(p)
	}
	if failed {
		return exitError{1}
	}
	return nil
}

func nodelsCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "nodels [NODERANGE [table.column… | TABLE…]]",
		Short: "List the nodes of a noderange, optionally with attributes or every column of a table",
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			nodes := snap.Nodes()
			if len(args) > 0 {
				if nodes, err = e.noderange(snap, args[0]); err != nil {
					return err
				}
			}
			// As xCAT's nodels: one table.column prints "node: value"; several, or a
			// whole TABLE (each of its columns, in the table's order), print
			// "node: table.column: value" lines.
			var attrs [][2]string
			labels := false
			for _, a := range args[min(1, len(args)):] {
				t, c, ok := strings.Cut(a, ".")
				sc, err := tables.LookupSchema(t)
				if !ok && err == nil {
					if !sc.NodeKeyed {
						return fmt.Errorf("table %s is not keyed by node or group (use tabdump %s)", t, t)
					}
					for _, c := range sc.Columns {
						attrs = append(attrs, [2]string{t, c})
					}
					labels = true
					continue
				}
				if !ok || err != nil || sc.Col(c) < 0 {
					return fmt.Errorf("%q is not a table.column or a table of a known table", a)
				}
				attrs = append(attrs, [2]string{t, c})
			}
			labels = labels || len(attrs) > 1
			for _, n := range nodes {
				if len(attrs) == 0 {
					fmt.Fprintln(e.stdout, n)
				}
				for _, a := range attrs {
					v, _, _ := snap.NodeAttr(n, a[0], a[1])
					if sc, _ := tables.LookupSchema(a[0]); sc != nil && len(sc.Keys) == 1 && sc.Keys[0] == a[1] {
						v = n // the key column: the node, whichever of its groups' rows gave the rest
					}
					if labels {
						fmt.Fprintf(e.stdout, "%s: %s.%s: %s\n", n, a[0], a[1], v)
					} else {
						fmt.Fprintf(e.stdout, "%s: %s\n", n, v)
					}
				}
			}
			return nil
		},
	}
}

// knownImages returns the images that exist as xCAT sees them: the keys of osimage rows
// and the names litefile rows give (not ALL or blank), sorted.
func knownImages(snap *tables.Snapshot) []string {
	seen := map[string]bool{}
	add := func(t *tables.Table, col string) {
		if t == nil {
			return
		}
		for i := range t.Rows {
			if v := t.Get(i, col); t.Enabled(i) && v != "" && v != "ALL" {
				seen[v] = true
			}
		}
	}
	add(snap.Table("osimage"), "imagename")
	add(snap.Table("litefile"), "image")
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// checkImage fails unless image exists: an osimage row, or litefile rows naming it
// (xCAT's ilitefile and liteimg find an image the same ways). The error lists up to
// ten known images.
func checkImage(snap *tables.Snapshot, image string) error {
	known := knownImages(snap)
	if slices.Contains(known, image) {
		return nil
	}
	if len(known) == 0 {
		return fmt.Errorf("unknown image %q: no osimage row and no litefile row names it (no image is defined)", image)
	}
	list := strings.Join(known[:min(10, len(known))], ", ")
	if len(known) > 10 {
		list += fmt.Sprintf(", … (%d in all)", len(known))
	}
	return fmt.Errorf("unknown image %q: no osimage row and no litefile row names it (known images: %s)", image, list)
}

func litefileCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "litefile NODERANGE",
		Short: "List the effective litefile entries of each node",
		Args:  usageArgs("Usage: litefile <noderange>\nexample:\n\tlitefile node1"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.forNodes(cmd, args[0], func(p *resolver.Plan) {
				for _, en := range p.Entries() {
					fmt.Fprintf(e.stdout, "%s: %-13s %s\n", p.Node, en.Option, en.File)
				}
			})
		},
	}
}

// usageArgs requires exactly one argument and prints xCAT's usage text otherwise.
func usageArgs(usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%s", usage)
		}
		return nil
	}
}

func ilitefileCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "ilitefile IMAGE",
		Short: "List the effective litefile entries of an osimage",
		Args:  usageArgs("Usage: ilitefile <imagename>\n\texample:\n\tilitefile centos5.3-x86_64-statelite-compute"),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			if err := checkImage(snap, args[0]); err != nil {
				return err
			}
			for _, en := range snap.LitefileFor(args[0]) {
				fmt.Fprintf(e.stdout, "%s: %-13s %s\n", args[0], en.Option, en.File)
			}
			return nil
		},
	}
}

func litetreeCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "litetree NODERANGE",
		Short: "List each node's litetree sources in priority order, variables substituted",
		Args:  usageArgs("Usage: litetree <noderange>\nexample:\n\tlitetree node1"),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := false
			err := e.forNodes(cmd, args[0], func(p *resolver.Plan) {
				for _, s := range p.Sources {
					fmt.Fprintf(e.stdout, "%s: %s\n", p.Node, s.Display)
				}
				for _, m := range p.Errors {
					e.errorf("%s", m)
					bad = true
				}
			})
			if err == nil && bad {
				err = exitError{1}
			}
			return err
		},
	}
}

func lsliteCmd(e *env) *cobra.Command {
	var image string
	c := &cobra.Command{
		Use:   "lslite NODERANGE | lslite -i IMAGE",
		Short: "Summarize the statelite setup of nodes or of an osimage",
		RunE: func(cmd *cobra.Command, args []string) error {
			if image != "" {
				snap, err := e.load(cmd.Context())
				if err != nil {
					return err
				}
				if len(snap.RowsByKey("osimage", image)) == 0 {
					//lint:ignore ST1005 xCAT's own message, word for word
					return fmt.Errorf("The osimage named '%s' is not defined.", image)
				}
				for _, en := range snap.LitefileFor(image) {
					fmt.Fprintf(e.stdout, "        %-13s %s\n", en.Option, en.File)
				}
				return nil
			}
			if len(args) != 1 {
				return fmt.Errorf("usage: lslite [-i imagename] | [noderange]")
			}
			bad := false
			err := e.forNodes(cmd, args[0], func(p *resolver.Plan) {
				w := e.stdout
				fmt.Fprintf(w, ">>>Node: %s\n\n", p.Node)
				fmt.Fprintf(w, "Osimage: %s\n\n", p.Image)
				fmt.Fprintln(w, "Persistent directory (statelite table):")
				if p.Statemnt != "" {
					fmt.Fprintf(w, "        %s\n", p.Statemnt)
				}
				fmt.Fprint(w, "\n\n")
				fmt.Fprintln(w, "Litefiles (litefile table):")
				for _, en := range p.Entries() {
					fmt.Fprintf(w, "        %-13s %s\n", en.Option, en.File)
				}
				fmt.Fprint(w, "\n\n")
				fmt.Fprintln(w, "Litetree path (litetree table):")
				for _, s := range p.Sources {
					fmt.Fprintf(w, "        %s, %s\n", s.Priority, s.Display)
				}
				fmt.Fprint(w, "\n\n")
				for _, m := range p.Warnings {
					fmt.Fprintf(e.stderr, "Warning: %s\n", m)
				}
				for _, m := range p.Errors {
					e.errorf("%s", m)
					bad = true
				}
			})
			if err == nil && bad {
				err = exitError{1}
			}
			return err
		},
	}
	c.Flags().StringVarP(&image, "image", "i", "", "show the litefile entries of this osimage")
	return c
}

func liteimgCmd(e *env) *cobra.Command {
	var osName, arch, profile string
	c := &cobra.Command{
		Use:   "liteimg IMAGE | liteimg -o OS -a ARCH -p PROFILE",
		Short: "Check an image's litefile rows (statelite computes views live: there is nothing to bake)",
		Args: func(cmd *cobra.Command, args []string) error {
			byParts := osName != "" || arch != "" || profile != ""
			switch {
			case byParts && (len(args) != 0 || osName == "" || arch == "" || profile == ""):
				return fmt.Errorf("usage: liteimg IMAGE, or liteimg -o OS -a ARCH -p PROFILE (all three)")
			case !byParts && len(args) != 1:
				return fmt.Errorf("usage: liteimg IMAGE, or liteimg -o OS -a ARCH -p PROFILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{osName + "-" + arch + "-statelite-" + profile}
			}
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			if err := checkImage(snap, args[0]); err != nil {
				return err
			}
			bad := false
			for _, p := range tables.Validate(snap) {
				if p.Table != "litefile" && p.Table != "litetree" && p.Table != "statelite" {
					continue
				}
				if p.Warning {
					fmt.Fprintf(e.stderr, "%s\n", p)
				} else {
					e.errorf("%s", p)
					bad = true
				}
			}
			if bad {
				return exitError{1}
			}
			n := len(snap.LitefileFor(args[0]))
			fmt.Fprintf(e.stdout, "%s: %d litefile entries are valid. Nothing to bake: statelite serves every node's view live from the tables, so changes take effect at once.\n", args[0], n)
			return nil
		},
	}
	c.Flags().StringVarP(&osName, "osver", "o", "", "operating system of the image (with -a and -p)")
	c.Flags().StringVarP(&arch, "arch", "a", "", "architecture of the image")
	c.Flags().StringVarP(&profile, "profile", "p", "", "profile of the image")
	return c
}

func explainCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "explain NODE PATH",
		Short: "Say which entry, option and source serve a path of a node's view, and why",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := e.load(cmd.Context())
			if err != nil {
				return err
			}
			if !strings.HasPrefix(args[1], "/") {
				return fmt.Errorf("path %q must be absolute", args[1])
			}
			p, err := resolver.New(snap, e.resolverConfig()).Plan(args[0])
			if err != nil {
				return err
			}
			p.Explain(e.stdout, resolver.OSProber{}, args[1])
			return nil
		},
	}
}
