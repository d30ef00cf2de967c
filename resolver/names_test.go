package resolver_test

import (
	"strings"
	"testing"

	"statelite/resolver"
)

// TestPlanRefusesBadNames: the resolver's last guard. Tables that bypassed validation
// (the store refuses these names) still never give a node a persistent root, image root
// or source outside its directory: the plan of a node whose name is not a host name, or
// whose image directory would take a value from a regex cell that is not one, is an
// error; a substituted server that is not a host name leaves its source out.
func TestPlanRefusesBadNames(t *testing.T) {
	tmp := t.TempDir()
	const nlHdr = "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n"
	for _, bad := range []string{"../x", "a/b", "..", "-rf", "x y", ".hidden", strings.Repeat("a", 254), "../../../../tmp/esc"} {
		s := mkSnap(t, baseTabs().with(tabs{
			"nodelist":  nlHdr + `"n1","compute,all",,,,,,,,,,,` + "\n" + `"` + bad + `","compute,all",,,,,,,,,,,` + "\n",
			"statelite": slHdr + `"compute",,"/state",,,` + "\n",
			"litefile":  "#image,file,options,comments,disable\n\"ALL\",\"/var/lib/x/\",\"persistent\",,\n",
		}))
		if !s.IsNode(bad) {
			t.Fatalf("%q is not a node of the fixture", bad)
		}
		p, err := resolver.New(s, cfg(tmp)).Plan(bad)
		if err == nil {
			t.Errorf("node %q: a plan with PR %q", bad, p.PR)
		} else if !strings.Contains(err.Error(), "node name") {
			t.Errorf("node %q: error %v does not name the node name rule", bad, err)
		}
		if p := mkPlan(t, s, cfg(tmp), "n1"); p.PR != "/state/n1" {
			t.Errorf("n1 beside %q: PR %q", bad, p.PR)
		}
	}

	// A regex cell whose result is not a valid directory name: no image root from it.
	s := mkSnap(t, baseTabs().with(tabs{
		"nodetype": "#node,os,arch,profile,provmethod,supportedarchs,nodetype,comments,disable\n" +
			`"compute","|n(\d+)|../../etc($1)|","x86_64","compute",,,,,` + "\n",
	}))
	if _, err := resolver.New(s, cfg(tmp)).Plan("n1"); err == nil || !strings.Contains(err.Error(), `os "../../etc1" holds "/"`) {
		t.Errorf("os from a regex cell: %v", err)
	}
	if _, err := resolver.ImageDir(s, "rhels8.6-x86_64-statelite-compute", "n1"); err == nil {
		t.Errorf("ImageDir with os ../../etc1: no error")
	}

	// A server taken from a variable: never a way out of the mount root.
	s = mkSnap(t, baseTabs().with(tabs{
		"noderes":  "#node,nfsserver\n\"n1\",\"../../../tmp\"\n",
		"litetree": ltHdr + `"1","ALL","$noderes.nfsserver:/x",,,` + "\n",
	}))
	p := mkPlan(t, s, cfg(tmp), "n1")
	if len(p.Sources) != 0 || len(p.Errors) != 1 || !strings.Contains(p.Errors[0], "not a host name") {
		t.Errorf("server ../../../tmp: sources %+v errors %q", p.Sources, p.Errors)
	}
}
