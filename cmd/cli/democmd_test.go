package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// statelite demo over a demo built before keeps it, edits and all, and says how to start
// over; --fresh builds it anew; --fresh never empties a directory that is not a demo.
func TestDemoReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	tabs := filepath.Join(dir, "tables")
	if r := cliRun(t, "", "", "demo", "--dir", dir, "--mnt", "/mnt/sl"); r.code != 0 || !strings.Contains(r.stdout, "Demo cluster built in "+dir) {
		t.Fatalf("demo: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustRun(t, tabs, "chtab", "image=ALL,file=/etc/edited.conf", "litefile.options=persistent")
	mustRun(t, tabs, "chtab", "node=n3", "nodelist.groups=compute,all")
	motd := filepath.Join(dir, "litetree", "n1", "etc", "motd")
	os.WriteFile(motd, []byte("my own notice\n"), 0o644)
	os.RemoveAll(filepath.Join(dir, "litetree", "common")) // lost: made again

	r := cliRun(t, "", "", "demo", "--dir", dir, "--mnt", "/mnt/sl")
	if r.code != 0 {
		t.Fatalf("demo again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{
		"Reusing the demo cluster in " + dir + " with its tables as they are (edited since it was built: store generation 3; nodes n1,n2,n3).",
		"To start over: statelite demo --dir " + dir + " --fresh (make run FRESH=1).",
		"== n3: ",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("demo again lacks %q:\n%s", w, r.stdout)
		}
	}
	if !strings.Contains(mustRun(t, tabs, "tabdump", "litefile"), "/etc/edited.conf") {
		t.Error("the edit of the tables is gone")
	}
	if got := readFile(t, motd); got != "my own notice\n" {
		t.Errorf("an edited litetree file was rewritten: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "litetree", "common", "etc", "motd")); err != nil {
		t.Errorf("a missing litetree file was not made again: %v", err)
	}

	r = cliRun(t, "", "", "demo", "--dir", dir, "--fresh", "--mnt", "/mnt/sl")
	if r.code != 0 || !strings.Contains(r.stdout, "Demo cluster built afresh in "+dir+" (image demo-x86_64-statelite-compute, nodes n1,n2).") {
		t.Fatalf("demo --fresh: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(mustRun(t, tabs, "tabdump", "litefile"), "/etc/edited.conf") || readFile(t, motd) != "n1's own notice.\n" {
		t.Error("demo --fresh kept the old demo")
	}

	// Tables that are not a demo's: --fresh refuses and removes nothing.
	other := t.TempDir()
	os.MkdirAll(filepath.Join(other, "tables"), 0o755)
	os.WriteFile(filepath.Join(other, "tables", "site.csv"), []byte("#key,value,comments,disable\n\"installdir\",\"/install\",,\n"), 0o644)
	os.MkdirAll(filepath.Join(other, "install", "keep"), 0o755)
	r = cliRun(t, "", "", "demo", "--dir", other, "--fresh", "--mnt", "/mnt/sl")
	if r.code != 1 || !strings.Contains(r.stderr, "does not hold a statelite demo") {
		t.Errorf("demo --fresh over other tables: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(other, "install", "keep")); err != nil {
		t.Errorf("demo --fresh removed what was not a demo's: %v", err)
	}
}
