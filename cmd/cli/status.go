package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"

	"github.com/spf13/cobra"

	"statelite/server"
	"statelite/tables"
)

const timeFmt = "2006-01-02 15:04:05"

func statusCmd(e *env) *cobra.Command {
	var state string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--state DIR]",
		Short: "Show the running server's tables generation, nodes, last boots and rejected table edits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := server.StatusFile(state)
			st, err := server.ReadStatus(path)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no server status in %s: is statelite serve running with --state %s? %s", path, state, e.stateHint())
			}
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.MarshalIndent(st, "", "  ")
				fmt.Fprintf(e.stdout, "%s\n", b)
				return nil
			}
			printStatus(e, st)
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", defaultState, "state directory of the server")
	c.Flags().BoolVar(&asJSON, "json", false, "print the status file as JSON")
	return c
}

func printStatus(e *env, st *server.Status) {
	w := e.stdout
	switch {
	case st.Running && server.Alive(st.PID):
		fmt.Fprintf(w, "server:      running (pid %d, since %s)\n", st.PID, st.Started.Local().Format(timeFmt))
	case st.Running:
		fmt.Fprintf(w, "server:      not running (pid %d is gone; last update %s)\n", st.PID, st.Updated.Local().Format(timeFmt))
	default:
		fmt.Fprintf(w, "server:      stopped (%s)\n", st.Updated.Local().Format(timeFmt))
	}
	if st.Name != "" {
		fmt.Fprintf(w, "name:        %s\n", st.Name)
	}
	fmt.Fprintf(w, "tables:      %s\n", st.Tables)
	if st.StoreDown != "" {
		since := ""
		if st.DownSince != nil {
			since = " since " + st.DownSince.Local().Format(timeFmt)
		}
		fmt.Fprintf(w, "STORE DOWN:  the table database is unreachable%s (%s); serving generation %d until it is back\n", since, st.StoreDown, st.Generation)
	}
	fmt.Fprintf(w, "generation:  %d in force since %s (store generation %d; %s)\n", st.Generation, st.Since.Local().Format(timeFmt), st.StoreGen, orUnknown(st.Who))
	fmt.Fprintf(w, "nodes:       %d in nodelist: %s\n", len(st.Nodes), orDash(tables.FoldNodes(st.Nodes)))
	fmt.Fprintf(w, "served:      %d since the start: %s\n", len(st.Served), orDash(tables.FoldNodes(st.Served)))
	if st.Leases != nil {
		var held []string
		for n := range st.Leases {
			held = append(held, n)
		}
		sort.Strings(held)
		fmt.Fprintf(w, "leases:      %d nodes written by this server now: %s\n", len(held), orDash(tables.FoldNodes(held)))
		for _, n := range held {
			fmt.Fprintf(w, "  %-12s since %s\n", n, st.Leases[n].Local().Format(timeFmt))
		}
	}
	if st.Pending != nil {
		fmt.Fprintf(w, "PENDING:     the table directory holds an edit rejected at %s; generation %d stays in force:\n", st.Pending.Time.Local().Format(timeFmt), st.Generation)
		for _, p := range st.Pending.Problems {
			fmt.Fprintf(w, "               %s\n", p)
		}
	}
	nodes := slices.Clone(st.Nodes)
	for n := range st.Boots {
		if !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes)
	fmt.Fprintf(w, "last boots:\n")
	for _, n := range nodes {
		if b, ok := st.Boots[n]; ok {
			img := ""
			switch {
			case b.ImageGen > 0:
				img = fmt.Sprintf(", image %s generation %d", b.ImageDir, b.ImageGen)
			case b.ImageDir != "":
				img = fmt.Sprintf(", image %s working copy", b.ImageDir)
			}
			fmt.Fprintf(w, "  %-12s %s (volatile epoch %d%s)\n", n, b.Time.Local().Format(timeFmt), b.Epoch, img)
		} else {
			fmt.Fprintf(w, "  %-12s none recorded\n", n)
		}
	}
	if len(st.Rejections) == 0 {
		fmt.Fprintf(w, "rejected edits: none\n")
		return
	}
	fmt.Fprintf(w, "rejected edits (oldest first):\n")
	for _, r := range st.Rejections {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s  %s\n", r.Time.Local().Format(timeFmt), p)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "author unknown"
	}
	return s
}
