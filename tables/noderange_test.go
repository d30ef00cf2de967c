package tables

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// nrTable builds a table from rows of column=value maps.
func nrTable(t testing.TB, name string, rows ...map[string]string) *Table {
	t.Helper()
	tab, err := NewTable(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		row := tab.NewRow()
		for col, v := range r {
			c := tab.Schema.Col(col)
			if c < 0 {
				t.Fatalf("%s has no column %s", name, col)
			}
			row.Cells[c] = Val(v)
		}
		tab.Rows = append(tab.Rows, row)
	}
	return tab
}

// nrCluster is the example cluster of the noderange tests: node01..node10, node01..05 in rack1,
// node06..10 in rack2, odd numbers in odd, all in all; f1n1,f1n2,f2n1,f2n2 in frame,all;
// nodehm.mgt = openbmc on group rack2 and ipmi on node01. extra tables are added as given.
func nrCluster(t testing.TB, extra map[string]*Table) *Snapshot {
	t.Helper()
	var nl []map[string]string
	for i := 1; i <= 10; i++ {
		g := "rack1"
		if i > 5 {
			g = "rack2"
		}
		if i%2 == 1 {
			g += ",odd"
		}
		nl = append(nl, map[string]string{"node": fmt.Sprintf("node%02d", i), "groups": g + ",all"})
	}
	for _, n := range []string{"f1n1", "f1n2", "f2n1", "f2n2"} {
		nl = append(nl, map[string]string{"node": n, "groups": "frame,all"})
	}
	tabs := map[string]*Table{
		"nodelist": nrTable(t, "nodelist", nl...),
		"nodehm": nrTable(t, "nodehm",
			map[string]string{"node": "rack2", "mgt": "openbmc"},
			map[string]string{"node": "node01", "mgt": "ipmi"}),
	}
	for k, v := range extra {
		if k == "nodelist" { // extra nodelist rows are appended
			tabs[k].Rows = append(tabs[k].Rows, v.Rows...)
			continue
		}
		tabs[k] = v
	}
	return NewSnapshot(1, tabs)
}

func nrList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// nrSeq returns nodeNN for NN in lo..hi.
func nrSeq(lo, hi int) string {
	var out []string
	for i := lo; i <= hi; i++ {
		out = append(out, fmt.Sprintf("node%02d", i))
	}
	return strings.Join(out, ",")
}

type nrCase struct {
	expr   string
	want   string // comma list of nodes
	missed string // comma list of missed names; "*" = do not check
}

func runNrCases(t *testing.T, s *Snapshot, opt NoderangeOptions, cases []nrCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			nodes, missed, err := s.Noderange(c.expr, opt)
			if err != nil {
				t.Fatalf("Noderange(%q): %v", c.expr, err)
			}
			if !reflect.DeepEqual(nodes, nrList(c.want)) {
				t.Errorf("Noderange(%q) = %v, want %v", c.expr, nodes, nrList(c.want))
			}
			if c.missed != "*" && !reflect.DeepEqual(missed, nrList(c.missed)) {
				t.Errorf("Noderange(%q) missed = %v, want %v", c.expr, missed, nrList(c.missed))
			}
		})
	}
}

// TestNoderangeReferenceExamples is every verified example of xCAT's noderange(3) (docs/behaviour.md#noderanges).
func TestNoderangeReferenceExamples(t *testing.T) {
	s := nrCluster(t, nil)
	runNrCases(t, s, NoderangeOptions{}, []nrCase{
		{"node01-node03", "node01,node02,node03", ""},
		{"node[01-03]", "node01,node02,node03", ""},
		{"node01:node03", "node01,node02,node03", ""},
		{"node[01:03],node10", "node01,node02,node03,node10", ""},
		{"node08+2", "node08,node09,node10", ""},
		{"rack1,-node02", "node01,node03,node04,node05", ""},
		{"-node02,rack1", "node01,node03,node04,node05", ""},
		{"node01-node10,-node03-node05,node04", "node01,node02," + nrSeq(6, 10), ""},
		{"rack1@odd", "node01,node03,node05", ""},
		{"all,-rack1,-odd", "f1n1,f1n2,f2n1,f2n2,node06,node08,node10", ""},
		{"/node0[1-3]", "node01,node02,node03", ""},
		{"/node1", "", ""},
		{"f[1-2]n[1-2]", "f1n1,f1n2,f2n1,f2n2", ""},
		{"1-3", "", "node1,node2,node3"},
		{"node09-node11", "node09,node10", "node11"},
		{"nodehm.mgt==openbmc", nrSeq(6, 10), ""},
		{"mgt==ipmi", "node01", ""},
		{"rack1,(rack2@odd)", nrSeq(1, 5) + ",node07,node09", ""},
		{"rack2,-(odd,node10)", "node06,node08", ""},
		{"all@frame,-f2n2", "f1n1,f1n2,f2n1", ""},
	})
}

