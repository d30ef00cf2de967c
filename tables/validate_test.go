package tables

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	vdLitefile  = "#image,file,options,comments,disable\n"
	vdLitetree  = "#priority,image,directory,mntopts,comments,disable\n"
	vdStatelite = "#node,image,statemnt,mntopts,comments,disable\n"
)

// vdSnap parses each table text (header included) and builds a snapshot of them, so that
// every row carries its real line number.
func vdSnap(t testing.TB, texts map[string]string) *Snapshot {
	t.Helper()
	tabs := make(map[string]*Table, len(texts))
	for name, text := range texts {
		tabs[name] = fmtParse(t, name, text)
	}
	return NewSnapshot(1, tabs)
}

// vdWant is one expected problem: its table, line, kind and substrings of its text.
type vdWant struct {
	table string
	line  int
	warn  bool
	subs  []string
}

func vdErr(table string, line int, subs ...string) vdWant {
	return vdWant{table: table, line: line, subs: subs}
}

func vdWarn(table string, line int, subs ...string) vdWant {
	return vdWant{table: table, line: line, warn: true, subs: subs}
}

// vdCheck runs Validate and requires exactly the wanted problems (in any order).
func vdCheck(t *testing.T, s *Snapshot, want []vdWant) {
	t.Helper()
	probs := Validate(s)
	used := make([]bool, len(probs))
	for _, w := range want {
		found := false
		for i, p := range probs {
			if used[i] || p.Table != w.table || p.Line != w.line || p.Warning != w.warn {
				continue
			}
			text := p.String()
			ok := strings.Contains(text, fmt.Sprintf("%s.csv line %d: ", w.table, w.line))
			for _, sub := range w.subs {
				ok = ok && strings.Contains(text, sub)
			}
			if ok {
				used[i], found = true, true
				break
			}
		}
		if !found {
			kind := "error"
			if w.warn {
				kind = "warning"
			}
			t.Errorf("missing %s at %s.csv line %d containing %q", kind, w.table, w.line, w.subs)
		}
	}
	for i, p := range probs {
		if !used[i] {
			t.Errorf("unexpected problem: %s", p)
		}
	}
	if got, want := HasErrors(probs), vdAnyError(want); got != want {
		t.Errorf("HasErrors = %v, want %v", got, want)
	}
}

func vdAnyError(ws []vdWant) bool {
	for _, w := range ws {
		if !w.warn {
			return true
		}
	}
	return false
}

