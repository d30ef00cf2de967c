package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"statelite/server"
	"statelite/tables"
)

func historyCmd(e *env) *cobra.Command {
	var state string
	c := &cobra.Command{
		Use:   "history [--state DIR] [GEN]",
		Short: "List the table generations the server accepted (who, when, what changed); with GEN, its row changes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.history(state)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				gen, err := strconv.ParseUint(args[0], 10, 64)
				if err != nil {
					return fmt.Errorf("generation %q: not a number", args[0])
				}
				he, err := h.Entry(gen)
				if err != nil {
					return err
				}
				printHistoryEntry(e, he)
				return nil
			}
			list, err := h.List()
			if err != nil {
				return err
			}
			if len(list) == 0 {
				return fmt.Errorf("no table history in %s: is statelite serve running with --state %s? %s", h.Dir, state, e.stateHint())
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GEN\tTIME\tWHO\tCHANGES")
			for _, he := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", he.Gen, he.Time.Local().Format(timeFmt), orUnknown(he.Who), changesText(he))
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	return c
}

// history is the table history of the server on state; a state directory without one is
// not a server's: an error says so (rather than "generation N is not in the history").
func (e *env) history(state string) (*tables.History, error) {
	h := &tables.History{Dir: server.HistoryDir(state)}
	if _, err := os.Stat(h.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no table history in %s: %s is not the state directory of a server %s", h.Dir, state, e.stateHint())
	}
	return h, nil
}

func changesText(he tables.HistoryEntry) string {
	if he.First {
		return "(first recorded)"
	}
	var parts []string
	for _, d := range he.Diff {
		parts = append(parts, d.Summary())
	}
	if len(parts) == 0 {
		return "(no row changes)"
	}
	return strings.Join(parts, "; ")
}

func printHistoryEntry(e *env, he tables.HistoryEntry) {
	w := e.stdout
	fmt.Fprintf(w, "generation %d (store generation %d), in force from %s\nby %s\n", he.Gen, he.StoreGen, he.Time.Local().Format(timeFmt), orUnknown(he.Who))
	if he.First {
		fmt.Fprintln(w, "the first generation recorded: no earlier tables to compare with")
		return
	}
	for _, d := range he.Diff {
		fmt.Fprintf(w, "%s:\n", d.Table)
		for _, r := range d.Removed {
			fmt.Fprintf(w, "  - %s\n", r)
		}
		for _, r := range d.Added {
			fmt.Fprintf(w, "  + %s\n", r)
		}
		for _, r := range d.Changed {
			fmt.Fprintf(w, "  ~ %s\n    → %s\n", r[0], r[1])
		}
	}
}

func rollbackCmd(e *env) *cobra.Command {
	var state string
	c := &cobra.Command{
		Use:   "rollback GEN [--state DIR]",
		Short: "Write the tables of an earlier generation back through the store (validated and journaled like any edit)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			gen, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("generation %q: not a number", args[0])
			}
			h, err := e.history(state)
			if err != nil {
				return err
			}
			old, err := h.Snapshot(gen)
			if err != nil {
				return err
			}
			st, err := e.store()
			if err != nil {
				return err
			}
			var before *tables.Snapshot
			snap, err := st.Edit(cmd.Context(), func(cur *tables.Snapshot) (map[string]*tables.Table, error) {
				before = cur
				return tables.RollbackTables(cur, old), nil
			})
			if err != nil {
				return e.report(nil, err)
			}
			if snap == before {
				fmt.Fprintf(e.stdout, "The tables already hold generation %d's content; nothing written.\n", gen)
				return nil
			}
			fmt.Fprintf(e.stdout, "Tables of generation %d written back (store generation %d); a running server switches to them within a second.\n", gen, snap.Gen)
			// What changes for the nodes: from the generation the server has in force (the
			// store may have held a rejected edit) to the rolled-back tables.
			if he, ok, err := h.Latest(); err == nil && ok {
				if inForce, err := h.Snapshot(he.Gen); err == nil {
					before = inForce
				}
			}
			e.printPlan(before, snap)
			return e.report(snap, nil)
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server (its history)")
	return c
}