func TestNoderangeGrammar(t *testing.T) {
	cn := nrTable(t, "nodelist",
		map[string]string{"node": "cn-a1-x", "groups": "cn"},
		map[string]string{"node": "cn-a2-x", "groups": "cn"},
		map[string]string{"node": "cn-a3-x", "groups": "cn"},
		map[string]string{"node": "c001", "groups": "pad"},
		map[string]string{"node": "c002", "groups": "pad"},
		map[string]string{"node": "c010", "groups": "pad"},
		map[string]string{"node": "c1", "groups": "nopad"},
		map[string]string{"node": "c2", "groups": "nopad"},
		map[string]string{"node": "c10", "groups": "nopad"},
	)
	s := nrCluster(t, map[string]*Table{
		"nodelist":  cn,
		"nodegroup": nrTable(t, "nodegroup", map[string]string{"groupname": "empty", "grouptype": "static"}),
	})
	runNrCases(t, s, NoderangeOptions{}, []nrCase{
		// exclusions are applied at the end, whatever their position
		{"node01,node02,-node01,node01", "node02", ""},
		{"rack2,-(odd),odd", "node06,node08,node10", ""},
		// @ binds tighter than ,
		{"node10,rack1@odd", "node01,node03,node05,node10", ""},
		{"rack1@odd,node10", "node01,node03,node05,node10", ""},
		{"(node10,rack1)@odd", "node01,node03,node05", ""},
		// a leading @ element intersects what came before
		{"rack1,rack2,@odd", "node01,node03,node05,node07,node09", ""},
		{"rack1@odd@all", "node01,node03,node05", ""},
		// parentheses
		{"(rack1)", nrSeq(1, 5), ""},
		{"((rack1,-node01))@odd", "node03,node05", ""},
		{"rack1,-(rack1@odd)", "node02,node04", ""},
		// quotes are deleted
		{`"rack1",'-node02'`, "node01,node03,node04,node05", ""},
		{`'node[01-03]'`, "node01,node02,node03", ""},
		// colon ranges, brackets
		{"node[08:10]", "node08,node09,node10", ""},
		{"node[01,03,05]", "node01,node03,node05", ""},
		{"node[01-02,10]", "node01,node02,node10", ""},
		{"f[1,2]n1", "f1n1,f2n1", ""},
		{"[f1n1,f2n2]", "f1n1,f2n2", ""},
		// zero padding follows the left operand
		{"c001-c010", "c001,c002,c010", "c003,c004,c005,c006,c007,c008,c009"},
		{"c1-c10", "c1,c10,c2", "c3,c4,c5,c6,c7,c8,c9"},
		{"c[1-10]", "c1,c10,c2", "c3,c4,c5,c6,c7,c8,c9"},
		{"c[001:002]", "c001,c002", ""},
		{"c1-c01", "c1", ""},
		// + keeps padding and widens past it
		{"node098+3", "", "node098,node099,node100,node101"},
		{"c009+1", "c010", "c009"},
		{"5+2", "", "node5,node6,node7"},
		{"node+2", "", "node+2"},
		// odd number of dashes: the middle one splits
		{"cn-a1-x-cn-a3-x", "cn-a1-x,cn-a2-x,cn-a3-x", ""},
		{"cn-a1-x:cn-a2-x", "cn-a1-x,cn-a2-x", ""},
		{"a-b-c", "", "a-b-c"},
		{"node01-f1n1", "", "node01-f1n1"},
		{"node01-node01", "node01", ""},
		// ranges of group names expand to the groups' members
		{"rack1-rack2", nrSeq(1, 10), ""},
		{"rack1-rack3", nrSeq(1, 10), "rack3"},
		// nodes have precedence over groups, groups over everything else
		{"cn-a2-x", "cn-a2-x", ""},
		{"cn", "cn-a1-x,cn-a2-x,cn-a3-x", ""},
		{"empty", "", ""},
		{"empty,node01", "node01", ""},
		// attribute selection
		{"mgt!=ipmi", nrSeq(6, 10), ""},
		{"nodehm.mgt=openbmc", nrSeq(6, 10), ""},
		{"mgt=~bmc", nrSeq(6, 10), ""},
		{"mgt=~/^ip/", "node01", ""},
		{"mgt!~/bmc/", "node01", ""},
		{"groups==odd", "node01,node03,node05,node07,node09", ""},
		{"tags==frame", "f1n1,f1n2,f2n1,f2n2", ""},
		{"groups!=odd@all", "f1n1,f1n2,f2n1,f2n2,node02,node04,node06,node08,node10", ""},
		{"nodelist.groups=~^cn", "cn-a1-x,cn-a2-x,cn-a3-x", ""},
		// regex anchored at both ends; parentheses inside a regex atom are literal
		{"/node0(1|2)", "node01,node02", ""},
		{"/f.n1", "f1n1,f2n1", ""},
		{"/node", "", ""},
		// missed names are reported, not errors
		{"node01,bogus,node11", "node01", "bogus,node11"},
		{"-node11,node01", "node01", "node11"},
		{"", "", ""},
		{"node01,,node02,", "node01,node02", ""},
		{"rack1@", nrSeq(1, 5), ""},
	})
}