func TestValidateLitefileOptionsAndPaths(t *testing.T) {
	tests := []struct {
		name string
		rows string
		want []vdWant
	}{
		{"every accepted option", `"ALL","/a",,,
"ALL","/b","tmpfs",,
"ALL","/c","rw",,
"ALL","/d","link",,
"ALL","/e","tmpfs,rw",,
"ALL","/f","persistent",,
"ALL","/g","link,persistent",,
"ALL","/h","ro",,
"ALL","/i","link,ro",,
"ALL","/j","con",,
"ALL","/k","link,con",,
"ALL","/l","localdisk",,
`, nil},
		{"bad option", `"ALL","/etc/x","tmpfs,ro",,`, []vdWant{vdErr("litefile", 2, `option "tmpfs,ro" is not one of`, "tmpfs,rw", "link,persistent")}},
		{"options are case sensitive", `"ALL","/etc/x","TMPFS",,`, []vdWant{vdErr("litefile", 2, `option "TMPFS"`)}},
		{"blank left by the PDF is a bad option", `"ALL","/etc/x", ,,`, []vdWant{vdErr("litefile", 2, `option " " is not one of`)}},
		{"bind and tempfs are warnings", `"ALL","/etc/ntp.conf","bind",,
"ALL","/etc/x","tempfs",,`, []vdWant{
			vdWarn("litefile", 2, `option "bind" is a legacy spelling, served as tmpfs`),
			vdWarn("litefile", 3, `option "tempfs" is a legacy spelling, served as tmpfs`),
		}},
		{"relative path", `"ALL","etc/x",,,`, []vdWant{vdErr("litefile", 2, `file "etc/x" must be an absolute path`)}},
		{"path with a blank", `"ALL","/etc/my file",,,`, []vdWant{vdErr("litefile", 2, `file "/etc/my file" contains white space`)}},
		{"path with a tab", "\"ALL\",\"/etc/my\tfile\",,,", []vdWant{vdErr("litefile", 2, "white space")}},
		{"double slash", `"ALL","/etc//x",,,`, []vdWant{vdErr("litefile", 2, `file "/etc//x" is not a clean path`)}},
		{"dot dot", `"ALL","/etc/../x",,,`, []vdWant{vdErr("litefile", 2, `file "/etc/../x" is not a clean path`)}},
		{"dot", `"ALL","/etc/./x",,,`, []vdWant{vdErr("litefile", 2, "not a clean path")}},
		{"directory with two trailing slashes", `"ALL","/etc/x//",,,`, []vdWant{vdErr("litefile", 2, "not a clean path")}},
		{"root itself", `"ALL","/",,,`, []vdWant{vdErr("litefile", 2, `file "/": the root directory itself`)}},
		{"con on a directory", `"ALL","/etc/x/","con",,`, []vdWant{vdErr("litefile", 2, `option "con" is for files only, but /etc/x/ is a directory`)}},
		{"link,con on a directory", `"ALL","/etc/x/","link,con",,`, []vdWant{vdErr("litefile", 2, `option "link,con" is for files only`)}},
		{"con on a file is fine", `"ALL","/etc/hosts","con",,`, nil},
		{"disabled rows are still checked", `"ALL","etc/x",,,"1"`, []vdWant{vdErr("litefile", 2, "absolute path")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vdCheck(t, vdSnap(t, map[string]string{"litefile": vdLitefile + tt.rows + "\n"}), tt.want)
		})
	}
}

func TestValidateLitefileParentChild(t *testing.T) {
	tests := []struct {
		name string
		rows string
		want []vdWant
	}{
		{"ro parent with a child", `"ALL","/opt/","ro",,
"ALL","/opt/x","tmpfs",,`, []vdWant{vdErr("litefile", 3, "/opt/x (tmpfs) is a child of /opt/ (ro, litefile.csv line 2)", "a read-only directory entry cannot have child entries")}},
		{"link,ro parent with a link child", `"ALL","/opt/","link,ro",,
"ALL","/opt/x","link",,`, []vdWant{vdErr("litefile", 3, "is a child of /opt/ (link,ro", "read-only directory")}},
		{"nearest listed ancestor is the parent", `"ALL","/opt/","ro",,
"ALL","/opt/a/b/c","tmpfs",,`, []vdWant{vdErr("litefile", 3, "is a child of /opt/ (ro")}},
		{"an ancestor listed without / is a file, not a parent", `"ALL","/opt","ro",,
"ALL","/opt/x","tmpfs",,`, nil},
		{"persistent parent with a non-persistent child", `"ALL","/var/lib/","persistent",,
"ALL","/var/lib/x","tmpfs",,`, []vdWant{vdErr("litefile", 3, "/var/lib/x (tmpfs) is a child of /var/lib/ (persistent, litefile.csv line 2)", "children of a persistent directory must be persistent too")}},
		{"persistent parent with a persistent child", `"ALL","/var/lib/","persistent",,
"ALL","/var/lib/x","persistent",,`, nil},
		{"link parent with a non-link child", `"ALL","/etc/","link",,
"ALL","/etc/x","tmpfs",,`, []vdWant{vdErr("litefile", 3, "/etc/x (tmpfs) is a child of /etc/ (link, litefile.csv line 2)", "children of a link directory must use a link option")}},
		{"blank option is tmpfs,rw, a link option", `"ALL","/etc/",,,
"ALL","/etc/x","ro",,`, []vdWant{vdErr("litefile", 3, "is a child of /etc/ (tmpfs,rw", "must use a link option")}},
		// docs/behaviour.md#choices-where-xcat-is-silent: xCAT's liteimg refuses link,ro under
		// a link parent; we allow it.
		{"link,ro child under a link parent is allowed", `"ALL","/etc/","link",,
"ALL","/etc/hosts","link,ro",,`, nil},
		{"link,persistent child under link,persistent parent", `"ALL","/srv/","link,persistent",,
"ALL","/srv/x","link,persistent",,`, nil},
		{"non-link parent with a link child is a warning", `"ALL","/etc/","tmpfs",,
"ALL","/etc/x","link",,`, []vdWant{vdWarn("litefile", 3, "/etc/x (link) is a child of /etc/ (tmpfs, litefile.csv line 2)", "a link child under a non-link directory", "serves it as volatile")}},
		{"/etc/mtab is exempt from the link rules", `"ALL","/etc/","tmpfs",,
"ALL","/etc/mtab",,,`, nil},
		{"implicit /etc/mtab under a ro /etc/ is not reported", `"ALL","/etc/","ro",,`, nil},
		{"a child with a bad option is reported once, for its option", `"ALL","/opt/","ro",,
"ALL","/opt/x","bogus",,`, []vdWant{vdErr("litefile", 3, `option "bogus"`)}},
		{"the rule applies per image: the image's own parent row wins", `"ALL","/etc/","link",,
"img1","/etc/","ro",,
"ALL","/etc/x","link",,`, []vdWant{vdErr("litefile", 4, "is a child of /etc/ (ro, litefile.csv line 3)", "read-only")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vdCheck(t, vdSnap(t, map[string]string{"litefile": vdLitefile + tt.rows + "\n"}), tt.want)
		})
	}
}

