package cli_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// badNames are names that are not host names, with a piece of the rule the error names.
var badNames = []struct{ name, rule string }{
	{"../x", `holds "/"`},
	{"a/b", `holds "/"`},
	{"..", `starts with "."`},
	{"-rf", `starts with "-"`},
	{"x y", `holds " "`},
	{".hidden", `starts with "."`},
	{strings.Repeat("n", 254), "is 254 bytes long: a name holds at most 253 bytes"},
	{"../../../../tmp/esc", `holds "/"`},
}

var goodNames = []string{"n1", "node-001", "rack1.n2", "compute_a"}

// TestNamesChtab: chtab refuses a node or group name that is not a host name, naming the
// table, the row and the rule, and changes nothing; good names pass.
func TestNamesChtab(t *testing.T) {
	for _, b := range badNames {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"node=" + b.name, "nodelist.groups=compute"}, "Error: nodelist row 5: node name "},
			// The attack: a node with an address, so that it could mount.
			{[]string{"node=" + b.name, "nodelist.groups=compute", "hosts.ip=10.9.0.1"}, "Error: nodelist row 5: node name "},
			{[]string{"node=" + b.name, "hosts.ip=10.9.0.1"}, "Error: hosts row 1: node or group name "},
			// A row read from the file keeps its line.
			{[]string{"node=n1", "nodelist.groups+=" + b.name}, "Error: nodelist.csv line 2: group name "},
			{[]string{"imagename=" + b.name, "osimage.osvers=rhels8.6", "osimage.osarch=x86_64", "osimage.profile=compute"}, "Error: osimage row 3: image name "},
		} {
			dir := writeTables(t, fixture())
			before := storeFiles(t, dir)
			r := cliRun(t, dir, "", append([]string{"chtab"}, c.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, b.rule) {
				t.Errorf("chtab %s: exit %d, stderr %q; want exit 1 and %q with the rule %q", strings.Join(c.args, " "), r.code, r.stderr, c.want, b.rule)
			}
			sameFiles(t, before, storeFiles(t, dir))
		}
	}
	dir := writeTables(t, fixture())
	for _, g := range goodNames {
		mustRun(t, dir, "chtab", "node="+g, "nodelist.groups=compute,"+g+"-grp", "hosts.ip=10.9.0.1")
		mustRun(t, dir, "chtab", "imagename="+g, "osimage.osvers=rhels8.6", "osimage.osarch=x86_64", "osimage.profile=compute")
	}
	if out := mustRun(t, dir, "nodels"); !strings.Contains(out, "rack1.n2\n") || !strings.Contains(out, "compute_a\n") {
		t.Errorf("nodels after good names:\n%s", out)
	}
}

