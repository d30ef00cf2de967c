package resolver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"statelite/resolver"
	"statelite/tables"
)

// tabs is a set of tables as xCAT tabdump text, by table name.
type tabs map[string]string

// baseTabs: node n1 (and n2) in groups compute,all; nodetype on group compute
// (rhels8.6, x86_64, compute), so the image is rhels8.6-x86_64-statelite-compute.
func baseTabs() tabs {
	return tabs{
		"nodelist": "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n" +
			`"n1","compute,all",,,,,,,,,,,` + "\n" +
			`"n2","compute,all",,,,,,,,,,,` + "\n",
		"nodetype": "#node,os,arch,profile,provmethod,supportedarchs,nodetype,comments,disable\n" +
			`"compute","rhels8.6","x86_64","compute",,,,,` + "\n",
	}
}

// with returns a copy of t with the given tables replaced.
func (t tabs) with(more tabs) tabs {
	out := tabs{}
	for k, v := range t {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func mkSnap(tb testing.TB, t tabs) *tables.Snapshot {
	tb.Helper()
	m := map[string]*tables.Table{}
	for name, text := range t {
		tab, err := tables.Parse(name, strings.NewReader(text))
		if err != nil {
			tb.Fatalf("parse %s: %v", name, err)
		}
		m[name] = tab
	}
	return tables.NewSnapshot(1, m)
}

// mustValid fails the test when the snapshot does not pass validation (warnings are fine),
// so that fixtures stay within what a real table store accepts.
func mustValid(tb testing.TB, s *tables.Snapshot) {
	tb.Helper()
	for _, p := range tables.Validate(s) {
		if !p.Warning {
			tb.Errorf("fixture does not validate: %s", p)
		}
	}
}

func cfg(tmp string) resolver.Config {
	return resolver.Config{Mnt: tmp + "/mnt", LocalNames: []string{"mn1"}}
}

func mkPlan(tb testing.TB, s *tables.Snapshot, c resolver.Config, node string) *resolver.Plan {
	tb.Helper()
	p, err := resolver.New(s, c).Plan(node)
	if err != nil {
		tb.Fatalf("Plan(%s): %v", node, err)
	}
	return p
}

// mkTree creates files under root. Each spec is one of:
//
//	"a/b/"          an empty directory
//	"a/b=text"      a file with that content
//	"a/b->target"   a symlink
func mkTree(tb testing.TB, root string, specs ...string) {
	tb.Helper()
	if err := os.MkdirAll(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, s := range specs {
		switch {
		case strings.Contains(s, "->"):
			name, target, _ := strings.Cut(s, "->")
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				tb.Fatal(err)
			}
		case strings.Contains(s, "="):
			name, text, _ := strings.Cut(s, "=")
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				tb.Fatal(err)
			}
		case strings.HasSuffix(s, "/"):
			if err := os.MkdirAll(filepath.Join(root, s), 0o755); err != nil {
				tb.Fatal(err)
			}
		default:
			tb.Fatalf("mkTree: bad spec %q", s)
		}
	}
}

func containsAll(tb testing.TB, what, text string, subs ...string) {
	tb.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			tb.Errorf("%s does not mention %q:\n%s", what, s, text)
		}
	}
}