func TestValidateGeneric(t *testing.T) {
	tests := []struct {
		name  string
		texts map[string]string
		want  []vdWant
	}{
		{"litefile file missing", map[string]string{"litefile": vdLitefile + `"ALL",,"tmpfs",,` + "\n"},
			[]vdWant{vdErr("litefile", 2, "column file is required")}},
		{"litetree directory missing", map[string]string{"litetree": vdLitetree + `"1","ALL",,,,` + "\n"},
			[]vdWant{vdErr("litetree", 2, "column directory is required")}},
		{"litetree priority missing", map[string]string{"litetree": vdLitetree + `,"ALL","/x",,,` + "\n"},
			[]vdWant{vdErr("litetree", 2, "column priority is required")}},
		{"statelite statemnt missing", map[string]string{"statelite": vdStatelite + `"compute",,,,,` + "\n"},
			[]vdWant{vdErr("statelite", 2, "column statemnt is required")}},
		{"nodelist node missing", map[string]string{"nodelist": "#node,groups\n,\"compute\"\n"},
			[]vdWant{vdErr("nodelist", 2, "column node is required")}},
		{"duplicate litefile key names both lines", map[string]string{"litefile": vdLitefile + `"ALL","/etc/x",,,
"ALL","/etc/y",,,
"ALL","/etc/x","ro",,
`}, []vdWant{vdErr("litefile", 4, `duplicate key image="ALL" file="/etc/x"`, "same as litefile.csv line 2")}},
		{"same file for two images is not a duplicate", map[string]string{"litefile": vdLitefile + `"ALL","/etc/x",,,
"img1","/etc/x","ro",,
`}, nil},
		{"duplicate node", map[string]string{"nodelist": "#node,groups\nn1,compute\nn1,all\n"},
			[]vdWant{vdErr("nodelist", 3, `duplicate key node="n1"`, "same as nodelist.csv line 2")}},
		{"duplicate site key", map[string]string{"site": "#key,value\nmaster,a\nmaster,b\n"},
			[]vdWant{vdErr("site", 3, `duplicate key key="master"`, "site.csv line 2")}},
		{"site.volatiledir relative", map[string]string{"site": "#key,value\nmaster,a\nvolatiledir,shared/vol\n"},
			[]vdWant{vdErr("site", 3, `volatiledir "shared/vol" is not an absolute path`)}},
		{"site.volatiledir absolute", map[string]string{"site": "#key,value\nvolatiledir,/shared/vol\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vdCheck(t, vdSnap(t, tt.texts), tt.want)
		})
	}
}

