package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"statelite/resolver"
	"statelite/server"
	"statelite/tables"
)

func planCmd(e *env) *cobra.Command {
	var from, state string
	c := &cobra.Command{
		Use:   "plan [--from DIR] [--state DIR]",
		Short: "Show how every node's view would change: the tables against edited ones in DIR (or the server's tables in force against the store)",
		Long: `Show how every node's view would change before a table change is committed.

With --from DIR, the current tables are compared with the <table>.csv files of DIR (tables
DIR lacks stay as they are). Without it, the tables the server on --state serves are
compared with the store's (an edit the server has not taken, or rejected).

Per path of every litefile entry of the old and the new plans it prints the old and the
new winner (option and serving source), grouping the nodes with the same change into a
noderange, e.g. "n[001-128]: /etc/ntp.conf litetree 2 → litetree 1".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cur, err := e.loadRaw(cmd.Context()) // the new tables are validated below
			if err != nil {
				return err
			}
			old, next := cur, cur
			if from != "" {
				if next, err = loadOverlay(cur, from); err != nil {
					return err
				}
			} else {
				h := &tables.History{Dir: server.HistoryDir(state)}
				he, ok, err := h.Latest()
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("no table history in %s: give --from DIR, or the --state of a running server", h.Dir)
				}
				if old, err = h.Snapshot(he.Gen); err != nil {
					return err
				}
			}
			if probs := tables.Validate(next); tables.HasErrors(probs) {
				for _, p := range probs {
					if !p.Warning {
						e.errorf("%s", p)
					}
				}
				fmt.Fprintf(e.stdout, "The new tables are not valid: nothing would change.\n")
				return exitError{1}
			}
			e.printPlan(old, next)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "directory of edited <table>.csv files")
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the running server (without --from)")
	return c
}

// loadOverlay returns cur with the tables of dir's <table>.csv files replacing its own.
func loadOverlay(cur *tables.Snapshot, dir string) (*tables.Snapshot, error) {
	repl := map[string]*tables.Table{}
	for _, name := range tables.TableNames() {
		p := filepath.Join(dir, name+".csv")
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		t, err := tables.Parse(name, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		t.SetSource(p)
		repl[name] = t
	}
	if len(repl) == 0 {
		return nil, fmt.Errorf("%s holds no <table>.csv file of a known table", dir)
	}
	return cur.With(cur.Gen+1, repl), nil
}

// printPlan prints the row changes per table and how every node's view changes from the
// tables of old to those of next.
func (e *env) printPlan(old, next *tables.Snapshot) {
	w := e.stdout
	var sum []string
	for _, d := range tables.Diff(old, next) {
		sum = append(sum, d.Summary())
	}
	if len(sum) == 0 {
		fmt.Fprintln(w, "No table changes.")
		return
	}
	fmt.Fprintf(w, "Table changes: %s\n", strings.Join(sum, "; "))
	cfg := e.resolverConfig()
	changes := resolver.DiffViews(resolver.New(old, cfg), resolver.New(next, cfg), resolver.OSProber{})
	if len(changes) == 0 {
		fmt.Fprintln(w, "No node's view changes.")
		return
	}
	fmt.Fprintln(w, "View changes:")
	for _, c := range changes {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
