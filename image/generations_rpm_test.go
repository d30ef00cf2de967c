package image

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager

	needtool "statelite/internal/need"
)

// rpmPackage builds an empty rpm package name-version-1 with nfpm into dir.
func rpmPackage(t *testing.T, dir, name, version string) string {
	t.Helper()
	pk, err := nfpm.Get("rpm")
	if err != nil {
		t.Fatal(err)
	}
	info := nfpm.WithDefaults(&nfpm.Info{Name: name, Arch: "amd64", Platform: "linux", Version: version, Release: "1",
		Maintainer: "test <test@example.org>", Description: name + " for the rpm diff test"})
	p := filepath.Join(dir, name+"-"+version+".rpm")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pk.Package(info, f); err != nil {
		t.Fatal(err)
	}
	return p
}

// rpmIn runs the host's rpm on the image root's own database (as RPMPackages reads it).
func rpmIn(t *testing.T, root string, args ...string) {
	t.Helper()
	full := append([]string{"--root", root, "--dbpath", "/var/lib/rpm"}, args...)
	var out bytes.Buffer
	cmd := exec.Command("rpm", full...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("rpm %s: %v\n%s", strings.Join(full, " "), err, out.String())
	}
}

// The package part of image diff on an image with an rpm database (the host's rpm reads
// it): packages added, removed and changed between two generations.
func TestGenerationsDiffRPM(t *testing.T) {
	needtool.Tool(t, "rpm", "rpm")
	pkgs := t.TempDir()
	toolV1, toolV2 := rpmPackage(t, pkgs, "site-tool", "1.0"), rpmPackage(t, pkgs, "site-tool", "2.0")
	gone, added := rpmPackage(t, pkgs, "site-gone", "3.1"), rpmPackage(t, pkgs, "site-new", "0.9")
	same := rpmPackage(t, pkgs, "site-same", "5")

	d := genImage(t, map[string]string{"etc/motd": "hello\n"})
	w := filepath.Join(d, "rootimg")
	rpmIn(t, w, "--initdb")
	rpmIn(t, w, "-i", "--justdb", "--nodeps", "--noscripts", "--ignorearch", "--ignoreos", toolV1, gone, same)
	commit(t, d, "one")
	rpmIn(t, w, "-U", "--justdb", "--nodeps", "--noscripts", "--ignorearch", "--ignoreos", toolV2)
	rpmIn(t, w, "-e", "--justdb", "--nodeps", "--noscripts", "site-gone")
	rpmIn(t, w, "-i", "--justdb", "--nodeps", "--noscripts", "--ignorearch", "--ignoreos", added)
	commit(t, d, "two")

	dd, err := Diff(d, "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	if dd.PkgDB != "rpm" || dd.PkgNote != "" {
		t.Fatalf("package database %q, note %q", dd.PkgDB, dd.PkgNote)
	}
	var out bytes.Buffer
	dd.Write(&out)
	got := out.String()
	for _, want := range []string{"- site-gone 3.1.0-1\n", "+ site-new 0.9.0-1\n", "~ site-tool 1.0.0-1 -> 2.0.0-1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "site-same") {
		t.Errorf("an unchanged package is listed:\n%s", got)
	}
	// The host's own database is not the image's.
	if p, err := RPMPackages(w); err != nil || p["site-tool"] != "2.0.0-1" || len(p) != 3 {
		t.Errorf("RPMPackages of the working copy: %v %v", p, err)
	}
}
