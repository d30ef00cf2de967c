package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDriftAndGCInUse: through a running server, boots (statelite reset, an explicit
// boot) pin the image generation current then; drift reports, for a node booted before
// an image commit and a table change, both; gc keeps the generations the nodes' boots
// serve (docs/images.md#generations).
func TestDriftAndGCInUse(t *testing.T) {
	ls := startServe(t)
	st := func(args ...string) string {
		t.Helper()
		r := ls.run(t, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	img := "demo-x86_64-statelite-compute"
	root := strings.TrimSpace(strings.TrimPrefix(st("image", "ls", img), "image "+img+": directory "))
	dir, _, _ := strings.Cut(root, ";")
	if _, err := os.Stat(filepath.Join(dir, "rootimg")); err != nil {
		t.Fatalf("image directory %q: %v", dir, err)
	}
	st("image", "commit", img, "-m", "g1")

	// n1 and n2 boot now: generation 1, the tables of now.
	st("reset", "n1")
	st("reset", "n2")
	ls.waitStatus(t, "boots", func(m map[string]any) bool {
		b, _ := m["boots"].(map[string]any)
		n1, _ := b["n1"].(map[string]any)
		n2, _ := b["n2"].(map[string]any)
		return n1 != nil && n2 != nil && n1["image_generation"] == float64(1) && n2["image_generation"] == float64(1)
	})
	if out := st("status"); !strings.Contains(out, "image "+dir+" generation 1)") {
		t.Errorf("status does not show the boots' generation:\n%s", out)
	}
	out := st("drift", "n1,n2", "--state", ls.state)
	if out != "n1,n2:\n  no change: a reboot serves what it serves now\n" {
		t.Errorf("drift right after the boots:\n%s", out)
	}

	// An image update and a table change, then n2 reboots: only n1 drifts.
	if err := os.WriteFile(filepath.Join(dir, "rootimg", "etc", "drift-marker"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st("image", "commit", img, "-m", "g2")
	st("chtab", "image=ALL,file=/etc/ntp.conf", "litefile.options=persistent")
	ls.waitStatus(t, "table switch", func(m map[string]any) bool { return m["generation"].(float64) >= 2 })
	st("reset", "n2")
	ls.waitStatus(t, "n2's reboot", func(m map[string]any) bool {
		b, _ := m["boots"].(map[string]any)
		n2, _ := b["n2"].(map[string]any)
		return n2 != nil && n2["image_generation"] == float64(2)
	})
	out = st("drift", "n1,n2", "--state", ls.state)
	for _, want := range []string{
		"n1:\n",
		"  image " + dir + ": generation 1 → generation 2\n",
		"/etc/ntp.conf",
		"n2:\n  no change: a reboot serves what it serves now\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("drift lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "  view (tables of its boot, generation 1 → now): /etc/ntp.conf") {
		t.Errorf("drift lacks n1's table change:\n%s", out)
	}

	// gc --keep 0: generation 1 is n1's, 2 current and n2's: nothing goes; a third
	// generation and n1's reboot free generation 1.
	out = st("image", "gc", img, "--keep", "0", "--state", ls.state)
	if out != "image "+img+": kept generation 1 (in use)\nimage "+img+": kept generation 2 (current, in use)\n" {
		t.Errorf("gc with both in use:\n%s", out)
	}
	st("image", "commit", img, "-m", "g3")
	st("reset", "n1")
	ls.waitStatus(t, "n1's reboot", func(m map[string]any) bool {
		b, _ := m["boots"].(map[string]any)
		n1, _ := b["n1"].(map[string]any)
		return n1 != nil && n1["image_generation"] == float64(3)
	})
	out = st("image", "gc", img, "--keep", "0", "--state", ls.state)
	if out != "image "+img+": removed generation 1\nimage "+img+": kept generation 2 (in use)\nimage "+img+": kept generation 3 (current, in use)\n" {
		t.Errorf("gc after n1's reboot:\n%s", out)
	}
}