func TestValidateLitetree(t *testing.T) {
	tests := []struct {
		name string
		rows string
		want []vdWant
	}{
		{"valid rows", `"1",,"/local/tree",,,
"2","ALL","10.0.0.1:/statelite/$node",,,
"9.5","img1","$noderes.nfsserver:/x/${nodetype.profile}/$nodepos.rack",,,
"10","img1","${noderes.xcatmaster}:/x",,,
"11",,"srv:$site.installdir/tree",,,`, nil},
		{"non-numeric priority", `"abc","ALL","/x",,,`, []vdWant{vdErr("litetree", 2, `priority "abc" is not a number`)}},
		{"NaN is not a priority", `"NaN","ALL","/x",,,`, []vdWant{vdErr("litetree", 2, `priority "NaN" is not a number`)}},
		{"Inf is not a priority", `"Inf","ALL","/x",,,`, []vdWant{vdErr("litetree", 2, `priority "Inf" is not a number`)}},
		{"numerically equal priorities", `"1","ALL","/x",,,
"2","ALL","/y",,,
"1.0","ALL","/z",,,`, []vdWant{vdErr("litetree", 4, "priority 1.0 equals priority 1 of litetree.csv line 2", "unique")}},
		{"#CMD is refused", `"1",,"$noderes.nfsserver://xcatmasternode/install/$node/#CMD=uname-r#/",,,`,
			[]vdWant{vdErr("litetree", 2, "directory:", "#CMD=", "not supported")}},
		{"bare $", `"1",,"/x/$/y",,,`, []vdWant{vdErr("litetree", 2, "directory:", "a $ with no variable name")}},
		{"unclosed ${", `"1",,"/x/${noderes.nfsserver/y",,,`, []vdWant{vdErr("litetree", 2, "${ at offset 3 has no closing }")}},
		{"empty ${}", `"1",,"/x/${}/y",,,`, []vdWant{vdErr("litetree", 2, "a $ with no variable name")}},
		{"bad character in ${}", `"1",,"/x/${nodepos.room-x}/y",,,`, []vdWant{vdErr("litetree", 2, "${nodepos.room-x}", "'-' is not allowed")}},
		{"unknown table", `"1",,"/x/$nosuch.col",,,`, []vdWant{vdErr("litetree", 2, "variable $nosuch.col", `unknown table "nosuch"`)}},
		{"unknown column", `"1",,"/x/$nodetype.nosuchcol",,,`, []vdWant{vdErr("litetree", 2, "variable $nodetype.nosuchcol", `table nodetype has no column "nosuchcol"`)}},
		{"table not keyed by node", `"1",,"/x/$osimage.profile",,,`, []vdWant{vdErr("litetree", 2, "variable $osimage.profile", "not keyed by node")}},
		{"variable without a column", `"1",,"/x/$nodetype",,,`, []vdWant{vdErr("litetree", 2, "variable $nodetype", "want $node or $table.column")}},
		{"$node.foo reads table node", `"1",,"/x/$node.foo",,,`, []vdWant{vdErr("litetree", 2, `unknown table "node"`)}},
		{"$site without a key", `"1",,"/x/$site./y",,,`, []vdWant{vdErr("litetree", 2, "want $site.<key>")}},
		{"bad variable in the server part", `"1",,"$noderes.nosuch:/x",,,`, []vdWant{vdErr("litetree", 2, `table noderes has no column "nosuch"`)}},
		{"empty server", `"1",,":/x",,,`, []vdWant{vdErr("litetree", 2, `location ":/x": empty server before the colon`)}},
		{"relative directory", `"1",,"srv:x",,,`, []vdWant{vdErr("litetree", 2, `location "srv:x": directory "x" must be absolute`)}},
		{"relative local directory", `"1",,"tree",,,`, []vdWant{vdErr("litetree", 2, `directory "tree" must be absolute`)}},
		{"slash in the server part", `"1",,"a/b:/x",,,`, []vdWant{vdErr("litetree", 2, `server part "a/b" holds '/'`)}},
		{"dot-dot server", `"1",,"..:/x",,,`, []vdWant{vdErr("litetree", 2, `server part ".." is not a host name`)}},
		{"two colons", `"1",,"srv:/a:/b",,,`, []vdWant{vdErr("litetree", 2, "more than one colon")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vdCheck(t, vdSnap(t, map[string]string{"litetree": vdLitetree + tt.rows + "\n"}), tt.want)
		})
	}
}