// TestNamesTabrestore: tabrestore refuses a table holding a bad name, naming the file,
// its CSV line and the rule, and changes nothing.
func TestNamesTabrestore(t *testing.T) {
	in := t.TempDir()
	for i, b := range badNames {
		dir := writeTables(t, fixture())
		// The file named as its table: the message names <table>.csv line N.
		sub := filepath.Join(in, string(rune('a'+i)))
		os.MkdirAll(sub, 0o755)
		body := nodelistHeader + `"n1","compute,all",,,,,,,,,,,` + "\n" + `"n2","compute,all",,,,,,,,,,,` + "\n" + `"` + b.name + `","compute",,,,,,,,,,,` + "\n"
		f := filepath.Join(sub, "nodelist.csv")
		os.WriteFile(f, []byte(body), 0o644)
		before := storeFiles(t, dir)
		r := cliRun(t, dir, "", "tabrestore", f)
		if want := "Error: nodelist.csv line 4: node name "; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, b.rule) {
			t.Errorf("tabrestore with node %q: exit %d, stderr %q; want %q and %q", b.name, r.code, r.stderr, want, b.rule)
		}
		sameFiles(t, before, storeFiles(t, dir))
		// Another file name, appended, a group: the message names that file and its line.
		g := filepath.Join(sub, "nodelist.more.csv")
		os.WriteFile(g, []byte("#node,groups\n\"n8\",\"all\"\n\"n9\",\"all,"+b.name+"\"\n"), 0o644)
		r = cliRun(t, dir, "", "tabrestore", "-a", g)
		if want := "Error: " + g + " line 3: group name "; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, b.rule) {
			t.Errorf("tabrestore -a with group %q: exit %d, stderr %q; want %q and %q", b.name, r.code, r.stderr, want, b.rule)
		}
		sameFiles(t, before, storeFiles(t, dir))
		// An image name.
		o := filepath.Join(sub, "osimage.csv")
		os.WriteFile(o, []byte("#imagename,osvers,osarch,profile\n\""+b.name+"\",\"rhels8.6\",\"x86_64\",\"compute\"\n"), 0o644)
		r = cliRun(t, dir, "", "tabrestore", "-a", o)
		if want := "Error: " + o + " line 2: image name "; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, b.rule) {
			t.Errorf("tabrestore -a with image %q: exit %d, stderr %q; want %q and %q", b.name, r.code, r.stderr, want, b.rule)
		}
		sameFiles(t, before, storeFiles(t, dir))
	}
	dir := writeTables(t, fixture())
	var body strings.Builder
	body.WriteString("#node,groups\n")
	for _, g := range goodNames {
		body.WriteString(`"` + g + `","compute,all"` + "\n")
	}
	f := filepath.Join(in, "nodelist.csv")
	os.WriteFile(f, []byte(body.String()), 0o644)
	mustRun(t, dir, "tabrestore", f)
}

