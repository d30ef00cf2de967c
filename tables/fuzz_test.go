package tables

// Fuzz targets of the table text format, noderanges and variable substitution. Their
// seed corpora are in testdata/fuzz/<target>/ (go test runs them as ordinary tests);
// make fuzz fuzzes each in turn.

import (
	"errors"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParse parses table text (tabrestore format) as one of the tables (byte 0 of the
// input picks it) and checks that what parses round-trips: Dump then Parse gives the
// same cells, and dumping that again gives the same text.
func FuzzParse(f *testing.F) {
	names := TableNames()
	for _, s := range []struct {
		table string
		text  string
	}{
		{"litefile", "#image,file,options,comments,disable\n\"ALL\",\"/etc/adjtime\",,,\n\"ALL\",\"/root/\",\"persistent\",\"say \"\"hi\"\", ok\",\n"},
		{"litefile", "#file,image\n/etc/x,img1\n\"multi\nline\",\"v\"\n"},
		{"site", "#key,value,comments,disable\r\n\"master\",\"10.0.0.1\",,\r\n"},
		{"nodelist", "#node,groups\n\"n1\",\"compute,all\"\n\"n[2-4]\",all\n"},
		{"hosts", "#node,ip\n\"compute\",\"|\\D+(\\d+)|10.0.0.($1+100)|\"\n"},
	} {
		f.Add(byte(slices.Index(names, s.table)), []byte(s.text))
	}
	f.Fuzz(func(t *testing.T, which byte, text []byte) {
		name := names[int(which)%len(names)]
		tab, err := Parse(name, strings.NewReader(string(text)))
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) && pe.Table != name {
				t.Fatalf("error names table %q, want %q: %v", pe.Table, name, err)
			}
			return
		}
		var b1 strings.Builder
		if err := Dump(&b1, tab); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(name, strings.NewReader(b1.String()))
		if err != nil {
			t.Fatalf("the dump of what parsed does not parse: %v\ninput %q\ndump %q", err, text, b1.String())
		}
		if len(back.Rows) != len(tab.Rows) {
			t.Fatalf("%d rows, %d after the round trip\ninput %q\ndump %q", len(tab.Rows), len(back.Rows), text, b1.String())
		}
		for i := range tab.Rows {
			if !reflect.DeepEqual(tab.Rows[i].Cells, back.Rows[i].Cells) {
				t.Fatalf("row %d: %#v, after the round trip %#v\ninput %q\ndump %q", i, tab.Rows[i].Cells, back.Rows[i].Cells, text, b1.String())
			}
		}
		var b2 strings.Builder
		Dump(&b2, back)
		if b2.String() != b1.String() {
			t.Fatalf("second dump differs:\n%q\n%q", b1.String(), b2.String())
		}
	})
}

// fuzzCluster is nrCluster with a dynamic group, a regex cell, a site key and ^files.
func fuzzCluster(t testing.TB) (*Snapshot, NoderangeOptions) {
	s := nrCluster(t, map[string]*Table{
		"nodegroup": nrTable(t, "nodegroup",
			map[string]string{"groupname": "dyn", "grouptype": "dynamic", "wherevals": "mgt==openbmc::node=~0"},
			map[string]string{"groupname": "empty"}),
		"hosts": nrTable(t, "hosts", map[string]string{"node": "all", "ip": `|\D+(\d+)|10.0.0.($1+100)|`}),
		"site":  nrTable(t, "site", map[string]string{"key": "installdir", "value": "/install"}),
	})
	files := map[string]string{
		"f1":   "node01\n# comment\nnode02-node04:x\n^f2\n(^f2)\n",
		"f2":   "rack2\n-node06\n(^f1)\n",
		"self": "(^self)\n",
	}
	opt := NoderangeOptions{ReadFile: func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return []byte(b), nil
		}
		return nil, fmt.Errorf("no file %s", p)
	}}
	return s, opt
}

