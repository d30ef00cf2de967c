package boot

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"statelite/resolver"
	"statelite/tables"
)

// update rewrites the golden files under testdata/ instead of comparing with them:
//
//	go test ./boot -run TestRenderGolden -update
//
// Inspect every rewritten file (git diff) against xCAT's pxe.pm, grub2.pm and xnba.pm first.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const image = "rhels8.6-x86_64-statelite-compute"

// clusterTables are the tables of the test cluster (as in docs/behaviour.md#variables and #boot-files): n1, n2
// statelite; n3 boots from disk; n4 offline; n5 not managed (no chain row); n6 uses
// grub2-http; n7 has a legacy nodetype (provmethod statelite, no osimage row).
// installdir and rootimgdir are placeholders replaced by fixture().
func clusterTables() map[string]string {
	return map[string]string{
		"site": "#key,value\n" +
			`"master","10.0.0.1"` + "\n" +
			`"installdir","@INSTALL@"` + "\n" +
			`"xcatdport","3001"` + "\n",
		"nodelist": "#node,groups\n" +
			`"n1","compute,all"` + "\n" + `"n2","compute,all"` + "\n" + `"n3","compute,all"` + "\n" +
			`"n4","compute,all"` + "\n" + `"n5","compute,all"` + "\n" + `"n6","compute,all"` + "\n" +
			`"n7","legacy,all"` + "\n",
		"nodetype": "#node,os,arch,profile,provmethod\n" +
			`"compute","rhels8.6","x86_64","compute","` + image + `"` + "\n" +
			`"legacy","rhels9","x86_64","login","statelite"` + "\n",
		"osimage": "#imagename,profile,provmethod,osvers,osarch,nfsrootopts\n" +
			`"` + image + `","compute","statelite","rhels8.6","x86_64","noac,actimeo=0"` + "\n",
		"linuximage": "#imagename,rootimgdir,addkcmdline\n" +
			`"` + image + `","@IMGDIR@","console=ttyS0,115200 R::crashkernel=auto net.ifnames=0"` + "\n",
		"noderes": "#node,netboot,xcatmaster,nfsserver\n" +
			`"compute","pxe","10.0.0.1","10.0.0.2"` + "\n" +
			`"n6","grub2-http",,` + "\n",
		"hosts": "#node,ip\n" +
			`"n1","10.0.0.11"` + "\n" + `"n2","10.0.0.12"` + "\n" + `"n3","10.0.0.13"` + "\n" +
			`"n4","10.0.0.14"` + "\n" + `"n5","10.0.0.15"` + "\n",
		"mac": "#node,interface,mac\n" +
			`"n1","eth0","52:54:00:12:34:56"` + "\n" +
			`"n2","eth0","52:54:00:AB:CD:EF!n2|5254000000EE!n2-ib0"` + "\n" +
			`"n3","eth0","52:54:00:00:00:03"` + "\n" +
			`"n4","eth0","52:54:00:00:00:04"` + "\n" +
			`"n5","eth0","52:54:00:00:00:05"` + "\n",
		"statelite": "#node,statemnt,mntopts\n" +
			`"compute","10.0.0.1:/statelite","nolock,tcp"` + "\n",
		"chain": "#node,currstate\n" +
			`"n1","statelite rhels8.6-x86_64-compute"` + "\n" +
			`"n2","statelite rhels8.6-x86_64-compute"` + "\n" +
			`"n3","boot"` + "\n" +
			`"n4","offline"` + "\n" +
			`"n6","statelite rhels8.6-x86_64-compute"` + "\n" +
			`"n7","statelite rhels9-x86_64-login"` + "\n",
		"bootparams": "#node,addkcmdline\n" +
			`"n1","rd.shell R::rhgb #NODEATTRIB:nodepos:rack#"` + "\n",
		"nodepos": "#node,rack\n" + `"n1","r07"` + "\n",
	}
}

// snapshot parses table texts (with @INSTALL@ and @IMGDIR@ replaced) into a snapshot.
func snapshot(t testing.TB, files map[string]string, install, imgdir string) *tables.Snapshot {
	t.Helper()
	tabs := map[string]*tables.Table{}
	for name, body := range files {
		body = strings.ReplaceAll(body, "@INSTALL@", install)
		body = strings.ReplaceAll(body, "@IMGDIR@", imgdir)
		tb, err := tables.Parse(name, strings.NewReader(body))
		if err != nil {
			t.Fatalf("table %s: %v", name, err)
		}
		tabs[name] = tb
	}
	s := tables.NewSnapshot(1, tabs)
	if probs := tables.Validate(s); tables.HasErrors(probs) {
		t.Fatalf("test tables invalid: %v", probs)
	}
	return s
}

// fixture is a test cluster on disk: an image directory with kernel, initrd and rootimg,
// a TFTP root, and the tables.
type fixture struct {
	dir, install, imgdir, tftproot string
	kernel, initrd                 []byte
	snap                           *tables.Snapshot
}

func newFixture(t testing.TB, kernelSize int, edit func(map[string]string)) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.install = filepath.Join(f.dir, "install")
	f.imgdir = filepath.Join(f.install, "netboot", "rhels8.6", "x86_64", "compute")
	f.tftproot = filepath.Join(f.dir, "tftpboot")
	for _, d := range []string{filepath.Join(f.imgdir, "rootimg", "etc"), filepath.Join(f.tftproot, "pxelinux.cfg"), filepath.Join(f.tftproot, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.kernel = pattern(kernelSize, 7)
	f.initrd = pattern(3000, 11)
	write(t, filepath.Join(f.imgdir, KernelName), f.kernel)
	write(t, filepath.Join(f.imgdir, InitrdName), f.initrd)
	write(t, filepath.Join(f.tftproot, "pxelinux.0"), pattern(42000, 3))
	write(t, filepath.Join(f.tftproot, "pxelinux.cfg", "default"), []byte("DEFAULT local\nLABEL local\nLOCALBOOT 0\n"))
	write(t, filepath.Join(f.tftproot, "pxelinux.cfg", "01-52-54-00-00-00-05"), []byte("# n5's hand-made file\n"))
	if err := os.Symlink("/etc/passwd", filepath.Join(f.tftproot, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("pxelinux.0", filepath.Join(f.tftproot, "inside")); err != nil {
		t.Fatal(err)
	}
	files := clusterTables()
	if edit != nil {
		edit(files)
	}
	f.snap = snapshot(t, files, f.install, f.imgdir)
	return f
}

func (f *fixture) resolver() *resolver.Resolver {
	return resolver.New(f.snap, resolver.Config{Mnt: "/mnt/sl"})
}

// pattern returns n bytes of a position-dependent pattern (so misplaced blocks show).
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31+i/251) ^ seed
	}
	return b
}

func write(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkGolden compares got with testdata/name.golden, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	checkGoldenFile(t, name+".golden", got)
}
