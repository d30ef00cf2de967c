package cli_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"statelite/cmd/cli"
)

func TestInstallLinks(t *testing.T) {
	bin := needBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tabs := writeTables(t, fixture())
	links := filepath.Join(t.TempDir(), "bin")
	for round := 1; round <= 2; round++ { // a second run finds the links right
		out, err := exec.CommandContext(ctx, bin, "install-links", links).CombinedOutput()
		if err != nil {
			t.Fatalf("install-links (run %d): %v\n%s", round, err, out)
		}
		for _, c := range cli.LinkCommands {
			l := filepath.Join(links, c)
			if !hasLine(string(out), l+" -> "+bin) {
				t.Errorf("run %d: output lacks %q:\n%s", round, l+" -> "+bin, out)
			}
			if dst, err := os.Readlink(l); err != nil || dst != bin {
				t.Errorf("run %d: %s -> %q, %v; want a link to %s", round, l, dst, err, bin)
			}
		}
	}

	want := mustRun(t, tabs, "tabdump", "litefile")
	out, err := exec.CommandContext(ctx, filepath.Join(links, "tabdump"), "--tables", tabs, "litefile").Output()
	if err != nil {
		t.Fatalf("tabdump link: %v", err)
	}
	if string(out) != want {
		t.Errorf("tabdump link printed:\n%s--- want ---\n%s", out, want)
	}
	out, err = exec.CommandContext(ctx, filepath.Join(links, "litefile"), "--tables", tabs, "n1").Output()
	if err != nil || !hasLine(string(out), "n1: tmpfs,rw      /etc/adjtime") {
		t.Errorf("litefile link: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(links, "tabdump"), "litefile")
	cmd.Env = append(os.Environ(), "STATELITE_TABLES="+tabs)
	if out, err := cmd.Output(); err != nil || string(out) != want {
		t.Errorf("tabdump link with $STATELITE_TABLES: %v\n%s", err, out)
	}

	for _, c := range []string{"nodeset", "genimage", "makedhcp", "nodediscoverls"} {
		if dst, err := os.Readlink(filepath.Join(links, c)); err != nil || dst != bin {
			t.Errorf("%s: %q, %v", c, dst, err)
		}
	}

	// Files in the way: each is reported and left alone, every other link is made, and
	// the command fails naming them; --force replaces all but a directory.
	blocked := t.TempDir()
	if err := os.WriteFile(filepath.Join(blocked, "chtab"), []byte("mine"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/opt/xcat/bin/xcatclient", filepath.Join(blocked, "tabdump"))
	os.Mkdir(filepath.Join(blocked, "nodels"), 0o755)
	os.Symlink("/usr/local/bin/statelite", filepath.Join(blocked, "nodeset")) // an older install: updated
	os.Symlink(bin, filepath.Join(blocked, "litefile"))                       // already right
	out, err = exec.CommandContext(ctx, bin, "install-links", blocked).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "3 of 18 links not made") || !strings.Contains(string(out), "tabdump, chtab, nodels") ||
		!strings.Contains(string(out), "nodels") || !strings.Contains(string(out), "--force") {
		t.Errorf("install-links over files in the way: %v\n%s", err, out)
	}
	for _, l := range []string{"chtab: in the way: a regular file", "tabdump: in the way: a link to /opt/xcat/bin/xcatclient", "nodels: in the way: a directory"} {
		if !strings.Contains(string(out), filepath.Join(blocked, l)) {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
	if got := readFile(t, filepath.Join(blocked, "chtab")); got != "mine" {
		t.Errorf("regular file replaced: %q", got)
	}
	if dst, _ := os.Readlink(filepath.Join(blocked, "tabdump")); dst != "/opt/xcat/bin/xcatclient" {
		t.Errorf("a foreign link replaced: %q", dst)
	}
	for _, c := range cli.LinkCommands {
		if c == "chtab" || c == "tabdump" || c == "nodels" {
			continue
		}
		if dst, err := os.Readlink(filepath.Join(blocked, c)); err != nil || dst != bin {
			t.Errorf("%s not made beside the clashes: %q, %v", c, dst, err)
		}
	}
	if !hasLine(string(out), filepath.Join(blocked, "nodeset")+" -> "+bin+" (replaced a link to /usr/local/bin/statelite)") {
		t.Errorf("the older statelite link was not updated:\n%s", out)
	}
	out, err = exec.CommandContext(ctx, bin, "install-links", "--force", blocked).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "1 of 18 links not made") || !strings.Contains(string(out), ": nodels (--force") {
		t.Errorf("install-links --force with a directory in the way: %v\n%s", err, out)
	}
	for _, c := range []string{"chtab", "tabdump"} {
		if dst, err := os.Readlink(filepath.Join(blocked, c)); err != nil || dst != bin {
			t.Errorf("--force: %s -> %q, %v", c, dst, err)
		}
	}
	os.Remove(filepath.Join(blocked, "nodels"))
	if out, err := exec.CommandContext(ctx, bin, "install-links", blocked).CombinedOutput(); err != nil || strings.Count(string(out), " -> "+bin+"\n") != 18 {
		t.Errorf("install-links once nothing is in the way: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(blocked); len(ents) != 18 {
		t.Errorf("%d entries in the link directory, want 18 (no temporary left)", len(ents))
	}
}

// Every link name is a command of the CLI (and a link named after it runs it).
func TestLinkCommandsExist(t *testing.T) {
	root := cli.NewRoot(strings.NewReader(""), io.Discard, io.Discard)
	for _, c := range cli.LinkCommands {
		cmd, _, err := root.Find([]string{c})
		if err != nil || cmd.Name() != c {
			t.Errorf("link name %s is no command of the CLI (%v)", c, err)
		}
	}
	dir := writeTables(t, fixture())
	if r := cliRunAs(t, "/usr/local/bin/nodeset", dir, "", "n1", "stat"); r.code != 0 || !strings.HasPrefix(r.stdout, "n1: ") {
		t.Errorf("nodeset through a link: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestLinkNameInProcess: args[0] named after a command selects it, with any directory.
func TestLinkNameInProcess(t *testing.T) {
	dir := writeTables(t, fixture())
	want := mustRun(t, dir, "tabdump", "litefile")
	for _, prog := range []string{"tabdump", "/usr/local/bin/tabdump", "./tabdump"} {
		r := cliRunAs(t, prog, dir, "", "litefile")
		if r.code != 0 || r.stdout != want {
			t.Errorf("%s litefile: exit %d\n%s%s", prog, r.code, r.stdout, r.stderr)
		}
	}
	r := cliRunAs(t, "/x/lslite", dir, "", "-i", "nosuch")
	if r.code != 1 || !strings.Contains(r.stderr, "The osimage named 'nosuch' is not defined.") {
		t.Errorf("lslite link: exit %d\n%s", r.code, r.stderr)
	}
}

func TestNodels(t *testing.T) {
	dir := writeTables(t, fixture())
	tests := []struct {
		args    []string
		want    string
		code    int
		wantErr string
	}{
		{args: []string{"nodels"}, want: "n1\nn2\nn3\nn4\n"},
		{args: []string{"nodels", "compute"}, want: "n1\nn2\n"},
		{args: []string{"nodels", "n[1-3],-n2"}, want: "n1\nn3\n"},
		{args: []string{"nodels", "all@compute"}, want: "n1\nn2\n"},
		{args: []string{"nodels", "nodepos.room==tokyo"}, want: "n1\n"},
		{args: []string{"nodels", "n1", "nodetype.os"}, want: "n1: rhels8.6\n"},
		{args: []string{"nodels", "compute", "nodepos.room"}, want: "n1: tokyo\nn2: osaka\n"},
		{args: []string{"nodels", "n1", "nodetype.os", "nodepos.room"}, want: "n1: nodetype.os: rhels8.6\nn1: nodepos.room: tokyo\n"},
		{args: []string{"nodels", "zz"}, code: 1, wantErr: "Error: Invalid nodes in noderange:zz"},
		// A whole table, as xCAT's nodels: every column in the table's order, the key
		// column naming the node, values inherited from groups, empty ones empty.
		{args: []string{"nodels", "n1", "nodetype"}, want: "n1: nodetype.node: n1\nn1: nodetype.os: rhels8.6\nn1: nodetype.arch: x86_64\n" +
			"n1: nodetype.profile: compute\nn1: nodetype.provmethod: \nn1: nodetype.supportedarchs: \nn1: nodetype.nodetype: \n" +
			"n1: nodetype.comments: \nn1: nodetype.disable: \n"},
		{args: []string{"nodels", "n1,n2", "nodepos", "nodetype.os"}, want: "n1: nodepos.node: n1\nn1: nodepos.rack: r07\nn1: nodepos.u: \nn1: nodepos.chassis: \n" +
			"n1: nodepos.slot: \nn1: nodepos.room: tokyo\nn1: nodepos.height: \nn1: nodepos.comments: \nn1: nodepos.disable: \nn1: nodetype.os: rhels8.6\n" +
			"n2: nodepos.node: n2\nn2: nodepos.rack: r01\nn2: nodepos.u: \nn2: nodepos.chassis: \nn2: nodepos.slot: \nn2: nodepos.room: osaka\n" +
			"n2: nodepos.height: \nn2: nodepos.comments: \nn2: nodepos.disable: \nn2: nodetype.os: rhels8.6\n"},
		{args: []string{"nodels", "n1", "site"}, code: 1, wantErr: "not keyed by node"},
		{args: []string{"nodels", "n1", "bogus"}, code: 1, wantErr: "bogus"},
		{args: []string{"nodels", "n1", "nodetype.bogus"}, code: 1, wantErr: "nodetype.bogus"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := cliRun(t, dir, "", tc.args...)
			if r.code != tc.code || r.stdout != tc.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s--- want ---\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, tc.want, r.stderr)
			}
			if tc.wantErr != "" && !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, r.stderr)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	files := fixture()
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "n1", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "n1", "etc", "adjtime"), []byte("0.0 0 0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files["litetree"] += `"5","ALL","` + src + `/$node/",,,` + "\n"
	dir := writeTables(t, files)
	tests := []struct {
		node, path string
		want       []string
	}{
		{"n1", "/etc/adjtime", []string{
			"node:    n1",
			"path:    /etc/adjtime",
			"entry:   tmpfs,rw /etc/adjtime (top-level; ALL, litefile.csv line 2)",
			"class:   volatile",
			"sources:",
			"/mnt/sl/10.0.0.9/sync/tokyo/rhels8.6/x86_64/etc/adjtime missing",
			src + "/n1/etc/adjtime",
			"match",
			"not consulted: an earlier source matched",
			"served:  litetree priority 5: " + src + "/n1/etc/adjtime",
			"writes:  writable, volatile (reset at boot)",
		}},
		{"n2", "/etc/adjtime", []string{
			"node:    n2",
			src + "/n2/etc/adjtime",
			"missing",
		}},
		{"n1", "/root/.ssh/id_rsa", []string{
			"entry:   link,persistent /root/.ssh/",
			"class:   persistent",
			"writes:  writable, persistent (/mnt/sl/mn1/nodedata/n1/root/.ssh)",
		}},
		{"n4", "/root/.ssh/id_rsa", []string{
			"class:   persistent",
			"writes:  writable, volatile (reset at boot)",
			"warning: node n4 has persistent litefile entries but no statelite row",
			"error:   litetree.csv line 2 (priority 1): node n4: $nodepos.room is not set",
		}},
		{"n1", "/opt/app/x/y.cfg", []string{
			"entry:   ro /opt/app/",
			"class:   ro",
			"writes:  read-only (EROFS on write)",
		}},
		{"n1", "/etc/passwd", []string{
			"entry:   none",
			"writes:  read-only (EROFS on write)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.node+tc.path, func(t *testing.T) {
			out := mustRun(t, dir, "explain", tc.node, tc.path)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("explain lacks %q:\n%s", w, out)
				}
			}
		})
	}
	for _, bad := range []struct {
		args []string
		err  string
	}{
		{[]string{"explain", "n1", "etc/adjtime"}, "must be absolute"},
		{[]string{"explain", "n1", "./etc/adjtime"}, "must be absolute"},
		{[]string{"explain", "n3", "/etc/adjtime"}, "n3 does not have os, arch, or profile defined in nodetype table"},
		{[]string{"explain", "zz", "/etc/adjtime"}, "zz"},
		{[]string{"explain", "n1"}, "arg"},
	} {
		r := cliRun(t, dir, "", bad.args...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, bad.err) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", bad.args, r.code, r.stdout, r.stderr, bad.err)
		}
	}
}

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	for round := 1; round <= 2; round++ { // a second run reuses the demo (TestDemoReuse)
		r := cliRun(t, "", "", "demo", "--dir", dir, "--mnt", "/mnt/sl")
		if r.code != 0 {
			t.Fatalf("demo (run %d): exit %d\n%s\n%s", round, r.code, r.stdout, r.stderr)
		}
		first := map[int]string{1: "Demo cluster built in " + dir, 2: "Reusing the demo cluster in " + dir}[round]
		for _, w := range []string{
			first,
			"nodes n1,n2",
			"== n1: ", "== n2: ",
			"$ statelite explain n1 /etc/motd",
			"Try:",
			"export STATELITE_TABLES=" + filepath.Join(dir, "tables"),
			" lslite n1\n",
			" litetree n1,n2\n",
			" explain n2 /etc/ssh/sshd_config\n",
			" tabdump litefile\n",
		} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("demo output lacks %q:\n%s", w, r.stdout)
			}
		}
	}
	tabs := filepath.Join(dir, "tables")
	out := mustRun(t, tabs, "lslite", "n1")
	for _, w := range []string{">>>Node: n1", "Osimage: demo-x86_64-statelite-compute", "        tmpfs,rw      /etc/adjtime", "        con           /etc/motd"} {
		if !hasLine(out, w) {
			t.Errorf("lslite n1 on the demo lacks %q:\n%s", w, out)
		}
	}
	mustRun(t, tabs, "litetree", "n1,n2")
	mustRun(t, tabs, "explain", "n2", "/etc/ssh/sshd_config")
	if r := cliRun(t, tabs, "", "liteimg", "demo-x86_64-statelite-compute"); r.code != 0 || !strings.Contains(r.stdout, "Nothing to bake") {
		t.Errorf("liteimg on the demo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cliRun(t, tabs, "", "liteimg", "-o", "demo", "-a", "x86_64", "-p", "compute"); r.code != 0 || !strings.HasPrefix(r.stdout, "demo-x86_64-statelite-compute: 46 litefile entries are valid") {
		t.Errorf("liteimg -o -a -p (the Cookbook's form): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cliRun(t, tabs, "", "liteimg", "-o", "demo"); r.code == 0 || !strings.Contains(r.stderr, "all three") {
		t.Errorf("liteimg -o alone must fail with a usage error: exit %d\n%s", r.code, r.stderr)
	}
}
