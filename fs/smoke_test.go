package fs_test

import (
	"io"
	"os"
	"testing"

	"statelite/fs"
	"statelite/internal/demo"
	"statelite/internal/testenv"
)

func demoServer(t *testing.T) (*fs.Server, *demo.Cluster) {
	t.Helper()
	c := testenv.New(t)
	return c.FS, c.Cluster
}

func readAll(t *testing.T, v *fs.View, p string) string {
	t.Helper()
	h, err := v.Open(p, os.O_RDONLY)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer h.Close()
	a, _ := v.Getattr(p)
	b, err := io.ReadAll(io.NewSectionReader(h, 0, int64(a.Size)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSmoke(t *testing.T) {
	srv, _ := demoServer(t)
	v1, err := srv.View("n1")
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := srv.View("n2")
	if got := readAll(t, v1, "/etc/motd"); got != "n1's own notice.\nSite notice from the common litetree.\n" {
		t.Errorf("con motd = %q", got)
	}
	ents, err := v1.ReadDir("/etc")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	t.Logf("/etc: %v", names)
	h, err := v1.Open("/etc/hostname", os.O_RDWR|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	h.WriteAt([]byte("n1\n"), 0)
	h.Close()
	if got := readAll(t, v1, "/etc/hostname"); got != "n1\n" {
		t.Errorf("hostname after write = %q", got)
	}
	if got := readAll(t, v2, "/etc/hostname"); got != "demo\n" {
		t.Errorf("n2 sees n1's file: %q", got)
	}
	if _, err := v1.Open("/usr/bin/passwd", os.O_RDWR); err == nil {
		t.Error("image write allowed")
	} else {
		t.Logf("image write: %v", err)
	}
	if _, _, err := v1.Create("/tmp/x", 0o644, fs.Cred{UID: 1000, GID: 1000}); err != nil {
		t.Fatal(err)
	}
	a, _ := v1.Getattr("/tmp/x")
	t.Logf("/tmp/x %+v", a)
	if err := v1.Remove("/etc/fstab"); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.Getattr("/etc/fstab"); err == nil {
		t.Error("fstab still there")
	}
	if err := srv.Reset("n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.Getattr("/etc/fstab"); err != nil {
		t.Error("fstab not back after reset")
	}
	if _, err := v1.Getattr("/tmp/x"); err == nil {
		t.Error("/tmp/x survived reset")
	}
	if got := readAll(t, v1, "/etc/hostname"); got != "n1\n" {
		t.Errorf("persistent hostname after reset = %q", got)
	}
	a, _ = v1.Getattr("/usr/bin/passwd")
	t.Logf("passwd mode %o", a.Mode)
	l, err := v1.Readlink("/etc/mtab")
	t.Logf("mtab -> %s %v", l, err)
}