func TestValidateStatelite(t *testing.T) {
	tests := []struct {
		name string
		rows string
		want []vdWant
	}{
		{"cookbook rows", `"japan",,"cnfs:/gpfs/state",,,
"hv32lpar05",,"$noderes.nfsserver:/lite/state/$nodetype.profile",,,
"n1",,"/local/state","nolock,tcp",,`, nil},
		{"relative directory", `"compute",,"srv:state",,,`, []vdWant{vdErr("statelite", 2, "statemnt:", `directory "state" must be absolute`)}},
		{"empty server", `"compute",,":/state",,,`, []vdWant{vdErr("statelite", 2, "statemnt:", "empty server")}},
		{"bad variable", `"compute",,"$nosuch.col:/state",,,`, []vdWant{vdErr("statelite", 2, "statemnt:", `unknown table "nosuch"`)}},
		{"#CMD", `"compute",,"srv:/state/#CMD=hostname#",,,`, []vdWant{vdErr("statelite", 2, "statemnt:", "#CMD=")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vdCheck(t, vdSnap(t, map[string]string{"statelite": vdStatelite + tt.rows + "\n"}), tt.want)
		})
	}
}

func TestValidateCookbookSamples(t *testing.T) {
	redhat, err := readGoldenInput("litefile.cookbook-redhat.csv")
	if err != nil {
		t.Fatal(err)
	}
	s := vdSnap(t, map[string]string{
		"litefile":  redhat,
		"statelite": vdStatelite + `"japan",,"cnfs:/gpfs/state",,,` + "\n",
	})
	if n := len(s.Table("litefile").Rows); n != 42 {
		t.Fatalf("cookbook RedHat sample has %d rows, want 42", n)
	}
	vdCheck(t, s, nil)

	// The SLES11 sample, PDF blanks removed: only its two "bind" rows draw a warning.
	sles := vdLitefile + `"ALL","/etc/inittab",,,
"ALL","/etc/lvm/.cache",,,
"ALL","/etc/mtab",,,
"ALL","/etc/ntp.conf","bind",,
"ALL","/etc/ntp.conf.org","bind",,
"ALL","/etc/resolv.conf",,,
"ALL","/etc/ssh/",,,
"ALL","/etc/sysconfig/",,,
"ALL","/etc/syslog-ng/",,,
"ALL","/tmp/",,,
"ALL","/var/tmp/",,,
"ALL","/var/run/",,,
"ALL","/etc/yp.conf",,,
"ALL","/var/lib/",,,
"ALL","/var/empty/",,,
"ALL","/var/spool/",,,
"ALL","/var/lock/",,,
"ALL","/var/log/",,,
"ALL","/var/cache/",,,
"ALL","/etc/fstab",,,
"ALL","/var/adm/",,,
"ALL","/root/.viminfo",,,
"ALL","/root/.bash_history",,,
"ALL","/opt/xcat/",,,
"ALL","/xcatpost/",,,
`
	vdCheck(t, vdSnap(t, map[string]string{"litefile": sles}), []vdWant{
		vdWarn("litefile", 5, `"bind"`),
		vdWarn("litefile", 6, `"bind"`),
	})
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Table: "litefile", Line: 3, Row: 1, Msg: "bad"}, "litefile.csv line 3: bad"},
		{Problem{Table: "litefile", Line: 3, Row: 1, Msg: "meh", Warning: true}, "warning: litefile.csv line 3: meh"},
		{Problem{Table: "litefile", Row: 1, Msg: "bad"}, "litefile row 2: bad"},
		{Problem{Table: "litefile", Row: -1, Msg: "bad"}, "litefile: bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// docs/behaviour.md#table-text: disable empty, 0 or no (any case) means enabled; "" is
// empty (xCAT disables a row on a quoted empty string).
func TestDisableColumn(t *testing.T) {
	tab := fmtParse(t, "litefile", vdLitefile+`"ALL","/a",,,
"ALL","/b",,,""
"ALL","/c",,,"0"
"ALL","/d",,,"no"
"ALL","/e",,,"NO"
"ALL","/f",,," "
"ALL","/g",,,"1"
"ALL","/h",,,"yes"
"ALL","/i",,,"x"
"ALL","/j",,,"00"
`)
	want := []bool{true, true, true, true, true, true, false, false, false, false}
	for i, w := range want {
		if got := tab.Enabled(i); got != w {
			t.Errorf("%s disable=%q: Enabled = %v, want %v", tab.Get(i, "file"), tab.Get(i, "disable"), got, w)
		}
	}
}

func readGoldenInput(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "format", name))
	return string(b), err
}

