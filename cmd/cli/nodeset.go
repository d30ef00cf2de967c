package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"statelite/boot"
	"statelite/tables"
)

// nodesetCmd is xCAT's nodeset for statelite: it writes nodetype (for osimage=), chain and
// bootparams rows through the table store, so a running server serves the new boot
// configuration at the next request. No file is staged: the server renders configs and
// reads the kernel and initrd from <rootimgdir>.
func nodesetCmd(e *env) *cobra.Command {
	var nfsPort int
	c := &cobra.Command{
		Use:   "nodeset NODERANGE osimage=IMAGE|statelite|boot|offline|stat",
		Short: "Choose what nodes boot from this server (statelite image, local disk, nothing)",
		Long: `nodeset NODERANGE osimage=IMAGE   boot the nodes into the statelite image IMAGE
                                   (nodetype os/arch/profile/provmethod are set from it)
nodeset NODERANGE statelite        boot the statelite image each node's nodetype names
nodeset NODERANGE boot             boot from local disk (LOCALBOOT 0)
nodeset NODERANGE offline          serve no boot configuration at all
nodeset NODERANGE stat             show chain.currstate

The image root, <rootimgdir>/kernel and <rootimgdir>/initrd-statelite.gz must exist.
A node without a chain.currstate is not served a configuration by statelite serve.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.nodeset(cmd.Context(), args[0], args[1], nfsPort)
		},
	}
	c.Flags().IntVar(&nfsPort, "nfs-port", 2049, "NFS port recorded in bootparams.kcmdline (the server renders its own at each boot)")
	return c
}

func (e *env) nodeset(ctx context.Context, nr, action string, nfsPort int) error {
	st, err := e.store()
	if err != nil {
		return err
	}
	var lines, problems, warnings []string
	if action == "stat" {
		snap, err := e.load(ctx)
		if err != nil {
			return err
		}
		nodes, err := e.noderange(snap, nr)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			cs, _, ok := snap.NodeAttr(n, "chain", "currstate")
			if !ok {
				cs = "none"
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", n, cs)
		}
		return nil
	}
	if err := boot.CheckNodesetAction(action); err != nil {
		return err
	}
	snap, err := st.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
		lines, problems, warnings = nil, nil, nil
		nodes, err := e.noderange(cur, nr)
		if err != nil {
			return nil, err
		}
		res, err := boot.Nodeset(cur, e.resolverConfig(), nodes, action, nfsPort)
		lines, problems, warnings = res.Lines, res.Problems, res.Warnings
		return res.Tables, err
	})
	if err != nil {
		if len(problems) == 0 {
			return e.report(snap, err)
		}
		e.report(snap, err)
	}
	for _, l := range lines {
		fmt.Fprintln(e.stdout, l)
	}
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, "Warning: "+w)
	}
	for _, p := range problems {
		e.errorf("%s", p)
	}
	if len(problems) > 0 || err != nil {
		return exitError{1}
	}
	return nil
}
