package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"statelite/server"
	"statelite/tables"
)

// tabmigrateCmd copies every table from one store to another: a CSV directory to a
// PostgreSQL database (postgres://…) or back. The destination's tables are replaced in
// one validated edit.
func tabmigrateCmd(e *env) *cobra.Command {
	var from, to string
	c := &cobra.Command{
		Use:   "tabmigrate --from STORE --to STORE",
		Short: "Copy every table from one store to another (a directory or a postgres:// URL)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := e.checkTableDir(from, "from"); err != nil {
				return err // a typo must not copy no tables (--to may be made)
			}
			src, err := tables.Open(ctx, from)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := tables.Open(ctx, to)
			if err != nil {
				return err
			}
			defer dst.Close()
			switch d := dst.(type) {
			case *tables.DirStore:
				d.Author = e.author()
			case *tables.PGStore:
				d.Author = e.author()
			}
			snap, err := src.Load(ctx)
			if err != nil {
				return err
			}
			rows := 0
			repl := map[string]*tables.Table{}
			for name, t := range snap.Tables() {
				repl[name] = t
				rows += len(t.Rows)
			}
			out, err := dst.Edit(ctx, func(cur *tables.Snapshot) (map[string]*tables.Table, error) { return repl, nil })
			if err != nil {
				return e.report(nil, err)
			}
			fmt.Fprintf(e.stdout, "%d tables, %d rows copied from %s to %s (its generation %d)\n", len(repl), rows, server.StoreName(from), server.StoreName(to), out.Gen)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "source store (directory or postgres:// URL)")
	c.Flags().StringVar(&to, "to", "", "destination store (directory or postgres:// URL)")
	c.MarkFlagRequired("from")
	c.MarkFlagRequired("to")
	return c
}
