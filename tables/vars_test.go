package tables

import (
	"errors"
	"strings"
	"testing"
)

// vxRef is the fixture of the variable examples (docs/behaviour.md#variables): node n1 in groups compute,all; nodetype on group
// compute (os rhels8.6, arch x86_64, profile compute); nodepos.n1 room tokyo, rack r07;
// noderes.n1 xcatmaster mn1 and no nfsserver; site installdir /install.
var vxRef = map[string]string{
	"nodelist": "#node,groups\n\"n1\",\"compute,all\"\n",
	"nodetype": "#node,os,arch,profile\n\"compute\",\"rhels8.6\",\"x86_64\",\"compute\"\n",
	"nodepos":  "#node,rack,room\n\"n1\",\"r07\",\"tokyo\"\n",
	"noderes":  "#node,xcatmaster\n\"n1\",\"mn1\"\n",
	"site":     "#key,value\n\"installdir\",\"/install\"\n\"emptykey\",\"\"\n",
}

// vxCase is one expansion: the result, or a *UnsetError, or a ParseTemplate error.
type vxCase struct {
	name  string
	node  string // "n1" when empty
	in    string
	want  string
	unset *UnsetError // want an *UnsetError equal to this
	perr  string      // want a ParseTemplate error containing this
}

func vxRun(t *testing.T, s *Snapshot, tests []vxCase) {
	t.Helper()
	for _, tt := range tests {
		name := tt.name
		if name == "" {
			name = tt.in
		}
		t.Run(name, func(t *testing.T) {
			node := tt.node
			if node == "" {
				node = "n1"
			}
			tp, err := ParseTemplate(tt.in)
			if tt.perr != "" {
				if err == nil {
					t.Fatalf("ParseTemplate(%q) succeeded, want error containing %q", tt.in, tt.perr)
				}
				if !strings.Contains(err.Error(), tt.perr) || !strings.Contains(err.Error(), tt.in) {
					t.Fatalf("ParseTemplate(%q) error %q, want it to quote the value and contain %q", tt.in, err, tt.perr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTemplate(%q): %v", tt.in, err)
			}
			got, err := s.Expand(node, tp)
			if tt.unset != nil {
				var ue *UnsetError
				if !errors.As(err, &ue) {
					t.Fatalf("Expand(%s, %q) = %q, %v; want *UnsetError %+v", node, tt.in, got, err, *tt.unset)
				}
				if *ue != *tt.unset {
					t.Errorf("UnsetError %+v, want %+v", *ue, *tt.unset)
				}
				msg := ue.Error()
				for _, w := range []string{tt.unset.Node, tt.unset.Table, tt.unset.Column} {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q does not name %q", msg, w)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Expand(%s, %q) = %q, %v; want %q", node, tt.in, got, err, tt.want)
			}
		})
	}
}

// TestExpandReference64 runs every verified example of xCAT's variables (docs/behaviour.md#variables) with the results
// docs/behaviour.md#variables gives: a token ends at any character outside [A-Za-z0-9_.],
// literal text may follow it, variables are not joined with ".", unset values are errors,
// #CMD is refused.
func TestExpandReference64(t *testing.T) {
	s := vdSnap(t, vxRef)
	vxRun(t, s, []vxCase{
		{in: "/statelite/$node", want: "/statelite/n1"},
		// Expand keeps literal text; the resolver drops the trailing slash later.
		{in: "/statelite/$node/", want: "/statelite/n1/"},
		// xCAT joins the two with "." (tokyo.r07); we concatenate.
		{in: "/a/$nodepos.room$nodepos.rack/b", want: "/a/tokyor07/b"},
		{in: "/a/x$nodepos.room/b", want: "/a/xtokyo/b"},
		// xCAT reads the column "room-x" (UNDEFINED); we end the token at "-".
		{in: "/a/$nodepos.room-x/b", want: "/a/tokyo-x/b"},
		{in: "/a/$nodepos.room#-x/b", want: "/a/tokyo#-x/b"},
		{in: "/a/$nodetype.profile/b", want: "/a/compute/b"},
		// xCAT yields UNDEFINED with no fallback to xcatmaster; we make it an error.
		{in: "/a/$noderes.nfsserver/b", unset: &UnsetError{"n1", "noderes", "nfsserver"}},
		{name: "server $noderes.nfsserver", in: "$noderes.nfsserver", unset: &UnsetError{"n1", "noderes", "nfsserver"}},
		{name: "server $noderes.xcatmaster", in: "$noderes.xcatmaster", want: "mn1"},
		// xCAT collapses "//" once; Expand keeps text as it is.
		{in: "/x/$site.installdir/y", want: "/x//install/y"},
		{in: "/a/$node.foo/b", perr: `unknown table "node"`},
		// xCAT: /a/UNDEFINED.x86_64. Ours: os_ is part of the token, an unknown column.
		{in: "/a/$nodetype.os_$nodetype.arch", perr: `table nodetype has no column "os_"`},
		{in: "/a/${nodetype.os}_${nodetype.arch}", want: "/a/rhels8.6_x86_64"},
		// xCAT runs the command; we refuse it.
		{in: "//xcatmasternode/install/$node/#CMD=echo 5.14#/", perr: "#CMD="},
	})
}

func TestExpandGrammar(t *testing.T) {
	s := vdSnap(t, vxRef)
	vxRun(t, s, []vxCase{
		{in: "", want: ""},
		{in: "/plain/path/", want: "/plain/path/"},
		{in: "$node", want: "n1"},
		{in: "${node}", want: "n1"},
		{in: "$node$node", want: "n1n1"},
		{in: "/a/$node-$nodetype.arch", want: "/a/n1-x86_64"},
		{in: "/a/$node:$nodepos.rack", want: "/a/n1:r07"},
		{in: "/a/${nodepos.room}.${nodepos.rack}", want: "/a/tokyo.r07"},
		{in: "/a/${nodepos.room}x", want: "/a/tokyox"},
		{in: "$noderes.xcatmaster:/statelite/$node", want: "mn1:/statelite/n1"},
		{in: "/a/$nodepos.room/", want: "/a/tokyo/"},
		{in: "/a/$nodepos.room,$nodepos.rack", want: "/a/tokyo,r07"},
		{in: "/a/$nodepos.room b", want: "/a/tokyo b"},
		{in: "/a/$site.installdir", want: "/a//install"},
		{in: "/a/${site.installdir}", want: "/a//install"},
		{in: "/a/$site.nosuchkey", unset: &UnsetError{"n1", "site", "nosuchkey"}},
		{name: "site key with an empty value", in: "/a/$site.emptykey", unset: &UnsetError{"n1", "site", "emptykey"}},
		{in: "/a/$nodepos.slot", unset: &UnsetError{"n1", "nodepos", "slot"}},
		{name: "node not in nodelist gets only its own rows", node: "stranger", in: "/a/$nodetype.os", unset: &UnsetError{"stranger", "nodetype", "os"}},
		{name: "$node needs no tables", node: "stranger", in: "/a/$node", want: "/a/stranger"},
		// A "." belongs to the token: "$nodetype.os.x" is column "os.x".
		{in: "/a/$nodetype.os.x", perr: `no column "os.x"`},
		{in: "/a/$", perr: "a $ with no variable name"},
		{in: "/a/$/b", perr: "a $ with no variable name"},
		{in: "/a/${x", perr: "has no closing }"},
		{in: "/a/${}", perr: "a $ with no variable name"},
		{in: "/a/${node pos.room}", perr: "' ' is not allowed"},
		{in: "/a/$nodetype", perr: "want $node or $table.column"},
		{in: "/a/$nosuch.col", perr: `unknown table "nosuch"`},
		{in: "/a/$nodetype.nosuchcol", perr: `table nodetype has no column "nosuchcol"`},
		{in: "/a/$osimage.profile", perr: "table osimage is not keyed by node"},
		{in: "/a/$site.", perr: "want $site.<key>"},
		{in: "#CMD=hostname#", perr: "#CMD="},
	})
}

func TestUnsetErrorMessage(t *testing.T) {
	e := &UnsetError{Node: "n1", Table: "noderes", Column: "nfsserver"}
	if got := e.Error(); !strings.Contains(got, "node n1") || !strings.Contains(got, "$noderes.nfsserver") || !strings.Contains(got, "table noderes, column nfsserver") {
		t.Errorf("message %q", got)
	}
	e = &UnsetError{Node: "n1", Table: "site", Column: "installdir"}
	if got := e.Error(); !strings.Contains(got, "node n1") || !strings.Contains(got, "$site.installdir") || !strings.Contains(got, "table site") {
		t.Errorf("message %q", got)
	}
}

func TestHasVars(t *testing.T) {
	for in, want := range map[string]bool{"": false, "/x": false, "$node": true, "/a/${nodetype.os}": true, "srv": false} {
		tp, err := ParseTemplate(in)
		if err != nil {
			t.Fatalf("ParseTemplate(%q): %v", in, err)
		}
		if got := tp.HasVars(); got != want {
			t.Errorf("HasVars(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestExpandGroupResolution: node/group lookup (xCAT's node and group rows, docs/behaviour.md#which-rows-apply) is per attribute, node row
// first, then groups in nodelist.groups order; empty values count as unset; disabled rows
// are ignored; regex-valued cells are applied to the node name.
func TestExpandGroupResolution(t *testing.T) {
	s := vdSnap(t, map[string]string{
		"nodelist": `#node,groups
"n1","compute,all"
"n5","compute,all"
"n7","all,compute"
"n9","compute"
"n12","compute,all"
"n13","compute"
`,
		"nodetype": `#node,os,arch,profile,provmethod,disable
"n1","","ppc64le",,,
"compute","rhels8.6","x86_64","compute",,
"all","sles15",,,"netboot",
"n9","disabled-os",,,,"1"
`,
		"nodepos": `#node,rack,room,u,chassis,slot
"n1","r07","tokyo",,"",
"compute","|\D+(\d+)|r($1/4)|","/^n(\d+)$/room$1/","/^n\d+$//","c1","|(\d+)|($1/0)|"
"all",,,"u-all",,"s-all"
`,
	})
	vxRun(t, s, []vxCase{
		// Two columns from two rows (and a third from a third row).
		{name: "per attribute", in: "${nodetype.os}-${nodetype.arch}-${nodetype.provmethod}-${nodetype.profile}", want: "rhels8.6-ppc64le-netboot-compute"},
		{name: "group order: all before compute", node: "n7", in: "$nodetype.os/$nodetype.arch", want: "sles15/x86_64"},
		{name: "empty string in the node row falls through to the group", in: "$nodetype.os", want: "rhels8.6"},
		{name: "empty string in the node row, chassis", in: "$nodepos.chassis", want: "c1"},
		{name: "disabled node row is ignored", node: "n9", in: "$nodetype.os", want: "rhels8.6"},
		{name: "node row wins over a regex group cell", in: "$nodepos.rack", want: "r07"},
		{name: "regex cell through a variable, n5", node: "n5", in: "/racks/$nodepos.rack/$node", want: "/racks/r1/n5"},
		{name: "regex cell through a variable, n12", node: "n12", in: "/racks/$nodepos.rack", want: "/racks/r3"},
		{name: "regex cell through a variable, n13", node: "n13", in: "/racks/${nodepos.rack}x", want: "/racks/r3x"},
		{name: "slash regex cell", node: "n5", in: "$nodepos.room", want: "room5"},
		{name: "regex cell giving empty counts as unset", node: "n5", in: "$nodepos.u", want: "u-all"},
		{name: "regex cell giving empty and no other group", node: "n13", in: "$nodepos.u", unset: &UnsetError{"n13", "nodepos", "u"}},
		// A regex cell that fails to evaluate (here a division by zero) counts as unset
		// too, so the next group's value is used.
		{name: "regex cell error falls through", node: "n5", in: "$nodepos.slot", want: "s-all"},
	})
}

func TestNodeAttrSource(t *testing.T) {
	s := vdSnap(t, map[string]string{
		"nodelist": "#node,groups\nn1,\"compute,all\"\n",
		"nodetype": "#node,os,arch\n\"n1\",,\"ppc64le\"\n\"compute\",\"rhels8.6\",\"x86_64\"\n",
	})
	v, src, ok := s.NodeAttr("n1", "nodetype", "os")
	if !ok || v != "rhels8.6" || src.Table != "nodetype" || src.Key != "compute" || src.Row != 1 {
		t.Errorf("NodeAttr(os) = %q %+v %v", v, src, ok)
	}
	v, src, ok = s.NodeAttr("n1", "nodetype", "arch")
	if !ok || v != "ppc64le" || src.Key != "n1" || src.Row != 0 {
		t.Errorf("NodeAttr(arch) = %q %+v %v", v, src, ok)
	}
	if v, _, ok := s.NodeAttr("n1", "nodetype", "nosuch"); ok {
		t.Errorf("NodeAttr of an unknown column = %q", v)
	}
	if v, _, ok := s.NodeAttr("n1", "nosuch", "os"); ok {
		t.Errorf("NodeAttr of an unknown table = %q", v)
	}
}