func TestNoderangePrefixSuffix(t *testing.T) {
	extra := nrTable(t, "nodelist", map[string]string{"node": "node5"})
	s := nrCluster(t, map[string]*Table{"nodelist": extra})
	runNrCases(t, s, NoderangeOptions{}, []nrCase{
		{"5", "node5", ""},
		{"05", "node05", ""},
		{"4-6", "node5", "node4,node6"},
	})
	runNrCases(t, s, NoderangeOptions{Prefix: "node0"}, []nrCase{
		{"5", "node05", ""},
		{"1-3", "node01,node02,node03", ""},
		{"1+1", "node01,node02", ""},
	})
	runNrCases(t, s, NoderangeOptions{Prefix: "f", Suffix: "n1"}, []nrCase{
		{"1", "f1n1", ""},
		{"1-2", "f1n1,f2n1", ""},
		{"3", "", "f3n1"},
	})
	// a prefix of digits must not loop
	runNrCases(t, s, NoderangeOptions{Prefix: "1"}, []nrCase{{"5", "", "15"}})
}

func TestNoderangeErrors(t *testing.T) {
	s := nrCluster(t, nil)
	cases := []struct{ expr, want string }{
		{"node03-node01", `descending range "node03-node01"`},
		{"rack1,node03:node01", `descending range "node03:node01"`},
		{"node[03-01]", `descending range "[03-01]" (03 > 01): write it from low to high in "node[03-01]"`},
		{"f[2-1]n1", `descending range "[2-1]"`},
		{"node10+0,rack3-rack1", `descending range "rack3-rack1"`},
		{"node[01-03", `unbalanced "[" in "node[01-03"`},
		{"node01-03]", `unbalanced "]" in "node01-03]"`},
		{"rack1,(odd", `unbalanced "(" in "rack1,(odd"`},
		{"rack1,odd)", `unbalanced ")" in "rack1,odd)"`},
		{"(rack1]", `unbalanced "]" in "(rack1]"`},
		{"node[[1-2]]", `nested "["`},
		{"node[]", `empty brackets in "node[]"`},
		{"node[a-c]", `bad bracket range "[a-c]" in "node[a-c]"`},
		{"/node**", `bad regular expression "/node**"`},
		{"nodetype.bogus==x", `attribute selection "nodetype.bogus==x": table "nodetype" has no column "bogus"`},
		{"bogus.os==x", `attribute selection "bogus.os==x": unknown table "bogus"`},
		{"os==rhels8", `attribute selection "os==rhels8": unknown attribute "os"`},
		{"site.value==x", `table "site" is not keyed by node`},
		{"nodetype.os=~a**", `bad regular expression "a**"`},
		{"nodetype.os~x", `want attr==value`},
		{"==x", `no attribute name`},
		{"node[1-9999999]", `produces 9999999 names`},
		{"^", `"^" without a file name`},
		{strings.Repeat("(", 40) + "node01" + strings.Repeat(")", 40), "nested too deeply"},
	}
	for _, c := range cases {
		nodes, _, err := s.Noderange(c.expr, NoderangeOptions{})
		if err == nil {
			t.Errorf("Noderange(%q) = %v, want error containing %q", c.expr, nodes, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Noderange(%q) error %q does not contain %q", c.expr, err, c.want)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("noderange %q", c.expr)) {
			t.Errorf("Noderange(%q) error %q does not quote the noderange", c.expr, err)
		}
	}
}

func TestNoderangeFile(t *testing.T) {
	s := nrCluster(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "nodes.txt")
	content := "# a comment line\n" +
		"node01:extra fields after a colon\n" +
		"node03\ttab separated\n" +
		"node05 space separated\r\n" +
		"^/no/such/file is skipped\n" +
		"-node02\n" +
		"\n" +
		"   leading blank gives an empty token\n" +
		"'rack2'@odd\n" +
		"bogus\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	runNrCases(t, s, NoderangeOptions{}, []nrCase{
		{"^" + path, "node01,node03,node05,node07,node09", "bogus"},
		// a -x line inside the file does not exclude from the outer result
		{"^" + path + ",node02", "node01,node02,node03,node05,node07,node09", "bogus"},
		{"rack1,-^" + path, "node02,node04", "bogus"},
		{"rack1,@^" + path, "node01,node03,node05", "bogus"},
		{"node10,-node01,^" + path, "node03,node05,node07,node09,node10", "bogus"},
	})

	// ReadFile replaces the file system
	fake := map[string]string{"list": "node01\nnode02\n", "self": "node10\n(^self)\n"}
	opt := NoderangeOptions{ReadFile: func(p string) ([]byte, error) {
		if v, ok := fake[p]; ok {
			return []byte(v), nil
		}
		return nil, errors.New("no such file")
	}}
	runNrCases(t, s, opt, []nrCase{{"^list,node03", "node01,node02,node03", ""}})

	for _, c := range []struct {
		expr string
		opt  NoderangeOptions
		want string
	}{
		{"node01,^" + filepath.Join(dir, "missing"), NoderangeOptions{}, `cannot read "^` + filepath.Join(dir, "missing")},
		{"^nothere", opt, `cannot read "^nothere": no such file`},
		{"^self", opt, `"^self" line 2: "^self" includes itself`},
	} {
		_, _, err := s.Noderange(c.expr, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Noderange(%q) error = %v, want %q", c.expr, err, c.want)
		}
	}

	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("node01\nnode03-node01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Noderange("^"+bad, NoderangeOptions{})
	if err == nil || !strings.Contains(err.Error(), `"^`+bad+`" line 2: descending range "node03-node01"`) {
		t.Errorf("bad file line: error = %v", err)
	}
}

