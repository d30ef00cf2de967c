package tables

import (
	"strings"
	"testing"
)

// badNames are names that must never become a node, group or image: each would be a path
// outside its directory, an option to a command, or a blank in a list. want is a piece of
// the rule the error must name.
var badNames = []struct{ name, want string }{
	{"../x", `holds "/"`},
	{"a/b", `holds "/"`},
	{"..", `starts with "."`},
	{"-rf", `starts with "-"`},
	{"x y", `holds " "`},
	{".hidden", `starts with "."`},
	{strings.Repeat("a", 254), "is 254 bytes long: a name holds at most 253 bytes"},
	{"../../../../tmp/esc", `holds "/"`},
	{"a..b", `holds "..": a name never holds two dots in a row`},
	{"", "is empty"},
	{"n1\n", `holds "\n"`},
	{"nœud", `holds "œ"`},
}

var goodNames = []string{"n1", "node-001", "rack1.n2", "compute_a", "__Unmanaged", "rhels8.6-x86_64-statelite-compute", strings.Repeat("a", 253)}

func TestCheckName(t *testing.T) {
	for _, b := range badNames {
		err := CheckName("node name", b.name)
		if err == nil {
			t.Errorf("CheckName(%q) accepted it", b.name)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "node name") || !strings.Contains(msg, b.want) {
			t.Errorf("CheckName(%q) = %q, want the kind and %q", b.name, msg, b.want)
		}
		if len(err.Error()) > 200 {
			t.Errorf("CheckName(%d bytes): the message is %d bytes long", len(b.name), len(err.Error()))
		}
	}
	for _, g := range goodNames {
		if err := CheckName("node name", g); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", g, err)
		}
	}
}

// TestValidateNames: Validate refuses every bad name wherever a node, group or image name
// is kept, naming table, line and rule, and accepts the good ones.
func TestValidateNames(t *testing.T) {
	for _, b := range badNames {
		if b.name == "" || strings.ContainsAny(b.name, "\n") {
			continue // not a name a CSV cell of a key column holds here
		}
		q := `"` + b.name + `"`
		cases := []struct {
			table, text, kind string
			line              int
		}{
			{"nodelist", "#node,groups\n\"n1\",\"all\"\n" + q + ",\"all\"\n", "node name", 3},
			{"nodelist", "#node,groups\n\"n1\",\"all," + b.name + "\"\n", "group name", 2},
			{"nodegroup", "#groupname\n" + q + "\n", "group name", 2},
			{"hosts", "#node,ip\n\"n1\",\"10.0.0.1\"\n" + q + ",\"10.0.0.2\"\n", "node or group name", 3},
			{"statelite", "#node,statemnt\n" + q + ",\"/state\"\n", "node or group name", 2},
			{"noderes", "#node,nfsserver\n" + q + ",\"mn\"\n", "node or group name", 2},
			{"osimage", "#imagename,osvers,osarch,profile\n" + q + ",\"rhels8\",\"x86_64\",\"compute\"\n", "image name", 2},
			{"linuximage", "#imagename,rootimgdir\n" + q + ",\"/install/img\"\n", "image name", 2},
			{"nodetype", "#node,os,arch,profile,provmethod\n\"n1\",\"rhels8\",\"x86_64\",\"compute\"," + q + "\n", "image name nodetype.provmethod", 2},
			{"nodetype", "#node,os,arch,profile\n\"n1\"," + q + ",\"x86_64\",\"compute\"\n", "nodetype.os", 2},
			{"nodetype", "#node,os,arch,profile\n\"n1\",\"rhels8\",\"x86_64\"," + q + "\n", "nodetype.profile", 2},
			{"osimage", "#imagename,osvers,osarch,profile\n\"img\",\"rhels8\"," + q + ",\"compute\"\n", "osimage.osarch", 2},
			// A disabled row is checked too: enabling it is a one-cell edit.
			{"nodelist", "#node,groups,disable\n" + q + ",\"all\",\"1\"\n", "node name", 2},
		}
		for _, c := range cases {
			probs := Validate(vdSnap(t, map[string]string{c.table: c.text}))
			found := false
			for _, p := range probs {
				s := p.String()
				if !p.Warning && p.Table == c.table && p.Line == c.line && strings.Contains(s, c.kind+" ") && strings.Contains(s, b.want) &&
					strings.HasPrefix(s, c.table+".csv line ") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s %q in %s: problems %v, want an error at line %d naming %q and %q", c.kind, b.name, c.table, probs, c.line, c.kind, b.want)
			}
		}
	}
	// Good names, a regex cell (its result is checked by the resolver) and provmethod's
	// keywords pass.
	var nl, nt strings.Builder
	nl.WriteString("#node,groups\n")
	nt.WriteString("#node,os,arch,profile,provmethod\n")
	for _, g := range goodNames {
		nl.WriteString(`"` + g + `","all,` + g + "\"\n")
		nt.WriteString(`"` + g + `","rhels8.6","x86_64","compute","statelite"` + "\n")
	}
	nt.WriteString(`"all","|\D+(\d+)|rhels($1)|","x86_64","compute",` + "\n")
	for _, pm := range []string{"install", "netboot", "rhels8.6-x86_64-statelite-compute"} {
		nt.WriteString(`"grp-` + pm + `","rhels8.6","x86_64","compute","` + pm + "\"\n")
	}
	s := vdSnap(t, map[string]string{
		"nodelist":  nl.String(),
		"nodetype":  nt.String(),
		"osimage":   "#imagename,osvers,osarch,profile\n\"rhels8.6-x86_64-statelite-compute\",\"rhels8.6\",\"x86_64\",\"compute\"\n",
		"statelite": "#node,statemnt\n\"rack1.n2\",\"/state\"\n\"compute_a\",\"mn:/state\"\n",
	})
	if probs := Validate(s); len(probs) != 0 {
		t.Errorf("good names: %v", probs)
	}
	if probs := CheckNames(s); len(probs) != 0 {
		t.Errorf("CheckNames of good names: %v", probs)
	}
}

// TestCheckNamesOnly: CheckNames reports the names and nothing else of Validate's.
func TestCheckNamesOnly(t *testing.T) {
	s := vdSnap(t, map[string]string{
		"nodelist": "#node,groups\n\"n1\",\"all\"\n\"../x\",\"all\"\n",
		"litefile": vdLitefile + `"ALL","/etc/x","tmpfs,ro",,` + "\n",
	})
	probs := CheckNames(s)
	if len(probs) != 1 || probs[0].String() != `nodelist.csv line 3: node name "../x" holds "/": a name holds only letters, digits, -, _ and .` {
		t.Errorf("CheckNames = %v", probs)
	}
	if len(Validate(s)) != 2 {
		t.Errorf("Validate = %v, want the name and the option", Validate(s))
	}
}
