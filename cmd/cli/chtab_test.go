package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeFiles returns the content of every file of a table directory, for "nothing
// changed" checks (the lock file excluded).
func storeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		if e.Name() == ".lock" || e.IsDir() {
			continue
		}
		m[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
	}
	return m
}

func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	for n, b := range before {
		if a, ok := after[n]; !ok {
			t.Errorf("%s disappeared", n)
		} else if a != b {
			t.Errorf("%s changed:\n--- before ---\n%s--- after ---\n%s", n, b, a)
		}
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			t.Errorf("%s appeared", n)
		}
	}
}

// tableCase is one sequence of CLI runs on a fresh copy of the fixture, then checks on
// one table's tabdump.
type tableCase struct {
	name      string
	runs      [][]string // all but the last must succeed
	code      int        // exit code of the last run
	wantErr   []string   // texts stderr of the last run must hold
	table     string     // table to dump after the runs
	want      string     // exact tabdump, when set
	has       []string   // lines the dump must hold
	hasNot    []string   // lines the dump must not hold
	unchanged bool       // the last run must leave every store file byte-identical
}

func runTableCases(t *testing.T, tests []tableCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTables(t, fixture())
			for _, args := range tc.runs[:len(tc.runs)-1] {
				mustRun(t, dir, args...)
			}
			before := storeFiles(t, dir)
			last := tc.runs[len(tc.runs)-1]
			r := cliRun(t, dir, "", last...)
			if r.code != tc.code {
				t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(last, " "), r.code, tc.code, r.stdout, r.stderr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if len(tc.wantErr) == 0 && r.stderr != "" {
				t.Errorf("unexpected stderr:\n%s", r.stderr)
			}
			if tc.unchanged {
				sameFiles(t, before, storeFiles(t, dir))
			}
			if tc.table == "" {
				return
			}
			dump := mustRun(t, dir, "tabdump", tc.table)
			if tc.want != "" && dump != tc.want {
				t.Errorf("tabdump %s:\n%s--- want ---\n%s", tc.table, dump, tc.want)
			}
			for _, l := range tc.has {
				if !hasLine(dump, l) {
					t.Errorf("tabdump %s lacks %q:\n%s", tc.table, l, dump)
				}
			}
			for _, l := range tc.hasNot {
				if hasLine(dump, l) {
					t.Errorf("tabdump %s still holds %q:\n%s", tc.table, l, dump)
				}
			}
		})
	}
}

const nodelistHeader = "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n"