func TestNoderangeSiteExcludenodes(t *testing.T) {
	s := nrCluster(t, map[string]*Table{
		"site": nrTable(t, "site", map[string]string{"key": "excludenodes", "value": "node0[1-2],f[1-2]n1,/node1.*,nosuch"}),
	})
	runNrCases(t, s, NoderangeOptions{}, []nrCase{
		{"all", "f1n2,f2n2," + nrSeq(3, 9), ""},
		{"node01", "", ""},
		{"rack1,node10", nrSeq(3, 5), ""},
		{"(node01,node03)", "node03", ""},
	})

	bad := nrCluster(t, map[string]*Table{
		"site": nrTable(t, "site", map[string]string{"key": "excludenodes", "value": "node[03-01]"}),
	})
	_, _, err := bad.Noderange("all", NoderangeOptions{})
	if err == nil || !strings.Contains(err.Error(), `site.excludenodes "node[03-01]"`) {
		t.Errorf("bad excludenodes: error = %v", err)
	}
}

func TestNoderangeDynamicGroup(t *testing.T) {
	s := nrCluster(t, map[string]*Table{
		"nodegroup": nrTable(t, "nodegroup",
			map[string]string{"groupname": "bmcodd", "grouptype": "dynamic", "wherevals": "mgt==openbmc::nodelist.groups=~odd"},
			map[string]string{"groupname": "rhel", "grouptype": "dynamic", "wherevals": "os=~^rhels"},
			map[string]string{"groupname": "notsles", "grouptype": "dynamic", "wherevals": "nodetype.os!=sles15"},
			map[string]string{"groupname": "byname", "grouptype": "dynamic", "wherevals": "node=~/^f1/::groups==frame"},
			map[string]string{"groupname": "nobody", "grouptype": "dynamic", "wherevals": "mgt==none"},
			map[string]string{"groupname": "noterms", "grouptype": "dynamic", "wherevals": ""},
			map[string]string{"groupname": "rack1", "grouptype": "dynamic", "wherevals": "mgt==ipmi"},
			map[string]string{"groupname": "broken", "grouptype": "dynamic", "wherevals": "mgt==ipmi::nosuch==1"},
			map[string]string{"groupname": "off", "grouptype": "dynamic", "wherevals": "mgt==ipmi", "disable": "1"},
		),
		"nodetype": nrTable(t, "nodetype",
			map[string]string{"node": "rack1", "os": "rhels8.6"},
			map[string]string{"node": "node03", "os": "sles15"}),
	})
	runNrCases(t, s, NoderangeOptions{}, []nrCase{
		{"bmcodd", "node07,node09", ""},
		{"rhel", "node01,node02,node04,node05", ""},
		{"notsles", "node01,node02,node04,node05", ""}, // nodes without os are never selected
		{"byname", "f1n1,f1n2", ""},
		{"nobody", "", ""},
		{"noterms", "", ""},
		{"rack1", "node01", ""}, // the dynamic definition wins over nodelist.groups
		{"bmcodd,rhel@odd", "node01,node05,node07,node09", ""},
		{"off", "", "off"},
		{"nodetype.os!=sles15", "node01,node02,node04,node05", ""},
	})
	_, _, err := s.Noderange("node01,broken", NoderangeOptions{})
	if err == nil || !strings.Contains(err.Error(), `dynamic group "broken": nodegroup.wherevals term "nosuch==1": unknown attribute "nosuch"`) {
		t.Errorf("broken dynamic group: error = %v", err)
	}
}

