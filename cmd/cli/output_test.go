package cli_test

import (
	"fmt"
	"strings"
	"testing"
)

// img is the osimage the fixture's compute nodes use: nodetype.provmethod is blank, so
// the image is <os>-<arch>-statelite-<profile> (docs/behaviour.md#which-rows-apply).
const img = "rhels8.6-x86_64-statelite-compute"

// fixture is a small cluster in xCAT CSV. n1 and n2 are compute nodes (nodetype via the
// group compute), n3 has no nodetype data, n4 has its own nodetype row but neither a
// statelite row (its persistent entries are volatile, docs/behaviour.md#persistent-files)
// nor nodepos (litetree priority 1 cannot be substituted for it,
// docs/behaviour.md#variables). Headers name subsets of the columns on purpose
// (docs/behaviour.md#table-text). It reproduces the example lines of xCAT's lslite and litefile (docs/behaviour.md#the-cookbooks-commands).
func fixture() map[string]string {
	return map[string]string{
		"nodelist": `#node,groups
"n1","compute,all"
"n2","compute,all"
"n3","other,all"
"n4","loners"
`,
		"nodetype": `#node,os,arch,profile,provmethod
"compute","rhels8.6","x86_64","compute",
"n4","rhels8.6","x86_64","compute",
`,
		"nodepos": `#node,room,rack
"n1","tokyo","r07"
"n2","osaka","r01"
`,
		"noderes": `#node,xcatmaster
"compute","mn1"
`,
		"osimage": `#imagename,groups,profile,imagetype,provmethod,osvers,osarch
"` + img + `","rhgroup","compute","linux","statelite","rhels8.6","x86_64"
"other-img",,"compute","linux","statelite","rhels8.6","x86_64"
`,
		// /etc/adjtime has a blank option (→ tmpfs,rw); /etc/mtab is not listed for img
		// (→ implicit "link"), but is listed as link for other-img (→ forced tmpfs,rw);
		// /etc/motd: the group row beats the ALL row
		// (docs/behaviour.md#which-rows-apply); /var/log/ is disabled, /var/tmp/ is
		// enabled by disable "no".
		"litefile": `#image,file,options,comments,disable
"ALL","/etc/adjtime",,,
"ALL","/root/.ssh/","link,persistent",,
"ALL","/etc/hosts","ro","say ""hi"", ok",
"` + img + `","/opt/app/","ro",,
"ALL","/etc/motd","ro",,
"rhgroup","/etc/motd","con",,
"ALL","/var/log/","tmpfs",,"1"
"ALL","/var/tmp/","tmpfs",,"no"
"other-img","/etc/mtab","link",,
`,
		// Priorities sort numerically (9 before 10); a substituted directory loses its
		// trailing "/", an unsubstituted one keeps it.
		"litetree": `#priority,image,directory,mntopts,comments,disable
"1","ALL","10.0.0.9:/sync/$nodepos.room/$nodetype.os/$nodetype.arch/","soft",,
"10","` + img + `","10.0.0.9:/sync/common/",,,
"9",,"/local/$node/",,,
"11","other-img","10.0.0.9:/sync/other/",,,
`,
		"statelite": `#node,image,statemnt,mntopts
"compute",,"$noderes.xcatmaster:/nodedata",
`,
	}
}

// golden renders one run for a golden file: the command, stdout, stderr and exit code.
func golden(args []string, r result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ %s\n%s", strings.Join(args, " "), r.stdout)
	if r.stderr != "" {
		fmt.Fprintf(&b, "--- stderr ---\n%s", r.stderr)
	}
	fmt.Fprintf(&b, "--- exit %d ---\n", r.code)
	return b.String()
}

