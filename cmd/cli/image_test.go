package cli_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"statelite/internal/need"
)

// imageCluster: nodes n1, n2 use img-a through nodetype.provmethod; n3 uses
// debian12-x86_64-statelite-compute through its os/arch/profile; img-free is unused and
// has files; img-shared names the same directory as img-a.
func imageCluster(t *testing.T) (tabdir, inst string) {
	t.Helper()
	inst = t.TempDir()
	for _, d := range []string{"netboot/img-a", "netboot/img-free", "netboot/debian12/x86_64/compute"} {
		if err := os.MkdirAll(filepath.Join(inst, d, "rootimg", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"kernel", "initrd-statelite.gz", "rootimg/etc/motd"} {
			if err := os.WriteFile(filepath.Join(inst, d, f), []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tabdir = writeTables(t, map[string]string{
		"site":     "#key,value,comments,disable\n\"installdir\",\"" + inst + "\",,\n",
		"nodelist": "#node,groups\n\"n1\",\"compute,all\"\n\"n2\",\"compute,all\"\n\"n3\",\"other,all\"\n\"n4\",\"all\"\n",
		"nodetype": "#node,os,arch,profile,provmethod\n\"compute\",\"debian12\",\"x86_64\",\"compute\",\"img-a\"\n" +
			"\"n3\",\"debian12\",\"x86_64\",\"compute\",\"statelite\"\n",
		"osimage": "#imagename,profile,provmethod,osvers,osarch\n" +
			"\"img-a\",\"compute\",\"statelite\",\"debian12\",\"x86_64\"\n" +
			"\"img-free\",\"compute\",\"statelite\",\"debian12\",\"x86_64\"\n" +
			"\"img-shared\",\"compute\",\"statelite\",\"debian12\",\"x86_64\"\n" +
			"\"debian12-x86_64-statelite-compute\",\"compute\",\"statelite\",\"debian12\",\"x86_64\"\n",
		"linuximage": "#imagename,rootimgdir\n" +
			"\"img-a\",\"" + filepath.Join(inst, "netboot/img-a") + "\"\n" +
			"\"img-free\",\"" + filepath.Join(inst, "netboot/img-free") + "\"\n" +
			"\"img-shared\",\"" + filepath.Join(inst, "netboot/img-a") + "\"\n",
	})
	return tabdir, inst
}

func TestImageRmRefusesImagesInUse(t *testing.T) {
	dir, inst := imageCluster(t)
	r := cliRun(t, dir, "", "image", "rm", "img-a")
	if r.code != 1 || !strings.Contains(r.stderr, "image img-a is used by 2 node(s): n1,n2") {
		t.Fatalf("rm img-a: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = cliRun(t, dir, "", "image", "rm", "debian12-x86_64-statelite-compute")
	if r.code != 1 || !strings.Contains(r.stderr, "used by 1 node(s): n3") {
		t.Fatalf("rm debian12 image (n3 by os/arch/profile): %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, f := range []string{"netboot/img-a/rootimg/etc/motd", "netboot/debian12/x86_64/compute/kernel"} {
		if _, err := os.Stat(filepath.Join(inst, f)); err != nil {
			t.Errorf("refused rm removed %s", f)
		}
	}
	if got := mustRun(t, dir, "tabdump", "-w", "imagename==img-a", "osimage"); !strings.Contains(got, `"img-a"`) {
		t.Errorf("refused rm removed the row: %s", got)
	}

	// An unused image: rows and files go.
	out := mustRun(t, dir, "image", "rm", "img-free")
	if !strings.Contains(out, "removed "+filepath.Join(inst, "netboot/img-free/rootimg")) {
		t.Errorf("rm img-free: %s", out)
	}
	if _, err := os.Stat(filepath.Join(inst, "netboot/img-free")); !os.IsNotExist(err) {
		t.Errorf("img-free's directory is still there: %v", err)
	}
	for _, tb := range []string{"osimage", "linuximage"} {
		if got := mustRun(t, dir, "tabdump", tb); strings.Contains(got, "img-free") {
			t.Errorf("%s still has img-free:\n%s", tb, got)
		}
	}
	// img-shared shares img-a's directory: rows go, files stay.
	out = mustRun(t, dir, "image", "rm", "img-shared")
	if !strings.Contains(out, "kept") {
		t.Errorf("rm img-shared: %s", out)
	}
	if _, err := os.Stat(filepath.Join(inst, "netboot/img-a/rootimg/etc/motd")); err != nil {
		t.Error("rm img-shared removed img-a's files")
	}
	// Once no node uses it, img-a can go.
	mustRun(t, dir, "chtab", "node=compute", "nodetype.provmethod=statelite")
	mustRun(t, dir, "image", "rm", "img-a")
	if r := cliRun(t, dir, "", "image", "rm", "nope"); r.code != 1 || !strings.Contains(r.stderr, "nope: not in the osimage table") {
		t.Errorf("rm nope: %d %s", r.code, r.stderr)
	}
}

func TestImageLs(t *testing.T) {
	dir, inst := imageCluster(t)
	out := mustRun(t, dir, "image", "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "IMAGE") {
		t.Fatalf("image ls:\n%s", out)
	}
	want := map[string][]string{
		"img-a":                             {filepath.Join(inst, "netboot/img-a/rootimg"), "kernel,initrd", "n1,n2"},
		"debian12-x86_64-statelite-compute": {filepath.Join(inst, "netboot/debian12/x86_64/compute/rootimg"), "n3"},
		"img-free":                          {"KiB", "-"},
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		for _, w := range want[f[0]] {
			if !strings.Contains(l, w) {
				t.Errorf("line %q lacks %q", l, w)
			}
		}
	}
}

// tarOf writes a tar of the given entries (a name ending in / is a directory).
func tarOf(t *testing.T, files map[string]string, order []string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range order {
		h := &tar.Header{Name: n, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg, Size: int64(len(files[n]))}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	return b.Bytes()
}

func TestImageImportDockerSave(t *testing.T) {
	if os.Geteuid() != 0 {
		need.Skip(t, "import keeps owners: needs root")
	}
	dir, inst := imageCluster(t)
	l1 := tarOf(t, map[string]string{"etc/os-release": "ID=debian\nVERSION_ID=\"12\"\n", "etc/old": "old\n"}, []string{"etc/", "etc/os-release", "etc/old"})
	l2 := tarOf(t, map[string]string{"etc/.wh.old": "", "etc/new": "new\n"}, []string{"etc/", "etc/.wh.old", "etc/new"})
	man, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": []string{"site/node:1"}, "Layers": []string{"l1/layer.tar", "l2/layer.tar"}}})
	archive := tarOf(t, map[string]string{
		"c.json": `{"architecture":"amd64","os":"linux"}`, "manifest.json": string(man),
		"l1/layer.tar": string(l1), "l2/layer.tar": string(l2),
	}, []string{"c.json", "l1/", "l1/layer.tar", "l2/", "l2/layer.tar", "manifest.json"})
	src := filepath.Join(t.TempDir(), "node.tar")
	os.WriteFile(src, archive, 0o644)

	out := mustRun(t, dir, "image", "import", src, "--name", "site-node")
	root := filepath.Join(inst, "netboot/site-node/rootimg")
	if !strings.Contains(out, "osimage site-node (osvers debian12, osarch x86_64, profile compute) recorded") || !strings.Contains(out, "no kernel in the image") {
		t.Errorf("import output:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/new")); string(b) != "new\n" {
		t.Errorf("etc/new = %q", b)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/old")); !os.IsNotExist(err) {
		t.Errorf("etc/old survived its whiteout: %v", err)
	}
	oi := mustRun(t, dir, "tabdump", "-w", "imagename==site-node", "osimage")
	if !strings.Contains(oi, `"site-node",,"compute","linux","imported from node.tar (site/node:1)","statelite","nfs",,,,"Linux","debian12","x86_64"`) {
		t.Errorf("osimage row:\n%s", oi)
	}
	li := mustRun(t, dir, "tabdump", "-w", "imagename==site-node", "linuximage")
	if !strings.Contains(li, filepath.Join(inst, "netboot/site-node")) {
		t.Errorf("linuximage row:\n%s", li)
	}
	// The node can be pointed at it; then it cannot be removed; a second import of the
	// same name makes a new generation.
	mustRun(t, dir, "chtab", "node=n4", "nodetype.os=debian12", "nodetype.arch=x86_64", "nodetype.profile=compute", "nodetype.provmethod=site-node")
	if r := cliRun(t, dir, "", "image", "rm", "site-node"); r.code != 1 || !strings.Contains(r.stderr, "n4") {
		t.Errorf("rm site-node in use by n4: %d %s", r.code, r.stderr)
	}
	// A second import over the name: the old root becomes generation 1 (to roll back
	// to), the new one generation 2, current, and the working copy.
	l3 := tarOf(t, map[string]string{"etc/new": "newer\n"}, []string{"etc/", "etc/new"})
	man2, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": []string{"site/node:2"}, "Layers": []string{"l1/layer.tar", "l3/layer.tar"}}})
	archive2 := tarOf(t, map[string]string{
		"c.json": `{"architecture":"amd64","os":"linux"}`, "manifest.json": string(man2),
		"l1/layer.tar": string(l1), "l3/layer.tar": string(l3),
	}, []string{"c.json", "l1/", "l1/layer.tar", "l3/", "l3/layer.tar", "manifest.json"})
	src2 := filepath.Join(t.TempDir(), "node2.tar")
	os.WriteFile(src2, archive2, 0o644)
	out = mustRun(t, dir, "image", "import", src2, "--name", "site-node")
	if !strings.Contains(out, "image site-node: generation 2 (import, parent 1) is current") {
		t.Errorf("second import:\n%s", out)
	}
	d := filepath.Join(inst, "netboot/site-node")
	for f, want := range map[string]string{"generations/1/rootimg/etc/new": "new\n", "generations/2/rootimg/etc/new": "newer\n", "rootimg/etc/new": "newer\n", "generations/2/rootimg/etc/old": "old\n"} {
		if b, err := os.ReadFile(filepath.Join(d, f)); string(b) != want {
			t.Errorf("%s = %q (%v), want %q", f, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(d, "generations/1/rootimg/etc/old")); !os.IsNotExist(err) {
		t.Errorf("generation 1 (the first import) has etc/old: %v", err)
	}
	if ls := mustRun(t, dir, "image", "ls", "site-node"); !strings.Contains(ls, "before import: imported from node2.tar") {
		t.Errorf("image ls site-node:\n%s", ls)
	}
	ents, _ := os.ReadDir(filepath.Join(d, "generations"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") && e.Name() != ".lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// The shipped litefile samples install with tabrestore (they pass validation).
func TestImageDefaultsTabrestore(t *testing.T) {
	out := t.TempDir()
	mustRun(t, "", "image", "defaults", out)
	for _, fam := range []string{"debian", "rh", "sles"} {
		for _, f := range []string{"compute.pkglist", "compute.postinstall", "litefile.csv"} {
			if _, err := os.Stat(filepath.Join(out, fam, f)); err != nil {
				t.Errorf("image defaults: %v", err)
			}
		}
		dir := writeTables(t, map[string]string{"site": "#key,value,comments,disable\n"})
		r := cliRun(t, dir, "", "tabrestore", filepath.Join(out, fam, "litefile.csv"))
		if r.code != 0 {
			t.Errorf("tabrestore %s/litefile.csv: %d %s", fam, r.code, r.stderr)
		}
		got := mustRun(t, dir, "tabdump", "litefile")
		if !strings.Contains(got, `"ALL","/tmp/",,,`) {
			t.Errorf("%s litefile after tabrestore:\n%s", fam, got)
		}
	}
}

// genimage of a RHEL-like image on a host without dnf says what is missing (after
// finding the lists and scripts as the Cookbook says).
func TestGenimageNeedsDnf(t *testing.T) {
	if os.Geteuid() != 0 {
		need.Skip(t, "genimage runs as root")
	}
	if _, err := exec.LookPath("dnf"); err == nil {
		t.Skip("dnf is installed here")
	}
	dir, inst := imageCluster(t)
	custom := filepath.Join(inst, "custom", "netboot", "rh", "compute.rocky9.postinstall")
	os.MkdirAll(filepath.Dir(custom), 0o755)
	os.WriteFile(custom, []byte("#!/bin/sh\n"), 0o755)
	r := cliRun(t, dir, "", "genimage", "-o", "rocky9", "-a", "x86_64", "-p", "compute")
	if r.code == 0 || !strings.Contains(r.stderr, "dnf is not installed on this host") {
		t.Fatalf("genimage rocky9: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{"pkglist shipped:rh/compute.pkglist", "postinstall " + custom, filepath.Join(inst, "netboot/rocky9/x86_64/compute/rootimg")} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("genimage output lacks %q:\n%s", w, r.stdout)
		}
	}
	if r := cliRun(t, dir, "", "genimage", "-o", "aix7", "-p", "compute"); r.code == 0 || !strings.Contains(r.stderr, "unknown distribution") {
		t.Errorf("genimage aix7: %d %s", r.code, r.stderr)
	}
}
