package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"statelite/tables"
)

func write(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFamilyAndSuite(t *testing.T) {
	for os_, want := range map[string]Family{
		"debian12": Debian, "bookworm": Debian, "ubuntu22.04": Debian, "rhels8.6": RedHat, "rocky9": RedHat,
		"alma9.3": RedHat, "centos7": RedHat, "fedora40": RedHat, "sles15.5": SLES,
	} {
		if got, err := FamilyOf(os_); err != nil || got != want {
			t.Errorf("FamilyOf(%s) = %q, %v; want %q", os_, got, err, want)
		}
	}
	if _, err := FamilyOf("aix7"); err == nil {
		t.Error("FamilyOf(aix7): no error")
	}
	for os_, want := range map[string][2]string{
		"debian12": {"debian", "bookworm"}, "debian11": {"debian", "bullseye"}, "bookworm": {"debian", "bookworm"},
		"debian-trixie": {"debian", "trixie"}, "ubuntu22.04": {"ubuntu", "jammy"}, "ubuntu24.04": {"ubuntu", "noble"},
	} {
		d, s, err := Suite(os_)
		if err != nil || d != want[0] || s != want[1] {
			t.Errorf("Suite(%s) = %s %s %v; want %v", os_, d, s, err, want)
		}
	}
	if _, _, err := Suite("debian99"); err == nil {
		t.Error("Suite(debian99): no error")
	}
}

// The Cookbook's order (§2.6, §2.8): the custom directories before the shipped
// defaults, and in each directory <profile>.<os>.<arch>, <profile>.<arch>,
// <profile>.<os>, <profile>.
func TestLookupOrder(t *testing.T) {
	inst := t.TempDir()
	l, err := NewLookup(inst, "debian12", "x86_64", "compute")
	if err != nil {
		t.Fatal(err)
	}
	osDir := filepath.Join(inst, "custom", "netboot", "debian12")
	famDir := filepath.Join(inst, "custom", "netboot", "debian")
	var want []string
	for _, d := range []string{osDir, famDir} {
		for _, n := range []string{"compute.debian12.x86_64.postinstall", "compute.x86_64.postinstall", "compute.debian12.postinstall", "compute.postinstall"} {
			want = append(want, filepath.Join(d, n))
		}
	}
	for _, n := range []string{"compute.debian12.x86_64.postinstall", "compute.x86_64.postinstall", "compute.debian12.postinstall", "compute.postinstall"} {
		want = append(want, "shipped:debian/"+n)
	}
	var got []string
	for _, c := range l.Candidates("postinstall") {
		got = append(got, c.Name())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("candidates:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	find := func(ext string) string {
		t.Helper()
		f, err := l.Find(ext)
		if err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	// Nothing custom: the shipped default.
	if got := find("postinstall"); got != "shipped:debian/compute.postinstall" {
		t.Fatalf("no custom files: %s", got)
	}
	if got := find("pkglist"); got != "shipped:debian/compute.pkglist" {
		t.Fatalf("no custom files: pkglist %s", got)
	}
	// Then, one after the other, each more specific file takes over.
	steps := []string{
		filepath.Join(famDir, "compute.postinstall"),
		filepath.Join(famDir, "compute.debian12.postinstall"),
		filepath.Join(famDir, "compute.x86_64.postinstall"),
		filepath.Join(famDir, "compute.debian12.x86_64.postinstall"),
		filepath.Join(osDir, "compute.postinstall"), // the os directory beats every family file
		filepath.Join(osDir, "compute.debian12.postinstall"),
		filepath.Join(osDir, "compute.x86_64.postinstall"),
		filepath.Join(osDir, "compute.debian12.x86_64.postinstall"),
	}
	for _, s := range steps {
		write(t, s, "#!/bin/sh\n")
		if got := find("postinstall"); got != s {
			t.Fatalf("after creating %s: found %s", s, got)
		}
	}
	// Another profile or arch does not match.
	write(t, filepath.Join(osDir, "other.postinstall"), "")
	l2, _ := NewLookup(inst, "debian12", "aarch64", "other")
	if f, _ := l2.Find("postinstall"); f.Name() != filepath.Join(osDir, "other.postinstall") {
		t.Fatalf("profile other: %s", f.Name())
	}
	l3, _ := NewLookup(inst, "debian12", "x86_64", "nothing")
	if f, _ := l3.Find("postinstall"); !f.IsZero() {
		t.Fatalf("profile nothing: %s", f.Name())
	}
}

func TestPkglistIncludes(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "compute.pkglist"), "# compute\nbash  vim\n#INCLUDE:common.pkglist#\nopenssh-server # trailing comment\n-vim\n#NEW_INSTALL_LIST#\nbash\n")
	write(t, filepath.Join(dir, "common.pkglist"), "nfs-common,rsync\n#INCLUDE:/"+filepath.Join(dir, "sub", "x.pkglist")[1:]+"#\n")
	write(t, filepath.Join(dir, "sub", "x.pkglist"), "chrony\n")
	p, err := ParsePkglist(File{Path: filepath.Join(dir, "compute.pkglist")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bash", "vim", "nfs-common", "rsync", "chrony", "openssh-server"}; !reflect.DeepEqual(p.Packages, want) {
		t.Errorf("packages %q, want %q", p.Packages, want)
	}
	if want := []string{"bash", "nfs-common", "rsync", "chrony", "openssh-server"}; !reflect.DeepEqual(p.Install(), want) {
		t.Errorf("install %q, want %q", p.Install(), want)
	}
	if len(p.Files) != 3 {
		t.Errorf("files %q", p.Files)
	}
	// A loop and a missing include are errors naming the files.
	write(t, filepath.Join(dir, "a.pkglist"), "#INCLUDE:b.pkglist#\n")
	write(t, filepath.Join(dir, "b.pkglist"), "#INCLUDE:a.pkglist#\n")
	if _, err := ParsePkglist(File{Path: filepath.Join(dir, "a.pkglist")}); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("loop: %v", err)
	}
	write(t, filepath.Join(dir, "c.pkglist"), "#INCLUDE:missing.pkglist#\n")
	if _, err := ParsePkglist(File{Path: filepath.Join(dir, "c.pkglist")}); err == nil || !strings.Contains(err.Error(), "missing.pkglist") {
		t.Errorf("missing include: %v", err)
	}
	// Every shipped pkglist parses.
	for _, f := range Families {
		p, err := ParsePkglist(File{Shipped: string(f) + "/compute.pkglist"})
		if err != nil || len(p.Packages) < 5 {
			t.Errorf("shipped %s pkglist: %v %q", f, err, p.Packages)
		}
	}
}

func TestRepolist(t *testing.T) {
	// The Cookbook's examples (§2.7).
	text := "# repositories\nplaindir|file:///install/post/otherpkgs/rhel5.3/x86_64|otherpkgs\n\n" +
		"rpm-md|http://xcat.sourceforge.net/yum/xcat-dep/rhel5.3/x86_64| xcat-dep\n" +
		"rpm-md|http://xcat.sourceforge.net/yum/devel/core-snap|core-snap\n" +
		"deb|http://apt.example.com/debian bookworm main|\n"
	rs, err := ParseRepolist("compute.rh.repolist", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Repo{
		{"plaindir", "file:///install/post/otherpkgs/rhel5.3/x86_64", "otherpkgs"},
		{"rpm-md", "http://xcat.sourceforge.net/yum/xcat-dep/rhel5.3/x86_64", "xcat-dep"},
		{"rpm-md", "http://xcat.sourceforge.net/yum/devel/core-snap", "core-snap"},
		{"deb", "http://apt.example.com/debian bookworm main", "otherpkgs-6"},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("got %+v\nwant %+v", rs, want)
	}
	if rs[0].Dir() != "/install/post/otherpkgs/rhel5.3/x86_64" {
		t.Errorf("plaindir dir %s", rs[0].Dir())
	}
	for _, bad := range []string{"nonsense", "yum|http://x|y", "plaindir|http://x|y", "rpm-md||x", "a|b|c|d"} {
		if _, err := ParseRepolist("x", []byte(bad+"\n")); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestPostinstallRunsInOrderWithRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootimg")
	os.MkdirAll(root, 0o755)
	write(t, filepath.Join(dir, "a.postinstall"), "#!/bin/sh\necho \"a $1 $2 $3 $4 $IMAGE_NAME\" >> \"$1/log\"\n")
	write(t, filepath.Join(dir, "b.postinstall"), "echo b \"$1\" >> \"$1/log\"\n") // no #!: run by /bin/sh
	var out strings.Builder
	info := Info{Name: "debian12-x86_64-statelite-compute", OS: "debian12", Arch: "x86_64", Profile: "compute", Root: root}
	err := RunPostinstall(context.Background(), []File{{Path: filepath.Join(dir, "a.postinstall")}, {Path: filepath.Join(dir, "b.postinstall")}}, info, &out)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "log"))
	want := "a " + root + " debian12 x86_64 compute debian12-x86_64-statelite-compute\nb " + root + "\n"
	if string(got) != want {
		t.Fatalf("log %q, want %q", got, want)
	}
}

func TestPostinstallFailureReportsOutput(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rootimg")
	os.MkdirAll(root, 0o755)
	write(t, filepath.Join(dir, "bad.postinstall"), "#!/bin/sh\necho configuring ntp\necho 'cannot write /etc/ntp.conf: no such directory' >&2\nexit 3\n")
	write(t, filepath.Join(dir, "after.postinstall"), "#!/bin/sh\ntouch \"$1/after-ran\"\n")
	var log strings.Builder
	err := RunPostinstall(context.Background(), []File{{Path: filepath.Join(dir, "bad.postinstall")}, {Path: filepath.Join(dir, "after.postinstall")}}, Info{Root: root}, &log)
	var pe *PostinstallError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a PostinstallError", err)
	}
	for _, w := range []string{"bad.postinstall", "exit status 3", "configuring ntp", "cannot write /etc/ntp.conf"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "after-ran")); err == nil {
		t.Error("the script after the failing one ran")
	}
	if !strings.Contains(log.String(), "  | configuring ntp") {
		t.Errorf("progress log: %q", log.String())
	}
}

// The shipped litefile samples are valid litefile tables.
func TestShippedLitefiles(t *testing.T) {
	for _, f := range Families {
		b, err := LitefileRows(f)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := tables.Parse("litefile", strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(tb.Rows) < 15 {
			t.Errorf("%s: %d rows", f, len(tb.Rows))
		}
	}
}
