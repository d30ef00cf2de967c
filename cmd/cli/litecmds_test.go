package cli_test

import (
	"fmt"
	"strings"
	"testing"
)

// An image that exists nowhere (no osimage row, no litefile row naming it) is an error
// for ilitefile and liteimg, naming it and the known images; an image known only from
// its litefile rows is fine, as on xCAT.
func TestUnknownImage(t *testing.T) {
	files := fixture()
	files["litefile"] += `"lf-only","/etc/lf-only","tmpfs",,` + "\n"
	dir := writeTables(t, files)
	for _, args := range [][]string{
		{"ilitefile", "nosuch"},
		{"liteimg", "nosuch"},
		{"liteimg", "-o", "rhels9", "-a", "x86_64", "-p", "compute"},
	} {
		r := cliRun(t, dir, "", args...)
		name := args[len(args)-1]
		if len(args) > 2 {
			name = "rhels9-x86_64-statelite-compute"
		}
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, fmt.Sprintf("unknown image %q", name)) ||
			!strings.Contains(r.stderr, "known images: lf-only, other-img, "+img+", rhgroup)") {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{{"ilitefile", "lf-only"}, {"liteimg", "lf-only"}, {"ilitefile", img}, {"liteimg", "other-img"}} {
		if r := cliRun(t, dir, "", args...); r.code != 0 || r.stdout == "" {
			t.Errorf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	if out := mustRun(t, dir, "ilitefile", "lf-only"); !hasLine(out, "lf-only: tmpfs         /etc/lf-only") {
		t.Errorf("ilitefile lf-only:\n%s", out)
	}

	// Many images: ten are named, and how many there are.
	files = fixture()
	for i := range 14 {
		files["osimage"] += fmt.Sprintf(`"img%02d",,"compute","linux","statelite","rhels8.6","x86_64"`+"\n", i)
	}
	dir = writeTables(t, files)
	r := cliRun(t, dir, "", "ilitefile", "nosuch")
	if r.code != 1 || !strings.Contains(r.stderr, "known images: img00, img01, img02, img03, img04, img05, img06, img07, img08, img09, … (17 in all)") {
		t.Errorf("ilitefile nosuch among many: exit %d\n%s", r.code, r.stderr)
	}
	// No image at all.
	files = fixture()
	delete(files, "osimage")
	files["litefile"] = "#image,file,options,comments,disable\n\"ALL\",\"/etc/hosts\",\"ro\",,\n"
	dir = writeTables(t, files)
	if r := cliRun(t, dir, "", "liteimg", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "no image is defined") {
		t.Errorf("liteimg with no image: exit %d\n%s", r.code, r.stderr)
	}
}

// explain names a litetree source in the table's words beside where this host reads
// it, and says when a path exists nowhere.
func TestExplainWordsAndENOENT(t *testing.T) {
	dir := writeTables(t, fixture())
	out := mustRun(t, dir, "explain", "n1", "/opt/app/x.conf")
	for _, w := range []string{
		"10.0.0.9:/sync/tokyo/rhels8.6/x86_64/opt/app at /mnt/sl/10.0.0.9/sync/tokyo/rhels8.6/x86_64/opt/app missing",
		"10.0.0.9:/sync/common/opt/app at /mnt/sl/10.0.0.9/sync/common/opt/app missing",
		"/local/n1/opt/app missing",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), w) {
			t.Errorf("explain lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "/local/n1/opt/app at ") {
		t.Errorf("a local source is named twice:\n%s", out)
	}
	out = mustRun(t, dir, "explain", "n1", "/etc/nosuch")
	if !strings.Contains(out, "served:  exists nowhere: the node gets ENOENT (not in image: ") {
		t.Errorf("explain of a path that exists nowhere:\n%s", out)
	}
}