func TestChtab(t *testing.T) {
	runTableCases(t, []tableCase{
		{
			name:  "insert",
			runs:  [][]string{{"chtab", "node=n5", "nodelist.groups=compute"}},
			table: "nodelist",
			want: nodelistHeader +
				`"n1","compute,all",,,,,,,,,,,` + "\n" +
				`"n2","compute,all",,,,,,,,,,,` + "\n" +
				`"n3","other,all",,,,,,,,,,,` + "\n" +
				`"n4","loners",,,,,,,,,,,` + "\n" +
				`"n5","compute",,,,,,,,,,,` + "\n",
		},
		{
			name:  "insert into a never-written table",
			runs:  [][]string{{"chtab", "node=n1", "hosts.ip=10.1.0.1", "hosts.comments=say \"hi\""}},
			table: "hosts",
			want:  "#node,ip,hostnames,otherinterfaces,comments,disable\n" + `"n1","10.1.0.1",,,"say ""hi""",` + "\n",
		},
		{
			name:   "update",
			runs:   [][]string{{"chtab", "node=n1", "nodelist.groups=compute,all,rack1"}},
			table:  "nodelist",
			has:    []string{`"n1","compute,all,rack1",,,,,,,,,,,`, `"n2","compute,all",,,,,,,,,,,`},
			hasNot: []string{`"n1","compute,all",,,,,,,,,,,`},
		},
		{
			name:  "update two tables at once",
			runs:  [][]string{{"chtab", "node=n2", "nodepos.room=kyoto", "nodetype.os=rhels9"}},
			table: "nodepos",
			has:   []string{`"n1","r07",,,,"tokyo",,,`, `"n2","r01",,,,"kyoto",,,`},
		},
		{
			name:  "update two tables at once, second table",
			runs:  [][]string{{"chtab", "node=n2", "nodepos.room=kyoto", "nodetype.os=rhels9"}},
			table: "nodetype",
			has:   []string{`"compute","rhels8.6","x86_64","compute",,,,,`, `"n2","rhels9",,,,,,,`},
		},
		{
			name:  "append to a list",
			runs:  [][]string{{"chtab", "node=n1", "nodelist.groups+=rack1"}},
			table: "nodelist",
			has:   []string{`"n1","compute,all,rack1",,,,,,,,,,,`},
		},
		{
			name: "append an item already present",
			runs: [][]string{
				{"chtab", "node=n1", "nodelist.groups+=rack1"},
				{"chtab", "node=n1", "nodelist.groups+=rack1"},
			},
			table: "nodelist",
			has:   []string{`"n1","compute,all,rack1",,,,,,,,,,,`},
		},
		{
			name:  "append an item of the original list",
			runs:  [][]string{{"chtab", "node=n1", "nodelist.groups+=compute"}},
			table: "nodelist",
			has:   []string{`"n1","compute,all",,,,,,,,,,,`},
		},
		{
			name:  "append to a new row",
			runs:  [][]string{{"chtab", "node=n5", "nodelist.groups+=all"}},
			table: "nodelist",
			has:   []string{`"n5","all",,,,,,,,,,,`},
		},
		{
			name:   "delete",
			runs:   [][]string{{"chtab", "-d", "node=n2", "nodelist"}},
			table:  "nodelist",
			want:   nodelistHeader + `"n1","compute,all",,,,,,,,,,,` + "\n" + `"n3","other,all",,,,,,,,,,,` + "\n" + `"n4","loners",,,,,,,,,,,` + "\n",
			hasNot: []string{`"n2","compute,all",,,,,,,,,,,`},
		},
		{
			name:  "multi-key update",
			runs:  [][]string{{"chtab", "image=ALL,file=/etc/hosts", "litefile.options=tmpfs"}},
			table: "litefile",
			has:   []string{`"ALL","/etc/hosts","tmpfs","say ""hi"", ok",`, `"ALL","/etc/motd","ro",,`},
		},
		{
			name: "multi-key update back",
			runs: [][]string{
				{"chtab", "image=ALL,file=/etc/hosts", "litefile.options=tmpfs"},
				{"chtab", "image=ALL,file=/etc/hosts", "litefile.options=ro"},
			},
			table: "litefile",
			has:   []string{`"ALL","/etc/hosts","ro","say ""hi"", ok",`},
		},
		{
			name:  "multi-key insert",
			runs:  [][]string{{"chtab", "image=ALL,file=/etc/new", "litefile.options=ro"}},
			table: "litefile",
			has:   []string{`"ALL","/etc/new","ro",,`, `"ALL","/etc/hosts","ro","say ""hi"", ok",`},
		},
		{
			name:  "multi-key delete",
			runs:  [][]string{{"chtab", "-d", "image=rhgroup,file=/etc/motd", "litefile"}},
			table: "litefile",
			has:   []string{`"ALL","/etc/motd","ro",,`},
			hasNot: []string{
				`"rhgroup","/etc/motd","con",,`,
			},
		},
		{
			name:      "bad column",
			runs:      [][]string{{"chtab", "node=n1", "nodelist.bogus=1"}},
			code:      1,
			wantErr:   []string{"nodelist", `"bogus"`},
			unchanged: true,
		},
		{
			name:      "bad table",
			runs:      [][]string{{"chtab", "node=n1", "bogus.groups=1"}},
			code:      1,
			wantErr:   []string{`"bogus"`},
			unchanged: true,
		},
		{
			name:      "key column missing from the table",
			runs:      [][]string{{"chtab", "node=n1", "litefile.options=ro"}},
			code:      1,
			wantErr:   []string{"litefile", `"node"`},
			unchanged: true,
		},
		{
			name:      "invalid option",
			runs:      [][]string{{"chtab", "image=ALL,file=/etc/adjtime", "litefile.options=tmpfs,ro"}},
			code:      1,
			wantErr:   []string{"litefile.csv line 2", `"tmpfs,ro"`},
			unchanged: true,
			table:     "litefile",
			has:       []string{`"ALL","/etc/adjtime",,,`},
		},
		{
			name: "invalid option after an earlier edit",
			runs: [][]string{
				{"chtab", "node=n5", "nodelist.groups=compute"},
				{"chtab", "image=ALL,file=/etc/hosts", "litefile.options=bind,ro"},
			},
			code:      1,
			wantErr:   []string{"litefile.csv line 4", `"bind,ro"`},
			unchanged: true,
		},
		{
			name:      "relative path in a new row",
			runs:      [][]string{{"chtab", "image=ALL,file=etc/x", "litefile.options=ro"}},
			code:      1,
			wantErr:   []string{"litefile", "etc/x", "absolute"},
			unchanged: true,
		},
		{
			name:      "child of a read-only directory",
			runs:      [][]string{{"chtab", "image=ALL,file=/opt/app/x.cfg", "litefile.options=tmpfs"}},
			code:      1,
			wantErr:   []string{"litefile", "/opt/app/"},
			unchanged: true,
		},
		{
			name:      "CMD refused",
			runs:      [][]string{{"chtab", "priority=20", "litetree.directory=/x/#CMD=uname -r#/"}},
			code:      1,
			wantErr:   []string{"litetree"},
			unchanged: true,
		},
	})
}