func TestOutputGolden(t *testing.T) {
	dir := writeTables(t, fixture())
	tests := []struct {
		name      string
		args      []string
		code      int
		wantLines []string // lines stdout must hold, independent of the golden file
		wantErr   string   // text stderr must hold
	}{
		{name: "litefile_n1", args: []string{"litefile", "n1"}, wantLines: []string{
			"n1: tmpfs,rw      /etc/adjtime",
			"n1: link          /etc/mtab",
			"n1: link,persistent /root/.ssh/",
			"n1: con           /etc/motd",
			"n1: tmpfs         /var/tmp/",
		}},
		{name: "litefile_group", args: []string{"litefile", "compute"}, wantLines: []string{
			"n1: tmpfs,rw      /etc/adjtime",
			"n2: tmpfs,rw      /etc/adjtime",
		}},
		{name: "ilitefile_image", args: []string{"ilitefile", img}, wantLines: []string{
			img + ": tmpfs,rw      /etc/adjtime",
			img + ": link          /etc/mtab",
			img + ": link,persistent /root/.ssh/",
		}},
		{name: "ilitefile_other", args: []string{"ilitefile", "other-img"}, wantLines: []string{
			"other-img: tmpfs,rw      /etc/mtab",
			"other-img: ro            /etc/motd",
		}},
		{name: "litetree_n1", args: []string{"litetree", "n1"}, wantLines: []string{
			"n1: 10.0.0.9:/sync/tokyo/rhels8.6/x86_64 :soft",
			"n1: /local/n1",
			"n1: 10.0.0.9:/sync/common/",
		}},
		{name: "litetree_n1_n2", args: []string{"litetree", "n1,n2"}, wantLines: []string{
			"n2: 10.0.0.9:/sync/osaka/rhels8.6/x86_64 :soft",
		}},
		{name: "lslite_n1", args: []string{"lslite", "n1"}, wantLines: []string{
			">>>Node: n1",
			"Osimage: " + img,
			"Persistent directory (statelite table):",
			"        mn1:/nodedata",
			"Litefiles (litefile table):",
			"        tmpfs,rw      /etc/adjtime",
			"        link          /etc/mtab",
			"        link,persistent /root/.ssh/",
			"Litetree path (litetree table):",
			"        1, 10.0.0.9:/sync/tokyo/rhels8.6/x86_64 :soft",
			"        9, /local/n1",
			"        10, 10.0.0.9:/sync/common/",
		}},
		{name: "lslite_image", args: []string{"lslite", "-i", img}, wantLines: []string{
			"        tmpfs,rw      /etc/adjtime",
			"        link          /etc/mtab",
		}},
		{name: "tabdump_litefile", args: []string{"tabdump", "litefile"}, wantLines: []string{
			"#image,file,options,comments,disable",
			`"ALL","/etc/adjtime",,,`,
			`"ALL","/etc/hosts","ro","say ""hi"", ok",`,
			`"ALL","/var/log/","tmpfs",,"1"`,
		}},
		{name: "tabdump_d_litefile", args: []string{"tabdump", "-d", "litefile"}},
		{name: "tabdump_w_litefile", args: []string{"tabdump", "-w", "options==ro", "litefile"}, wantLines: []string{
			"#image,file,options,comments,disable",
			`"ALL","/etc/hosts","ro","say ""hi"", ok",`,
			`"` + img + `","/opt/app/","ro",,`,
			`"ALL","/etc/motd","ro",,`,
		}},
		{name: "tabdump_empty_table", args: []string{"tabdump", "hosts"}, wantLines: []string{"#node,ip,hostnames,otherinterfaces,comments,disable"}},
		{name: "litefile_no_nodetype", args: []string{"litefile", "n3"}, code: 1,
			wantErr: "n3 does not have os, arch, or profile defined in nodetype table"},
		{name: "litefile_mixed", args: []string{"litefile", "n1,n3"}, code: 1,
			wantLines: []string{"n1: tmpfs,rw      /etc/adjtime"},
			wantErr:   "Error: n3 does not have os, arch, or profile defined in nodetype table"},
		{name: "lslite_no_nodetype", args: []string{"lslite", "n3"}, code: 1,
			wantErr: "Error: n3 does not have os, arch, or profile defined in nodetype table"},
		{name: "litefile_invalid_node", args: []string{"litefile", "n1,zz"}, code: 1,
			wantErr: "Error: Invalid nodes in noderange:zz"},
		{name: "litetree_invalid_node", args: []string{"litetree", "zz,n1"}, code: 1,
			wantErr: "Error: Invalid nodes in noderange:zz"},
		{name: "lslite_image_nosuch", args: []string{"lslite", "-i", "nosuch"}, code: 1,
			wantErr: "The osimage named 'nosuch' is not defined."},
		{name: "lslite_no_statelite_row", args: []string{"lslite", "n4"}, code: 1,
			wantLines: []string{"Persistent directory (statelite table):", "        link,persistent /root/.ssh/", "        9, /local/n4"},
			wantErr:   "Warning: node n4 has persistent litefile entries but no statelite row"},
		{name: "litetree_unset_variable", args: []string{"litetree", "n4"}, code: 1,
			wantLines: []string{"n4: /local/n4", "n4: 10.0.0.9:/sync/common/"},
			wantErr:   "Error: litetree.csv line 2 (priority 1): node n4: $nodepos.room is not set"},
		{name: "tabdump_list", args: []string{"tabdump"}, wantLines: []string{"litefile", "litetree", "statelite"}},
		{name: "tabdump_w_bad_column", args: []string{"tabdump", "-w", "bogus==1", "litefile"}, code: 1,
			wantErr: `table litefile has no column "bogus"`},
		{name: "litefile_usage", args: []string{"litefile"}, code: 1, wantErr: "Usage: litefile <noderange>"},
		{name: "ilitefile_usage", args: []string{"ilitefile"}, code: 1, wantErr: "Usage: ilitefile <imagename>"},
		{name: "litetree_usage", args: []string{"litetree"}, code: 1, wantErr: "Usage: litetree <noderange>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cliRun(t, dir, "", tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, l := range tc.wantLines {
				if !hasLine(r.stdout, l) {
					t.Errorf("stdout lacks the line %q\nstdout:\n%s", l, r.stdout)
				}
			}
			if tc.wantErr != "" && !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr lacks %q\nstderr:\n%s", tc.wantErr, r.stderr)
			}
			if tc.wantErr == "" && r.stderr != "" {
				t.Errorf("unexpected stderr:\n%s", r.stderr)
			}
			checkGolden(t, tc.name, golden(tc.args, r))
		})
	}
}

// TestLitefileSortedByPath checks what xCAT's litefile prints: entries sorted by path string.
func TestLitefileSortedByPath(t *testing.T) {
	dir := writeTables(t, fixture())
	out := mustRun(t, dir, "litefile", "n1")
	var paths []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		paths = append(paths, f[len(f)-1])
	}
	for i := 1; i < len(paths); i++ {
		if paths[i-1] >= paths[i] {
			t.Errorf("paths not sorted: %q before %q", paths[i-1], paths[i])
		}
	}
}