func TestNoderangeRegexCellAttribute(t *testing.T) {
	s := nrCluster(t, map[string]*Table{
		"hosts": nrTable(t, "hosts", map[string]string{"node": "all", "ip": `|\D+(\d+)|10.0.0.($1+0)|`}),
	})
	runNrCases(t, s, NoderangeOptions{}, []nrCase{
		{"hosts.ip==10.0.0.7", "node07", ""},
		{"hosts.ip=~^10\\.0\\.0\\.1$", "node01", ""}, // f1n1 gives 10.0.0.1n1
	})
}

func TestNoderangeLarge(t *testing.T) {
	s := nrBigCluster(t, 10000)
	nodes, missed, err := s.Noderange("node[00001-10000],-node00002,node00001-node10001", NoderangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 9999 || nodes[0] != "node00001" || nodes[1] != "node00003" || nodes[len(nodes)-1] != "node10000" {
		t.Errorf("got %d nodes %v..%v", len(nodes), nodes[:2], nodes[len(nodes)-1])
	}
	if !reflect.DeepEqual(missed, []string{"node10001"}) {
		t.Errorf("missed = %v", missed)
	}
}

func nrBigCluster(t testing.TB, n int) *Snapshot {
	t.Helper()
	nl, err := NewTable("nodelist")
	if err != nil {
		t.Fatal(err)
	}
	node, groups := nl.Schema.Col("node"), nl.Schema.Col("groups")
	for i := 1; i <= n; i++ {
		row := nl.NewRow()
		row.Cells[node] = Val(fmt.Sprintf("node%05d", i))
		row.Cells[groups] = Val("compute,all")
		nl.Rows = append(nl.Rows, row)
	}
	return NewSnapshot(1, map[string]*Table{"nodelist": nl})
}

func BenchmarkNoderange(b *testing.B) {
	s := nrBigCluster(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		nodes, _, err := s.Noderange("node[00001-10000]", NoderangeOptions{})
		if err != nil || len(nodes) != 10000 {
			b.Fatalf("%d nodes, %v", len(nodes), err)
		}
	}
}
