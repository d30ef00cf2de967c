package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"statelite/cmd/cli"
)

// cliRunDash runs the CLI with the table flags first: cliRun appends them, which after
// "--" would be the command's arguments.
func cliRunDash(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var o, e bytes.Buffer
	full := append([]string{"statelite", "--tables", dir, "--mnt", "/mnt/sl"}, args...)
	code := cli.Main(full, strings.NewReader(""), &o, &e)
	return result{o.String(), e.String(), code}
}

// TestImageGenerations: commit, update (success and failure), ls IMAGE, diff, pin, gc
// with unreadable boot records and none, checkout, and rm removing generations/.
func TestImageGenerations(t *testing.T) {
	dir, inst := imageCluster(t)
	d := filepath.Join(inst, "netboot/img-free")
	state := t.TempDir()

	if out := mustRun(t, dir, "image", "ls", "img-free"); !strings.Contains(out, "no generations (statelite image commit img-free") {
		t.Errorf("ls of an image without generations:\n%s", out)
	}
	out := mustRun(t, dir, "image", "commit", "img-free", "-m", "first")
	if !strings.Contains(out, "image img-free: generation 1 (commit, no parent) is current: 1 files, 0 changed and 1 new") {
		t.Errorf("commit:\n%s", out)
	}
	r := cliRunDash(t, dir, "image", "update", "img-free", "-m", "new motd", "--", "sh", "-c", `echo new > "$1/etc/motd"; echo "ran on $IMAGE_NAME"`, "sh", "{}")
	out = r.stdout
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("update: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(out, "ran on img-free") || !strings.Contains(out, "generation 2 (update, parent 1) is current: 1 files, 1 changed and 0 new") {
		t.Errorf("update:\n%s", out)
	}
	for _, f := range []string{"generations/2/kernel", "generations/2/initrd-statelite.gz", "generations/2/info.json"} {
		if _, err := os.Stat(filepath.Join(d, f)); err != nil {
			t.Errorf("update: %v", err)
		}
	}
	if got := readFile(t, filepath.Join(d, "rootimg/etc/motd")); got != "rootimg/etc/motd" {
		t.Errorf("update changed the working copy: %q", got)
	}

	r = cliRunDash(t, dir, "image", "update", "img-free", "--", "sh", "-c", "echo failing; exit 3")
	if r.code != 1 || !strings.Contains(r.stderr, "sh -c echo failing; exit 3 exited with status 3; no generation made") || !strings.Contains(r.stdout, "failing") {
		t.Errorf("failing update: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := cliRun(t, dir, "", "image", "update", "img-free", "sh"); r.code == 0 || !strings.Contains(r.stderr, "usage") {
		t.Errorf("update without --: %d %s", r.code, r.stderr)
	}

	out = mustRun(t, dir, "image", "ls", "img-free")
	lines := strings.Split(out, "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[1], "GEN") {
		t.Fatalf("ls img-free:\n%s", out)
	}
	g1, g2 := strings.Fields(lines[2]), strings.Fields(lines[3])
	if g1[0] != "1" || g1[3] != "commit" || !strings.HasSuffix(lines[2], "first") || g2[0] != "2" || g2[1] != "*" || g2[4] != "update" || !strings.HasSuffix(lines[3], "new motd") {
		t.Errorf("ls img-free:\n%s", out)
	}
	if !strings.Contains(out, "running nodes keep the generation of their boot") {
		t.Errorf("ls img-free lacks the note:\n%s", out)
	}

	out = mustRun(t, dir, "image", "diff", "img-free", "1", "current")
	if !hasLine(out, "M /etc/motd (content)") || !hasLine(out, "packages: no dpkg or rpm database") {
		t.Errorf("diff 1 current:\n%s", out)
	}
	out = mustRun(t, dir, "image", "diff", "img-free", "current", "working")
	if !hasLine(out, "M /etc/motd (content)") {
		t.Errorf("diff current working:\n%s", out)
	}

	mustRun(t, dir, "image", "pin", "img-free", "1")
	if got := strings.TrimSpace(readFile(t, filepath.Join(d, "generations/current"))); got != "1" {
		t.Errorf("current after pin 1: %q", got)
	}
	if r := cliRun(t, dir, "", "image", "pin", "img-free", "9"); r.code != 1 || !strings.Contains(r.stderr, "generation 9") {
		t.Errorf("pin 9: %d %s", r.code, r.stderr)
	}
	mustRun(t, dir, "image", "commit", "img-free", "-m", "third")

	// No node booted it (boot records: TestDriftAndGCInUse); unreadable boot records
	// remove nothing.
	if err := os.WriteFile(filepath.Join(state, "fs"), []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cliRun(t, dir, "", "image", "gc", "img-free", "--keep", "0", "--state", state); r.code != 1 || !strings.Contains(r.stderr, "nothing removed") {
		t.Errorf("gc with unreadable boot records: %d %s %s", r.code, r.stdout, r.stderr)
	}
	os.Remove(filepath.Join(state, "fs"))
	out = mustRun(t, dir, "image", "gc", "img-free", "--keep", "0", "--state", state)
	want := "image img-free: removed generation 1\nimage img-free: removed generation 2\nimage img-free: kept generation 3 (current)\n"
	if out != want {
		t.Errorf("gc --keep 0:\n%s\nwant:\n%s", out, want)
	}

	// checkout: a missing working copy comes back from the current generation.
	if err := os.RemoveAll(filepath.Join(d, "rootimg")); err != nil {
		t.Fatal(err)
	}
	if r := cliRun(t, dir, "", "image", "commit", "img-free"); r.code != 1 || !strings.Contains(r.stderr, "checkout") {
		t.Errorf("commit without a working copy: %d %s", r.code, r.stderr)
	}
	mustRun(t, dir, "image", "checkout", "img-free")
	if got := readFile(t, filepath.Join(d, "rootimg/etc/motd")); got != "rootimg/etc/motd" {
		t.Errorf("checkout: etc/motd %q", got)
	}

	// image ls without IMAGE is as before; rm takes generations/ with the image.
	if out := mustRun(t, dir, "image", "ls"); len(strings.Split(strings.TrimSpace(out), "\n")) != 5 {
		t.Errorf("image ls:\n%s", out)
	}
	out = mustRun(t, dir, "image", "rm", "img-free")
	if !strings.Contains(out, "removed "+filepath.Join(d, "generations")) {
		t.Errorf("rm:\n%s", out)
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("rm left %s: %v", d, err)
	}
}
