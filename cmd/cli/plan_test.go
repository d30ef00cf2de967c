package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// planCluster writes testdata/plan/base (with @ROOT@ replaced by a temporary directory)
// and the files its images and litetree sources hold, and returns the root and the
// table directory.
func planCluster(t *testing.T) (root, tabs string) {
	t.Helper()
	root = t.TempDir()
	tabs = filepath.Join(root, "tables")
	copyTemplates(t, filepath.Join("testdata", "plan", "base"), tabs, root)
	for _, f := range []string{
		"img/compute/rootimg/etc/ntp.conf", "img/compute/rootimg/etc/motd", "img/compute/rootimg/etc/old.conf",
		"img/compute/rootimg/var/log/messages", "img/compute/rootimg/.default/etc/motd",
		"img/login/rootimg/etc/ntp.conf", "img/login/rootimg/etc/motd", "img/login/rootimg/home/alice/.profile",
		"img/login/rootimg/var/log/messages",
		"tree/common/etc/ntp.conf", "tree/common/etc/motd", "tree/site/etc/ntp.conf", "tree/n001/etc/motd",
		"state/n002/var/log/messages",
	} {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, tabs
}

// copyTemplates copies every file of src to dst with @ROOT@ replaced by root.
func copyTemplates(t *testing.T, src, dst, root string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dst, 0o755)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), []byte(strings.ReplaceAll(string(b), "@ROOT@", root)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPlanGolden runs `statelite plan --from DIR` for each edited table set of
// testdata/plan against the base tables (refresh with -update, then read the diff).
func TestPlanGolden(t *testing.T) {
	cases := []struct {
		name string
		code int
	}{
		{"ntp_litetree", 0}, {"log_persistent", 0}, {"entries", 0}, {"nodetype", 0},
		{"statelite", 0}, {"comment_only", 0}, {"invalid", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root, tabs := planCluster(t)
			edited := filepath.Join(root, "edited")
			copyTemplates(t, filepath.Join("testdata", "plan", c.name), edited, root)
			before := storeFiles(t, tabs)
			r := cliRun(t, tabs, "", "plan", "--from", edited)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			sameFiles(t, before, storeFiles(t, tabs))
			out := r.stdout
			if r.stderr != "" {
				out += "--- stderr ---\n" + r.stderr
			}
			checkGolden(t, "plan_"+c.name, strings.ReplaceAll(out, root, "@ROOT@"))
		})
	}
}

// TestPlanWithoutFrom: without --from, plan compares the generation the server has in
// force (its history) with the store.
func TestPlanWithoutFrom(t *testing.T) {
	_, tabs := planCluster(t)
	state := t.TempDir()
	if r := cliRun(t, tabs, "", "plan", "--state", state); r.code != 1 || !strings.Contains(r.stderr, "no table history") {
		t.Errorf("plan without history: exit %d %q", r.code, r.stderr)
	}
}

// TestTabeditYes: with -y, tabedit shows the plan and applies a valid edit unasked.
func TestTabeditYes(t *testing.T) {
	dir := writeTables(t, fixture())
	script, _ := editorScript(t, `s|"/etc/adjtime",,|"/etc/adjtime","persistent",|`)
	t.Setenv("VISUAL", "")
	t.Setenv("EDITOR", script)
	r := cliRun(t, dir, "", "tabedit", "-y", "litefile")
	if r.code != 0 || r.stderr != "" || strings.Contains(r.stdout, "[y/N]") || !strings.Contains(r.stdout, "/etc/adjtime tmpfs,rw → persistent") {
		t.Fatalf("tabedit -y: %+v", r)
	}
	if dump := mustRun(t, dir, "tabdump", "litefile"); !hasLine(dump, `"ALL","/etc/adjtime","persistent",,`) {
		t.Errorf("not applied:\n%s", dump)
	}
}