func TestTabrestore(t *testing.T) {
	in := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(in, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	replacement := write("litefile.csv", "#file,image\n\"/etc/a\",\"ALL\"\n\"/etc/b/\",\"ALL\"\n")
	other := write("litefile.anything", "#image,file,options,comments,disable\n\"ALL\",\"/etc/c\",\"persistent\",,\n")
	// The Cookbook's sample as printed: blanks after the commas (xCAT's tabrestore, docs/behaviour.md#table-text).
	cookbook := write("cookbook/litefile.csv", "#image,file,options,comments,disable\n\"ALL\",\"/etc/adjtime\",,,\n\"ALL\", \"/etc/fstab\", , ,\n")
	badOpt := write("bad/litefile.csv", "#image,file,options\n\"ALL\",\"/etc/x\",\"tmpfs\"\n\"ALL\",\"/etc/y\",\"bind,ro\"\n")
	tooMany := write("many/litefile.csv", "#image,file\n\"ALL\",\"/etc/x\",\"ro\"\n")
	dup := write("dup/litefile.csv", "#image,file\n\"ALL\",\"/etc/adjtime\"\n")
	unknown := write("nosuch.csv", "#node\n\"x\"\n")

	runTableCases(t, []tableCase{
		{
			name:  "replace",
			runs:  [][]string{{"tabrestore", replacement}},
			table: "litefile",
			want:  "#image,file,options,comments,disable\n\"ALL\",\"/etc/a\",,,\n\"ALL\",\"/etc/b/\",,,\n",
		},
		{
			name:  "append",
			runs:  [][]string{{"tabrestore", "-a", replacement}},
			table: "litefile",
			has:   []string{`"ALL","/etc/adjtime",,,`, `"ALL","/etc/a",,,`, `"ALL","/etc/b/",,,`},
		},
		{
			name:  "table named by the file up to its first dot",
			runs:  [][]string{{"tabrestore", other}},
			table: "litefile",
			want:  "#image,file,options,comments,disable\n\"ALL\",\"/etc/c\",\"persistent\",,\n",
		},
		{
			name:      "cookbook blank after comma",
			runs:      [][]string{{"tabrestore", cookbook}},
			code:      1,
			wantErr:   []string{"line 3", `missing opening "`},
			unchanged: true,
			table:     "litefile",
			hasNot:    []string{`"ALL","/etc/fstab",,,`},
		},
		{
			name:      "cookbook blank after comma, append",
			runs:      [][]string{{"tabrestore", "-a", cookbook}},
			code:      1,
			wantErr:   []string{"line 3", `missing opening "`},
			unchanged: true,
		},
		{
			name:      "invalid option",
			runs:      [][]string{{"tabrestore", badOpt}},
			code:      1,
			wantErr:   []string{"line 3", `"bind,ro"`},
			unchanged: true,
			table:     "litefile",
			hasNot:    []string{`"ALL","/etc/x","tmpfs",,`},
		},
		{
			name:      "too many fields",
			runs:      [][]string{{"tabrestore", tooMany}},
			code:      1,
			wantErr:   []string{"line 2", "Too many fields"},
			unchanged: true,
		},
		{
			name:      "append a duplicate key",
			runs:      [][]string{{"tabrestore", "-a", dup}},
			code:      1,
			wantErr:   []string{"duplicate key"},
			unchanged: true,
		},
		{
			name:      "unknown table",
			runs:      [][]string{{"tabrestore", unknown}},
			code:      1,
			wantErr:   []string{`"nosuch"`},
			unchanged: true,
		},
	})
}

// editorScript writes a shell script that tabedit runs as $EDITOR: each run increments a
// counter file and runs the sed expression for that run number (the last one again for
// later runs). It returns the script and the counter file.
func editorScript(t *testing.T, seds ...string) (script, counter string) {
	t.Helper()
	d := t.TempDir()
	counter = filepath.Join(d, "runs")
	var b strings.Builder
	b.WriteString("#!/bin/sh\nset -e\n")
	b.WriteString("n=$(cat '" + counter + "' 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > '" + counter + "'\n")
	b.WriteString("case $n in\n")
	for i, s := range seds {
		pat := "*"
		if i < len(seds)-1 {
			pat = string(rune('1' + i))
		}
		b.WriteString(pat + ") ")
		if s == "" {
			b.WriteString(":")
		} else {
			b.WriteString("sed -i '" + s + "' \"$1\"")
		}
		b.WriteString(" ;;\n")
	}
	b.WriteString("esac\n")
	script = filepath.Join(d, "editor.sh")
	if err := os.WriteFile(script, []byte(b.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, counter
}

func TestTabedit(t *testing.T) {
	const (
		toTmpfs   = `s|"/etc/adjtime",,|"/etc/adjtime","tmpfs",|`
		toBad     = `s|"/etc/adjtime",,|"/etc/adjtime","tmpfs,ro",|`
		fixBad    = `s|"tmpfs,ro"|"tmpfs"|`
		adjTmpfs  = `"ALL","/etc/adjtime","tmpfs",,`
		adjOrig   = `"ALL","/etc/adjtime",,,`
		badReason = `"tmpfs,ro"`
	)
	tests := []struct {
		name      string
		seds      []string
		stdin     string
		code      int
		runs      string // editor runs
		stdout    []string
		stderr    []string
		has       string // line the litefile dump must hold afterwards
		unchanged bool
	}{
		{name: "success", seds: []string{toTmpfs}, stdin: "y\n", runs: "1", has: adjTmpfs,
			stdout: []string{"Table changes: litefile +0 -0 ~1", "/etc/adjtime tmpfs,rw → tmpfs", "Apply these changes to table litefile? [y/N]"}},
		{name: "valid, answer n", seds: []string{toTmpfs}, stdin: "n\n", code: 1, runs: "1", has: adjOrig, unchanged: true,
			stdout: []string{"/etc/adjtime tmpfs,rw → tmpfs", "Not applied; table litefile is unchanged."}},
		{name: "valid, end of input", seds: []string{toTmpfs}, stdin: "", code: 1, runs: "1", has: adjOrig, unchanged: true,
			stdout: []string{"Not applied"}},
		{name: "no changes", seds: []string{""}, runs: "1", stdout: []string{"No changes"}, has: adjOrig, unchanged: true},
		{name: "invalid, answer n", seds: []string{toBad}, stdin: "n\n", code: 1, runs: "1",
			stdout: []string{"Edit again?", "unchanged"}, stderr: []string{"litefile.csv line 2", badReason}, has: adjOrig, unchanged: true},
		{name: "invalid, end of input", seds: []string{toBad}, stdin: "", code: 1, runs: "1",
			stderr: []string{badReason}, has: adjOrig, unchanged: true},
		{name: "invalid, answer y, fixed", seds: []string{toBad, fixBad}, stdin: "y\ny\n", runs: "2",
			stdout: []string{"Edit again?"}, stderr: []string{badReason}, has: adjTmpfs},
		{name: "invalid, answer y, reverted", seds: []string{toBad, `s|"/etc/adjtime","tmpfs,ro",|"/etc/adjtime",,|`}, stdin: "y\n", runs: "2",
			stdout: []string{"No changes"}, stderr: []string{badReason}, has: adjOrig, unchanged: true},
		{name: "parse error, answer y, fixed", seds: []string{`s|^"ALL","/etc/adjtime"|"ALL", "/etc/adjtime"|`, `s|^"ALL", "/etc/adjtime"|"ALL","/etc/adjtime"|;` + toTmpfs}, stdin: "y\ny\n", runs: "2",
			stderr: []string{"line 2", `missing opening "`}, has: adjTmpfs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTables(t, fixture())
			script, counter := editorScript(t, tc.seds...)
			t.Setenv("VISUAL", "")
			t.Setenv("EDITOR", script)
			before := storeFiles(t, dir)
			r := cliRun(t, dir, tc.stdin, "tabedit", "litefile")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if got := strings.TrimSpace(readFile(t, counter)); got != tc.runs {
				t.Errorf("editor ran %s times, want %s", got, tc.runs)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if len(tc.stderr) == 0 && r.stderr != "" {
				t.Errorf("unexpected stderr:\n%s", r.stderr)
			}
			if tc.unchanged {
				sameFiles(t, before, storeFiles(t, dir))
			}
			if dump := mustRun(t, dir, "tabdump", "litefile"); !hasLine(dump, tc.has) {
				t.Errorf("litefile lacks %q:\n%s", tc.has, dump)
			}
		})
	}
}

// TestTabeditConflict: a table changed by someone else while the editor runs is not
// overwritten by the edit.
func TestTabeditConflict(t *testing.T) {
	bin := needBinary(t)
	dir := writeTables(t, fixture())
	d := t.TempDir()
	script := filepath.Join(d, "editor.sh")
	body := "#!/bin/sh\nset -e\n'" + bin + "' --tables '" + dir + "' chtab image=ALL,file=/etc/other litefile.options=ro\n" +
		`sed -i 's|"/etc/adjtime",,|"/etc/adjtime","tmpfs",|' "$1"` + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", script)
	r := cliRun(t, dir, "", "tabedit", "litefile")
	if r.code != 1 || !strings.Contains(r.stderr, "changed by someone else") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	dump := mustRun(t, dir, "tabdump", "litefile")
	if !hasLine(dump, `"ALL","/etc/other","ro",,`) || !hasLine(dump, `"ALL","/etc/adjtime",,,`) {
		t.Errorf("the other change must stay and the edit must not be saved:\n%s", dump)
	}
}

func TestTabdumpToFile(t *testing.T) {
	dir := writeTables(t, fixture())
	want := mustRun(t, dir, "tabdump", "-w", "options=~^link", "litefile")
	if !hasLine(want, `"ALL","/root/.ssh/","link,persistent",,`) || strings.Count(want, "\n") != 3 {
		t.Errorf("tabdump -w options=~^link:\n%s", want)
	}
	out := filepath.Join(t.TempDir(), "litefile.csv")
	if got := mustRun(t, dir, "tabdump", "-f", out, "-w", "options=~^link", "litefile"); got != "" {
		t.Errorf("tabdump -f printed %q", got)
	}
	if got := readFile(t, out); got != want {
		t.Errorf("tabdump -f wrote:\n%s--- want ---\n%s", got, want)
	}
	// What tabdump writes, tabrestore reads back unchanged.
	other := writeTables(t, fixture())
	mustRun(t, other, "tabrestore", out)
	if got := mustRun(t, other, "tabdump", "litefile"); got != want {
		t.Errorf("round trip:\n%s--- want ---\n%s", got, want)
	}
}
