package tables

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An edit interrupted after its journal was written (a crash between renames) is finished
// by the next Load or Edit: readers see all of the edit's tables or none.
func TestDirStoreRollsForwardInterruptedEdit(t *testing.T) {
	dir := t.TempDir()
	st, _ := OpenDir(dir)
	ctx := context.Background()
	seed := map[string]string{
		"nodelist": "#node,groups\n\"n1\",\"all\"\n",
		"nodetype": "#node,os,arch,profile\n\"n1\",\"old\",\"x86_64\",\"compute\"\n",
	}
	if _, err := st.Edit(ctx, func(*Snapshot) (map[string]*Table, error) { return parseAll(t, seed), nil }); err != nil {
		t.Fatal(err)
	}
	// Stage a two-table edit by hand: one rename already done, one still pending.
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".nodetype.csv.tmp1", "#node,os,arch,profile,provmethod,supportedarchs,nodetype,comments,disable\n\"n1\",\"new\",\"x86_64\",\"compute\",,,,,\n")
	write("nodelist.csv", "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n\"n1\",\"all,new\",,,,,,,,,,,\n")
	write(".generation.tmp1", "7\n")
	write(pendingName, ".nodelist.csv.tmp1\tnodelist.csv\n.nodetype.csv.tmp1\tnodetype.csv\n.generation.tmp1\t.generation\n")

	snap, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if os, _, _ := snap.NodeAttr("n1", "nodetype", "os"); os != "new" {
		t.Errorf("nodetype.os = %q after recovery, want new", os)
	}
	if g := snap.NodeGroups("n1"); strings.Join(g, ",") != "all,new" {
		t.Errorf("groups = %v", g)
	}
	if snap.Gen != 7 {
		t.Errorf("gen = %d, want 7", snap.Gen)
	}
	if _, err := os.Stat(filepath.Join(dir, pendingName)); !os.IsNotExist(err) {
		t.Errorf("journal left behind: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	// A damaged journal is an error, never a silent half-state.
	write(pendingName, "../escape\tnodelist.csv\n")
	if _, err := st.Load(ctx); err == nil || !strings.Contains(err.Error(), "damaged journal") {
		t.Errorf("damaged journal: err = %v", err)
	}
}

func parseAll(t *testing.T, m map[string]string) map[string]*Table {
	t.Helper()
	out := map[string]*Table{}
	for name, body := range m {
		tb, err := Parse(name, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = tb
	}
	return out
}