// TestNamesTabedit: an edit that adds a bad name is refused with the edited file's CSV
// line and the rule; answering n leaves the table unchanged.
func TestNamesTabedit(t *testing.T) {
	for _, b := range append(badNames, struct{ name, rule string }{}) {
		good := b.name == ""
		name := b.name
		if good {
			name = "rack1.n2"
		}
		dir := writeTables(t, fixture())
		// The table has 4 nodes (lines 2-5): the new one is line 6.
		script, _ := editorScript(t, `$a "`+name+`","compute",,,,,,,,,,,`)
		t.Setenv("VISUAL", "")
		t.Setenv("EDITOR", script)
		before := storeFiles(t, dir)
		stdin := "n\n" // to "Edit again?"
		if good {
			stdin = "y\n" // to "Apply these changes?"
		}
		r := cliRun(t, dir, stdin, "tabedit", "nodelist")
		if good {
			if r.code != 0 || r.stderr != "" || !hasLine(mustRun(t, dir, "tabdump", "nodelist"), `"rack1.n2","compute",,,,,,,,,,,`) {
				t.Errorf("tabedit adding rack1.n2: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			continue
		}
		if want := "Error: nodelist.csv line 6: node name "; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, b.rule) {
			t.Errorf("tabedit adding %q: exit %d, stderr %q; want %q and %q", b.name, r.code, r.stderr, want, b.rule)
		}
		if !strings.Contains(r.stdout, "Edit again?") {
			t.Errorf("tabedit adding %q did not offer to edit again:\n%s", b.name, r.stdout)
		}
		sameFiles(t, before, storeFiles(t, dir))
	}
}

// TestNamesInStoreAreCLIErrors: tables already holding a bad name (edited on disk by
// hand) are an error for the commands that use them, naming table, line and rule; tabdump
// and tabedit still work, so that the name can be fixed.
func TestNamesInStoreAreCLIErrors(t *testing.T) {
	for _, b := range badNames {
		fx := fixture()
		fx["nodelist"] += `"` + b.name + `","compute,all"` + "\n"
		fx["hosts"] = "#node,ip\n\"" + b.name + "\",\"10.9.0.1\"\n"
		dir := writeTables(t, fx)
		for _, args := range [][]string{{"nodels"}, {"litefile", "n1"}, {"explain", "n1", "/etc/hosts"}, {"lslite", "compute"}} {
			r := cliRun(t, dir, "", args...)
			if r.code != 1 || !strings.Contains(r.stderr, "Error: nodelist.csv line 6: node name ") || !strings.Contains(r.stderr, "Error: hosts.csv line 2: node or group name ") ||
				!strings.Contains(r.stderr, b.rule) || r.stdout != "" {
				t.Errorf("%s with node %q in the tables: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), b.name, r.code, r.stdout, r.stderr)
			}
		}
		if out := mustRun(t, dir, "tabdump", "nodelist"); !strings.Contains(out, b.name) {
			t.Errorf("tabdump nodelist does not show %q:\n%s", b.name, out)
		}
		// The fix: tabedit deletes the bad row of nodelist, chtab -d the hosts row; then
		// the tables are usable again.
		script, _ := editorScript(t, `6d`)
		t.Setenv("VISUAL", "")
		t.Setenv("EDITOR", script)
		r := cliRun(t, dir, "", "tabedit", "-y", "nodelist")
		if r.code != 1 || !strings.Contains(r.stderr, "Error: hosts.csv line 2: node or group name ") {
			t.Errorf("tabedit nodelist with hosts still bad: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		// chtab -d cannot match a name with a comma or "=", but these have none.
		r = cliRun(t, dir, "", "chtab", "-d", "node="+b.name, "hosts", "nodelist")
		if r.code != 0 {
			t.Errorf("chtab -d node=%s hosts nodelist: exit %d\n%s%s", b.name, r.code, r.stdout, r.stderr)
		}
		if out := mustRun(t, dir, "nodels"); out != "n1\nn2\nn3\nn4\n" {
			t.Errorf("nodels after the fix:\n%s", out)
		}
	}
}

// TestNamesLiveEditRejected: a hand edit of the tables that adds a node whose name is not
// a host name, with an address (so that it could mount), is a rejected edit for the
// running server: logged with table, line and rule, shown by status, and the last good
// tables stay in force until the edit is undone.
func TestNamesLiveEditRejected(t *testing.T) {
	ls := startServe(t)
	m := ls.status(t)
	before := gen(m)
	nl, hosts := filepath.Join(ls.tables, "nodelist.csv"), filepath.Join(ls.tables, "hosts.csv")
	origNL, origHosts := readFile(t, nl), readFile(t, hosts)
	for i, b := range badNames {
		// Rewritten in place (another file, renamed over), as editors do.
		write := func(p, body string) {
			tmp := p + ".tmp"
			if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}
		write(hosts, origHosts+`"`+b.name+`","127.0.0.13",,`+"\n")
		write(nl, origNL+`"`+b.name+`","compute,all",,,,,,,,,,,`+"\n")
		ls.waitStatus(t, "edit with node "+b.name, func(m map[string]any) bool {
			st := ls.run(t, "", "status").stdout
			return m["pending"] != nil && strings.Contains(st, "nodelist.csv line 4: node name ")
		})
		st := ls.run(t, "", "status").stdout
		for _, want := range []string{"generation:  " + itoa(before) + " in force", "PENDING:", "nodelist.csv line 4: node name ", "hosts.csv line 4: node or group name ", b.rule} {
			if !strings.Contains(st, want) {
				t.Errorf("node %q: status lacks %q:\n%s", b.name, want, st)
			}
		}
		if log := ls.stderr.String(); strings.Count(log, `msg="table change rejected: the last good tables stay in force" table=nodelist line=4 reason="node name `) != i+1 {
			t.Errorf("node %q: the log lacks the rejection with table, line and rule:\n%s", b.name, log)
		}
		// Undone: the generation in force never moved.
		write(nl, origNL)
		write(hosts, origHosts)
		m = ls.waitStatus(t, "undo", func(m map[string]any) bool { return m["pending"] == nil })
		if gen(m) != before {
			t.Errorf("node %q: generation %d after the undo, want %d", b.name, gen(m), before)
		}
	}
	// A good name after all that is taken.
	if r := ls.run(t, "", "chtab", "node=rack1.n3", "nodelist.groups=compute,all", "hosts.ip=127.0.0.13"); r.code != 0 {
		t.Fatalf("chtab rack1.n3: %+v", r)
	}
	ls.waitStatus(t, "good name", func(m map[string]any) bool { return gen(m) == before+1 })
}

func itoa(i int) string { return strconv.Itoa(i) }