// FuzzNoderange expands noderanges: no panic, a bounded time (no range of ranges that
// produces a billion names), and sorted unique nodes that all exist, the same for a
// second expansion.
func FuzzNoderange(f *testing.F) {
	for _, s := range []string{
		"node01-node05", "node[01-10]", "rack1,-node03", "all@odd", "/node0[1-3]", "5+3", "^f1",
		"groups==rack2", "nodehm.mgt=~^open", "dyn", "(rack1),(f[1-2]n[1-2])", "node01:node03",
		"n[1-9999]", "^self", "f1n1-f2n2", "node1-node2-node3", "a[1-3][4-6]-b[1-3]", "-all",
	} {
		f.Add(s)
	}
	s, opt := fuzzCluster(f)
	if fuzzing() {
		// While fuzzing, a lower bound on names explores more inputs a second (the
		// seeds run with the real one).
		opt.maxNames = 1 << 14
	}
	f.Fuzz(func(t *testing.T, expr string) {
		start := time.Now()
		// A panic in another goroutine ends the fuzzing process, and the fuzzer keeps
		// the input: a slow expansion is reported even if the run ends meanwhile.
		watch := time.AfterFunc(30*time.Second, func() { panic(fmt.Sprintf("Noderange(%q) runs for more than 30s", expr)) })
		defer watch.Stop()
		nodes, missed, err := s.Noderange(expr, opt)
		// A noderange produces at most 1,048,576 names in all: a few seconds at worst.
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("Noderange(%q) took %v", expr, d)
		}
		if err != nil {
			if nodes != nil || missed != nil {
				t.Fatalf("Noderange(%q): results with an error", expr)
			}
			return
		}
		for _, l := range [][]string{nodes, missed} {
			if !slices.IsSorted(l) || len(slices.Compact(slices.Clone(l))) != len(l) {
				t.Fatalf("Noderange(%q) = %v, %v: not sorted and unique", expr, nodes, missed)
			}
		}
		for _, n := range nodes {
			if !s.IsNode(n) {
				t.Fatalf("Noderange(%q) gives %q, not a node", expr, n)
			}
		}
		again, _, err := s.Noderange(expr, opt)
		if err != nil || !slices.Equal(again, nodes) {
			t.Fatalf("Noderange(%q): %v, then %v, %v", expr, nodes, again, err)
		}
	})
}

// FuzzTemplate parses table values with variables and expands them for a node of the
// reference fixture and for a fuzzed node name: no panic; a value without variables
// expands to itself; a template written back with ${…} for every variable parses to the
// same parts.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"/statelite/$node", "/a/$nodepos.room$nodepos.rack/b", "/x/$site.installdir/y", "${nodetype.os}_${nodetype.arch}",
		"$noderes.nfsserver", "/a/$node.foo/b", "#CMD=echo#", "$", "${", "${}", "$$node", "plain", "${site.}", "$hosts.ip",
	} {
		f.Add(s, "n1")
	}
	f.Add("$hosts.ip", "x99")
	s := vdSnap(f, map[string]string{
		"nodelist": vxRef["nodelist"] + "\"x99\",\"all\"\n",
		"nodetype": vxRef["nodetype"],
		"nodepos":  vxRef["nodepos"],
		"noderes":  vxRef["noderes"],
		"site":     vxRef["site"],
		"hosts":    "#node,ip\n\"all\",\"|\\D+(\\d+)|10.0.0.($1*2+1)|\"\n",
	})
	f.Fuzz(func(t *testing.T, val, node string) {
		tp, err := ParseTemplate(val)
		if err != nil {
			return
		}
		if tp.Raw != val {
			t.Fatalf("Raw %q, want %q", tp.Raw, val)
		}
		// Written back with every variable braced, the template parses to the same parts.
		var b strings.Builder
		for _, p := range tp.parts {
			switch {
			case p.col == "":
				if strings.Contains(p.lit, "$") {
					t.Fatalf("ParseTemplate(%q): literal part %q holds a $", val, p.lit)
				}
				b.WriteString(p.lit)
			case p.table == "":
				b.WriteString("${" + p.col + "}")
			default:
				b.WriteString("${" + p.table + "." + p.col + "}")
			}
		}
		tp2, err := ParseTemplate(b.String())
		if err != nil || !reflect.DeepEqual(mergeLits(tp2.parts), mergeLits(tp.parts)) {
			t.Fatalf("ParseTemplate(%q) = %+v; written back %q: %+v, %v", val, tp.parts, b.String(), tp2.parts, err)
		}
		for _, n := range []string{"n1", node} {
			got, err := s.Expand(n, tp)
			var ue *UnsetError
			if err != nil && !errors.As(err, &ue) {
				t.Fatalf("Expand(%s, %q): %v is not an *UnsetError", n, val, err)
			}
			if !tp.HasVars() && (err != nil || got != val) {
				t.Fatalf("Expand(%s, %q) = %q, %v: a value without variables is itself", n, val, got, err)
			}
		}
	})
}

// fuzzing reports whether this process fuzzes (go test -fuzz), rather than running
// the seeds.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// mergeLits joins adjacent literal parts (a "$" cannot be literal, so they never
// differ in meaning).
func mergeLits(ps []tpart) []tpart {
	var out []tpart
	for _, p := range ps {
		if n := len(out); n > 0 && p.col == "" && out[n-1].col == "" {
			out[n-1].lit += p.lit
			continue
		}
		out = append(out, p)
	}
	return out
}