// A file and a directory entry of the same path ("/etc/ssh" and "/etc/ssh/") in one
// image's view are refused: the node could not tell which one governs the path.
func TestValidateSamePathFileAndDirectory(t *testing.T) {
	vdCheck(t, vdSnap(t, map[string]string{"litefile": vdLitefile + `"ALL","/etc/ssh/",,,
"ALL","/etc/ssh","ro",,
`}), []vdWant{vdErr("litefile", 2, "/etc/ssh/ and /etc/ssh (litefile.csv line 3) name the same path")})
}

func TestValidateLeadFixes(t *testing.T) {
	lf, err := Parse("litefile", strings.NewReader("#image,file,options,comments,disable\n,\"/etc/blank-image\",,,\n\"\",\"/etc/quoted-blank\",\"tmpfs\",,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if probs := Validate(NewSnapshot(1, map[string]*Table{"litefile": lf})); len(probs) != 0 {
		t.Errorf("blank litefile.image means ALL and must validate; got %v", probs)
	}
	st, err := Parse("statelite", strings.NewReader("#node,image,statemnt,mntopts,comments,disable\n\"compute\",,\"/a/b/\",,,\n"))
	if err != nil {
		t.Fatal(err)
	}
	probs := Validate(NewSnapshot(1, map[string]*Table{"statelite": st}))
	if len(probs) != 1 || !probs[0].Warning || !strings.Contains(probs[0].String(), "statelite.csv line 2: statemnt \"/a/b/\" has the form /pattern/replacement/") {
		t.Errorf("statemnt that reads as a regex cell: got %v", probs)
	}
	bad, err := Parse("litefile", strings.NewReader("#image,file,options\n\"ALL\",\"/x\",\"bind,ro\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	bad.SetSource("mine.csv")
	probs = Validate(NewSnapshot(1, map[string]*Table{"litefile": bad}))
	if len(probs) == 0 || !strings.HasPrefix(probs[0].String(), "mine.csv line 2: option \"bind,ro\"") {
		t.Errorf("rows read from another file must be named by it: %v", probs)
	}
}
